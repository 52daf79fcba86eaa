/**
 * What the reconciler's parts share: the step contract of a pass, and what they need of the
 * data plane (src/host/dataplane.ts DataPlane, a fake in tests).
 *
 * A pass (src/control/reconcile.ts) runs its parts' `sync(now)` in a fixed order, all with one
 * `now` from the reconciler's clock. Each step looks at what its Marks (reconcile/marks.ts) say
 * changed or is due for a retry, diffs the state against what it set up for those, and does
 * only the difference, so it is idempotent: unchanged ports keep running.
 */
import type { FromWorker, ToWorker } from '../../protocol/dataplane.js';

/** One step of a reconciliation pass. */
export interface Syncer {
  /**
   * Bring what this part's Marks name to the state. Failures of the host (a missing device)
   * are logged, shown in QUERY and retried (the part sets the key's retry time in its Marks);
   * a throw (exhaustion, a bug) stops the pass, which is retried as a full pass.
   */
  sync(now: number): void;
}

/** What the parts post to the data plane and the counters they zero or count in. */
export interface DataPlanePort {
  readonly counters: Float64Array;
  post(msg: ToWorker): void;
}

/** What the reconciler needs of the data plane: posting, counters and the worker's events. */
export interface DataPlaneLike extends DataPlanePort {
  on(ev: 'port-down', fn: (m: Extract<FromWorker, { ev: 'port-down' }>) => void): unknown;
  on(ev: 'saw-address', fn: (m: Extract<FromWorker, { ev: 'saw-address' }>) => void): unknown;
  on(ev: 'lan-holder', fn: (m: Extract<FromWorker, { ev: 'lan-holder' }>) => void): unknown;
  on(ev: 'saw-address6', fn: (m: Extract<FromWorker, { ev: 'saw-address6' }>) => void): unknown;
  on(ev: 'group6-join' | 'group6-leave', fn: (m: Extract<FromWorker, { ev: 'group6-join' | 'group6-leave' }>) => void): unknown;
  on(ev: 'group-join' | 'group-leave', fn: (m: Extract<FromWorker, { ev: 'group-join' | 'group-leave' }>) => void): unknown;
  on(ev: 'fdb', fn: (m: Extract<FromWorker, { ev: 'fdb' }>) => void): unknown;
}
