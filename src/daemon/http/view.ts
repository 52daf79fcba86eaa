/**
 * What the metrics and the live page show: one read of the daemon's state and run time, taken
 * from the same documents QUERY answers (src/control/commands/query.ts), so the page, /metrics
 * and `Q VSWITCH DETAILS` cannot disagree.
 *
 * `observe` is read-only and cheap (no I/O): the counters come from the SharedArrayBuffer the
 * data plane writes (src/forward/counters.ts), read without stopping it.
 */
import { guestsByName, nicDoc, nicsByVdev, switchDoc, switchesByName, type NicDoc, type SwitchDoc } from '../../control/commands/query.js';
import type { RuntimeView } from '../../control/commands/types.js';
import type { ControllerListEntry } from '../../control/controllers.js';
import type { State } from '../../control/state.js';
import { LoopCounter, loopSlot } from '../../forward/counters.js';

export interface GuestView {
  userid: string;
  type: 'QEMU' | 'NETNS';
  nics: NicDoc[];
}

export interface ObservedView {
  /** When it was read (ms since the epoch): rates are counter deltas over `at` deltas. */
  at: number;
  /** QUERY VSWITCH ALL DETAILS's documents. */
  switches: SwitchDoc[];
  /** Every guest with QUERY NIC's document of each of its NICs. */
  guests: GuestView[];
  /** QUERY CONTROLLER's list: the connected controllers and the switches each controls. */
  controllers: ControllerListEntry[];
  /** The data-plane loop's own counters (LoopCounter), or null without a data plane. */
  dataplane: {
    wakeups: number; batches: number; emptyPolls: number; sleeps: number; cpuSeconds: number;
    /** Adaptive polling's predicted arrivals that came and that did not. */
    predictHits: number; predictMisses: number;
  } | null;
}

/** Where the view is read from: the daemon's state and its RuntimeView (the reconciler). */
export interface ViewSource {
  state: State;
  runtime: RuntimeView;
}

export function observe(src: ViewSource, now: number): ObservedView {
  const { state, runtime: rt } = src;
  return {
    at: now,
    switches: switchesByName(state).map((sw) => switchDoc(state, sw, rt)),
    guests: guestsByName(state).map((g) => ({
      userid: g.userid,
      type: g.netns === null ? 'QEMU' : 'NETNS',
      nics: nicsByVdev(g).map((n) => nicDoc(state, g, n, rt)),
    })),
    controllers: rt.controllerList?.() ?? [],
    dataplane: loopCounters(rt.counters()),
  };
}

function loopCounters(c: Float64Array | null): ObservedView['dataplane'] {
  if (c === null) return null;
  return {
    wakeups: c[loopSlot(LoopCounter.Wakeups)], batches: c[loopSlot(LoopCounter.Batches)],
    emptyPolls: c[loopSlot(LoopCounter.EmptyPolls)], sleeps: c[loopSlot(LoopCounter.Sleeps)],
    cpuSeconds: c[loopSlot(LoopCounter.CpuNs)] / 1e9,
    predictHits: c[loopSlot(LoopCounter.PredictHits)], predictMisses: c[loopSlot(LoopCounter.PredictMisses)],
  };
}
