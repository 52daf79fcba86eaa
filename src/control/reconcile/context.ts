/**
 * What the parts of a pass that hold data-plane ports (NIC backends, uplinks) are built with:
 * the state, the data-plane switch numbers and ports, the one clock, the log, and how long a
 * failed step waits before it is tried again.
 */
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { State } from '../state.js';
import type { PortAllocator } from './ports.js';
import type { DataPlaneSwitches } from './switches.js';

export interface PartContext {
  readonly state: State;
  readonly switches: DataPlaneSwitches;
  readonly ports: PortAllocator;
  readonly clock: Clock;
  readonly log: Logger;
  readonly retryMs: number;
}
