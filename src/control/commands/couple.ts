/**
 * COUPLE vdev [TO] SYSTEM name FOR userid: connects a guest's NIC to a switch.
 * Refused when the guest, the NIC or the switch does not exist, the NIC is already coupled
 * (UNCOUPLE first, as in z/VM), or the user is not on the switch's access list (SET VSWITCH
 * name GRANT userid first: secure by default, as z/VM without an external security manager).
 */
import { hex4, type Command } from '../grammar.js';
import { MSG } from '../messages.js';
import type { State } from '../state.js';
import { fail, type Outcome } from './types.js';

export function checkCouple(state: State, cmd: Extract<Command, { kind: 'couple' }>): Outcome {
  const g = state.guests.get(cmd.userid);
  if (!g) return fail(MSG.GUEST_MISSING, `GUEST ${cmd.userid} does not exist`);
  const n = g.nics.get(cmd.vdev);
  if (!n) return fail(MSG.NIC_MISSING, `NIC ${hex4(cmd.vdev)} does not exist for GUEST ${cmd.userid}`);
  if (!state.switches.has(cmd.sw)) return fail(MSG.SWITCH_MISSING, `VSWITCH SYSTEM ${cmd.sw} does not exist`);
  if (n.coupled !== null) return fail(MSG.NIC_COUPLED, `NIC ${hex4(cmd.vdev)} is already coupled to VSWITCH SYSTEM ${n.coupled}; UNCOUPLE first`);
  if (!state.switches.get(cmd.sw)!.grants.has(cmd.userid)) {
    return fail(MSG.NOT_GRANTED, `NIC ${hex4(cmd.vdev)} not coupled: GUEST ${cmd.userid} is not authorized for VSWITCH SYSTEM ${cmd.sw} (SET VSWITCH ${cmd.sw} GRANT ${cmd.userid} first)`);
  }
  return {
    ok: true,
    changes: [{ t: 'couple', userid: cmd.userid, vdev: cmd.vdev, sw: cmd.sw }],
    lines: [`NIC ${hex4(cmd.vdev)} is connected to VSWITCH SYSTEM ${cmd.sw}`],
  };
}
