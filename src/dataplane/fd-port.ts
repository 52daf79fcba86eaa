/**
 * A port over a file descriptor that carries one Ethernet frame per read() and write(): a TAP
 * opened with IFF_VNET_HDR, or an AF_PACKET socket with PACKET_VNET_HDR. The subclasses differ
 * only in what their errnos mean: which read errors are transient, which write errors mean the
 * fd is dead (fatal) and which mean the interface is down (send() then returns ENETDOWN, the
 * contract's "link down"; see Port in port.ts for the contract).
 *
 * Receive layout: a port with a virtio-net header reads into slot+HEADROOM (header, then frame
 * at +10); one without reads the frame into slot+HEADROOM+10 and reports hdr === eth, so ten
 * free bytes always sit before eth (the egress puts a zero header there when it needs one).
 * Frames shorter than an Ethernet header are dropped and counted in rxErrors. A packet-socket
 * kind sets `vlanRx` (packet-socket.ts): frames are then read with recvmsg and their 802.1Q
 * tag, which the kernel keeps aside, is put back in front of the payload (the frame then
 * starts 4 bytes earlier in its slot).
 * The port's mtu is read when it is built and again on refreshMtu (each kind says how).
 *
 * Packet sockets (packetSocket(), issue 14) batch their syscalls unless told not to
 * (VSWITCH_RECVMMSG=0, VSWITCH_SENDMMSG=0): one recvmmsg reads up to a whole batch
 * (PacketBatchRx), and frames of up to
 * TX_STAGE_BYTES are staged by send() (when the egress says more may follow) and written by one sendmmsg in commit() (PacketBatchTx;
 * larger frames, GSO super-frames, are written at once, after what is staged, so the order
 * holds). The loop commits after every batch it forwarded and at the end of every wake-up
 * (the egress keeps the list); a full staging area commits by itself. A staged frame counts
 * as sent when send() takes it; one the kernel then refuses is left in txRefused,
 * txRefusedBytes and txRefusedErrno (the last errno, mapped as send() maps it) for the egress
 * to move from sent to dropped.
 * TAP ports (tapBatch()) batch through io_uring when told to (VSWITCH_URING=1; off by default,
 * see URING below; src/sys/uring.ts):
 * frames of up to TX_STAGE_BYTES are staged as above (the same PacketBatchTx) and written by one
 * io_uring_enter in commit(), one IORING_OP_WRITE each with RWF_NOWAIT (tun completes them
 * inline); refusals are counted as for sendmmsg. Reads go in rounds of IORING_OP_READs into
 * consecutive receive slots, one io_uring_enter a round, until one finds nothing (-EAGAIN);
 * the first round tries one frame more than the last call took, and after a call that took one
 * frame or none the next reads with read() (receiveUring). A lone staged frame goes by write(),
 * and a frame the egress says is alone (send's `stage` false: the only one of its batch) is
 * not staged at all: written at once, as without batching.
 * An uplink may read from a TPACKET_V2 ring instead (VSWITCH_RX_RING=1, PacketRingRx; off by
 * default): no syscall per batch; a wake-up with an empty ring reads the socket's error.
 * An uplink may write through a TPACKET_V2 transmit ring instead of sendmmsg (VSWITCH_TX_RING=1,
 * PacketRingTx; off by default): every frame, small or large, is copied into a ring slot (with
 * a transmit ring the kernel sends from the ring on any sendmsg and ignores the buffer, so
 * write() is no way out); small ones are staged as above when more may follow and sent by one
 * send(MSG_DONTWAIT) in commit(); a lone frame or one over TX_STAGE_BYTES is sent at once,
 * behind what is staged, and if the kernel refuses it, it is reported as a staged frame is
 * (txRefused: send() returns 0 and the egress settles it at once). A frame whose ring slot is
 * still in the device's hands after a commit is refused EAGAIN (a full queue).
 * With both rings, mapPacketRings maps them in one go.
 */
import { EAGAIN, EINTR, EMSGSIZE, ENETDOWN, EPIPE, SOL_SOCKET, SO_ERROR, close, errno, munmapBytes, raw, type ForeignBytes } from '../sys/libc.js';
import { VNET_HDR_LEN } from '../wire/vnet.js';
import { Eth } from '../wire/ethernet.js';
import type { PortKind } from '../protocol/dataplane.js';
import { HEADROOM, MAX_FRAME, RX_SLOTS, SLOT_SIZE, type FrameMemory, type Port } from './port.js';
import {
  PacketBatchRx, PacketBatchTx, PacketRingRx, PacketRingTx, PacketVlanRx, RING_FRAME_BYTES, TX_RING_BLOCK_FRAMES, mapPacketRings, ringPart,
} from './packet-socket.js';
import { IORING_OP_READ, RWF_NOWAIT, Uring } from '../sys/uring.js';

/** Frames up to this many bytes (virtio-net header included) are staged for sendmmsg: small frames, ACKs. */
export const TX_STAGE_BYTES = 256;
/** Frames staged before a commit happens by itself. */
export const TX_STAGE_FRAMES = 64;

/**
 * The batching levers (issue 14): '1' on, '0' off; absent: on, the default measured to win
 * (bench runs with on and off alternated, load 6-11): sendmmsg cuts the worker's cost per
 * 64-byte frame guest to LAN by 12-20% (6,050 vs 7,542 ns; 5,488 vs 6,492) and its rate rose
 * 1.13-1.34x; recvmmsg's cost per frame LAN to guest is within the noise (6,228 vs 6,167 ns),
 * its rate higher in three runs of four (74.5 vs 59.2 k/s). Ping p50 unchanged.
 * `--compare VSWITCH_RECVMMSG=0,VSWITCH_SENDMMSG=0` measures them off.
 */
const RECVMMSG = (process.env.VSWITCH_RECVMMSG ?? '1') === '1';
/**
 * TPACKET_V2 receive ring on the uplink (issue 14): '1' on; off by default: in two runs it cut
 * the cost per 64-byte frame LAN to guest to 0.77x and 0.88x of recvmmsg's (4,734 vs 6,111 ns;
 * 4,626 vs 5,238) but TCP LAN to guest lost both times (3.34 vs 4.98, 6.10 vs 7.94 Gbit/s): a
 * super-frame is copied once more, ring to frame memory.
 */
const RX_RING = process.env.VSWITCH_RX_RING === '1';
/** Frames in the ring (each RING_FRAME_BYTES: a 64 KiB super-frame fits). */
const RX_RING_FRAMES = 256;
/**
 * TPACKET_V2 transmit ring on the uplink (issue 14): '1' on; absent or anything else: off, the
 * default, because it lost: two bench runs, on and off in each (load 4-4.5), 64-byte guest to
 * LAN cost 1.07x and 1.05x the worker ns per frame (6,632 vs 6,195; 6,958 vs 6,614) at 1.14x and
 * 0.81x the rate, TCP 1.13x and 1.10x the ns per frame; ping p50 0.97x and 1.17x. The ring saves
 * no syscall over sendmmsg, and on a veth the kernel still allocates an skb per frame and copies
 * the ring's pages into a fresh page (skb_copy_ubufs, in the profile), super-frames are copied
 * into the ring by memmove (libc 10.7% of the TCP profile, 1.9% without).
 * `--compare VSWITCH_TX_RING=1` measures it.
 */
const TX_RING = process.env.VSWITCH_TX_RING === '1';
/** Slots of the transmit ring: twice a staging's worth, 8 blocks of TX_RING_BLOCK_FRAMES (8 MiB of kernel memory). */
const TX_RING_FRAMES = 8 * TX_RING_BLOCK_FRAMES;
const SENDMMSG = (process.env.VSWITCH_SENDMMSG ?? '1') === '1';
/**
 * io_uring on TAP ports (issue 14, the file comment): '1' on; absent or anything else: off, the
 * default, because ping lost. Three bench runs, on and off alternated in each (load 2-6):
 * 64-byte guest to guest cost 0.81x, 0.81x, 0.77x the worker ns per frame (4,652 vs 5,729;
 * 4,387 vs 5,402; 4,955 vs 6,440) at 1.25x, 1.22x, 1.11x the rate; LAN to guest 0.92x, 0.80x,
 * 0.87x; guest to LAN (TAP reads only) 0.90x, 1.04x, 1.01x; TCP within the noise; but ping p50
 * guest to guest rose 9% in all three (0.194 vs 0.178, 0.180 vs 0.165, 0.199 vs 0.183 ms),
 * although a ping costs the same syscalls either way (strace: read, read -EAGAIN, write; a lone
 * frame goes by read() and write(), receiveUring and PacketBatchTx.flushRing).
 * `--compare VSWITCH_URING=1` measures it.
 */
const URING = process.env.VSWITCH_URING === '1';
/** The io_uring of a TAP port: SQEs 0..RX_SLOTS-1 read, RX_SLOTS.. write the staging slots. */
const URING_ENTRIES = 128;

export abstract class FdFramePort implements Port {
  failed = 0;
  wantsWrite = false;
  rxErrors = 0;
  mtu: number;
  abstract readonly kind: PortKind;
  /** A packet socket's tag-restoring reader (packet-socket.ts), or null: plain read(). */
  protected vlanRx: PacketVlanRx | null = null;
  /** A packet socket's batched reader and sender (packet-socket.ts), or null. */
  private batchRx: PacketBatchRx | null = null;
  private batchTx: PacketBatchTx | null = null;
  private ringRx: PacketRingRx | null = null;
  private ringTx: PacketRingTx | null = null;
  /** The rings' one mapping (mapPacketRings), or null. */
  private rings: ForeignBytes | null = null;
  /** A TAP's io_uring (VSWITCH_URING), or null. */
  private uring: Uring | null = null;
  /** receiveUring: the address its read SQEs point at (slot 0's), and how many reads to try first. */
  private uringRxBase = -1;
  private uringRxGuess = 2;
  /** getsockopt(SO_ERROR) scratch: a ring reader woken with nothing to take reads the socket's error there. */
  private readonly soErr = Buffer.alloc(4);
  private readonly soErrLen = Buffer.alloc(4);
  /** Batched send (the file comment): frames staged now, and those the kernel refused since the egress last looked. */
  txQueued = 0;
  txRefused = 0;
  txRefusedBytes = 0;
  txRefusedErrno = 0;
  /** PacketBatchTx.flush's refusal callback, made once. */
  private readonly onRefused = (e: number, i: number): boolean => {
    this.txRefused++;
    this.txRefusedBytes += (this.ringTx ?? this.batchTx!).len(i) - (this.vnet ? VNET_HDR_LEN : 0);
    if (this.fatalWriteError(e)) {
      this.failed = e;
      this.txRefusedErrno = e;
      return true;
    }
    this.txRefusedErrno = this.linkDownWriteError(e) ? ENETDOWN : e;
    return false;
  };

  constructor(
    readonly id: number,
    readonly sw: number,
    readonly name: string,
    readonly fd: number,
    readonly vnet: boolean,
  ) {
    this.mtu = 0;
    this.refreshMtu();
  }

  /**
   * A packet-socket kind calls this from its constructor: frames are read with their 802.1Q tag
   * put back, one at a time or batched, and sent batched when the levers say so (the file comment).
   */
  protected packetSocket(ring = false): void {
    const rx = ring && RX_RING ? RX_RING_FRAMES : 0;
    const tx = ring && TX_RING ? TX_RING_FRAMES : 0;
    if (rx + tx > 0) {
      try {
        const m = mapPacketRings(this.fd, rx, tx);
        this.rings = m;
        if (rx > 0) this.ringRx = new PacketRingRx(this.fd, rx, ringPart(m, 0, rx * RING_FRAME_BYTES));
        if (tx > 0) this.ringTx = new PacketRingTx(this.fd, tx, ringPart(m, rx * RING_FRAME_BYTES, tx * RING_FRAME_BYTES));
      } catch { /* a kernel without rings: read and write as below */ }
    }
    if (this.ringRx !== null) { /* frames come from the ring */ } else if (RECVMMSG) this.batchRx = new PacketBatchRx(this.fd, RX_SLOTS);
    else this.vlanRx = new PacketVlanRx(this.fd);
    if (SENDMMSG && this.ringTx === null) this.batchTx = new PacketBatchTx(this.fd, TX_STAGE_FRAMES, TX_STAGE_BYTES);
  }

  /** One read() per frame unless frames come batched (recvmmsg) or from the ring (Port.readsPerFrame). */
  get readsPerFrame(): boolean {
    return this.batchRx === null && this.ringRx === null;
  }

  /**
   * A TAP kind calls this from its constructor: with VSWITCH_URING=1, frames are read through an
   * io_uring of the port's (receiveUring) and small ones staged and written by one io_uring_enter
   * in commit() (the file comment). A kernel without io_uring, or
   * whose tun refuses RWF_NOWAIT (a zero-length read probes it), leaves the port on read()/write().
   */
  protected tapBatch(): void {
    if (!URING) return;
    let ring: Uring;
    try { ring = new Uring(URING_ENTRIES); } catch { return; }
    ring.prep(0, IORING_OP_READ, this.fd, 0, 0, RWF_NOWAIT);
    ring.queue(0);
    if (ring.submit() !== 1 || ring.result(0) !== 0) { ring.close(); return; }
    this.uring = ring;
    this.batchTx = new PacketBatchTx(this.fd, TX_STAGE_FRAMES, TX_STAGE_BYTES, ring, RX_SLOTS);
  }

  refreshMtu(): void {
    try {
      const m = this.readMtu();
      if (m > 0) this.mtu = m;
    } catch {
      // Keep what is known (0: unknown, nothing checked).
    }
  }

  /** The interface MTU from the kernel (throws a SysError when it cannot be read). */
  protected abstract readMtu(): number;

  /** Is this read errno transient (count it and go on) rather than fatal? */
  protected abstract transientReadError(e: number): boolean;
  /** Does this write errno mean the fd is dead? */
  protected abstract fatalWriteError(e: number): boolean;
  /** Does this write errno mean the interface is down (the frame is refused, the port stays)? */
  protected abstract linkDownWriteError(e: number): boolean;

  receive(mem: FrameMemory, max: number): number {
    if (this.uring !== null) return this.receiveUring(this.uring, mem, max);
    if (this.ringRx !== null) return this.receiveRing(this.ringRx, mem, max);
    if (this.batchRx !== null) return this.receiveBatched(this.batchRx, mem, max);
    return this.receiveEach(mem, max);
  }

  /** receive() with one read (or recvmsg) per frame, until EAGAIN. */
  private receiveEach(mem: FrameMemory, max: number): number {
    const lead = this.vnet ? 0 : VNET_HDR_LEN;
    const hl = this.vnet ? VNET_HDR_LEN : 0;
    const cap = MAX_FRAME + hl;
    const vrx = this.vlanRx;
    let n = 0;
    while (n < max) {
      let off = mem.slot(n) + HEADROOM + lead;
      const r = vrx === null ? raw.readAt(this.fd, mem.addr + off, cap) : vrx.read(mem.addr + off, cap);
      if (r < 0) {
        const e = errno();
        if (e === EAGAIN) break;
        if (e === EINTR) continue;
        if (this.transientReadError(e)) { this.rxErrors++; break; }
        return n > 0 ? n : -e; // deliver what we have; the error repeats on the next call
      }
      if (r === 0) return n > 0 ? n : -EPIPE; // end of file on a frame fd: a hang-up
      if (r < hl + Eth.HeaderLen) { this.rxErrors++; continue; }
      const end = off + r;
      if (vrx !== null) off -= vrx.tag(mem.bytes, off, off + hl);
      mem.rxHdr[n] = off;
      mem.rxEth[n] = off + hl;
      mem.rxEnd[n] = end;
      n++;
    }
    return n;
  }

  /** receive() with one recvmmsg: frame i of the call into slot i. */
  private receiveBatched(brx: PacketBatchRx, mem: FrameMemory, max: number): number {
    const lead = this.vnet ? 0 : VNET_HDR_LEN;
    const hl = this.vnet ? VNET_HDR_LEN : 0;
    const first = mem.slot(0) + HEADROOM + lead;
    let r: number;
    for (;;) {
      r = brx.read(mem.addr + first, SLOT_SIZE, MAX_FRAME + hl, max);
      if (r >= 0) break;
      const e = errno();
      if (e === EAGAIN) return 0;
      if (e === EINTR) continue;
      if (this.transientReadError(e)) { this.rxErrors++; return 0; }
      return -e;
    }
    let n = 0;
    for (let i = 0; i < r; i++) {
      const len = brx.len(i);
      if (len < hl + Eth.HeaderLen) { brx.skip(i); this.rxErrors++; continue; }
      let off = first + i * SLOT_SIZE;
      const end = off + len;
      off -= brx.tag(i, mem.bytes, off, off + hl);
      mem.rxHdr[n] = off;
      mem.rxEth[n] = off + hl;
      mem.rxEnd[n] = end;
      n++;
    }
    return n;
  }

  /**
   * receive() through the io_uring (VSWITCH_URING): rounds of k reads in one io_uring_enter, read
   * i into slot i, each round twice the last while every read got a frame, until one finds
   * nothing (-EAGAIN) or `max` slots are used. The first round tries one frame more than the last
   * call took, so a wake with few frames does not cost 63 empty reads; after a call that took one
   * frame or none, the next reads with read() (receiveEach: a lone frame and the EAGAIN behind it
   * cost less that way than by an io_uring_enter, bench run of issue 14: ping). A frame that
   * came after an empty read of its round is kept (the reads ran in order). As receive(): runts
   * counted in rxErrors, end of file -EPIPE, a fatal error returned as -errno when nothing was read.
   */
  private receiveUring(ring: Uring, mem: FrameMemory, max: number): number {
    const lead = this.vnet ? 0 : VNET_HDR_LEN;
    const hl = this.vnet ? VNET_HDR_LEN : 0;
    const first = mem.slot(0) + HEADROOM + lead;
    if (mem.addr + first !== this.uringRxBase) {
      this.uringRxBase = mem.addr + first;
      for (let i = 0; i < RX_SLOTS; i++) ring.prep(i, IORING_OP_READ, this.fd, mem.addr + first + i * SLOT_SIZE, MAX_FRAME + hl, RWF_NOWAIT);
    }
    if (this.uringRxGuess <= 2) {
      const got = this.receiveEach(mem, max);
      this.uringRxGuess = got > 0 ? got + 1 : 2;
      return got;
    }
    if (max > RX_SLOTS) max = RX_SLOTS;
    let n = 0;
    let i = 0;
    let k = this.uringRxGuess;
    let fatal = 0;
    for (;;) {
      const end = i + k < max ? i + k : max;
      for (let j = i; j < end; j++) ring.queue(j);
      const s = ring.submit();
      if (s < 0) { fatal = -s; break; }
      let more = true;
      for (let j = i; j < end; j++) {
        const r = ring.result(j);
        if (r < 0) {
          const e = -r;
          more = false;
          if (e === EAGAIN || e === EINTR) continue;
          if (this.transientReadError(e)) { this.rxErrors++; continue; }
          if (fatal === 0) fatal = e;
          continue;
        }
        if (r === 0) { more = false; if (fatal === 0) fatal = EPIPE; continue; } // end of file: a hang-up
        if (r < hl + Eth.HeaderLen) { this.rxErrors++; continue; }
        const off = first + j * SLOT_SIZE;
        mem.rxHdr[n] = off;
        mem.rxEth[n] = off + hl;
        mem.rxEnd[n] = off + r;
        n++;
      }
      i = end;
      if (!more || i >= max) break;
      k *= 2;
    }
    this.uringRxGuess = n + 1 < 2 ? 2 : n + 1;
    if (n > 0) return n; // deliver what we have; the error repeats on the next call
    return fatal !== 0 ? -fatal : 0;
  }

  /**
   * receive() from the TPACKET_V2 ring: no syscall while frames are waiting. Woken with nothing
   * in the ring, the socket has an error to report (the interface went down or away: the kernel
   * sets it and epoll says EPOLLERR); SO_ERROR reads and clears it, and it is judged as a read
   * error would be.
   */
  private receiveRing(ring: PacketRingRx, mem: FrameMemory, max: number): number {
    const lead = this.vnet ? 0 : VNET_HDR_LEN;
    const hl = this.vnet ? VNET_HDR_LEN : 0;
    let n = 0;
    while (n < max) {
      const off = mem.slot(n) + HEADROOM + lead;
      const r = ring.take(mem.bytes, mem.addr, off, MAX_FRAME + hl, hl);
      if (r === 0) break;
      if (r < hl + Eth.HeaderLen) { this.rxErrors++; continue; }
      const start = off - ring.moved;
      mem.rxHdr[n] = start;
      mem.rxEth[n] = start + hl;
      mem.rxEnd[n] = off + r;
      n++;
    }
    if (n > 0 || this.rxErrors > 0) return n;
    this.soErrLen.writeUInt32LE(4, 0);
    if (raw.getsockopt(this.fd, SOL_SOCKET, SO_ERROR, this.soErr, this.soErrLen) < 0) return -errno();
    const e = this.soErr.readInt32LE(0);
    if (e === 0) return 0;
    if (this.transientReadError(e)) { this.rxErrors++; return 0; }
    return -e;
  }

  send(bytes: Uint8Array, addr: number, start: number, end: number, stage: boolean): number {
    if (this.ringTx !== null) return this.sendRing(this.ringTx, bytes, addr, start, end, stage);
    const tx = this.batchTx;
    if (tx !== null) {
      if (stage && end - start <= TX_STAGE_BYTES) {
        tx.push(bytes, start, end);
        this.txQueued = tx.queued;
        if (tx.queued === tx.n) this.commit();
        return 0;
      }
      if (tx.queued > 0) this.commit();
      if (this.failed !== 0) return this.failed;
    }
    for (;;) {
      const r = raw.writeAt(this.fd, addr + start, end - start);
      if (r >= 0) return 0;
      const e = errno();
      if (e === EINTR) continue;
      if (this.fatalWriteError(e)) this.failed = e;
      else if (this.linkDownWriteError(e)) return ENETDOWN;
      return e;
    }
  }

  /**
   * send() through the transmit ring (the file comment): staged when more may follow and the
   * frame is small, else sent at once with what is staged before it; its refusal, if any, is
   * reported in txRefused as a staged frame's (send returns 0).
   */
  private sendRing(rt: PacketRingTx, bytes: Uint8Array, addr: number, start: number, end: number, stage: boolean): number {
    const len = end - start;
    if (len > PacketRingTx.maxLen) return EMSGSIZE;
    if (!rt.push(bytes, addr, start, end)) {
      if (rt.queued > 0) {
        this.commit();
        if (this.failed !== 0) return this.failed;
      }
      if (!rt.push(bytes, addr, start, end)) return EAGAIN; // its slot still in the device's hands
    }
    if (stage && len <= TX_STAGE_BYTES && rt.queued < TX_STAGE_FRAMES) {
      this.txQueued = rt.queued;
      return 0;
    }
    this.commit();
    return 0;
  }

  flush(): number {
    return 0;
  }

  /** Write what send() staged (batched send; nothing otherwise). */
  commit(): void {
    const tx = this.ringTx ?? this.batchTx;
    if (tx === null || tx.queued === 0) return;
    this.txQueued = 0;
    tx.flush(this.onRefused);
  }

  close(): void {
    this.batchTx?.drop();
    this.txQueued = 0;
    close(this.fd);
    this.ringRx?.close();
    this.ringRx = null;
    this.ringTx?.drop();
    this.ringTx = null;
    if (this.rings !== null) munmapBytes(this.rings);
    this.rings = null;
    this.uring?.close();
    this.uring = null;
  }
}
