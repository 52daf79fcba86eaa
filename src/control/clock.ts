/**
 * Time for the control plane's run-time side (the reconciler, its parts, the controller
 * manager): the time now, work after a delay (retry timers) and work soon (one pass for a burst
 * of events). One Clock is given to the reconciler, which hands it to every part, so none of
 * them reads Date.now() or sets a timer of its own; tests give a manual clock and drive time
 * and the queued work themselves.
 *
 * Contract:
 * - `now()`: milliseconds since the epoch (events are shown as dates in QUERY).
 * - `after(ms, fn)`: fn runs once, ms or more from now, unless the returned cancel function is
 *   called first. The system clock's timers do not keep the process alive.
 * - `soon(fn)`: fn runs once, after the current event-loop turn and before later timers.
 */
export interface Clock {
  now(): number;
  after(ms: number, fn: () => void): () => void;
  soon(fn: () => void): void;
}

/** Date.now, setTimeout (unref'd) and setImmediate. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
  soon(fn) {
    setImmediate(fn);
  },
};
