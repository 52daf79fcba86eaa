/**
 * ETHERNET mode's learned MAC tables, as QUERY VSWITCH DETAILS shows them: the tables live in
 * the data-plane worker (src/forward/mac-table.ts), and a query is answered synchronously from
 * the state, so this asks the worker every REFRESH_MS for each ETHERNET switch ('fdb-query')
 * and keeps its last answer ('fdb') with the time it came. A QUERY shows that answer and when
 * it was read (at most about a second old); an answer for a switch that is gone, or that comes
 * for an older request, is dropped.
 *
 * Contract: a step of the reconciler's pass (`sync`): while the state has an ETHERNET switch
 * the asking runs on the reconciler's clock (one timer, none without ETHERNET switches);
 * `stop()` ends it; `view(name)` the last answer or null; `answer(m)` takes the worker's 'fdb'.
 */
import type { FromWorker } from '../../protocol/dataplane.js';
import type { MacTableView } from '../commands/types.js';
import type { Clock } from '../clock.js';
import type { State } from '../state.js';
import type { DataPlanePort, Syncer } from './part.js';
import type { DataPlaneSwitches } from './switches.js';

export const REFRESH_MS = 1000;

export class MacTables implements Syncer {
  private readonly tables = new Map<string, MacTableView>();
  /** Switch name -> the request whose answer is awaited. */
  private readonly asked = new Map<string, number>();
  private nextReq = 1;
  private cancel: (() => void) | null = null;

  constructor(private readonly state: State, private readonly dp: DataPlanePort, private readonly switches: DataPlaneSwitches, private readonly clock: Clock) {}

  private stopped = false;

  sync(): void {
    if (this.cancel !== null || this.stopped) return;
    const tick = (): void => {
      this.cancel = null;
      if (this.ask() && !this.stopped) this.cancel = this.clock.after(REFRESH_MS, tick);
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = null;
  }

  /** Ask the worker for every ETHERNET switch's table now. Returns whether there was one to ask for. */
  ask(): boolean {
    for (const name of [...this.tables.keys()]) if (!this.state.switches.has(name)) this.tables.delete(name);
    let any = false;
    for (const sw of this.state.switches.values()) {
      if (sw.mode !== 'ETHERNET') continue;
      const num = this.switches.number(sw.name);
      if (num === null) continue;
      any = true;
      const req = this.nextReq++;
      this.asked.set(sw.name, req);
      this.dp.post({ op: 'fdb-query', sw: num, req });
    }
    return any;
  }

  answer(m: Extract<FromWorker, { ev: 'fdb' }>): void {
    const name = this.switches.nameOf(m.sw);
    if (name === undefined || this.asked.get(name) !== m.req) return;
    this.asked.delete(name);
    this.tables.set(name, { at: this.clock.now(), entries: m.entries });
  }

  view(name: string): MacTableView | null {
    return this.state.switches.get(name)?.mode === 'ETHERNET' ? (this.tables.get(name) ?? null) : null;
  }
}
