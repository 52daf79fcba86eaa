/**
 * The recent events the live page lists and the event counters /metrics exports: the switches'
 * control events (controller assigned / lost / recovered / released, failover, failover
 * impossible, uplink recovered, switchover, disconnect, connect: ControllerManager's events, as
 * QUERY VSWITCH DETAILS shows them) and the refusals (a controller's Register, an address or
 * multicast group registration the adapter refused: ControllerManager.onRefusal).
 *
 * Contract:
 * - `poll(source)` picks up the switch events that appeared since the last poll (by identity:
 *   the manager keeps each event object until it rolls out of its last MAX_EVENTS), so the
 *   owner polls often (every second: more than MAX_EVENTS events of one switch within one poll
 *   would be counted short). `refused(r)` takes a refusal as it happens.
 * - `recent()`: the last MAX_RECENT events, oldest first. `counts()`: per switch and kind, how
 *   many since the daemon started (monotonic while the switch exists; a removed switch's counts
 *   go with it at the next poll). Refusals count as kinds 'address-refused' / 'group-refused';
 *   a controller's refused Register has no switch and counts in `controllerRefusals`.
 * No I/O, no timers: the owner (src/daemon/http/index.ts) drives it.
 */
import type { Refusal, SwitchEvent } from '../../control/controllers.js';
import { eventText, switchesByName } from '../../control/commands/query.js';
import type { ViewSource } from './view.js';

export const MAX_RECENT = 100;

export interface PageEvent {
  /** ISO time. */
  at: string;
  /** The switch, or null (a controller's refused Register). */
  vswitch: string | null;
  kind: string;
  text: string;
}

export class EventLog {
  private readonly seen = new WeakSet<SwitchEvent>();
  private readonly list: Array<PageEvent & { ms: number }> = [];
  /** vswitch -> kind -> count. */
  private readonly byKind = new Map<string, Map<string, number>>();
  controllerRefusals = 0;

  poll(src: ViewSource): void {
    const fresh: Array<PageEvent & { ms: number }> = [];
    const names = new Set<string>();
    for (const sw of switchesByName(src.state)) {
      names.add(sw.name);
      for (const e of src.runtime.switchControl?.(sw.name)?.events ?? []) {
        if (this.seen.has(e)) continue;
        this.seen.add(e);
        this.count(sw.name, e.kind);
        fresh.push({ ms: e.at, at: new Date(e.at).toISOString(), vswitch: sw.name, kind: e.kind, text: eventText(e) });
      }
    }
    for (const name of [...this.byKind.keys()]) if (!names.has(name)) this.byKind.delete(name);
    this.add(fresh);
  }

  refused(r: Refusal): void {
    if (r.vswitch === null) this.controllerRefusals++;
    else this.count(r.vswitch, `${r.kind}-refused`);
    const what = r.kind === 'controller' ? `controller ${r.subject}: Register refused` : `${r.kind} ${r.subject}${r.rdev !== null ? ` on ${r.rdev}` : ''}: registration refused`;
    this.add([{ ms: r.at, at: new Date(r.at).toISOString(), vswitch: r.vswitch, kind: `${r.kind}-refused`, text: `${what}: ${r.reason}` }]);
  }

  recent(): PageEvent[] {
    return this.list.map(({ ms: _ms, ...e }) => e);
  }

  counts(): ReadonlyMap<string, ReadonlyMap<string, number>> {
    return this.byKind;
  }

  private count(sw: string, kind: string): void {
    let m = this.byKind.get(sw);
    if (!m) this.byKind.set(sw, m = new Map());
    m.set(kind, (m.get(kind) ?? 0) + 1);
  }

  private add(events: Array<PageEvent & { ms: number }>): void {
    if (events.length === 0) return;
    this.list.push(...events);
    this.list.sort((a, b) => a.ms - b.ms);
    if (this.list.length > MAX_RECENT) this.list.splice(0, this.list.length - MAX_RECENT);
  }
}

