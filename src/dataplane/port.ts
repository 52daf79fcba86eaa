/**
 * The data-plane port interface, and the frame memory every port reads into and sends from.
 *
 * A Port wraps one file descriptor the worker owns (a TAP, an AF_PACKET socket, a QEMU stream
 * or datagram socket); each kind is one file and one entry in PORT_KINDS (port-kinds.ts). The
 * loop (loop.ts) owns the epoll set, the counters and the forwarders, the egress (egress.ts)
 * what is sent; a port only moves bytes between its fd and FrameMemory:
 *
 *  - receive(): called when epoll reports the fd readable. Reads frames into the receive slots
 *    (at most `max`, starting at slot 0) and records each frame's offsets in `rx`. Stops at
 *    EAGAIN. A stream port keeps its own reassembly state and may return fewer frames than it
 *    read bytes for. Returns the number of frames, or -errno on a fatal error (the loop then
 *    removes the port). Malformed input (a runt, a bad length prefix) is dropped by the port,
 *    which counts it in `rxErrors` and carries on (a stream port whose framing is lost returns
 *    -EPROTO).
 *  - send(bytes, addr, start, end, stage): transmit bytes[start..end), where `addr` is the address of
 *    bytes[0] (foreign memory: the frame memory or the egress's segmentation scratch). The bytes
 *    are exactly what the port's framing wants: the 10-byte virtio-net header then the Ethernet
 *    frame when `vnet`, the Ethernet frame alone otherwise (the egress adds, strips, completes
 *    checksums and segments as needed). Must not modify those bytes (a broadcast sends the same
 *    bytes to several ports). Returns 0 when the frame was sent or queued, else a positive
 *    errno: EAGAIN or ENOBUFS for "queue full" (counted as QueueFull), ENETDOWN for "the link is
 *    down" (counted as EgressDown; a port maps its kind's own errno for that to ENETDOWN),
 *    anything else a refused frame. A port that learns its fd is dead sets `failed` (an errno)
 *    and the loop removes it after the batch. `stage`: more frames may follow before commit(),
 *    so a port that batches its writes may stage this one; false: a lone frame, written now.
 *  - wantsWrite / flush(): a port with an output queue (a stream socket) sets `wantsWrite` while
 *    it holds queued bytes; the loop then adds EPOLLOUT to its interest and calls flush() when
 *    the fd is writable. flush returns 0 or -errno (fatal). Ports without a queue never set it.
 *  - close(): close the fd. Called exactly once, by the loop.
 *
 * Ports never allocate per frame and never throw from receive/send/flush.
 */
import { allocBytes, type ForeignBytes } from '../sys/libc.js';
import type { PortKind } from '../protocol/dataplane.js';
import { VNET_HDR_LEN } from '../wire/vnet.js';

/** Largest frame payload a port reads: a 64 KiB GSO super-frame. */
export const MAX_FRAME = 65536;
/** Bytes kept free in front of every slot's virtio-net header. */
export const HEADROOM = 16;
/** Bytes per slot: headroom, virtio-net header, frame, rounded up to 64. */
export const SLOT_SIZE = (HEADROOM + VNET_HDR_LEN + MAX_FRAME + 63) & ~63;
/** Receive slots: the most frames read from one port per batch. */
export const RX_SLOTS = 64;

/**
 * One contiguous block of koffi memory: RX_SLOTS receive slots, then a transmit slot (the
 * egress copies frames the forwarder built in its own buffers there).
 * `bytes` is the JS view handed to forwarders; `addr` its address for the raw *At calls.
 */
export class FrameMemory {
  readonly mem: ForeignBytes;
  readonly bytes: Uint8Array;
  readonly addr: number;
  /** Receive offsets, per slot index: header start (=== eth when the port has no header), frame start, frame end. */
  readonly rxHdr = new Int32Array(RX_SLOTS);
  readonly rxEth = new Int32Array(RX_SLOTS);
  readonly rxEnd = new Int32Array(RX_SLOTS);
  /** Offset of the transmit slot. */
  readonly txSlot: number;

  constructor() {
    this.mem = allocBytes(SLOT_SIZE * (RX_SLOTS + 1));
    this.bytes = this.mem.bytes;
    this.addr = this.mem.addr;
    this.txSlot = SLOT_SIZE * RX_SLOTS;
  }

  /** Offset where slot i begins. Its header goes at +HEADROOM, its frame at +HEADROOM+10. */
  slot(i: number): number {
    return i * SLOT_SIZE;
  }
}

export interface Port {
  readonly id: number;
  readonly sw: number;
  readonly kind: PortKind;
  readonly name: string;
  readonly fd: number;
  /** Frames on the fd carry a 10-byte virtio-net header (both directions). */
  readonly vnet: boolean;
  /** Set (to an errno) when the port found its fd dead; the loop removes it. 0 while healthy. */
  failed: number;
  /** True while the port holds queued output and wants EPOLLOUT. */
  wantsWrite: boolean;
  /**
   * Receive errors since the loop last looked: malformed frames dropped, transient read errors
   * (an uplink's ENETDOWN). The loop adds it to the port's RxErrors counter after each receive
   * and resets it to 0.
   */
  rxErrors: number;
  /**
   * Optional. A stream port sets it when receive() returned with complete frames (or an error)
   * still buffered and nothing new may arrive on the fd to wake the loop; the loop then calls
   * receive() again after forwarding the batch.
   */
  rxPending?: boolean;
  /**
   * Optional. True when receive() costs one read syscall per frame (a TAP, or a packet socket
   * without recvmmsg): the loop then asks such a port for one frame at a time while its
   * traffic is sparse, so a one-frame wake-up costs no second read that finds EAGAIN (loop.ts,
   * "Sparse reads"). Ports that read a batch in one call leave it unset.
   */
  readonly readsPerFrame?: boolean;
  /**
   * The largest IP packet (bytes after the Ethernet header and one VLAN tag) the port's link
   * takes: its interface MTU, read when the port is built; 0 when unknown (nothing checked:
   * the QEMU kinds, whose guest MTU lives in the VM). The egress refuses larger frames.
   */
  mtu: number;
  /**
   * Optional. Read the interface MTU again (it may have changed since); keeps the old value
   * when it cannot. A few syscalls: the egress calls it at most once a second per port, when a
   * frame is over `mtu` (so a raised MTU never refuses frames).
   */
  refreshMtu?(): void;
  /** Optional. Why the port failed, in words; the loop uses it in the 'port-down' reason. */
  downReason?: string;
  /** Optional. Called about once a second by the loop (e.g. a datagram port reconnecting). */
  tick?(now: number): void;
  /**
   * Optional (an uplink whose interface can take address filters: AF_PACKET). macs: the
   * unicast MACs the interface must receive besides its own (an ETHERNET-mode switch's NICs),
   * with all multicast; null: none of that (IP mode). Replaces what an earlier call set.
   * Control path. Returns null, or what failed in words (the port stays usable).
   */
  setUnicastFilter?(macs: readonly number[] | null): string | null;
  /**
   * Optional (a port that batches its writes: a packet socket with VSWITCH_SENDMMSG, fd-port.ts).
   * send() may stage a frame (returning 0) instead of writing it; txQueued is then > 0 and
   * commit() writes what is staged (the egress calls it after each batch and wake-up). A staged
   * frame the kernel refuses later is added to txRefused (frames) and txRefusedBytes (Ethernet
   * bytes), with txRefusedErrno the errno as send() would return it; the egress moves them from
   * sent to dropped and sets them back to 0. A dead fd sets `failed` as send() would.
   */
  txQueued?: number;
  txRefused?: number;
  txRefusedBytes?: number;
  txRefusedErrno?: number;
  commit?(): void;
  receive(mem: FrameMemory, max: number): number;
  send(bytes: Uint8Array, addr: number, start: number, end: number, stage: boolean): number;
  flush(): number;
  close(): void;
}
