/**
 * A Clock (src/control/clock.ts) that tests drive: time moves only by `advance`, and queued
 * work runs only in `drain` / `advance`, in the order the system clock would run it (work
 * queued with `soon` before timers; timers by due time, then by order set). So a test says
 * exactly when the reconciler's coalesced pass or its retry timer runs, and waits for nothing.
 */
import type { Clock } from '../../src/control/clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** Work that queues itself for ever is a bug; a drain stops there rather than hang the test. */
const MAX_RUNS = 100_000;

export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly queued: Array<() => void> = [];
  private timers: Timer[] = [];

  constructor(start = Date.UTC(2026, 11, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, seq: this.seq++, fn };
    this.timers.push(timer);
    return () => { this.timers = this.timers.filter((x) => x !== timer); };
  }

  soon(fn: () => void): void {
    this.queued.push(fn);
  }

  /** Timers set and not yet run or cancelled. */
  get timersPending(): number {
    return this.timers.length;
  }

  /** Run the queued work and the timers due by now, and whatever they queue, until nothing is due. Returns how many ran. */
  drain(): number {
    return this.runUntil(this.t);
  }

  /** Move time on by `ms`, running each timer at its due time (and what it queues) on the way. Returns how many ran. */
  advance(ms: number): number {
    return this.runUntil(this.t + ms);
  }

  private runUntil(end: number): number {
    for (let runs = 0; runs < MAX_RUNS; runs++) {
      const fn = this.queued.shift();
      if (fn) {
        fn();
        continue;
      }
      const next = this.nextTimer(end);
      if (!next) {
        this.t = Math.max(this.t, end);
        return runs;
      }
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    throw new Error(`ManualClock: still busy after ${MAX_RUNS} runs (work that queues itself?)`);
  }

  private nextTimer(end: number): Timer | undefined {
    let best: Timer | undefined;
    for (const x of this.timers) if (x.at <= end && (!best || x.at < best.at || (x.at === best.at && x.seq < best.seq))) best = x;
    return best;
  }
}
