/**
 * DETACH VSWITCH / DETACH GUEST / DETACH NIC.
 *
 * DETACH VSWITCH is refused while NICs are coupled (the reply names them). DETACH GUEST is
 * refused while the guest has NICs; the reconciler then deletes the guest's namespace if the
 * daemon made it (src/control/tap-nics.ts), never one that was there before. DETACH NIC
 * uncouples the NIC first when it is coupled; the reconciler then destroys its TAP.
 */
import { hex4, type Command } from '../grammar.js';
import { MSG } from '../messages.js';
import type { Change, State } from '../state.js';
import { range } from './define.js';
import { fail, type Outcome } from './types.js';

type Detach = Extract<Command, { kind: 'detach-vswitch' | 'detach-guest' | 'detach-nic' }>;

export function checkDetach(state: State, cmd: Detach): Outcome {
  switch (cmd.kind) {
    case 'detach-vswitch': {
      if (!state.switches.has(cmd.name)) return fail(MSG.SWITCH_MISSING, `VSWITCH SYSTEM ${cmd.name} does not exist`);
      const coupled = state.coupledTo(cmd.name);
      if (coupled.length > 0) {
        const who = coupled.map((n) => `${n.userid} ${hex4(n.vdev)}`).join(', ');
        return fail(MSG.SWITCH_BUSY, `VSWITCH SYSTEM ${cmd.name} not detached: ${coupled.length} NIC${coupled.length > 1 ? 's are' : ' is'} coupled (${who}); UNCOUPLE first`);
      }
      return { ok: true, changes: [{ t: 'switch-remove', name: cmd.name }], lines: [`VSWITCH SYSTEM ${cmd.name} is destroyed`] };
    }
    case 'detach-guest': {
      const g = state.guests.get(cmd.userid);
      if (!g) return fail(MSG.GUEST_MISSING, `GUEST ${cmd.userid} does not exist`);
      if (g.nics.size > 0) {
        const v = [...g.nics.keys()].sort((a, b) => a - b).map(hex4).join(', ');
        return fail(MSG.GUEST_BUSY, `GUEST ${cmd.userid} not detached: it has NICs (${v}); DETACH NIC first`);
      }
      return { ok: true, changes: [{ t: 'guest-remove', userid: cmd.userid }], lines: [`GUEST ${cmd.userid} is removed`] };
    }
    case 'detach-nic': {
      const g = state.guests.get(cmd.userid);
      if (!g) return fail(MSG.GUEST_MISSING, `GUEST ${cmd.userid} does not exist`);
      const n = g.nics.get(cmd.vdev);
      if (!n) return fail(MSG.NIC_MISSING, `NIC ${hex4(cmd.vdev)} does not exist for GUEST ${cmd.userid}`);
      const changes: Change[] = [];
      const lines: string[] = [];
      if (n.coupled !== null) {
        changes.push({ t: 'uncouple', userid: cmd.userid, vdev: cmd.vdev });
        lines.push(`NIC ${hex4(cmd.vdev)} is disconnected from VSWITCH SYSTEM ${n.coupled}`);
      }
      changes.push({ t: 'nic-remove', userid: cmd.userid, vdev: cmd.vdev });
      lines.push(`NIC ${hex4(cmd.vdev)} is destroyed; devices ${range(cmd.vdev)} detached`);
      return { ok: true, changes, lines };
    }
  }
}
