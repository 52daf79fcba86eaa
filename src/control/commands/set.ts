/**
 * SET VSWITCH name SWITCHOVER | UPLINK DISCONNECT | UPLINK CONNECT | CONTROLLER ctlname | *
 *
 * CONTROLLER changes the switch's definition (a Change, journaled): a named controller must be
 * connected now (else refused: "is not connected"), `*` lets the daemon pick the eligible
 * controller with the fewest switches. Replayed from the journal it is taken as it was
 * acknowledged, before any controller can have connected: the switch waits for the named one
 * (as DEFINE VSWITCH ... CONTROLLER name does). SWITCHOVER and UPLINK act on the running uplink: they
 * are Operations the control plane hands to the controller manager (not journaled), which
 * refuses them with a reason (no backup RDEV ready, already disconnected, ...).
 * A switch without RDEVs has no uplink: every SET VSWITCH is refused for it.
 */
import type { Command } from '../grammar.js';
import { MSG } from '../messages.js';
import type { State } from '../state.js';
import { fail, type CheckContext, type Outcome } from './types.js';

export function checkSet(state: State, cmd: Extract<Command, { kind: 'set-vswitch' }>, { runtime: rt, replay }: CheckContext): Outcome {
  const sw = state.switches.get(cmd.name);
  if (!sw) return fail(MSG.SWITCH_MISSING, `VSWITCH SYSTEM ${cmd.name} does not exist`);
  if (sw.rdevs.length === 0) return fail(MSG.NO_UPLINK, `VSWITCH SYSTEM ${cmd.name} has no uplink (RDEV NONE)`);
  const op = cmd.op;
  if (op.t === 'controller') {
    if (op.controller !== '*' && replay === undefined && !rt.hasController(op.controller)) {
      return fail(MSG.CONTROLLER_MISSING, `controller ${op.controller} is not connected`);
    }
    if (op.controller === sw.controller) return { ok: true, changes: [], lines: [`VSWITCH SYSTEM ${cmd.name} already uses CONTROLLER ${op.controller}`] };
    return {
      ok: true,
      changes: [{ t: 'switch-controller', name: cmd.name, controller: op.controller }],
      lines: [`VSWITCH SYSTEM ${cmd.name} CONTROLLER set to ${op.controller}`],
    };
  }
  return {
    ok: true,
    changes: [],
    lines: [],
    operation: op.t === 'switchover' ? { t: 'switchover', sw: cmd.name } : { t: 'uplink', sw: cmd.name, connect: op.connect },
  };
}
