/**
 * Software offloads for ports that cannot take what a virtio-net header promises: TCP
 * segmentation of GSO super-frames (TCPV4, TCPV6, with or without ECN) and completion of a
 * partial checksum (NEEDS_CSUM), as the Linux stack does for a device without the feature.
 *
 * Input layout is the forwarder contract's: buf[hdr..eth) the 10-byte virtio-net header,
 * buf[eth..end) the Ethernet frame. The header's csum_start is relative to `eth`.
 *
 * segmentTcp writes each output segment into one scratch buffer (the caller's, or a module-level
 * one allocated on first use) and calls emit(scratch, start, end) for it; the scratch is reused
 * for the next segment as soon as emit returns. In the scratch, bytes [start-10, start) are
 * always a zero virtio-net header, so a port that wants one can send from start - 10.
 * Each segment gets: IPv4 total length, id (first id + i) and header checksum, or IPv6 payload
 * length; TCP seq advanced by the bytes before it; FIN and PSH only on the last segment, CWR only
 * on the first; a full TCP checksum. Header lengths are taken from the packet itself, never
 * from hdr_len (which guests set loosely). Returns the number of frames emitted, or -1 when the
 * frame cannot be handled (unsupported GSO type such as UDP, malformed headers, gso_size 0,
 * segment larger than the scratch): the caller then drops it as BadOffload.
 *
 * Segmentation allocates one subarray view per segment (a fallback path, not the forwarding
 * hot path); finishChecksum allocates nothing. Neither throws.
 */

import { writeU16 } from './bytes.js';
import { internetChecksum } from './checksum.js';
import { checkEthernet, ethPayloadType, EtherType } from './ethernet.js';
import { checkIpv4, fillIpv4Checksum, ipv4Id, ipv4Protocol, setIpv4Id, setIpv4TotalLen, IpProto } from './ipv4.js';
import { checkIpv6, ipv6NextHeader, setIpv6PayloadLen, IPV6_HLEN } from './ipv6.js';
import { checkTcp, fillTcpChecksum, setTcpFlags, setTcpSeq, tcpFlags, tcpSeq, TCP_CWR, TCP_FIN, TCP_PSH } from './tcp.js';
import {
  emitZeroVnetHdr, setVnetFlags, vnetCsumOffset, vnetCsumStart, vnetFlags, vnetGsoKind, vnetGsoSize,
  VNET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
} from './vnet.js';

/** Called once per output frame: the frame is scratch[start..end). */
export type SegmentEmit = (scratch: Uint8Array, start: number, end: number) => void;

/** Scratch size that fits any segment: zero vnet header, headers up to 138 bytes, 64 KiB of data. */
export const SEGMENT_SCRATCH_LEN = VNET_HDR_LEN + 18 + 60 + 60 + 65535;

let defaultScratch: Uint8Array | null = null;

/**
 * Complete a NEEDS_CSUM frame in place: the 16-bit field at eth+csum_start+csum_offset holds the
 * pseudo-header partial sum; replace it with the checksum over [eth+csum_start, end) (a zero
 * result is written as 0xffff, as Linux's skb_checksum_help does) and clear NEEDS_CSUM.
 * A frame without a header or without the flag is left alone. False when the offsets do not
 * fit the frame (nothing written).
 */
export function finishChecksum(buf: Uint8Array, hdr: number, eth: number, end: number): boolean {
  if (eth - hdr < VNET_HDR_LEN) return true;
  const flags = vnetFlags(buf, hdr);
  if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) return true;
  const start = eth + vnetCsumStart(buf, hdr);
  const field = start + vnetCsumOffset(buf, hdr);
  if (end > buf.length || field + 2 > end) return false;
  let c = internetChecksum(buf, start, end);
  if (c === 0) c = 0xffff;
  writeU16(buf, field, c);
  setVnetFlags(buf, hdr, flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM);
  return true;
}

/**
 * Turn the frame at buf[eth..end) into plain, fully checksummed frames (see the file comment).
 * Without a header, or with GSO_NONE, the frame itself is emitted once (its checksum completed
 * first when NEEDS_CSUM is set).
 */
export function segmentTcp(buf: Uint8Array, hdr: number, eth: number, end: number, emit: SegmentEmit,
  scratch?: Uint8Array): number {
  if (eth < 0 || end > buf.length || end < eth) return -1;
  if (eth - hdr < VNET_HDR_LEN) { emit(buf, eth, end); return 1; }
  const gso = vnetGsoKind(buf, hdr);
  if (gso === VIRTIO_NET_HDR_GSO_NONE) {
    if (!finishChecksum(buf, hdr, eth, end)) return -1;
    emit(buf, eth, end);
    return 1;
  }
  if (gso !== VIRTIO_NET_HDR_GSO_TCPV4 && gso !== VIRTIO_NET_HDR_GSO_TCPV6) return -1;
  const mss = vnetGsoSize(buf, hdr);
  if (mss === 0) return -1;
  const l2 = checkEthernet(buf, eth, end);
  if (l2 < 0) return -1;
  const ip = eth + l2;
  const v6 = gso === VIRTIO_NET_HDR_GSO_TCPV6;
  let ihl: number;
  if (v6) {
    if (ethPayloadType(buf, eth) !== EtherType.Ipv6 || !checkIpv6(buf, ip, end) || ipv6NextHeader(buf, ip) !== IpProto.Tcp) return -1;
    ihl = IPV6_HLEN;
  } else {
    if (ethPayloadType(buf, eth) !== EtherType.Ipv4) return -1;
    ihl = checkIpv4(buf, ip, end);
    if (ihl < 0 || ipv4Protocol(buf, ip) !== IpProto.Tcp) return -1;
  }
  const tcp = ip + ihl;
  const thl = checkTcp(buf, tcp, end);
  if (thl < 0) return -1;
  const payload = tcp + thl;
  const hlen = payload - eth;
  const dataLen = end - payload;
  const out = scratch ?? (defaultScratch ??= new Uint8Array(SEGMENT_SCRATCH_LEN));
  const seg = dataLen < mss ? dataLen : mss;
  if (VNET_HDR_LEN + hlen + seg > out.length) return -1;

  const s = emitZeroVnetHdr(out, 0);
  const sIp = s + l2;
  const sTcp = sIp + ihl;
  const sPay = s + hlen;
  const seq0 = tcpSeq(buf, tcp);
  const flags0 = tcpFlags(buf, tcp);
  const id0 = v6 ? 0 : ipv4Id(buf, ip);
  const n = dataLen === 0 ? 1 : Math.ceil(dataLen / mss);
  for (let i = 0; i < n; i++) {
    const off = i * mss;
    const len = dataLen - off < mss ? dataLen - off : mss;
    out.set(buf.subarray(eth, payload), s);
    if (len > 0) out.set(buf.subarray(payload + off, payload + off + len), sPay);
    if (v6) {
      setIpv6PayloadLen(out, sIp, thl + len);
    } else {
      setIpv4TotalLen(out, sIp, ihl + thl + len);
      setIpv4Id(out, sIp, (id0 + i) & 0xffff);
      fillIpv4Checksum(out, sIp);
    }
    setTcpSeq(out, sTcp, seq0 + off);
    let f = flags0;
    if (i !== n - 1) f &= ~(TCP_FIN | TCP_PSH);
    if (i !== 0) f &= ~TCP_CWR;
    setTcpFlags(out, sTcp, f);
    fillTcpChecksum(out, sIp, sTcp, sPay + len, v6);
    emit(out, s, sPay + len);
  }
  return n;
}
