/**
 * What the parts of a pass that hold data-plane ports (NIC backends, uplinks) are built with:
 * the state, the data-plane switch numbers and ports, the one clock, the log, how long a failed
 * step waits before it is tried again (`retryMs`, and `retryMaxMs`, the cap of a back-off), and
 * the Touch through which a part gets its Marks and tells the other parts what changed
 * (reconcile/marks.ts).
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { State } from '../state.js';
import type { Touch } from './marks.js';
import type { PortAllocator } from './ports.js';
import type { DataPlaneSwitches } from './switches.js';

export interface PartContext {
  readonly state: State;
  readonly switches: DataPlaneSwitches;
  readonly ports: PortAllocator;
  readonly clock: Clock;
  readonly log: Logger;
  readonly retryMs: number;
  readonly retryMaxMs: number;
  readonly touch: Touch;
}

/** The next wait of an exponential back-off: retryMs after success (waited 0), then doubled up to retryMaxMs. */
export function backOff(ctx: Pick<PartContext, 'retryMs' | 'retryMaxMs'>, waitedMs: number): number {
  return waitedMs <= 0 ? ctx.retryMs : Math.min(ctx.retryMaxMs, waitedMs * 2);
}
