/**
 * When the data-plane loop polls, sleeps for a while, or blocks (issue 14: latency by default
 * without a CPU kept busy while idle). Pure: no I/O, no clock; the loop passes the time in
 * (milliseconds, performance.now()) and does what `next()` says.
 *
 * Why: a frame that reaches a sleeping worker pays for waking it (on these VMs about half of a
 * guest-to-guest ping's round trip: the idle vCPU halts). A frame that reaches a polling worker
 * does not. Polling all the time costs a CPU; this policy polls only where frames are expected:
 *
 *  - Right after work (a wait or poll that found ready fds) it keeps polling for a spin that
 *    adapts to the gaps between pieces of work: grown at once to twice a gap shorter than MAX_SPIN_MS
 *    (the answer to a frame just forwarded, e.g. a ping's reply; the next segment of a TCP
 *    stream), shrinking by a tenth each time it ran out with nothing, never below SPIN_MS. A
 *    busy flow keeps the worker on the CPU, as it keeps it busy anyway; a request and its
 *    answer cost one wake-up instead of two (each costs ~30 us of CPU on these VMs).
 *  - A flow whose bursts start at a steady period (a ping every 10 ms, a VoIP stream) gets a
 *    predicted arrival: the burst-start gaps feed a smoothed period P and mean deviation D (as
 *    TCP smooths round-trip times). The loop sleeps (a timed wait, still woken by any fd) until
 *    `margin` before the predicted arrival, polls until `margin` after it, and blocks when
 *    nothing came; margin = GUARD_MS + the measured lateness of timed wake-ups (the loop
 *    reports each) + 2D. The price, 2 * margin of polling per period, is at most
 *    MAX_POLL_SHARE of the period (a flow too irregular for that is not predicted); the
 *    benchmark reports it (bench/cost.ts).
 *  - Otherwise (no traffic, irregular traffic) the loop blocks until the next fd event or its
 *    tick: a switch with nothing to do uses no CPU.
 * A fixed window (LoopOptions.busyPollUs) replaces all of this with "poll for the window after
 * each piece of work", as before.
 *
 * `next(now)` returns POLL (0: a non-blocking poll now), BLOCK (-1: wait for an fd or the tick)
 * or a sleep in milliseconds (> 0: a timed wait that any fd event ends early).
 * Allocation-free; a handful of numbers of state.
 */

export const POLL = 0;
export const BLOCK = -1;

/** Keep polling at least this long after any work. */
export const SPIN_MS = 0.05;
/** The spin after work grows to twice a short gap between pieces of work, up to this. */
export const MAX_SPIN_MS = 0.5;
/** Periods up to this long are predicted (longer ones: the tick's second is as good). */
export const MAX_PERIOD_MS = 1000;
/** Polling margin before and after a predicted arrival, besides the measured wake-up lateness. */
export const GUARD_MS = 0.1;
/** At most this share of a predicted period is spent polling around the arrival. */
export const MAX_POLL_SHARE = 0.25;
/** The longest a timed wake-up's measured lateness is taken into account. */
const MAX_LATE_MS = 1;

export class PollPolicy {
  /**
   * When the last work was done (the first next() after a wait or poll that found work: the
   * loop has then processed what it found, so the spin runs from there, not from the wake-up:
   * a cold wake-up's processing can take longer than SPIN_MS, and a reply it made at once,
   * e.g. a guest's ping answer to the frame just written, is then still caught by one poll),
   * and when the current burst of work started.
   */
  private lastWork = -Infinity;
  /** work() was called and next() has not been since: next() moves lastWork to its `now`. */
  private fresh = false;
  private burstStart = -Infinity;
  /** The last poll or wait found work (we are inside a burst). */
  private busy = false;
  /** The current spin after work (ms), and whether it ran out since the last work. */
  private spin = SPIN_MS;
  private spun = false;
  /** Smoothed gap between burst starts and its mean deviation (0: nothing known). */
  private period = 0;
  private dev = 0;
  /** Smoothed lateness of timed wake-ups. */
  private late = 0;
  /** The wake-up time the last timed sleep asked for (NaN: not sleeping on a timer). */
  private wakeAt = NaN;
  /** Predicted arrivals that came (hits) and that did not (misses): for tests and the curious. */
  hits = 0;
  misses = 0;
  /** The prediction being waited for (NaN: none), so a miss is counted once. */
  private predicted = NaN;

  /**
   * @param fixedMs a fixed polling window (busy-poll); 0: none.
   * @param adaptive without a fixed window: poll where frames are expected (true) or always block (false).
   */
  constructor(private readonly fixedMs = 0, private readonly adaptive = true) {}

  /** A wait or poll at `now` found ready fds. */
  work(now: number): void {
    if (!this.busy) {
      const follow = now - this.lastWork;
      if (follow < MAX_SPIN_MS && 2 * follow > this.spin) this.spin = Math.min(MAX_SPIN_MS, 2 * follow);
      const gap = now - this.burstStart;
      if (gap > 0 && gap <= MAX_PERIOD_MS) {
        if (this.period === 0) { this.period = gap; this.dev = gap / 2; } else {
          const err = gap - this.period;
          this.period += err / 8;
          this.dev += (Math.abs(err) - this.dev) / 4;
        }
      } else { this.period = 0; this.dev = 0; }
      this.burstStart = now;
      if (this.predicted === this.predicted) { this.hits++; this.predicted = NaN; }
    }
    this.busy = true;
    this.spun = false;
    this.lastWork = now;
    this.fresh = true;
  }

  /** A poll or timed wait at `now` found nothing. */
  idle(now: number): void {
    this.busy = false;
    if (this.wakeAt === this.wakeAt) {
      const l = now - this.wakeAt;
      if (l >= 0 && l < MAX_LATE_MS) this.late += (l - this.late) / 4;
    }
    this.wakeAt = NaN;
  }

  /** What to do at `now`: POLL, BLOCK or a sleep of that many ms (see the file comment). */
  next(now: number): number {
    this.wakeAt = NaN;
    if (this.fresh) { this.fresh = false; this.lastWork = now; }
    const since = now - this.lastWork;
    if (this.fixedMs > 0) return since < this.fixedMs ? POLL : BLOCK;
    if (!this.adaptive) return BLOCK;
    if (since < this.spin) return POLL;
    if (!this.spun) {
      this.spun = true;
      this.spin = Math.max(SPIN_MS, this.spin * 0.9);
    }
    const p = this.period;
    if (p === 0) return BLOCK;
    // Poll from `margin` before the predicted arrival to `margin` after it, if that fits the budget.
    const margin = GUARD_MS + this.late + 2 * this.dev;
    if (2 * margin > MAX_POLL_SHARE * p) return BLOCK; // not steady enough to predict at this price
    // The next arrival: one period after the burst started.
    const at = this.burstStart + p;
    if (at + margin < now) {
      if (this.predicted === this.predicted) { this.misses++; this.predicted = NaN; }
      return BLOCK;
    }
    this.predicted = at;
    const wake = at - margin;
    if (now < wake) {
      if (wake - now < SPIN_MS) return POLL; // too short to sleep
      this.wakeAt = wake;
      return wake - now;
    }
    return POLL;
  }

  /** The smoothed period (ms, 0: none) and lateness: what the policy believes, for tests. */
  get estimate(): { period: number; dev: number; late: number; spin: number } {
    return { period: this.period, dev: this.dev, late: this.late, spin: this.spin };
  }
}
