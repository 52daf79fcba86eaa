/**
 * QUERY CONTROLLER [name | * | ALL]: the connected controllers, each with its process id, state,
 * whether it can take a switch (Available: NO while it is NOT RESPONDING), time of
 * registration, and the switches (with their RDEVs and the active one) it controls.
 * JSON: { controllers: [{ name, pid, state, since (ISO time), switches: [{ name, rdevs, active }] }] }.
 * A name that is not connected is an error.
 */
import type { Command } from '../grammar.js';
import { MSG } from '../messages.js';
import { fail, type Outcome, type RuntimeView } from './types.js';

export function checkQueryController(cmd: Extract<Command, { kind: 'query-controller' }>, rt: RuntimeView): Outcome {
  let list = rt.controllerList();
  if (cmd.name !== null) {
    list = list.filter((c) => c.name === cmd.name);
    if (list.length === 0) return fail(MSG.CONTROLLER_MISSING, `controller ${cmd.name} is not connected`);
  }
  const docs = list.map((c) => ({ ...c, since: new Date(c.since).toISOString() }));
  const lines: string[] = [];
  if (docs.length === 0) lines.push('No controllers are connected');
  for (const c of docs) {
    // Available: it can take a switch (it answers); a controller NOT RESPONDING cannot.
    const available = c.state.startsWith('NOT RESPONDING') ? 'NO ' : 'YES';
    lines.push(`Controller ${c.name.padEnd(8)}  Available: ${available}  PID: ${c.pid}  State: ${c.state}  Since: ${c.since}`);
    if (c.switches.length === 0) lines.push('  VSWITCHes: none');
    for (const s of c.switches) {
      lines.push(`  VSWITCH SYSTEM ${s.name.padEnd(8)}  RDEV: ${s.rdevs.map((r) => (r === s.active ? `${r} (ACTIVE)` : r)).join(' ')}`);
    }
  }
  return { ok: true, changes: [], lines, data: { controllers: docs } };
}
