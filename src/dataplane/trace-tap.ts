/**
 * The worker's side of traces (vswitch trace): up to MAX_TRACES open sessions, each copying the
 * frames of one switch (or one port of it, or its uplink; optionally one VLAN) into its own
 * ring, whose layout src/protocol/dataplane.ts gives. The main thread drains the rings.
 *
 * The data path pays nothing while no session is open (`active` is 0; the loop and the egress
 * test it first). While one is: the loop asks watch() once per batch which sessions see the
 * receiving port, records each received frame before the forwarder sees it (recordIn), and
 * after Forwarder.input says how it ended (finishIn: the drop reason, if the frame was
 * dropped); the egress records each frame as it leaves a watched port, after every rewrite,
 * with the outcome of the write (recordOut). A received frame's record is published only with
 * its outcome, so the records the forwarder's sends made meanwhile stay behind it.
 * A full ring never blocks and never waits: the frame is not copied and the session's lost
 * counter goes up (a slow reader loses trace frames, never data-path frames).
 *
 * No allocation per frame: a record is written into the ring through a view made when the
 * session opened; frame bytes are copied with a loop (short frames) or memmove. Sessions are
 * opened and closed by control messages (trace-start / trace-stop), never per frame.
 */
import koffi from 'koffi';
import { raw } from '../sys/libc.js';
import {
  TRACE_CTL_BYTES, TRACE_FRAME, TRACE_HEAD, TRACE_IN, TRACE_LOST, TRACE_OUT, TRACE_PAD, TRACE_RECORDS, TRACE_RECORD_HEADER, TRACE_TAIL,
  type ToWorker,
} from '../protocol/dataplane.js';

export const MAX_TRACES = 4;
/** Smallest and largest ring a session may bring. */
const MIN_RING = 1 << 16;
const MAX_RING = 1 << 28;
const ETHERTYPE_VLAN = 0x8100;

interface Session {
  readonly id: number;
  readonly sw: number;
  readonly port: number;
  readonly uplink: boolean;
  readonly vlan: number;
  readonly snaplen: number;
  readonly size: number;
  readonly mask: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly addr: number;
  readonly ctl32: Int32Array;
  readonly ctl64: Float64Array;
  /** Bytes written, published or not (a uint32 that wraps). */
  head: number;
  /** A received frame's record waits for its outcome: nothing is published until finishIn. */
  holding: boolean;
  /** Where that record is in the ring (its offset), or -1 when it was not copied. */
  inAt: number;
}

export class TraceTap {
  /** Open sessions; 0: nothing is traced and the data path skips every call here. */
  active = 0;
  private readonly sessions: (Session | undefined)[] = new Array<Session | undefined>(MAX_TRACES).fill(undefined);

  /** Open a session; the refusal in words, or null. */
  start(m: Extract<ToWorker, { op: 'trace-start' }>): string | null {
    if (this.find(m.trace) >= 0) return `trace ${m.trace} is already open`;
    const slot = this.sessions.indexOf(undefined);
    if (slot < 0) return `at most ${MAX_TRACES} traces may be open at once`;
    const size = m.ringBytes;
    if (!Number.isInteger(size) || size < MIN_RING || size > MAX_RING || (size & (size - 1)) !== 0) return 'bad trace ring size';
    if (!(m.ctl instanceof SharedArrayBuffer) || m.ctl.byteLength < 32) return 'bad trace control block';
    if (!Number.isInteger(m.snaplen) || m.snaplen < 1) return 'bad snaplen';
    const ab = koffi.view(m.ring, size);
    this.sessions[slot] = {
      id: m.trace, sw: m.sw, port: m.port, uplink: m.uplink, vlan: m.vlan, snaplen: Math.min(m.snaplen, size / 2 - TRACE_RECORD_HEADER - 8),
      size, mask: 1 << slot, bytes: new Uint8Array(ab), view: new DataView(ab), addr: m.ring,
      ctl32: new Int32Array(m.ctl, 0, 2), ctl64: new Float64Array(m.ctl, 0, 4), head: 0, holding: false, inAt: -1,
    };
    this.active++;
    return null;
  }

  /** Close a session (it no longer touches its ring); false when it is not open. */
  stop(id: number): boolean {
    const i = this.find(id);
    if (i < 0) return false;
    this.sessions[i] = undefined;
    this.active--;
    return true;
  }

  /** Sessions (a bit mask) that see port `port` of switch `sw` (`uplink`: the port is the switch's uplink). */
  watch(sw: number, port: number, uplink: boolean): number {
    let mask = 0;
    const ss = this.sessions;
    for (let i = 0; i < MAX_TRACES; i++) {
      const s = ss[i];
      if (s !== undefined && s.sw === sw && (s.port < 0 || s.port === port) && (!s.uplink || uplink)) mask |= s.mask;
    }
    return mask;
  }

  /** Record a received frame (bytes[start..end), at `addr` + start in foreign memory); its outcome follows in finishIn. */
  recordIn(mask: number, port: number, bytes: Uint8Array, addr: number, start: number, end: number): void {
    const ss = this.sessions;
    for (let i = 0; i < MAX_TRACES; i++) {
      const s = ss[i];
      if (s === undefined || (s.mask & mask) === 0) continue;
      s.holding = true;
      s.inAt = this.write(s, TRACE_IN, 0, port, bytes, addr, start, end);
    }
  }

  /** The outcome of the frame recordIn recorded: 0 forwarded, else its drop (DropReason + 1). Publishes. */
  finishIn(mask: number, drop: number): void {
    const ss = this.sessions;
    for (let i = 0; i < MAX_TRACES; i++) {
      const s = ss[i];
      if (s === undefined || (s.mask & mask) === 0 || !s.holding) continue;
      if (s.inAt >= 0) s.bytes[s.inAt + 6] = drop;
      s.holding = false;
      s.inAt = -1;
      Atomics.store(s.ctl32, TRACE_HEAD, s.head | 0);
    }
  }

  /** Record a frame leaving port `port` (of switch `sw`) with its outcome `drop` (0: sent). */
  recordOut(sw: number, port: number, uplink: boolean, drop: number, bytes: Uint8Array, addr: number, start: number, end: number): void {
    const ss = this.sessions;
    for (let i = 0; i < MAX_TRACES; i++) {
      const s = ss[i];
      if (s === undefined || s.sw !== sw || (s.port >= 0 && s.port !== port) || (s.uplink && !uplink)) continue;
      this.write(s, TRACE_OUT, drop, port, bytes, addr, start, end);
      if (!s.holding) Atomics.store(s.ctl32, TRACE_HEAD, s.head | 0);
    }
  }

  private find(id: number): number {
    for (let i = 0; i < MAX_TRACES; i++) if (this.sessions[i]?.id === id) return i;
    return -1;
  }

  /** Copy one record into s's ring; its offset, or -1 when filtered out or the ring had no room (counted lost). */
  private write(s: Session, dir: number, drop: number, port: number, bytes: Uint8Array, addr: number, start: number, end: number): number {
    if (s.vlan >= 0) {
      if (end - start < 18 || (bytes[start + 12] << 8 | bytes[start + 13]) !== ETHERTYPE_VLAN
        || ((bytes[start + 14] << 8 | bytes[start + 15]) & 0x0fff) !== s.vlan) return -1;
    }
    const orig = end - start;
    const cap = orig < s.snaplen ? orig : s.snaplen;
    const len = (TRACE_RECORD_HEADER + cap + 7) & ~7;
    const size = s.size;
    const used = (s.head - Atomics.load(s.ctl32, TRACE_TAIL)) >>> 0;
    let off = s.head & (size - 1);
    const pad = off + len > size ? size - off : 0;
    if (size - used < pad + len) {
      s.ctl64[TRACE_LOST]++;
      return -1;
    }
    const v = s.view;
    if (pad !== 0) {
      v.setUint32(off, pad, true);
      s.bytes[off + 4] = TRACE_PAD;
      s.head = (s.head + pad) >>> 0;
      off = 0;
    }
    v.setUint32(off, len, true);
    const b = s.bytes;
    b[off + 4] = TRACE_FRAME; b[off + 5] = dir; b[off + 6] = drop; b[off + 7] = 0;
    v.setUint32(off + 8, port, true);
    v.setUint32(off + 12, orig, true);
    v.setUint32(off + 16, cap, true);
    v.setUint32(off + 20, 0, true);
    v.setFloat64(off + 24, Math.round((performance.timeOrigin + performance.now()) * 1000), true);
    const d = off + TRACE_RECORD_HEADER;
    if (cap <= 256) {
      for (let i = 0; i < cap; i++) b[d + i] = bytes[start + i];
    } else {
      raw.memmoveAt(s.addr + d, addr + start, cap);
    }
    s.head = (s.head + len) >>> 0;
    s.ctl64[TRACE_RECORDS]++;
    return off;
  }
}
