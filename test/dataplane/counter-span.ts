/**
 * What the data plane's counters moved by over one action a test measures: a copy of every
 * counter taken right before it (the constructor) and right after it (end()). So a frame
 * counted before the action (a guest's IPv6 autoconfiguration flooded while its peers were
 * still being set up) or after it cannot move the figures, and an assertion says exactly what
 * the action did. Queries before end() read the live counters.
 */
import { type PortCounter, dropSlot, portSlot } from '../../src/forward/counters.js';
import type { DropReason } from '../../src/forward/api.js';

export class CounterSpan {
  private readonly first: Float64Array;
  private last: Float64Array | null = null;

  constructor(private readonly live: Float64Array) {
    this.first = Float64Array.from(live);
  }

  /** Close the span: later queries read the counters as they are now. */
  end(): this {
    this.last = Float64Array.from(this.live);
    return this;
  }

  /** How much port counter `c` of `port` moved over the span. */
  port(port: number, c: PortCounter): number {
    return this.moved(portSlot(port, c));
  }

  /** How many frames switch `sw` dropped for `reason` over the span. */
  drop(sw: number, reason: DropReason): number {
    return this.moved(dropSlot(sw, reason));
  }

  private moved(slot: number): number {
    return (this.last ?? this.live)[slot] - this.first[slot];
  }
}
