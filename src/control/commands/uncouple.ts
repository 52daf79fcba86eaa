/**
 * UNCOUPLE vdev FOR userid: disconnects a NIC from its switch. The NIC (and its TAP) stays; the
 * guest sees NO-CARRIER until it is coupled again. Refused when the NIC is not coupled.
 * SET NIC PROMISCUOUS ends with the coupling (as the grant that allowed it was the switch's).
 */
import { hex4, type Command } from '../grammar.js';
import { MSG } from '../messages.js';
import type { State } from '../state.js';
import { fail, type Outcome } from './types.js';

export function checkUncouple(state: State, cmd: Extract<Command, { kind: 'uncouple' }>): Outcome {
  const g = state.guests.get(cmd.userid);
  if (!g) return fail(MSG.GUEST_MISSING, `GUEST ${cmd.userid} does not exist`);
  const n = g.nics.get(cmd.vdev);
  if (!n) return fail(MSG.NIC_MISSING, `NIC ${hex4(cmd.vdev)} does not exist for GUEST ${cmd.userid}`);
  if (n.coupled === null) return fail(MSG.NIC_NOT_COUPLED, `NIC ${hex4(cmd.vdev)} is not coupled`);
  return {
    ok: true,
    changes: [...(n.promiscuous ? [{ t: 'nic-set' as const, userid: cmd.userid, vdev: cmd.vdev, set: { promiscuous: false } }] : []), { t: 'uncouple', userid: cmd.userid, vdev: cmd.vdev }],
    lines: [`NIC ${hex4(cmd.vdev)} is disconnected from VSWITCH SYSTEM ${n.coupled}`],
  };
}
