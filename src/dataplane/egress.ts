/**
 * The data plane's Egress (src/forward/api.ts): where a forwarder's Egress.send lands. One
 * object per loop, created with it; it normalises each frame to what the target port's framing
 * needs, hands it to the port's send(), and counts the outcome. Synchronous, never throws, no
 * allocation per frame (the segmentation scratch and its emit callback are made once here).
 *
 * Normalisation (hdr === eth means the frame came without a virtio-net header):
 *   vnet port, frame without header -> a zero header is written into the 10 bytes before eth
 *     (every port's receive layout and every forwarder-built frame leave them free);
 *   plain port, frame with NEEDS_CSUM -> checksum completed in place (flag cleared);
 *   plain port, GSO frame -> software TCP segmentation (src/wire/segment.ts), each segment sent
 *     from the scratch; other GSO types, and offsets that do not fit, are dropped as BadOffload.
 * A frame the forwarder built in its own buffer (not the frame memory) is copied into the
 * frame memory's transmit slot first; one that does not fit the contract's layout is dropped as
 * Malformed.
 *
 * Counting: a sent frame counts TxFrames and TxBytes (Ethernet bytes, header excluded) at the
 * port; a refused one counts TxDrops at the port and, by the errno the port returned (port.ts),
 * EAGAIN / ENOBUFS as QueueFull and ENETDOWN as EgressDown at the port's switch; other errnos
 * (a frame the kernel rejects) count TxDrops only. A send to a port id that is not in the table,
 * or whose port has failed, is ignored.
 *
 * What the loop keeps (EgressHost): the port table, the epoll interest. After a send the egress
 * asks the loop to re-arm EPOLLOUT when the port's wantsWrite no longer matches it, and hands
 * over a port that found its fd dead (the loop removes it once the batch is done).
 */
import { EAGAIN, ENETDOWN, ENOBUFS, allocBytes, type ForeignBytes } from '../sys/libc.js';
import { DropReason, VNET_HDR_LEN, type Egress } from '../forward/api.js';
import { PortCounter, dropSlot, portSlot } from '../forward/counters.js';
import { SEGMENT_SCRATCH_LEN, finishChecksum, segmentTcp, type SegmentEmit } from '../wire/segment.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN } from '../wire/vnet.js';
import { HEADROOM, MAX_FRAME, type FrameMemory, type Port } from './port.js';

/** What the egress needs from the loop that owns the ports and the epoll set. */
export interface EgressHost {
  /** Ports by id (the loop's table, read on every send); undefined: no such port. */
  readonly ports: ReadonlyArray<Port | undefined>;
  /** Port id -> 1 while EPOLLOUT is in its epoll interest, else 0 (the loop's record). */
  readonly outArmed: Uint8Array;
  /** p.wantsWrite no longer matches outArmed[p.id]: bring the interest set in step. */
  syncOut(p: Port): void;
  /** p set `failed` during a send: remove it once the current batch is done. */
  portFailed(p: Port): void;
}

/** Memory a frame is sent from: the frame memory or the segmentation scratch. */
interface SendMemory {
  readonly bytes: Uint8Array;
  readonly addr: number;
}

export class FrameEgress implements Egress {
  /** The segmentation scratch: HEADROOM bytes, then SEGMENT_SCRATCH_LEN (segmentTcp's view). */
  private readonly segMem: ForeignBytes;
  private readonly segScratch: Uint8Array;
  /** The port the frame being segmented goes to (segEmit's target); undefined between frames. */
  private segPort: Port | undefined = undefined;
  /** segmentTcp's emit callback, bound once. */
  private readonly segEmit: SegmentEmit;

  constructor(
    private readonly counters: Float64Array,
    private readonly mem: FrameMemory,
    private readonly host: EgressHost,
  ) {
    this.segMem = allocBytes(SEGMENT_SCRATCH_LEN + HEADROOM);
    this.segScratch = this.segMem.bytes.subarray(HEADROOM, HEADROOM + SEGMENT_SCRATCH_LEN);
    this.segEmit = this.emitSegment.bind(this);
  }

  send(portId: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const p = this.host.ports[portId];
    if (p === undefined || p.failed !== 0) return;
    const c = this.counters;
    const mem = this.mem;
    const b = mem.bytes;
    if (buf !== b) {
      if (buf.buffer === b.buffer) {
        const d = buf.byteOffset - b.byteOffset;
        hdr += d; eth += d; end += d;
      } else {
        // A frame the forwarder built in its own buffer: copy it into the transmit slot.
        const hl = eth - hdr;
        const len = end - hdr;
        if ((hl !== 0 && hl !== VNET_HDR_LEN) || end - eth > MAX_FRAME || len < 0 || hdr < 0 || end > buf.length) {
          c[portSlot(portId, PortCounter.TxDrops)]++;
          c[dropSlot(p.sw, DropReason.Malformed)]++;
          return;
        }
        const dst = mem.txSlot + HEADROOM + VNET_HDR_LEN - hl;
        if (len <= 256) {
          for (let i = 0; i < len; i++) b[dst + i] = buf[hdr + i];
        } else {
          b.set(buf.subarray(hdr, end), dst);
        }
        hdr = dst; eth = dst + hl; end = dst + len;
      }
    }
    let start: number;
    if (p.vnet) {
      if (hdr === eth) {
        start = eth - VNET_HDR_LEN;
        for (let i = start; i < eth; i++) b[i] = 0;
      } else {
        start = hdr;
      }
    } else {
      if (hdr !== eth) {
        const gso = b[hdr + 1] & ~VIRTIO_NET_HDR_GSO_ECN & 0xff;
        if (gso !== 0) {
          this.segPort = p;
          const r = segmentTcp(b, hdr, eth, end, this.segEmit, this.segScratch);
          this.segPort = undefined;
          if (r < 0) this.dropOffload(p);
          return;
        }
        if ((b[hdr] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 && !finishChecksum(b, hdr, eth, end)) {
          this.dropOffload(p);
          return;
        }
      }
      start = eth;
    }
    this.transmit(p, mem, start, end, end - eth);
  }

  /** segmentTcp's emit: scratch[start..end) is a plain frame; send it from the scratch memory. */
  private emitSegment(scratch: Uint8Array, start: number, end: number): void {
    const p = this.segPort;
    if (p === undefined || p.failed !== 0 || scratch !== this.segScratch) return;
    this.transmit(p, this.segMem, HEADROOM + start, HEADROOM + end, end - start);
  }

  private dropOffload(p: Port): void {
    this.counters[portSlot(p.id, PortCounter.TxDrops)]++;
    this.counters[dropSlot(p.sw, DropReason.BadOffload)]++;
  }

  /** Send m.bytes[start..end) to p and count the outcome. */
  private transmit(p: Port, m: SendMemory, start: number, end: number, ethBytes: number): void {
    const r = p.send(m.bytes, m.addr, start, end);
    const c = this.counters;
    if (r === 0) {
      c[portSlot(p.id, PortCounter.TxFrames)]++;
      c[portSlot(p.id, PortCounter.TxBytes)] += ethBytes;
    } else {
      c[portSlot(p.id, PortCounter.TxDrops)]++;
      if (r === EAGAIN || r === ENOBUFS) c[dropSlot(p.sw, DropReason.QueueFull)]++;
      else if (r === ENETDOWN) c[dropSlot(p.sw, DropReason.EgressDown)]++;
      if (p.failed !== 0) this.host.portFailed(p);
    }
    const host = this.host;
    if (p.wantsWrite !== (host.outArmed[p.id] === 1)) host.syncOut(p);
  }
}
