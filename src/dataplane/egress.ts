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
 * VLAN tags (802.1Q): a send with a TCI (a VLAN-aware switch; the frame is untagged inside the
 * switch) is tagged with it in place before the normalisation above, unless its VID is the one
 * the target port carries untagged (EgressHost.untaggedVid: an access port's or a trunk's pvid,
 * the uplink's native VLAN), and untagged again once it is sent, so the next port of a flood
 * gets the frame as the forwarder left it. The tag moves the virtio-net header with the MACs and
 * adds 4 to its csum_start and hdr_len (src/wire/vlan.ts), so partial checksums and GSO frames
 * stay right, and software segmentation copies the tag into every segment. The MTU check
 * counts the IP packet, so a tag never makes a frame too big. A send without a TCI (0) leaves
 * the frame's tags as they are (a VLAN-unaware switch).
 *
 * MTU: a frame whose IP packet (the bytes after the Ethernet header and one VLAN tag) is larger
 * than the target port's mtu (port.ts; 0: unknown, not checked) is dropped as TooBig, and so is
 * a GSO frame whose segments (IP and TCP headers plus gso_size) would be. Before refusing, the
 * port's MTU is read again, at most once per port per tick (a raised MTU takes effect at once;
 * a lowered one when the kernel refuses a frame with EMSGSIZE, which also counts as TooBig).
 * Where the switch is the guests' layer-3 hop (an IP-mode switch) it answers a refused unicast
 * packet as a router would, so path MTU discovery works: IPv4 with DF gets an ICMP
 * Fragmentation Needed, IPv6 a Packet Too Big (src/wire/icmp-error.ts, built in the egress's
 * own memory), both carrying the port's MTU, from the packet's destination address, sent back
 * out the port the frame came in on (`ingress`, which the loop sets around each
 * Forwarder.input). Ethernet addresses: to a NIC, from the MAC the guest sent to, to the NIC's
 * own MAC; to the uplink, from the uplink's MAC to the frame's sender; in the frame's VLAN
 * (tagged for the ingress port as any frame would be). At most
 * ICMP_ERRORS_PER_TICK errors per ingress port per tick; ETHERNET mode sends none (a bridge),
 * and IPv4 without DF gets none (the switch does not fragment: the drop is counted only).
 *
 * Counting: a sent frame counts TxFrames and TxBytes (Ethernet bytes, header excluded) at the
 * port; a refused one counts TxDrops at the port and, by the errno the port returned (port.ts),
 * EAGAIN / ENOBUFS as QueueFull, ENETDOWN as EgressDown and EMSGSIZE as TooBig at the port's
 * switch; other errnos (a frame the kernel rejects) count TxDrops only. An ICMP error counts as
 * a frame sent at the ingress port. A send to a port id that is not in the table, or whose port
 * has failed, is ignored.
 *
 * Traces: while a trace session is open (TraceTap, trace-tap.ts) every frame leaving a watched
 * port is handed to it as it leaves (the Ethernet frame as written, after every rewrite and
 * segmentation), with its outcome: sent, or the drop reason (TRACE_REFUSED for a write the
 * kernel refused without one of ours).
 *
 * Batched writes (Port.commit, a packet socket with VSWITCH_SENDMMSG, a TAP with VSWITCH_URING):
 * a port stages a frame only when more may follow it before the commit (Port.send's `stage`:
 * `batched`, which the loop sets for every batch, or with VSWITCH_LONE_DIRECT=1 only for a
 * batch of more than one received frame; every segment of a software segmentation); a lone
 * frame, a ping's, is then written at once, without the copy into the staging area (measured
 * neutral, so off by default: README). A port that staged a frame
 * is noted once in a pending list; commit() (the loop's, after each batch and wake-up) has each
 * write what it staged. Frames the kernel refused then are moved from TxFrames/TxBytes to
 * TxDrops, with the drop reason of the port's last errno (settle); a trace has already recorded
 * them as sent.
 *
 * What the loop keeps (EgressHost): the port table, the ports' MACs and roles, the switches'
 * modes, the epoll interest. After a send the egress asks the loop to re-arm EPOLLOUT when the
 * port's wantsWrite no longer matches it, and hands over a port that found its fd dead (the
 * loop removes it once the batch is done). tick() (the loop's, about once a second) renews the
 * ICMP budgets and MTU re-reads.
 */
import { EAGAIN, EMSGSIZE, ENETDOWN, ENOBUFS, allocBytes, type ForeignBytes } from '../sys/libc.js';
import { DropReason, type Egress } from '../forward/api.js';
import { MAX_PORTS, PortCounter, dropSlot, portSlot } from '../forward/counters.js';
import { SEGMENT_SCRATCH_LEN, finishChecksum, segmentTcp, type SegmentEmit } from '../wire/segment.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN, VNET_HDR_LEN } from '../wire/vnet.js';
import { tagFrame, untagFrame } from '../wire/vlan.js';
import { Eth, EtherType, checkEthernet, emitEthernet, ethPayloadType } from '../wire/ethernet.js';
import { checkIpv4 } from '../wire/ipv4.js';
import { checkIpv6, IPV6_HLEN } from '../wire/ipv6.js';
import { checkTcp } from '../wire/tcp.js';
import { readMac } from '../wire/addr.js';
import { readU32 } from '../wire/bytes.js';
import {
  PACKET_TOO_BIG_MAX, emitFragNeeded, emitPacketTooBig, fragNeededAllowed, packetTooBigAllowed,
} from '../wire/icmp-error.js';
import { TRACE_REFUSED } from '../protocol/dataplane.js';
import { HEADROOM, MAX_FRAME, type FrameMemory, type Port } from './port.js';
import type { TraceTap } from './trace-tap.js';

/** ICMP errors (Fragmentation Needed, Packet Too Big) sent back to one ingress port per tick, at most. */
export const ICMP_ERRORS_PER_TICK = 10;

/** What the egress needs from the loop that owns the ports and the epoll set. */
export interface EgressHost {
  /** Ports by id (the loop's table, read on every send); undefined: no such port. */
  readonly ports: ReadonlyArray<Port | undefined>;
  /** Port id -> 1 while EPOLLOUT is in its epoll interest, else 0 (the loop's record). */
  readonly outArmed: Uint8Array;
  /** Port id -> the MAC its port-add gave (a NIC's assigned MAC, the uplink interface's MAC). */
  readonly portMac: Float64Array;
  /** Port id -> 1 for a switch's uplink, 0 for a NIC. */
  readonly portUplink: Uint8Array;
  /** Switch number -> 1 for an IP-mode switch (the guests' layer-3 hop), 0 otherwise. */
  readonly ipMode: Uint8Array;
  /** Port id -> the VLAN it carries untagged (pvid, the uplink's native VLAN), 0 for none. */
  readonly untaggedVid: Uint16Array;
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

/** Where an ICMP error's Ethernet frame starts in the ICMP memory (a zero virtio-net header before it). */
const ICMP_ETH = HEADROOM + VNET_HDR_LEN;

export class FrameEgress implements Egress {
  /**
   * The port the frame being forwarded came in on, or -1 (a frame the forwarder made on a tick
   * or a control message). The loop sets it around each Forwarder.input; ICMP errors go there.
   */
  ingress = -1;
  /**
   * More frames may follow before the next commit: ports may stage what they are sent (the
   * file comment, batched writes). The loop sets it: always, or with VSWITCH_LONE_DIRECT=1
   * only within a receive batch of more than one frame.
   */
  batched = false;
  /** The segmentation scratch: HEADROOM bytes, then SEGMENT_SCRATCH_LEN (segmentTcp's view). */
  private readonly segMem: ForeignBytes;
  private readonly segScratch: Uint8Array;
  /** The port the frame being segmented goes to (segEmit's target); undefined between frames. */
  private segPort: Port | undefined = undefined;
  /** segmentTcp's emit callback, bound once. */
  private readonly segEmit: SegmentEmit;
  /** Where ICMP errors are built: HEADROOM, a zero virtio-net header, the Ethernet frame. */
  private readonly icmpMem: ForeignBytes;
  /** Per ingress port: ICMP errors sent this tick. */
  private readonly icmpSent = new Uint8Array(MAX_PORTS);
  /** Per port: 1 once its MTU was read again this tick. */
  private readonly mtuReread = new Uint8Array(MAX_PORTS);
  /** Ports holding staged frames (Port.commit), each once (pendingMark), until commit(). */
  private readonly pending: (Port | undefined)[] = new Array<Port | undefined>(MAX_PORTS).fill(undefined);
  private readonly pendingMark = new Uint8Array(MAX_PORTS);
  private pendingCount = 0;

  constructor(
    private readonly counters: Float64Array,
    private readonly mem: FrameMemory,
    private readonly host: EgressHost,
    private readonly tap: TraceTap,
  ) {
    this.segMem = allocBytes(SEGMENT_SCRATCH_LEN + HEADROOM);
    this.segScratch = this.segMem.bytes.subarray(HEADROOM, HEADROOM + SEGMENT_SCRATCH_LEN);
    this.segEmit = this.emitSegment.bind(this);
    this.icmpMem = allocBytes(ICMP_ETH + Eth.HeaderLen + PACKET_TOO_BIG_MAX);
  }

  /** About once a second (the loop's tick): new ICMP budgets, MTUs may be read again. */
  tick(): void {
    this.icmpSent.fill(0);
    this.mtuReread.fill(0);
  }

  /** Have every port that staged frames write them (the file comment); the loop calls it after each batch. */
  commit(): void {
    const n = this.pendingCount;
    if (n === 0) return;
    this.pendingCount = 0;
    const ports = this.host.ports;
    for (let i = 0; i < n; i++) {
      const p = this.pending[i]!;
      this.pending[i] = undefined;
      this.pendingMark[p.id] = 0;
      if (ports[p.id] !== p || p.failed !== 0) continue; // removed or dead: its staging went with it
      p.commit!();
      if (p.txRefused !== 0) this.settle(p);
    }
  }

  /** Frames p took as sent but the kernel refused on commit: counted as dropped instead. */
  private settle(p: Port): void {
    const c = this.counters;
    const k = p.txRefused!;
    c[portSlot(p.id, PortCounter.TxFrames)] -= k;
    c[portSlot(p.id, PortCounter.TxBytes)] -= p.txRefusedBytes!;
    c[portSlot(p.id, PortCounter.TxDrops)] += k;
    const reason = this.dropReason(p, p.txRefusedErrno!);
    if (reason >= 0) c[dropSlot(p.sw, reason)] += k;
    p.txRefused = 0;
    p.txRefusedBytes = 0;
    if (p.failed !== 0) this.host.portFailed(p);
  }

  /** The drop reason a refused send's errno counts as (-1: none of ours), as the file comment says. */
  private dropReason(p: Port, r: number): number {
    if (r === EAGAIN || r === ENOBUFS) return DropReason.QueueFull;
    if (r === ENETDOWN) return DropReason.EgressDown;
    if (r === EMSGSIZE) {
      p.refreshMtu?.(); // it shrank: the next frame over it is refused (and answered) here
      return DropReason.TooBig;
    }
    return -1;
  }

  send(portId: number, buf: Uint8Array, hdr: number, eth: number, end: number, tci = 0): void {
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
    const mtu = p.mtu;
    if (mtu > 0 && end - eth > Eth.HeaderLen + mtu && this.tooBig(p, b, hdr, eth, end, tci)) return;
    if (tci === 0 || (tci & 0x0fff) === this.host.untaggedVid[portId]) {
      this.normalise(p, b, hdr, eth, end);
      return;
    }
    const tagged = tagFrame(b, hdr, eth, tci);
    const th = hdr - (eth - tagged);
    this.normalise(p, b, th, tagged, end);
    untagFrame(b, th, tagged);
  }

  /** Send frame memory [eth..end) (header at hdr) to p in the framing p wants (the file comment). */
  private normalise(p: Port, b: Uint8Array, hdr: number, eth: number, end: number): void {
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
          if (r < 0) this.dropOffload(p, eth, end);
          return;
        }
        if ((b[hdr] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 && !finishChecksum(b, hdr, eth, end)) {
          this.dropOffload(p, eth, end);
          return;
        }
      }
      start = eth;
    }
    this.transmit(p, this.mem, start, end, end - eth, this.batched);
  }

  /**
   * The frame b[eth..end) is longer than an Ethernet header plus p.mtu: true when it is too big
   * for p (counted as TooBig, answered with an ICMP error where the switch is the layer-3 hop),
   * false when it fits after all (a GSO frame whose segments fit, or an MTU raised meanwhile).
   */
  private tooBig(p: Port, b: Uint8Array, hdr: number, eth: number, end: number, tci: number): boolean {
    const l2 = checkEthernet(b, eth, end);
    if (l2 < 0) return false; // not for this check: the port or the kernel refuses it
    const ip = eth + l2;
    let ipLen = end - ip;
    if (hdr !== eth && (b[hdr + 1] & ~VIRTIO_NET_HDR_GSO_ECN & 0xff) !== 0) {
      const seg = this.gsoSegmentLen(b, hdr, eth, ip, end);
      if (seg >= 0 && seg < ipLen) ipLen = seg;
    }
    if (ipLen <= p.mtu) return false;
    if (this.mtuReread[p.id] === 0 && p.refreshMtu !== undefined) {
      this.mtuReread[p.id] = 1;
      p.refreshMtu();
      if (p.mtu === 0 || ipLen <= p.mtu) return false;
    }
    this.counters[portSlot(p.id, PortCounter.TxDrops)]++;
    this.counters[dropSlot(p.sw, DropReason.TooBig)]++;
    if (this.tap.active !== 0) this.traceOut(p, DropReason.TooBig + 1, this.mem, eth, end);
    this.answerTooBig(p, b, eth, ip, end, tci);
    return true;
  }

  /** IP length of each segment of the GSO frame whose IP header is at `ip` (-1: headers unreadable). */
  private gsoSegmentLen(b: Uint8Array, hdr: number, eth: number, ip: number, end: number): number {
    const type = ethPayloadType(b, eth);
    const l3 = type === EtherType.Ipv4 ? checkIpv4(b, ip, end)
      : type === EtherType.Ipv6 && checkIpv6(b, ip, end) ? IPV6_HLEN : -1;
    if (l3 < 0) return -1;
    const thl = checkTcp(b, ip + l3, end);
    if (thl < 0) return -1;
    return l3 + thl + (b[hdr + 4] | b[hdr + 5] << 8);
  }

  /** The ICMP error for a packet too big for p (see the file comment), when one is due. */
  private answerTooBig(p: Port, b: Uint8Array, eth: number, ip: number, end: number, tci: number): void {
    const inId = this.ingress;
    const host = this.host;
    if (inId < 0 || host.ipMode[p.sw] !== 1 || (b[eth] & 1) !== 0 || this.icmpSent[inId] >= ICMP_ERRORS_PER_TICK) return;
    const q = host.ports[inId];
    if (q === undefined || q.failed !== 0) return;
    const out = this.icmpMem.bytes;
    const type = ethPayloadType(b, eth);
    const outIp = ICMP_ETH + Eth.HeaderLen;
    let outEnd: number;
    if (type === EtherType.Ipv4) {
      if (checkIpv4(b, ip, end) < 0 || !fragNeededAllowed(b, ip, end)) return;
      outEnd = emitFragNeeded(out, outIp, b, ip, end, readU32(b, ip + 16), p.mtu);
    } else if (type === EtherType.Ipv6) {
      if (!checkIpv6(b, ip, end) || !packetTooBigAllowed(b, ip, end)) return;
      outEnd = emitPacketTooBig(out, outIp, b, ip, end, p.mtu);
    } else {
      return;
    }
    if (host.portUplink[inId] === 1) {
      emitEthernet(out, ICMP_ETH, readMac(b, eth + 6), host.portMac[inId], type);
    } else {
      emitEthernet(out, ICMP_ETH, host.portMac[inId], readMac(b, eth), type);
    }
    this.icmpSent[inId]++;
    let outEth = ICMP_ETH;
    if (tci !== 0 && (tci & 0x0fff) !== host.untaggedVid[inId]) outEth = tagFrame(out, outEth, outEth, tci);
    let start = outEth;
    if (q.vnet) {
      start = outEth - VNET_HDR_LEN;
      for (let i = start; i < outEth; i++) out[i] = 0;
    }
    this.transmit(q, this.icmpMem, start, outEnd, outEnd - outEth, this.batched);
  }

  /** segmentTcp's emit: scratch[start..end) is a plain frame; send it from the scratch memory. */
  private emitSegment(scratch: Uint8Array, start: number, end: number): void {
    const p = this.segPort;
    if (p === undefined || p.failed !== 0 || scratch !== this.segScratch) return;
    this.transmit(p, this.segMem, HEADROOM + start, HEADROOM + end, end - start, true); // more segments follow
  }

  /** The frame at frame memory [eth..end) carries offload metadata p cannot honour. */
  private dropOffload(p: Port, eth: number, end: number): void {
    this.counters[portSlot(p.id, PortCounter.TxDrops)]++;
    this.counters[dropSlot(p.sw, DropReason.BadOffload)]++;
    if (this.tap.active !== 0) this.traceOut(p, DropReason.BadOffload + 1, this.mem, eth, end);
  }

  /** Hand the Ethernet frame m.bytes[start..end) leaving p to the open traces, with its outcome. */
  private traceOut(p: Port, drop: number, m: SendMemory, start: number, end: number): void {
    this.tap.recordOut(p.sw, p.id, this.host.portUplink[p.id] === 1, drop, m.bytes, m.addr, start, end);
  }

  /** Send m.bytes[start..end) to p (staged if `stage` and p stages) and count the outcome. */
  private transmit(p: Port, m: SendMemory, start: number, end: number, ethBytes: number, stage: boolean): void {
    const r = p.send(m.bytes, m.addr, start, end, stage);
    const c = this.counters;
    let drop = 0;
    if (r === 0) {
      c[portSlot(p.id, PortCounter.TxFrames)]++;
      c[portSlot(p.id, PortCounter.TxBytes)] += ethBytes;
      const q = p.txQueued;
      if (q !== undefined && q > 0 && this.pendingMark[p.id] === 0) {
        this.pendingMark[p.id] = 1;
        this.pending[this.pendingCount++] = p;
      }
    } else {
      c[portSlot(p.id, PortCounter.TxDrops)]++;
      const reason = this.dropReason(p, r);
      if (reason >= 0) c[dropSlot(p.sw, reason)]++;
      drop = reason >= 0 ? reason + 1 : TRACE_REFUSED;
      if (p.failed !== 0) this.host.portFailed(p);
    }
    if (p.txRefused !== undefined && p.txRefused !== 0) this.settle(p); // a full staging area committed inside send
    if (this.tap.active !== 0) this.traceOut(p, drop, m, end - ethBytes, end);
    const host = this.host;
    if (p.wantsWrite !== (host.outArmed[p.id] === 1)) host.syncOut(p);
  }
}
