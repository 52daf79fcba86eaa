/**
 * Test-only: the command engine without a daemon. `controlPlane(state, env, parts)` builds a
 * ControlPlane from the parts a test gives (say the Reconciler as effects and runtime) and the
 * null ones below for the rest:
 * - noJournal() acknowledges every record (sequence numbers from 1) and keeps none;
 * - NO_EFFECTS has no host side and no data plane: prepare does nothing, and an operation on
 *   the uplink is refused ("no uplink is running");
 * - NO_RUNTIME (src/control/commands/types.ts): no data plane, no controller.
 * `definitions(state)` is everything the definitions in a State are (switches, guests, NICs with
 * their allocations, couplings and layer-2 settings, the access lists, the MAC prefixes and serial counter), in a form deepEqual
 * compares; run-time facts (addresses, LAN IP tables) are left out.
 */
import { pino } from 'pino';
import { ControlPlane, type CommandJournal, type Effects, type Running } from '../../src/control/controlplane.js';
import { NO_RUNTIME, type Env } from '../../src/control/commands/types.js';
import { cmp, type State } from '../../src/control/state.js';

export function noJournal(): CommandJournal {
  let seq = 0;
  return { append: (cmd, alloc) => ({ v: 1, seq: ++seq, at: new Date().toISOString(), cmd, ...(alloc ? { alloc } : {}) }) };
}

export const NO_EFFECTS: Effects = {
  prepare: () => () => {},
  sync: () => {},
  operate: () => 'no uplink is running',
};

export function controlPlane(state: State, env: Env, parts: Partial<Running> = {}): ControlPlane {
  return new ControlPlane(state, env, pino({ level: 'silent' }), {
    journal: parts.journal ?? noJournal(),
    effects: parts.effects ?? NO_EFFECTS,
    runtime: parts.runtime ?? NO_RUNTIME,
  });
}

export function definitions(s: State): unknown {
  return {
    macPrefix: s.macPrefix,
    userPrefix: s.userPrefix,
    nextMacSerial: s.nextMacSerial,
    switches: [...s.switches.values()].map(({ lanIp: _l, grants, ...sw }) => ({
      ...sw, rdevs: [...sw.rdevs], grants: [...grants.entries()].sort((a, b) => cmp(a[0], b[0])),
    })).sort((a, b) => cmp(a.name, b.name)),
    guests: [...s.guests.values()].sort((a, b) => cmp(a.userid, b.userid)).map((g) => ({
      userid: g.userid, netns: g.netns, qemu: g.qemu,
      nics: [...g.nics.values()].sort((a, b) => a.vdev - b.vdev).map(({ addresses: _a, ...n }) => ({ ...n, subchannels: [...n.subchannels] })),
    })),
  };
}
