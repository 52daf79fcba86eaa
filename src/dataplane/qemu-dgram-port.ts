/**
 * A QEMU NIC over `-netdev dgram` with unix sockets (QEMU 7.2+): one Ethernet frame per
 * datagram, no length prefix, no virtio-net header (vnet false: egress.ts segments
 * and checksums offloaded frames before send() sees them). See Port in port.ts for the contract.
 *
 * The fd is the daemon's socket, bound to the path QEMU sends to (devices.bindQemuDgram).
 * `peer` is QEMU's own socket path (its `local.path`). The port connect()s the socket to it:
 *  - sends need no address (no path lookup per frame), and, above all, epoll then reports
 *    EPOLLOUT only while QEMU's receive queue has room (Linux tracks the peer's queue for a
 *    connected unix datagram socket; for sendto to a path it cannot). QEMU's queue is short
 *    (net.unix.max_dgram_qlen datagrams, 10 by default), so a TSO super-frame segmented into
 *    45 datagrams would mostly be lost if EAGAIN meant a drop. So EAGAIN queues: frames go to an
 *    output queue bounded by the switch's queueBytes (at least one largest frame), wantsWrite
 *    is set and flush() sends them on EPOLLOUT, in order. A frame that does not fit is dropped
 *    (send returns EAGAIN: TxDrops and QueueFull).
 *  - the kernel accepts datagrams only from the connected peer; receive() also checks each
 *    datagram's source address is exactly `peer` (for the time the socket is not connected),
 *    and drops and counts in rxErrors anything else, runts (< 14 bytes) and datagrams over
 *    QEMU_MAX_FRAME (read with MSG_TRUNC, so their real length is seen).
 *
 * QEMU gone or restarted: a send to a dead QEMU socket fails ECONNREFUSED and Linux disconnects
 * our socket; until QEMU is back, frames are dropped and counted (send returns ENOTCONN /
 * ECONNREFUSED; queued frames are discarded - they were already counted as sent). The port
 * stays. tick() (once a second, from the loop) connects again by path: that reaches a QEMU
 * that was restarted at the same path (and replaces a connection to a dead socket that nothing
 * was sent on, which would otherwise make the new QEMU's sends fail with EPERM). So traffic
 * resumes within about a second of QEMU's return, without the control plane.
 * Only EBADF / ENOTSOCK (our own fd unusable) make the port fail.
 *
 * No allocation per frame: the source-address buffer, its length word and the queue live in
 * koffi memory made with the port (the queue on first use).
 */
import { ByteQueue } from './byte-queue.js';
import { EAGAIN, EINTR, ENOBUFS, ENOENT, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_TRUNC, SOCKADDR_UN_SIZE, allocBytes, close, errno, freeBytes, raw, sockaddrUn, type ForeignBytes, EBADF, ENOTSOCK, EMSGSIZE, ECONNREFUSED, ENOTCONN, EPERM, ENOMEM } from '../sys/libc.js';
import { VNET_HDR_LEN } from '../wire/vnet.js';
import { Eth } from '../wire/ethernet.js';
import { HEADROOM, type FrameMemory, type Port } from './port.js';
import { QEMU_MAX_FRAME } from './qemu-stream-port.js';

/** Queue record: a 4-byte length, then the frame. */
const REC_HDR = 4;

// Address block: QEMU's sockaddr_un, the source sockaddr_un recvfrom fills, its socklen_t.
const PEER_OFF = 0;
const SRC_OFF = 112;
const SRCLEN_OFF = 224;
const ADDR_BLOCK = 232;

export class QemuDgramPort implements Port {
  readonly kind = 'qemu-dgram' as const;
  readonly vnet = false;
  failed = 0;
  wantsWrite = false;
  rxErrors = 0;
  /** The guest's MTU lives in the VM: unknown, nothing checked. */
  mtu = 0;
  downReason: string | undefined = undefined;
  /** Is the socket connected to QEMU's path right now? */
  connected = false;
  /** Frames dropped because QEMU's socket was not there (diagnostics, tests). */
  peerAbsent = 0;

  private readonly addrs: ForeignBytes;
  private readonly peerSa: Buffer;
  private readonly peerLen: number;
  private readonly q: ByteQueue;
  private closed = false;

  /** `peer`: QEMU's socket path. `queueBytes`: the switch's output-queue bound. */
  constructor(
    readonly id: number,
    readonly sw: number,
    readonly name: string,
    readonly fd: number,
    readonly peer: string,
    queueBytes: number,
  ) {
    const sa = sockaddrUn(peer); // throws for an unusable path
    this.peerSa = sa.addr;
    this.peerLen = sa.len;
    this.q = new ByteQueue(queueBytes, REC_HDR + QEMU_MAX_FRAME);
    this.addrs = allocBytes(ADDR_BLOCK);
    this.addrs.bytes.set(sa.addr.subarray(0, SOCKADDR_UN_SIZE), PEER_OFF);
    this.reconnect();
  }

  /** connect() to QEMU's path (again). Keeps the old state when QEMU is not there. */
  private reconnect(): void {
    if (raw.connect(this.fd, this.peerSa, this.peerLen) === 0) this.connected = true;
  }

  /** Once a second (loop tick): reach a QEMU that came back or restarted at the same path. */
  tick(_now: number): void {
    if (this.closed || this.failed !== 0) return;
    this.reconnect();
  }

  /** Bytes waiting in the output queue (tests, diagnostics). */
  get queued(): number {
    return this.q.size;
  }

  /** Is the source address recvfrom just wrote QEMU's path? */
  private fromPeer(): boolean {
    const v = this.addrs.view;
    const b = this.addrs.bytes;
    let got = v.getUint32(SRCLEN_OFF, true);
    if (got > SOCKADDR_UN_SIZE) got = SOCKADDR_UN_SIZE;
    // Path bytes: [2, peerLen - 1) then a NUL in ours; the kernel may or may not count the NUL.
    const want = this.peerLen - 1;
    if (got !== this.peerLen && got !== want) return false;
    if (b[SRC_OFF] !== b[PEER_OFF] || b[SRC_OFF + 1] !== b[PEER_OFF + 1]) return false;
    for (let i = 2; i < want; i++) if (b[SRC_OFF + i] !== b[PEER_OFF + i]) return false;
    return got === want || b[SRC_OFF + want] === 0;
  }

  receive(mem: FrameMemory, max: number): number {
    const v = this.addrs.view;
    const srcAddr = this.addrs.addr + SRC_OFF;
    const lenAddr = this.addrs.addr + SRCLEN_OFF;
    let n = 0;
    while (n < max) {
      const off = mem.slot(n) + HEADROOM + VNET_HDR_LEN;
      v.setUint32(SRCLEN_OFF, SOCKADDR_UN_SIZE, true);
      const r = raw.recvfromAt(this.fd, mem.addr + off, QEMU_MAX_FRAME, MSG_TRUNC | MSG_DONTWAIT, srcAddr, lenAddr);
      if (r < 0) {
        const e = errno();
        if (e === EAGAIN) break;
        if (e === EINTR) continue;
        if (e === EBADF || e === ENOTSOCK) {
          this.downReason = 'receive on the QEMU datagram socket failed';
          return n > 0 ? n : -e;
        }
        this.rxErrors++; // e.g. a pending socket error reported once
        break;
      }
      if (r < Eth.HeaderLen || r > QEMU_MAX_FRAME || !this.fromPeer()) {
        this.rxErrors++;
        continue;
      }
      mem.rxHdr[n] = off;
      mem.rxEth[n] = off;
      mem.rxEnd[n] = off + r;
      n++;
    }
    return n;
  }

  send(_bytes: Uint8Array, addr: number, start: number, end: number): number {
    if (this.failed !== 0) return this.failed;
    const len = end - start;
    if (len < Eth.HeaderLen || len > QEMU_MAX_FRAME) return EMSGSIZE;
    if (!this.connected) { this.peerAbsent++; return ENOTCONN; }
    if (this.q.size !== 0) return this.enqueue(addr + start, len);
    for (;;) {
      const r = raw.sendAt(this.fd, addr + start, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r >= 0) return 0;
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return this.enqueue(addr + start, len);
      return this.sendError(e);
    }
  }

  /** A send error other than EAGAIN/EINTR: the errno to report (the frame is dropped). */
  private sendError(e: number): number {
    if (e === EBADF || e === ENOTSOCK) {
      this.failed = e;
      this.downReason = 'send on the QEMU datagram socket failed';
      return e;
    }
    if (e === ECONNREFUSED || e === ENOTCONN || e === ENOENT || e === EPERM) {
      // QEMU's socket is gone (Linux has disconnected ours): drop until tick() reconnects.
      this.connected = false;
      this.peerAbsent++;
      this.q.clear();
      this.wantsWrite = false;
    }
    return e;
  }

  private enqueue(src: number, len: number): number {
    const q = this.q;
    const t = q.reserve(REC_HDR + len);
    if (t < 0) return EAGAIN;
    q.view!.setUint32(t, len, true);
    raw.memmoveAt(q.addr + t + REC_HDR, src, len);
    q.commit(REC_HDR + len);
    this.wantsWrite = true;
    return 0;
  }

  flush(): number {
    if (this.failed !== 0) return -this.failed;
    const q = this.q;
    while (q.size > 0) {
      const len = q.view!.getUint32(q.head, true);
      const r = raw.sendAt(this.fd, q.addr + q.head + REC_HDR, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r >= 0) { q.consume(REC_HDR + len); continue; }
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return 0;
      if (e === ENOBUFS || e === ENOMEM || e === EMSGSIZE) { q.consume(REC_HDR + len); continue; } // this one is lost
      this.sendError(e);
      if (this.failed !== 0) return -this.failed;
      return 0;
    }
    this.wantsWrite = false;
    return 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
    freeBytes(this.addrs);
    this.q.free();
  }
}
