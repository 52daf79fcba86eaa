/**
 * What an AF_PACKET port (the uplink, a host TAP's kernel side) needs beyond read and write.
 *
 * VLAN tags on receive (PacketVlanRx): the kernel takes the 802.1Q tag off every frame it
 * receives (skb_vlan_untag, or the NIC's VLAN offload) before a packet socket sees it, and a
 * plain read() returns the frame without it; the tag is only in the PACKET_AUXDATA control
 * message (struct tpacket_auxdata: tp_status, tp_len, tp_snaplen, tp_mac, tp_net, tp_vlan_tci,
 * tp_vlan_tpid; TP_STATUS_VLAN_VALID 0x10, TP_STATUS_VLAN_TPID_VALID 0x40), as libpcap
 * knows. read() here is a recvmsg with that control message; the port then puts the tag back
 * into the frame in place (insert: src/wire/vlan.ts, which also moves the virtio-net header
 * and its csum_start, which the kernel counted from the untagged frame), so the switch sees the
 * frame as it was on the wire. One msghdr, iovec and control buffer in foreign memory, made
 * once; nothing allocates per frame.
 *
 * Address filters (PacketFilter): PACKET_ADD_MEMBERSHIP with PACKET_MR_UNICAST puts a MAC in
 * the interface's unicast filter (dev_uc_add; a device without unicast filtering goes
 * promiscuous by itself), PACKET_MR_ALLMULTI asks for every multicast frame; both last as long
 * as the socket (closing it drops them). set() replaces the whole set; control path only.
 *
 * Batched receive and send (PacketBatchRx, PacketBatchTx, issue 14): recvmmsg and sendmmsg; the
 * staging of PacketBatchTx also serves a TAP's io_uring writes (VSWITCH_URING, fd-port.ts).
 * TPACKET_V2 rings (issue 14): PacketRingRx (receive, VSWITCH_RX_RING) and PacketRingTx
 * (transmit, VSWITCH_TX_RING), set up and mapped together by mapPacketRings when both are on.
 */
import {
  EAGAIN, EINTR, EINVAL, MSG_DONTWAIT, PACKET_RX_RING, PACKET_TX_RING, PACKET_VERSION, TPACKET_V2, TP_STATUS_AVAILABLE, TP_STATUS_KERNEL, TP_STATUS_SEND_REQUEST, TP_STATUS_USER, TP_STATUS_WRONG_FORMAT, TP_STATUS_VLAN_TPID_VALID,
  TP_STATUS_VLAN_VALID, mmapShared, munmapBytes, setsockoptBuf, PACKET_ADD_MEMBERSHIP, PACKET_AUXDATA, PACKET_DROP_MEMBERSHIP, PACKET_MR_ALLMULTI, PACKET_MR_UNICAST, SOL_PACKET,
  IOVEC_SIZE, MMSGHDR_SIZE, allocBytes, errno, errnoName, packetSocketIfindex, raw, setsockoptInt, type ForeignBytes,
} from '../sys/libc.js';
import { IORING_OP_WRITE, RWF_NOWAIT, type Uring } from '../sys/uring.js';
import { writeMac } from '../wire/addr.js';
import { tagFrame } from '../wire/vlan.js';

const MSGHDR = 0;
const IOV = 56;
const CONTROL = 72;
const CONTROL_LEN = 64;

function setAddr(v: DataView, off: number, addr: number): void {
  v.setUint32(off, addr % 0x100000000, true);
  v.setUint32(off + 4, Math.floor(addr / 0x100000000), true);
}

export class PacketVlanRx {
  private readonly m: ForeignBytes;
  private readonly v: DataView;

  /** Turns PACKET_AUXDATA on for `fd` (throws when the fd is not a packet socket). */
  constructor(private readonly fd: number) {
    setsockoptInt(fd, SOL_PACKET, PACKET_AUXDATA, 1);
    this.m = allocBytes(CONTROL + CONTROL_LEN);
    this.v = this.m.view;
    this.m.bytes.fill(0);
    const a = this.m.addr;
    const v = this.v;
    setAddr(v, MSGHDR + 16, a + IOV); // msg_iov
    setAddr(v, MSGHDR + 24, 1); // msg_iovlen
    setAddr(v, MSGHDR + 32, a + CONTROL); // msg_control
  }

  /**
   * Read one frame into foreign memory at `addr` (at most `cap` bytes), as read() would: its
   * length, or -1 with errno set. The frame's 802.1Q tag, if it had one, is left for tag().
   */
  read(addr: number, cap: number): number {
    const v = this.v;
    setAddr(v, IOV, addr);
    setAddr(v, IOV + 8, cap);
    setAddr(v, MSGHDR + 40, CONTROL_LEN); // msg_controllen (the kernel lowers it)
    return raw.recvmsgAt(this.fd, this.m.addr + MSGHDR, 0) as number;
  }

  /**
   * After read(): put the frame's tag back. The frame (with its virtio-net header, when
   * hdr !== eth) starts at b[hdr]; the 4 bytes before it must be free. Returns how far the
   * frame's start moved back (4 with a tag, else 0).
   */
  tag(b: Uint8Array, hdr: number, eth: number): number {
    return restoreTag(this.v, MSGHDR, CONTROL, b, hdr, eth);
  }
}

/**
 * The tag of the frame whose struct msghdr is at `msg` in `v` and whose control buffer is at
 * `ctl`, put back into the frame (PacketVlanRx.tag's contract). Shared by the one-frame and the
 * batched reader.
 */
function restoreTag(v: DataView, msg: number, ctl: number, b: Uint8Array, hdr: number, eth: number): number {
  const clen = v.getUint32(msg + 40, true);
  if (clen < 16 + 20) return 0;
  if (v.getInt32(ctl + 8, true) !== SOL_PACKET || v.getInt32(ctl + 12, true) !== PACKET_AUXDATA) return 0;
  const status = v.getUint32(ctl + 16, true);
  if ((status & TP_STATUS_VLAN_VALID) === 0) return 0;
  return putTag(b, hdr, eth, status, v.getUint16(ctl + 32, true), v.getUint16(ctl + 34, true));
}

/** The tag the kernel kept aside (tp_status, tp_vlan_tci, tp_vlan_tpid), put back in front of the payload: 4, or 0 without one. */
function putTag(b: Uint8Array, hdr: number, eth: number, status: number, tci: number, tpid: number): number {
  const e = tagFrame(b, hdr, eth, tci);
  if ((status & TP_STATUS_VLAN_TPID_VALID) !== 0 && tpid !== 0x8100) {
    b[e + 12] = tpid >> 8;
    b[e + 13] = tpid;
  }
  return 4;
}

/** TPACKET_V2 ring geometry: every frame one 64 KiB super-frame plus headers, in a block of its own (17 pages). */
export const RING_FRAME_BYTES = 17 * 4096;
/** struct tpacket2_hdr's size, and where the kernel puts a frame's MAC header at the earliest. */
const TPACKET2_HDRLEN = 32;

/**
 * Transmit ring frames per block: 15 frames of RING_FRAME_BYTES are 255 pages, which the kernel
 * allocates as one order-8 block (1 MiB: it rounds every block up to a power of two pages, so a
 * block of one 17-page frame, as the receive ring has, takes 128 KiB).
 */
export const TX_RING_BLOCK_FRAMES = 15;

/** struct tpacket_req for a ring of `blocks` blocks of `perBlock` frames of RING_FRAME_BYTES (0 blocks: no ring). */
function ringReq(blocks: number, perBlock: number): Buffer {
  const req = Buffer.alloc(16);
  req.writeUInt32LE(blocks === 0 ? 0 : perBlock * RING_FRAME_BYTES, 0); // tp_block_size
  req.writeUInt32LE(blocks, 4); // tp_block_nr
  req.writeUInt32LE(blocks === 0 ? 0 : RING_FRAME_BYTES, 8); // tp_frame_size
  req.writeUInt32LE(blocks * perBlock, 12); // tp_frame_nr
  return req;
}

/**
 * Give packet socket `fd` TPACKET_V2 rings, a receive ring of `rxFrames` (one frame a block) and
 * a transmit ring of `txFrames` (a multiple of TX_RING_BLOCK_FRAMES), 0 for none, and map them
 * with the one mmap the kernel allows, laid out as the kernel lays them out: rxFrames *
 * RING_FRAME_BYTES bytes of receive ring, then txFrames * RING_FRAME_BYTES of transmit ring.
 * Throws (a SysError); a ring set before the failure is taken off again, so the socket reads
 * and writes as it did.
 */
export function mapPacketRings(fd: number, rxFrames: number, txFrames: number): ForeignBytes {
  if (txFrames % TX_RING_BLOCK_FRAMES !== 0) throw new RangeError(`a transmit ring of ${txFrames} frames: not a multiple of ${TX_RING_BLOCK_FRAMES}`);
  setsockoptInt(fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2);
  let set = 0;
  try {
    if (rxFrames > 0) { setsockoptBuf(fd, SOL_PACKET, PACKET_RX_RING, ringReq(rxFrames, 1)); set |= 1; }
    if (txFrames > 0) { setsockoptBuf(fd, SOL_PACKET, PACKET_TX_RING, ringReq(txFrames / TX_RING_BLOCK_FRAMES, TX_RING_BLOCK_FRAMES)); set |= 2; }
    return mmapShared(fd, (rxFrames + txFrames) * RING_FRAME_BYTES);
  } catch (e) {
    if ((set & 1) !== 0) raw.setsockopt(fd, SOL_PACKET, PACKET_RX_RING, ringReq(0, 0), 16);
    if ((set & 2) !== 0) raw.setsockopt(fd, SOL_PACKET, PACKET_TX_RING, ringReq(0, 0), 16);
    throw e;
  }
}

/** `len` bytes of mapping m from byte `off` (one ring's part of mapPacketRings' mapping). */
export function ringPart(m: ForeignBytes, off: number, len: number): ForeignBytes {
  return {
    ptr: m.ptr + BigInt(off), addr: m.addr + off, bytes: m.bytes.subarray(off, off + len),
    view: new DataView(m.bytes.buffer, m.bytes.byteOffset + off, len),
  };
}

/**
 * A TPACKET_V2 receive ring (issue 14, VSWITCH_RX_RING=1): the kernel copies each frame into a
 * ring slot shared with the process (mmap) and flips its tp_status to TP_STATUS_USER; the reader
 * takes frames without a syscall and hands the slot back (TP_STATUS_KERNEL). Frames are then
 * copied into the frame memory's receive slots (the forwarders work on one buffer), by a byte
 * loop up to 256 bytes, by memmove above. The virtio-net header (PACKET_VNET_HDR, set before
 * the ring) sits just before the MAC header; the VLAN tag is in the frame's header, put back as
 * PacketVlanRx does. A frame the ring cut short (tp_snaplen < tp_len) is dropped (the caller
 * counts it). V2, not V3: V3's block timer holds frames back (latency).
 * Memory: `frames` * RING_FRAME_BYTES of kernel memory, mapped once.
 */
export class PacketRingRx {
  private readonly ring: ForeignBytes;
  private readonly own: ForeignBytes | null;
  private readonly v: DataView;
  private head = 0;
  /** After take(): how far the frame's start moved back for its tag (4 or 0). */
  moved = 0;

  /** A ring of `frames` slots: in `area` (mapPacketRings' receive part; the caller unmaps it), or set up and mapped here. */
  constructor(fd: number, readonly frames: number, area: ForeignBytes | null = null) {
    this.own = area === null ? mapPacketRings(fd, frames, 0) : null;
    this.ring = area ?? this.own!;
    this.v = this.ring.view;
  }

  /**
   * Take the next frame, if the kernel has handed one over: copy it (its virtio-net header
   * first when hl is 10) into foreign memory at out.bytes[off..], at most cap bytes, put its tag
   * back (the 4 bytes before off must be free; `moved` says whether it moved) and give the ring
   * slot back. Returns its length, 0 when none is waiting, -1 for a frame dropped (cut short or
   * over cap).
   */
  take(out: Uint8Array, outAddr: number, off: number, cap: number, hl: number): number {
    const v = this.v;
    const f = this.head * RING_FRAME_BYTES;
    const status = v.getUint32(f, true);
    if ((status & TP_STATUS_USER) === 0) return 0;
    this.head = this.head + 1 === this.frames ? 0 : this.head + 1;
    const len = v.getUint32(f + 4, true);
    const snap = v.getUint32(f + 8, true);
    const mac = v.getUint16(f + 12, true);
    const n = snap + hl;
    if (snap < len || n > cap || mac < TPACKET2_HDRLEN + hl) {
      v.setUint32(f, TP_STATUS_KERNEL, true);
      return -1;
    }
    const src = f + mac - hl;
    if (n <= 256) {
      const r = this.ring.bytes;
      for (let i = 0; i < n; i++) out[off + i] = r[src + i];
    } else {
      raw.memmoveAt(outAddr + off, this.ring.addr + src, n);
    }
    this.moved = (status & TP_STATUS_VLAN_VALID) !== 0
      ? putTag(out, off, off + hl, status, v.getUint16(f + 24, true), v.getUint16(f + 26, true)) : 0;
    v.setUint32(f, TP_STATUS_KERNEL, true);
    return n;
  }

  /** Unmap the ring if it mapped it itself (the socket is closing). */
  close(): void {
    if (this.own !== null) munmapBytes(this.own);
  }
}


/**
 * Batched receive (issue 14, VSWITCH_RECVMMSG): up to `n` frames per recvmmsg call, each with its
 * own iovec and PACKET_AUXDATA control buffer, so one syscall reads what `n` recvmsg calls (and
 * the one that finds EAGAIN) would: recvmmsg stops by itself at the first EAGAIN once it has a
 * frame. Frame i goes to base + i * stride (at most `cap` bytes); the iovecs are rewritten only
 * when base, stride or cap change, and each control length only for the messages just read.
 * Memory: n * (64 + 16 + 64) bytes in foreign memory, made once.
 */
export class PacketBatchRx {
  private readonly m: ForeignBytes;
  private readonly v: DataView;
  private readonly iov: number;
  private readonly ctl: number;
  private base = -1;
  private stride = -1;
  private cap = -1;

  /** Turns PACKET_AUXDATA on for `fd` (throws when the fd is not a packet socket). */
  constructor(private readonly fd: number, readonly n: number) {
    setsockoptInt(fd, SOL_PACKET, PACKET_AUXDATA, 1);
    this.iov = n * MMSGHDR_SIZE;
    this.ctl = this.iov + n * IOVEC_SIZE;
    this.m = allocBytes(this.ctl + n * CONTROL_LEN);
    this.v = this.m.view;
    const a = this.m.addr;
    for (let i = 0; i < n; i++) {
      const h = i * MMSGHDR_SIZE;
      setAddr(this.v, h + 16, a + this.iov + i * IOVEC_SIZE); // msg_iov
      setAddr(this.v, h + 24, 1); // msg_iovlen
      setAddr(this.v, h + 32, a + this.ctl + i * CONTROL_LEN); // msg_control
      setAddr(this.v, h + 40, CONTROL_LEN); // msg_controllen
    }
  }

  /**
   * Read up to `max` (at most n) frames, frame i into foreign memory at base + i * stride: how
   * many, or -1 with errno set (EAGAIN: none waiting). Frame i's length is len(i).
   */
  read(base: number, stride: number, cap: number, max: number): number {
    const v = this.v;
    if (base !== this.base || stride !== this.stride || cap !== this.cap) {
      for (let i = 0; i < this.n; i++) {
        setAddr(v, this.iov + i * IOVEC_SIZE, base + i * stride);
        setAddr(v, this.iov + i * IOVEC_SIZE + 8, cap);
      }
      this.base = base; this.stride = stride; this.cap = cap;
    }
    const r = raw.recvmmsgAt(this.fd, this.m.addr, max < this.n ? max : this.n, 0, 0) as number;
    return r;
  }

  /** Length of frame i of the last read(). */
  len(i: number): number {
    return this.v.getUint32(i * MMSGHDR_SIZE + 56, true);
  }

  /**
   * Frame i of the last read(): put its tag back (PacketVlanRx.tag's contract) and make its
   * control buffer whole again for the next read.
   */
  tag(i: number, b: Uint8Array, hdr: number, eth: number): number {
    const v = this.v;
    const h = i * MMSGHDR_SIZE;
    const moved = restoreTag(v, h, this.ctl + i * CONTROL_LEN, b, hdr, eth);
    v.setUint32(h + 40, CONTROL_LEN, true); // the kernel lowered it
    return moved;
  }

  /** Make the control length of frame i whole again without looking at it (a runt dropped). */
  skip(i: number): void {
    this.v.setUint32(i * MMSGHDR_SIZE + 40, CONTROL_LEN, true);
  }
}

/**
 * Batched send (issue 14): frames of at most `slotBytes` bytes are copied into `n` staging slots
 * (the caller's bytes may change right after it returns: a VLAN tag is taken off, the transmit
 * slot reused) and written together in flush(): by one sendmmsg on a packet socket
 * (VSWITCH_SENDMMSG), or, given an io_uring (a TAP, VSWITCH_URING), by one io_uring_enter with
 * one IORING_OP_WRITE per frame (SQEs sqe0..sqe0+n-1 of the ring, written once here; RWF_NOWAIT,
 * so each completes inline, -EAGAIN rather than waiting). A refused frame (the errno of a failed
 * call or completion) is handed to `refused` and the rest sent on, as separate writes would be.
 * Memory: n * (64 + 16 + slotBytes) bytes in foreign memory, made once.
 */
export class PacketBatchTx {
  private readonly m: ForeignBytes;
  private readonly v: DataView;
  private readonly bytes: Uint8Array;
  private readonly iov: number;
  private readonly data: number;
  /** Frames staged. */
  queued = 0;

  constructor(
    private readonly fd: number,
    readonly n: number,
    readonly slotBytes: number,
    private readonly ring: Uring | null = null,
    private readonly sqe0 = 0,
  ) {
    this.iov = n * MMSGHDR_SIZE;
    this.data = this.iov + n * IOVEC_SIZE;
    this.m = allocBytes(this.data + n * slotBytes);
    this.v = this.m.view;
    this.bytes = this.m.bytes;
    const a = this.m.addr;
    for (let i = 0; i < n; i++) {
      setAddr(this.v, i * MMSGHDR_SIZE + 16, a + this.iov + i * IOVEC_SIZE); // msg_iov
      setAddr(this.v, i * MMSGHDR_SIZE + 24, 1); // msg_iovlen
      setAddr(this.v, this.iov + i * IOVEC_SIZE, a + this.data + i * slotBytes); // iov_base
      ring?.prep(sqe0 + i, IORING_OP_WRITE, fd, a + this.data + i * slotBytes, 0, RWF_NOWAIT);
    }
  }

  /** Stage b[start..end) (end - start <= slotBytes, queued < n). */
  push(b: Uint8Array, start: number, end: number): void {
    const i = this.queued++;
    const len = end - start;
    const out = this.bytes;
    let d = this.data + i * this.slotBytes;
    for (let k = start; k < end; k++) out[d++] = b[k];
    setAddr(this.v, this.iov + i * IOVEC_SIZE + 8, len); // iov_len
  }

  /** Length of staged frame i. */
  len(i: number): number {
    return this.v.getUint32(this.iov + i * IOVEC_SIZE + 8, true);
  }

  /**
   * Write every staged frame (sendmmsg, again after a refusal for the frames behind it). For
   * each refused frame `refused(errno, i)` is called; it returns true to give up on the rest
   * (the fd is dead), which are then refused with the same errno.
   */
  flush(refused: (e: number, i: number) => boolean): void {
    const q = this.queued;
    this.queued = 0;
    if (this.ring !== null) { this.flushRing(this.ring, q, refused); return; }
    let i = 0;
    while (i < q) {
      const r = raw.sendmmsgAt(this.fd, this.m.addr + i * MMSGHDR_SIZE, q - i, MSG_DONTWAIT) as number;
      if (r > 0) { i += r; continue; }
      const e = errno();
      if (e === EINTR) continue;
      if (refused(e, i)) {
        for (let k = i + 1; k < q; k++) refused(e, k);
        return;
      }
      i++;
    }
  }

  /**
   * flush() through the io_uring: every staged frame is tried (they go in one io_uring_enter; a
   * lone frame goes by write()),
   * so each refused one is reported with its own errno and `refused`'s answer changes nothing;
   * if io_uring_enter itself fails, none was written and all are refused with its errno.
   */
  private flushRing(ring: Uring, q: number, refused: (e: number, i: number) => boolean): void {
    if (q === 1) { // one frame: a write() costs less than an io_uring_enter
      for (;;) {
        if ((raw.writeAt(this.fd, this.m.addr + this.data, this.len(0)) as number) >= 0) return;
        const e = errno();
        if (e === EINTR) continue;
        refused(e, 0);
        return;
      }
    }
    const s0 = this.sqe0;
    for (let i = 0; i < q; i++) {
      ring.setLen(s0 + i, this.len(i));
      ring.queue(s0 + i);
    }
    const r = ring.submit();
    for (let i = 0; i < q; i++) {
      const res = r < 0 ? r : ring.result(s0 + i);
      if (res < 0) refused(-res, i);
    }
  }

  /** Forget what is staged (the port is closing). */
  drop(): void {
    this.queued = 0;
  }
}

/**
 * A TPACKET_V2 transmit ring (issue 14, VSWITCH_TX_RING=1): frames are copied into the ring's
 * slots (push: a slot holds its tpacket2_hdr, then at +32, TPACKET2_HDRLEN - sizeof(struct
 * sockaddr_ll), the frame, its virtio-net header first when the socket has PACKET_VNET_HDR:
 * tp_len counts the header, which the kernel takes off and parses as it does a write's) and
 * marked TP_STATUS_SEND_REQUEST; flush() sends them all with one send(fd, NULL, 0,
 * MSG_DONTWAIT) (tpacket_snd; without MSG_DONTWAIT the call would wait until the device had
 * completed every frame). PACKET_QDISC_BYPASS, when set, applies to it as to a write. With a
 * transmit ring every sendmsg on the socket sends from the ring and ignores its own buffer
 * (packet_sendmsg), so a port with this ring writes every frame, large ones too, through it
 * (fd-port.ts).
 *
 * The kernel takes slots in ring order from its head and stops at the first one that is not
 * SEND_REQUEST; the head here is kept equal to the kernel's, so after the call the staged slots,
 * read in order, tell each frame's fate:
 *  - AVAILABLE (done) or SENDING (handed to the device; the slot is free again when the device
 *    is done with it): sent;
 *  - WRONG_FORMAT: the kernel refused that frame (the call's errno: EINVAL for a bad virtio-net
 *    header, EMSGSIZE for a frame over the MTU without one) and stopped on it, its head left
 *    there: the frame is refused (`refused(errno, i)`), the frames behind it are moved down one
 *    slot and sent by another call, as separate writes would be;
 *  - still SEND_REQUEST: the kernel stopped before it (the interface down: ENETDOWN, gone:
 *    ENXIO, the socket's send buffer full: EAGAIN, a full device queue: ENOBUFS; a call that
 *    sent some and then ran out of buffer is made once more to learn why): it and every frame
 *    behind it are refused with that errno and their slots taken back (set AVAILABLE: the kernel
 *    looks at the ring only inside the call), so each staged frame is reported exactly once, as
 *    sent or as refused, and no slot is left pending.
 * push() refuses (false) when the next slot is still SENDING (the device has not finished with
 * it: the caller commits and tries once more, then counts a full queue) or every slot is staged.
 * Frame i's length is kept per staged frame (len(i)), so it holds after a move.
 * Memory: frames * RING_FRAME_BYTES (68 KiB) mapped, frames / 15 MiB of kernel memory (blocks
 * of TX_RING_BLOCK_FRAMES), made once; nothing allocates per frame.
 */
export class PacketRingTx {
  private readonly ring: ForeignBytes;
  private readonly own: ForeignBytes | null;
  private readonly v: DataView;
  private readonly lens: Uint32Array;
  /** The slot the kernel looks at next: the first staged frame's. */
  private head = 0;
  /** The longest frame a slot holds (virtio-net header included). */
  static readonly maxLen = RING_FRAME_BYTES - TPACKET2_HDRLEN;
  /** Frames staged. */
  queued = 0;

  /** A ring of `frames` slots (a multiple of TX_RING_BLOCK_FRAMES): in `area` (mapPacketRings' transmit part; the caller unmaps it), or set up and mapped here. */
  constructor(private readonly fd: number, readonly frames: number, area: ForeignBytes | null = null) {
    this.own = area === null ? mapPacketRings(fd, 0, frames) : null;
    this.ring = area ?? this.own!;
    this.v = this.ring.view;
    this.lens = new Uint32Array(frames);
  }

  /** Most frames staged at once. */
  get n(): number {
    return this.frames;
  }

  /** Byte offset of the slot `i` past the head. */
  private slot(i: number): number {
    const k = this.head + i;
    return (k < this.frames ? k : k - this.frames) * RING_FRAME_BYTES;
  }

  /**
   * Stage b[start..end) (at foreign address addr + start; end - start <= maxLen): copied into
   * the next slot, by a byte loop up to 256 bytes, by memmove above. False when that slot is
   * not free (the class comment).
   */
  push(b: Uint8Array, addr: number, start: number, end: number): boolean {
    if (this.queued === this.frames) return false;
    const v = this.v;
    const f = this.slot(this.queued);
    if ((v.getUint32(f, true) & 7) !== TP_STATUS_AVAILABLE) return false;
    const len = end - start;
    const d = f + TPACKET2_HDRLEN;
    if (len <= 256) {
      const out = this.ring.bytes;
      for (let k = 0; k < len; k++) out[d + k] = b[start + k]!;
    } else {
      raw.memmoveAt(this.ring.addr + d, addr + start, len);
    }
    v.setUint32(f + 4, len, true); // tp_len
    v.setUint32(f, TP_STATUS_SEND_REQUEST, true);
    this.lens[this.queued++] = len;
    return true;
  }

  /** Length of staged frame i. */
  len(i: number): number {
    return this.lens[i]!;
  }

  /**
   * Send every staged frame (the class comment says how each ends). For each refused frame
   * `refused(errno, i)` is called; it returns true to give up on the rest (the fd is dead),
   * which are then refused with the same errno.
   */
  flush(refused: (e: number, i: number) => boolean): void {
    const q = this.queued;
    this.queued = 0;
    const v = this.v;
    let i = 0; // frames 0..i-1 are settled; frame i is in slot(0)
    while (i < q) {
      const r = raw.sendAt(this.fd, 0, 0, MSG_DONTWAIT) as number;
      const e = r < 0 ? errno() : 0;
      if (e === EINTR) continue;
      let took = 0;
      let st = 0;
      while (i < q) {
        st = v.getUint32(this.slot(0), true) & 7;
        if (st === TP_STATUS_SEND_REQUEST || st === TP_STATUS_WRONG_FORMAT) break;
        this.head = this.head + 1 === this.frames ? 0 : this.head + 1;
        i++;
        took++;
      }
      if (i === q) return;
      if (st === TP_STATUS_WRONG_FORMAT) {
        const bad = e !== 0 ? e : EINVAL;
        if (refused(bad, i++)) { this.refuseRest(i, q, bad, refused, 1); return; }
        this.moveDown(i, q);
        continue;
      }
      if (took > 0 && e === 0) continue; // some sent, then no buffer: the next call says why
      this.refuseRest(i, q, e !== 0 ? e : EAGAIN, refused, 0);
      return;
    }
  }

  /** Frames i..q-1, in slots 1..q-i (slot 0 holds a refused frame), moved down one slot. */
  private moveDown(i: number, q: number): void {
    const v = this.v;
    const a = this.ring.addr + TPACKET2_HDRLEN;
    for (let k = 0; k < q - i; k++) {
      const dst = this.slot(k);
      const src = this.slot(k + 1);
      const len = this.lens[i + k]!;
      raw.memmoveAt(a + dst, a + src, len);
      v.setUint32(dst + 4, len, true);
      v.setUint32(dst, TP_STATUS_SEND_REQUEST, true);
    }
    v.setUint32(this.slot(q - i), TP_STATUS_AVAILABLE, true);
  }

  /**
   * Frames i..q-1, in slots `from`..from+q-i-1, refused with errno e (each reported once,
   * whatever `refused` answers); slots 0 to the last of them taken back.
   */
  private refuseRest(i: number, q: number, e: number, refused: (e: number, i: number) => boolean, from: number): void {
    const v = this.v;
    for (let k = 0; k < from + q - i; k++) v.setUint32(this.slot(k), TP_STATUS_AVAILABLE, true);
    for (let k = i; k < q; k++) refused(e, k);
  }

  /** Forget what is staged (the port is closing): the slots taken back. */
  drop(): void {
    for (let k = 0; k < this.queued; k++) this.v.setUint32(this.slot(k), TP_STATUS_AVAILABLE, true);
    this.queued = 0;
  }

  /** Unmap the ring if it mapped it itself (the socket is closing). */
  close(): void {
    if (this.own !== null) munmapBytes(this.own);
  }
}

export class PacketFilter {
  private readonly macs = new Set<number>();
  private allMulti = false;
  private readonly mr = Buffer.alloc(16);

  constructor(private readonly fd: number) {}

  private member(add: boolean, type: number, mac: number): string | null {
    const mr = this.mr;
    mr.fill(0);
    mr.writeInt32LE(packetSocketIfindex(this.fd), 0);
    mr.writeUInt16LE(type, 4);
    if (mac >= 0) {
      mr.writeUInt16LE(6, 6);
      writeMac(mr, 8, mac);
    }
    const r = raw.setsockopt(this.fd, SOL_PACKET, add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, mr, 16) as number;
    return r < 0 ? errnoName(errno()) : null;
  }

  /** Receive these unicast MACs and all multicast (null: neither); null or the failures in words. */
  set(macs: readonly number[] | null): string | null {
    const errs: string[] = [];
    const want = new Set(macs ?? []);
    for (const mac of [...this.macs]) {
      if (want.has(mac)) continue;
      const e = this.member(false, PACKET_MR_UNICAST, mac);
      if (e !== null) errs.push(`drop unicast ${mac.toString(16)}: ${e}`);
      this.macs.delete(mac);
    }
    for (const mac of want) {
      if (this.macs.has(mac)) continue;
      const e = this.member(true, PACKET_MR_UNICAST, mac);
      if (e !== null) errs.push(`add unicast ${mac.toString(16)}: ${e}`);
      else this.macs.add(mac);
    }
    const multi = macs !== null;
    if (multi !== this.allMulti) {
      const e = this.member(multi, PACKET_MR_ALLMULTI, -1);
      if (e !== null) errs.push(`${multi ? 'add' : 'drop'} all-multicast: ${e}`);
      else this.allMulti = multi;
    }
    return errs.length === 0 ? null : errs.join('; ');
  }

  /** The unicast MACs registered now (tests, reports). */
  registered(): number[] {
    return [...this.macs];
  }
}
