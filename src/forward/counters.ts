/**
 * Counter layout in the SharedArrayBuffer the data plane writes and the control plane reads.
 *
 * The worker increments plain Float64Array slots (exact to 2^53); the main thread reads them
 * without stopping the loop, so a read may be a frame behind: fine for counters.
 * Port p owns PORT_SLOTS slots at p * PORT_SLOTS; switch s owns SWITCH_SLOTS slots at
 * SWITCH_BASE + s * SWITCH_SLOTS, indexed by DropReason. The data-plane loop's own counters
 * (LoopCounter) follow at LOOP_BASE.
 */

export const MAX_PORTS = 8192;
export const MAX_SWITCHES = 256;

/** Per-port slot offsets. */
export const enum PortCounter {
  RxFrames = 0,
  RxBytes = 1,
  TxFrames = 2,
  TxBytes = 3,
  /** Frames dropped at this port's egress (queue full, write refused). */
  TxDrops = 4,
  /** Receive errors (read failed other than EAGAIN, malformed framing on a stream). */
  RxErrors = 5,
}
export const PORT_SLOTS = 8;

export const SWITCH_SLOTS = 32;
export const SWITCH_BASE = MAX_PORTS * PORT_SLOTS;

/** The data-plane loop's counters (src/dataplane/loop.ts), one slot each at LOOP_BASE + c. */
export const enum LoopCounter {
  /** epoll_wait returns that reported at least one ready fd (the loop woke or a poll found work). */
  Wakeups = 0,
  /** Receive batches that read at least one frame (frames / batches = the mean batch size). */
  Batches = 1,
  /** Non-blocking polls (busy or adaptive polling) that found nothing: the price of polling. */
  EmptyPolls = 2,
  /** epoll_wait calls that may block (a timeout; they return at once when fds are ready already). */
  Sleeps = 3,
  /** The worker thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID), written about once a second. */
  CpuNs = 4,
  /** Adaptive polling's predicted arrivals that came / did not come (written about once a second). */
  PredictHits = 5,
  PredictMisses = 6,
}
export const LOOP_SLOTS = 8;
export const LOOP_BASE = SWITCH_BASE + MAX_SWITCHES * SWITCH_SLOTS;
export const COUNTER_SLOTS = LOOP_BASE + LOOP_SLOTS;

export function newCounterBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(COUNTER_SLOTS * 8);
}

export function portSlot(port: number, c: PortCounter): number {
  return port * PORT_SLOTS + c;
}

export function loopSlot(c: LoopCounter): number {
  return LOOP_BASE + c;
}

export function dropSlot(sw: number, reason: number): number {
  return SWITCH_BASE + sw * SWITCH_SLOTS + reason;
}
