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
 */
import { EAGAIN, EINTR, ENETDOWN, EPIPE, close, errno, raw } from '../sys/libc.js';
import { VNET_HDR_LEN } from '../wire/vnet.js';
import { Eth } from '../wire/ethernet.js';
import type { PortKind } from '../protocol/dataplane.js';
import { HEADROOM, MAX_FRAME, type FrameMemory, type Port } from './port.js';
import type { PacketVlanRx } from './packet-socket.js';

export abstract class FdFramePort implements Port {
  failed = 0;
  wantsWrite = false;
  rxErrors = 0;
  mtu: number;
  abstract readonly kind: PortKind;
  /** A packet socket's tag-restoring reader (packet-socket.ts), or null: plain read(). */
  protected vlanRx: PacketVlanRx | null = null;

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

  send(_bytes: Uint8Array, addr: number, start: number, end: number): number {
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

  flush(): number {
    return 0;
  }

  close(): void {
    close(this.fd);
  }
}
