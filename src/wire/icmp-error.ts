/**
 * The ICMP errors a layer-3 hop sends when a packet is larger than the next link's MTU, built
 * allocation-free into a caller's buffer: ICMPv4 Destination Unreachable / Fragmentation
 * Needed and DF Set (type 3 code 4, RFC 792 with RFC 1191's next-hop MTU) and ICMPv6 Packet
 * Too Big (type 2 code 0, RFC 4443 3.2). Both quote the packet that did not fit, as much of it
 * as keeps the error within 576 bytes (IPv4, RFC 1812 4.3.2.3) or 1280 bytes (IPv6, RFC 4443
 * 2.4(c)), so the sender matches the error to its socket.
 *
 * The switch has no address of its own on the guests' subnet, so the error comes from the
 * address the packet was sent to (the caller chooses: the emitters take the source for IPv4,
 * IPv6 uses the quoted packet's destination). Both emitters write the IP packet at `off`
 * (header, ICMP message with its checksum, the quote) and return its end; `out` must hold
 * FRAG_NEEDED_MAX or PACKET_TOO_BIG_MAX bytes from `off`.
 *
 * Whether an error may be sent at all (RFC 1812 4.3.2.7, RFC 4443 2.4(e)): fragNeededAllowed
 * and packetTooBigAllowed take the quoted packet (its IP header at `ip`, validated by
 * checkIpv4 / checkIpv6) and refuse: a packet without DF (IPv4: a router fragments it
 * instead), a fragment other than the first, a source that is unspecified, loopback, multicast
 * or broadcast (nobody to tell), a multicast or broadcast destination (no address to answer
 * from), and an ICMP error message (IPv4 types 3, 4, 5, 11, 12 and unknown types; ICMPv6
 * types below 128), so errors never answer errors.
 * Readers for the receiving side: fragNeededMtu / packetTooBigMtu at the ICMP header.
 * Nothing here allocates or throws; callers pass ranges they have checked.
 */
import { internetChecksum, pseudoSum6 } from './checksum.js';
import { readU32, writeU32 } from './bytes.js';
import { IpProto, Ipv4, fillIpv4Checksum } from './ipv4.js';
import { IPV6_HLEN } from './ipv6.js';

/** ICMP Destination Unreachable (RFC 792), and its code 4: fragmentation needed and DF set. */
export const ICMP_DEST_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMPV6_PACKET_TOO_BIG = 2;

/** Largest IPv4 error packet (RFC 1812 4.3.2.3). */
export const FRAG_NEEDED_MAX = 576;
/** Largest ICMPv6 error packet: the IPv6 minimum MTU (RFC 4443 2.4(c)). */
export const PACKET_TOO_BIG_MAX = 1280;

const ICMP_ERR_HLEN = 8;
/** IP TOS of ICMP errors: precedence "internetwork control", as Linux sends them. */
const TOS_INTERNETWORK_CONTROL = 0xc0;
const ERROR_TTL = 64;

/**
 * ICMPv4 Fragmentation Needed at out[off..): from `src` (uint32) to the quoted packet's
 * source, next-hop MTU `mtu`, quoting orig[ip..end). Returns the end of the written packet.
 */
export function emitFragNeeded(out: Uint8Array, off: number, orig: Uint8Array, ip: number, end: number,
  src: number, mtu: number): number {
  let quote = end - ip;
  if (quote > FRAG_NEEDED_MAX - Ipv4.MinHeaderLen - ICMP_ERR_HLEN) quote = FRAG_NEEDED_MAX - Ipv4.MinHeaderLen - ICMP_ERR_HLEN;
  const total = Ipv4.MinHeaderLen + ICMP_ERR_HLEN + quote;
  out[off] = 0x45; out[off + 1] = TOS_INTERNETWORK_CONTROL;
  out[off + 2] = total >>> 8; out[off + 3] = total & 0xff;
  out[off + 4] = 0; out[off + 5] = 0; out[off + 6] = 0; out[off + 7] = 0;
  out[off + 8] = ERROR_TTL; out[off + 9] = IpProto.Icmp;
  writeU32(out, off + 12, src >>> 0);
  for (let i = 0; i < 4; i++) out[off + 16 + i] = orig[ip + 12 + i];
  fillIpv4Checksum(out, off);
  const icmp = off + Ipv4.MinHeaderLen;
  out[icmp] = ICMP_DEST_UNREACH; out[icmp + 1] = ICMP_FRAG_NEEDED;
  out[icmp + 2] = 0; out[icmp + 3] = 0; out[icmp + 4] = 0; out[icmp + 5] = 0;
  out[icmp + 6] = mtu >>> 8 & 0xff; out[icmp + 7] = mtu & 0xff;
  copy(out, icmp + ICMP_ERR_HLEN, orig, ip, quote);
  const c = internetChecksum(out, icmp, icmp + ICMP_ERR_HLEN + quote);
  out[icmp + 2] = c >>> 8; out[icmp + 3] = c & 0xff;
  return off + total;
}

/**
 * ICMPv6 Packet Too Big at out[off..): from the quoted packet's destination to its source,
 * MTU `mtu`, quoting orig[ip..end). Returns the end of the written packet.
 */
export function emitPacketTooBig(out: Uint8Array, off: number, orig: Uint8Array, ip: number, end: number,
  mtu: number): number {
  let quote = end - ip;
  if (quote > PACKET_TOO_BIG_MAX - IPV6_HLEN - ICMP_ERR_HLEN) quote = PACKET_TOO_BIG_MAX - IPV6_HLEN - ICMP_ERR_HLEN;
  const plen = ICMP_ERR_HLEN + quote;
  out[off] = 0x60; out[off + 1] = 0; out[off + 2] = 0; out[off + 3] = 0;
  out[off + 4] = plen >>> 8; out[off + 5] = plen & 0xff;
  out[off + 6] = IpProto.Icmpv6; out[off + 7] = ERROR_TTL;
  for (let i = 0; i < 16; i++) {
    out[off + 8 + i] = orig[ip + 24 + i];
    out[off + 24 + i] = orig[ip + 8 + i];
  }
  const icmp = off + IPV6_HLEN;
  out[icmp] = ICMPV6_PACKET_TOO_BIG; out[icmp + 1] = 0;
  out[icmp + 2] = 0; out[icmp + 3] = 0;
  writeU32(out, icmp + 4, mtu >>> 0);
  copy(out, icmp + ICMP_ERR_HLEN, orig, ip, quote);
  const c = internetChecksum(out, icmp, icmp + plen, pseudoSum6(out, off, IpProto.Icmpv6, plen));
  out[icmp + 2] = c >>> 8; out[icmp + 3] = c & 0xff;
  return icmp + plen;
}

/** The next-hop MTU of a Fragmentation Needed message whose ICMP header is at `icmp`. */
export function fragNeededMtu(b: Uint8Array, icmp: number): number {
  return b[icmp + 6] << 8 | b[icmp + 7];
}

/** The MTU of a Packet Too Big message whose ICMPv6 header is at `icmp`. */
export function packetTooBigMtu(b: Uint8Array, icmp: number): number {
  return readU32(b, icmp + 4);
}

/** May a Fragmentation Needed be sent about the IPv4 packet b[ip..end)? (see the file comment) */
export function fragNeededAllowed(b: Uint8Array, ip: number, end: number): boolean {
  if ((b[ip + 6] & 0x40) === 0) return false; // no DF: fragment instead
  if (((b[ip + 6] & 0x1f) | b[ip + 7]) !== 0) return false; // not the first fragment
  const s = b[ip + 12], d = b[ip + 16];
  if (s === 0 || s === 127 || s >= 224) return false; // 0/8, loopback, multicast, class E, broadcast
  if (d >= 224) return false;
  if (b[ip + 9] === IpProto.Icmp) {
    const at = ip + ((b[ip] & 0x0f) << 2);
    if (at >= end) return false;
    const t = b[at];
    if (t > 18 || t === 3 || t === 4 || t === 5 || t === 11 || t === 12) return false;
  }
  return true;
}

/** May a Packet Too Big be sent about the IPv6 packet b[ip..end)? (see the file comment) */
export function packetTooBigAllowed(b: Uint8Array, ip: number, end: number): boolean {
  if (b[ip + 8] === 0xff || b[ip + 24] === 0xff) return false; // multicast source or destination
  let unspecified = true, loopback = true;
  for (let i = 0; i < 16; i++) {
    const v = b[ip + 8 + i];
    if (v !== 0) unspecified = false;
    if (v !== (i === 15 ? 1 : 0)) loopback = false;
  }
  if (unspecified || loopback) return false;
  if (b[ip + 6] === IpProto.Icmpv6) {
    const at = ip + IPV6_HLEN;
    if (at >= end || b[at] < 128) return false;
  }
  return true;
}

function copy(out: Uint8Array, to: number, src: Uint8Array, from: number, n: number): void {
  for (let i = 0; i < n; i++) out[to + i] = src[from + i];
}
