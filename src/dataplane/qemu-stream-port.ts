/**
 * A QEMU NIC over `-netdev stream` (QEMU 7.2+): a connected unix stream socket on which every
 * Ethernet frame travels behind a 4-byte big-endian length, with no virtio-net header. The
 * daemon is the client (devices.connectQemuStream); QEMU listens again after the connection
 * closes, so the control plane reconnects after a 'port-down' or a daemon restart.
 * See Port in port.ts for the contract; this port is plain (vnet false), so the egress
 * (egress.ts) segments TSO super-frames and completes checksums before send() sees them.
 *
 * Receive: the socket is read in chunks (up to READ_CHUNK bytes a read, until a short read or
 * EAGAIN) straight into the frame memory's receive area, so several frames arrive per read()
 * and each complete frame is handed to the forwarder where it lies (rx offsets point into the
 * stream bytes; no copy and no allocation per frame). The bytes after the last complete frame
 * (a partial frame, or frames beyond the batch limit) are moved to the port's own reassembly
 * buffer and put back in front of the next read. That buffer is sized by need: none until a
 * read leaves bytes over, then the next power of two (at least PEND_MIN bytes, at most PEND_CAP)
 * that holds them, grown when a larger tail comes; tick() frees it when the port has had no
 * tail for a whole tick interval. So an idle port costs no reassembly memory (1,000 idle QEMU
 * NICs measured 347 kB each with a fixed 320 kB buffer), and a busy port allocates at most on
 * growth and once after each idle second - never per frame. When the batch limit stopped the parse, the
 * port sets rxPending so the loop calls receive() again although the fd may not be readable.
 * The egress may write a zero virtio-net header into the 10 bytes before a frame it forwards
 * to a TAP: those are this frame's length prefix and the tail of the previous frame, which the
 * loop has finished with (frames are forwarded in order, synchronously) - never bytes of a
 * frame still to come.
 *
 * Bad input: a length of 0 or above QEMU_MAX_FRAME (65,535 bytes of payload + the 14-byte
 * Ethernet header, the largest frame a guest with the largest MTU virtio-net allows sends) means
 * the framing is lost: the frames before it are delivered, rxErrors counts one, and the next
 * receive() fails with EPROTO and a downReason, so the loop closes this connection only and
 * reports 'port-down'. A length of 1..13 (a runt with intact framing) is skipped and counted.
 * The peer closing the connection (read() = 0) is a port-down too ("QEMU closed the
 * connection"); closing in the middle of a frame also counts an rxError.
 *
 * Send: one sendmsg (length prefix + frame, MSG_NOSIGNAL) per frame. If the socket takes only
 * part of it, or none (EAGAIN), the rest goes to an output queue: never a partial frame lost,
 * since that would break the framing. The queue holds at most max(queueBytes, one largest
 * frame + prefix) bytes, where queueBytes is the switch's QUEUESTORAGE; a frame that does not
 * fit whole is dropped and send() returns EAGAIN (the loop counts TxDrops and QueueFull). While
 * the queue holds bytes, later frames are appended behind them (order kept), wantsWrite is set,
 * and flush() writes the queue when epoll reports EPOLLOUT. The queue memory is allocated on
 * first use (most ports never need it) and freed on close. Send errors other than EAGAIN,
 * EINTR, ENOBUFS and ENOMEM mean the connection is gone: `failed` is set and the loop reports
 * 'port-down'.
 */
import { ByteQueue } from './byte-queue.js';
import { EAGAIN, EINTR, ENOBUFS, MSG_DONTWAIT, MSG_NOSIGNAL, allocBytes, close, errno, freeBytes, raw, type ForeignBytes, EPIPE, EPROTO, ENOMEM, EMSGSIZE } from '../sys/libc.js';
import { VNET_HDR_LEN } from '../wire/vnet.js';
import { Eth } from '../wire/ethernet.js';
import { HEADROOM, RX_SLOTS, type FrameMemory, type Port } from './port.js';

/** Largest Ethernet frame a QEMU socket NIC carries: 65,535 bytes of payload + 14-byte header. */
export const QEMU_MAX_FRAME = 65535 + 14;
const PREFIX = 4;
const MAX_MSG = PREFIX + QEMU_MAX_FRAME;
/** Most bytes one read() asks for. */
const READ_CHUNK = 256 * 1024;
/** Largest reassembly tail: a read's worth of frames beyond the batch limit plus a partial frame. */
const PEND_CAP = READ_CHUNK + MAX_MSG;
/** Smallest reassembly buffer allocated (a partial frame of a 1500-byte MTU guest fits). */
const PEND_MIN = 4096;


// Transmit metadata block: struct msghdr (56 bytes), two struct iovec (16 each), the prefix.
const MSG_OFF = 0;
const IOV_OFF = 56;
const PREFIX_OFF = 88;
const META_LEN = 96;

function put64(v: DataView, off: number, value: number): void {
  v.setUint32(off, value >>> 0, true);
  v.setUint32(off + 4, Math.floor(value / 4294967296), true);
}

export class QemuStreamPort implements Port {
  readonly kind = 'qemu-stream' as const;
  readonly vnet = false;
  failed = 0;
  wantsWrite = false;
  rxErrors = 0;
  /** The guest's MTU lives in the VM: unknown, nothing checked. */
  mtu = 0;
  rxPending = false;
  downReason: string | undefined = undefined;

  /** Reassembly buffer (null: none allocated), its size and the bytes it holds. */
  private pend: ForeignBytes | null = null;
  private pendCap = 0;
  private pendLen = 0;
  /** A tail was stored since the last tick (the buffer is in use; keep it). */
  private pendUsed = false;
  /** An error found after frames that were still delivered; reported by the next receive(). */
  private pendingErr = 0;

  private readonly meta: ForeignBytes;
  private readonly q: ByteQueue;
  private closed = false;

  constructor(
    readonly id: number,
    readonly sw: number,
    readonly name: string,
    readonly fd: number,
    queueBytes: number,
  ) {
    this.q = new ByteQueue(queueBytes, MAX_MSG);
    this.meta = allocBytes(META_LEN);
    const v = this.meta.view;
    const a = this.meta.addr;
    // msghdr: no name, iov -> our two iovecs, no control data.
    put64(v, MSG_OFF + 16, a + IOV_OFF);
    put64(v, MSG_OFF + 24, 2);
    // iov[0]: the length prefix.
    put64(v, IOV_OFF, a + PREFIX_OFF);
    put64(v, IOV_OFF + 8, PREFIX);
  }

  /** Size of the reassembly buffer now allocated, 0 if none (tests, diagnostics). */
  get reassemblyBytes(): number {
    return this.pendCap;
  }

  /** Bytes waiting in the output queue (tests, diagnostics). */
  get queued(): number {
    return this.q.size;
  }

  receive(mem: FrameMemory, max: number): number {
    this.rxPending = false;
    if (this.pendingErr !== 0) return -this.pendingErr;
    const b = mem.bytes;
    const addr = mem.addr;
    const rxh = mem.rxHdr, rxe = mem.rxEth, rxz = mem.rxEnd;
    const base = mem.slot(0) + HEADROOM + VNET_HDR_LEN;
    const limit = mem.slot(RX_SLOTS);
    let fill = base;
    if (this.pendLen > 0) {
      raw.memmoveAt(addr + base, this.pend!.addr, this.pendLen);
      fill = base + this.pendLen;
      this.pendLen = 0;
    }
    let pos = base;
    let n = 0;
    let eof = false;
    let more = false; // stopped with bytes possibly left: batch limit or receive area full
    let drained = false; // the last read was short: the socket is empty for now
    for (;;) {
      while (n < max && fill - pos >= PREFIX) {
        const len = (b[pos] << 24 | b[pos + 1] << 16 | b[pos + 2] << 8 | b[pos + 3]) >>> 0;
        if (len === 0 || len > QEMU_MAX_FRAME) {
          this.rxErrors++;
          return this.fatal(n, EPROTO, `bad frame length ${len} from QEMU`);
        }
        if (fill - pos - PREFIX < len) break;
        if (len < Eth.HeaderLen) {
          this.rxErrors++;
          pos += PREFIX + len;
          continue;
        }
        const eth = pos + PREFIX;
        rxh[n] = eth;
        rxe[n] = eth;
        rxz[n] = eth + len;
        n++;
        pos = eth + len;
      }
      if (n >= max) { more = true; break; }
      if (drained) break;
      let room = limit - fill;
      if (room < MAX_MSG) { more = true; break; }
      if (room > READ_CHUNK) room = READ_CHUNK;
      const r = raw.readAt(this.fd, addr + fill, room);
      if (r > 0) {
        fill += r;
        drained = r < room;
        continue;
      }
      if (r === 0) { eof = true; break; }
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) break;
      return this.fatal(n, e, 'read from QEMU failed');
    }
    const tail = fill - pos;
    if (tail > 0) {
      if (tail > this.pendCap) this.growPend(tail);
      raw.memmoveAt(this.pend!.addr, addr + pos, tail);
      this.pendLen = tail;
      this.pendUsed = true;
    }
    if (eof) {
      if (tail > 0) {
        this.rxErrors++;
        return this.fatal(n, EPIPE, 'QEMU closed the connection in the middle of a frame');
      }
      return this.fatal(n, EPIPE, 'QEMU closed the connection');
    }
    this.rxPending = more;
    return n;
  }

  /** A reassembly buffer of at least `need` (<= PEND_CAP) bytes; called only while it holds nothing. */
  private growPend(need: number): void {
    let cap = PEND_MIN;
    while (cap < need) cap *= 2;
    if (cap > PEND_CAP) cap = PEND_CAP;
    if (this.pend !== null) freeBytes(this.pend);
    this.pend = null; // if the allocation throws, the port holds no dangling buffer
    this.pendCap = 0;
    this.pend = allocBytes(cap);
    this.pendCap = cap;
  }

  /** About once a second: free the reassembly buffer of a port that stored no tail since the last tick. */
  tick(_now: number): void {
    if (this.pend !== null && this.pendLen === 0 && !this.pendUsed) {
      freeBytes(this.pend);
      this.pend = null;
      this.pendCap = 0;
    }
    this.pendUsed = false;
  }

  /** Deliver the n frames already parsed (if any) and fail on the next call; or fail now. */
  private fatal(n: number, e: number, reason: string): number {
    this.downReason = reason;
    this.pendLen = 0;
    if (n > 0) {
      this.pendingErr = e;
      this.rxPending = true;
      return n;
    }
    return -e;
  }

  send(_bytes: Uint8Array, addr: number, start: number, end: number): number {
    if (this.failed !== 0) return this.failed;
    const len = end - start;
    if (len < Eth.HeaderLen || len > QEMU_MAX_FRAME) return EMSGSIZE;
    const src = addr + start;
    if (this.q.size !== 0) return this.enqueue(0, src, len);
    const v = this.meta.view;
    v.setUint32(PREFIX_OFF, len, false);
    put64(v, IOV_OFF + 16, src);
    put64(v, IOV_OFF + 24, len);
    for (;;) {
      const r = raw.sendmsgAt(this.fd, this.meta.addr + MSG_OFF, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r === len + PREFIX) return 0;
      if (r >= 0) return this.enqueue(r, src, len); // partial: the rest must follow, queue it
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return this.enqueue(0, src, len);
      if (e === ENOBUFS || e === ENOMEM) return e;
      return this.die(e, 'write to QEMU failed');
    }
  }

  /**
   * Queue the message "prefix(len) + frame at src" minus its first `skip` bytes (already sent).
   * A partial message (skip > 0) always fits: it only happens with an empty queue, and the
   * queue holds at least one largest message.
   */
  private enqueue(skip: number, src: number, len: number): number {
    const total = PREFIX + len - skip;
    const q = this.q;
    let t = q.reserve(total);
    if (t < 0) return EAGAIN;
    const b = q.bytes!;
    for (let i = skip; i < PREFIX; i++) b[t++] = (len >>> ((3 - i) * 8)) & 0xff;
    const fskip = skip > PREFIX ? skip - PREFIX : 0;
    raw.memmoveAt(q.addr + t, src + fskip, len - fskip);
    q.commit(total);
    this.wantsWrite = true;
    return 0;
  }

  flush(): number {
    if (this.failed !== 0) return -this.failed;
    const q = this.q;
    while (q.size > 0) {
      const r = raw.sendAt(this.fd, q.addr + q.head, q.size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r > 0) { q.consume(r); continue; }
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN || e === ENOBUFS || e === ENOMEM) return 0;
      return -this.die(e, 'write to QEMU failed');
    }
    this.wantsWrite = false;
    return 0;
  }

  private die(e: number, reason: string): number {
    this.failed = e;
    this.downReason = reason;
    return e;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
    if (this.pend !== null) freeBytes(this.pend);
    this.pend = null;
    this.pendCap = 0;
    freeBytes(this.meta);
    this.q.free();
  }
}
