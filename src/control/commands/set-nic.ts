/**
 * SET NIC vdev PROMISCUOUS | NOPROMISCUOUS | MACPROTECT ON | OFF | UNSPECIFIED FOR userid.
 *
 * PROMISCUOUS makes the NIC a sniffer: it receives a copy of every frame of its switch in its
 * VLANs, both directions (src/protocol/dataplane.ts PortPolicy). Refused unless the NIC is
 * coupled and the user's grant on that switch says PROMISCUOUS (SET VSWITCH ... GRANT userid
 * PROMISCUOUS); nothing changes then. NOPROMISCUOUS is always taken. MACPROTECT: the NIC's own
 * setting (ON: it may send only from its MAC; OFF: from any; UNSPECIFIED: the switch's
 * MACPROTECT). The settings stay with the NIC across UNCOUPLE and COUPLE (PROMISCUOUS is in
 * effect only where the grant allows it).
 */
import { hex4, type Command } from '../grammar.js';
import { MSG } from '../messages.js';
import type { State } from '../state.js';
import { fail, type Outcome } from './types.js';

export function checkSetNic(state: State, cmd: Extract<Command, { kind: 'set-nic' }>): Outcome {
  const g = state.guests.get(cmd.userid);
  if (!g) return fail(MSG.GUEST_MISSING, `GUEST ${cmd.userid} does not exist`);
  const n = g.nics.get(cmd.vdev);
  if (!n) return fail(MSG.NIC_MISSING, `NIC ${hex4(cmd.vdev)} does not exist for GUEST ${cmd.userid}`);
  const op = cmd.op;
  if (op.t === 'promiscuous') {
    if (op.on) {
      if (n.coupled === null) return fail(MSG.NIC_NOT_COUPLED, `NIC ${hex4(cmd.vdev)} is not coupled; PROMISCUOUS needs a switch`);
      if (!state.switches.get(n.coupled)?.grants.get(cmd.userid)?.promiscuous) {
        return fail(MSG.NOT_GRANTED, `NIC ${hex4(cmd.vdev)} not set PROMISCUOUS: ${cmd.userid} is not authorized for promiscuous mode on VSWITCH SYSTEM ${n.coupled} (SET VSWITCH ${n.coupled} GRANT ${cmd.userid} PROMISCUOUS)`);
      }
    }
    return {
      ok: true,
      changes: [{ t: 'nic-set', userid: cmd.userid, vdev: cmd.vdev, set: { promiscuous: op.on } }],
      lines: [`NIC ${hex4(cmd.vdev)} ${op.on ? 'PROMISCUOUS' : 'NOPROMISCUOUS'}`],
    };
  }
  return {
    ok: true,
    changes: [{ t: 'nic-set', userid: cmd.userid, vdev: cmd.vdev, set: { macProtect: op.value } }],
    lines: [`NIC ${hex4(cmd.vdev)} MACPROTECT ${op.value ?? 'UNSPECIFIED'}`],
  };
}
