/**
 * IPv4 header view (RFC 791) at the start of the IP header, and the classes of destination a
 * switch tells apart.
 *
 * Layout at `off`: version/ihl [0], tos [1], total length [2], id [4], flags/fragment [6],
 * ttl [8], protocol [9], header checksum [10], src [12], dst [16], options [20..ihl*4).
 * `checkIpv4` validates untrusted input once and returns the header length; accessors are plain
 * reads after that. Total length is checked separately (`checkIpv4Length`) because offloaded
 * TCP super-frames may carry 0 or a mismatched total length. Addresses read in the hot path's
 * int32 form (bytes.ts; `>>> 0` gives the uint32 form; 255.255.255.255 reads as -1); the
 * classifiers take either form. Nothing allocates.
 *
 * `classifyIpv4Dst` is the one answer to "who is this packet for": one host, the members of a
 * group, or every host on the link.
 */

import { readU16, writeU16, writeU32 } from './bytes.js';
import { internetChecksum, verifyChecksum } from './checksum.js';
import * as ethernet from './ethernet.js';

// Called per frame (classifyIpv4Dst), so bound as module constants: see src/forward/ip-switch.ts.
const { ethDstIsBroadcast, ethDstIsGroup } = ethernet;

/** IPv4 numbers (const enums, as every wire constant the forwarders use per frame: see ethernet.ts). */
export const enum Ipv4 {
  MinHeaderLen = 20,
  /** 255.255.255.255, uint32 form. */
  Broadcast = 0xffffffff,
  /** ipv4Flags bits. */
  FlagDf = 2,
  FlagMf = 1,
  /** Router Alert (RFC 2113) as the one 4-byte option word emitIpv4Header writes: 94 04 00 00. */
  RouterAlert = 0x94040000,
}

/** IP protocol numbers (IPv4 protocol, IPv6 next header). */
export const enum IpProto {
  Icmp = 1,
  Igmp = 2,
  Tcp = 6,
  Udp = 17,
  Icmpv6 = 58,
}

/** Who a packet is for (classifyIpv4Dst). */
export const enum Ipv4Dst {
  /** One host (a unicast address). */
  Unicast = 0,
  /** The members of a group whose membership is tracked: 224.0.0.0/4 outside 224.0.0.0/24. */
  Group = 1,
  /** Every host on the link: limited broadcast, 224.0.0.0/24, or an Ethernet broadcast. */
  All = 2,
}

/** Header length of the IPv4 packet at b[off..end) (version 4, ihl >= 5, fits); -1 if not. */
export function checkIpv4(b: Uint8Array, off: number, end: number): number {
  const v = b[off]; // undefined outside the buffer: fails the version test
  const hl = (v & 0x0f) << 2;
  return v >> 4 === 4 && hl >= Ipv4.MinHeaderLen && hl <= end - off && end <= b.length ? hl : -1;
}

/** True when total length is consistent: >= header length and <= the bytes present. */
export function checkIpv4Length(b: Uint8Array, off: number, end: number): boolean {
  const tl = b[off + 2] << 8 | b[off + 3];
  return tl >= (b[off] & 0x0f) << 2 && tl <= end - off;
}

export function ipv4HeaderLen(b: Uint8Array, off: number): number { return (b[off] & 0x0f) << 2; }
export function ipv4TotalLen(b: Uint8Array, off: number): number { return readU16(b, off + 2); }
export function ipv4Id(b: Uint8Array, off: number): number { return readU16(b, off + 4); }
/** Flags (Ipv4.FlagDf, Ipv4.FlagMf) in the low 3 bits. */
export function ipv4Flags(b: Uint8Array, off: number): number { return b[off + 6] >>> 5; }
/** Fragment offset in 8-byte units. */
export function ipv4FragOffset(b: Uint8Array, off: number): number { return readU16(b, off + 6) & 0x1fff; }
/** True when the packet is a fragment: more fragments follow, or it is not the first. */
export function ipv4IsFragment(b: Uint8Array, off: number): boolean {
  return (ipv4Flags(b, off) & Ipv4.FlagMf) !== 0 || ipv4FragOffset(b, off) !== 0;
}
export function ipv4Protocol(b: Uint8Array, off: number): number { return b[off + 9]; }
/** Source address, int32 form (spelled out: a per-frame accessor, see ethernet.ts). */
export function ipv4Src(b: Uint8Array, off: number): number {
  return b[off + 12] << 24 | b[off + 13] << 16 | b[off + 14] << 8 | b[off + 15];
}
/** Destination address, int32 form. */
export function ipv4Dst(b: Uint8Array, off: number): number {
  return b[off + 16] << 24 | b[off + 17] << 16 | b[off + 18] << 8 | b[off + 19];
}

export function setIpv4TotalLen(b: Uint8Array, off: number, v: number): void { writeU16(b, off + 2, v); }
export function setIpv4Id(b: Uint8Array, off: number, v: number): void { writeU16(b, off + 4, v); }

/**
 * Who a packet to `dst` (either form) is for, from the address alone: Ipv4Dst.Group for
 * 224.0.0.0/4 (multicast) outside 224.0.0.0/24; Ipv4Dst.All for 224.0.0.0/24 (the local
 * network control block: never routed, never snooped, RFC 4541 2.1.2) and 255.255.255.255;
 * Ipv4Dst.Unicast otherwise.
 */
export function classifyIpv4Addr(dst: number): number {
  if (dst >>> 28 !== 0xe) return (dst | 0) === (Ipv4.Broadcast | 0) ? Ipv4Dst.All : Ipv4Dst.Unicast;
  return dst >>> 8 === 0xe00000 ? Ipv4Dst.All : Ipv4Dst.Group;
}

/**
 * Who the packet to `dst` in the Ethernet frame at `eth` is for: Ipv4Dst.All when the frame
 * went to the Ethernet broadcast address, whatever its IPv4 destination; else classifyIpv4Addr.
 * (The I/G bit is tested first, so the 6-byte broadcast test runs only for group MACs.)
 */
export function classifyIpv4Dst(b: Uint8Array, eth: number, dst: number): number {
  return ethDstIsGroup(b, eth) && ethDstIsBroadcast(b, eth) ? Ipv4Dst.All : classifyIpv4Addr(dst);
}

/** Compute and write the header checksum. */
export function fillIpv4Checksum(b: Uint8Array, off: number): void {
  writeU16(b, off + 10, 0);
  writeU16(b, off + 10, internetChecksum(b, off, off + ipv4HeaderLen(b, off)));
}

/** True when the header checksum is correct. */
export function verifyIpv4Checksum(b: Uint8Array, off: number): boolean {
  return verifyChecksum(b, off, off + ipv4HeaderLen(b, off));
}

/**
 * Write an IPv4 header at `off` (checksum filled); returns the payload offset. `flags` are
 * ipv4Flags bits (fragment offset 0); `option` is 0 for a 20-byte header or one 4-byte option
 * word (Ipv4.RouterAlert) for a 24-byte one. `payloadLen` is what follows the header.
 */
export function emitIpv4Header(b: Uint8Array, off: number, tos: number, flags: number, ttl: number, protocol: number,
  src: number, dst: number, payloadLen: number, id: number, option: number): number {
  const hl = option === 0 ? Ipv4.MinHeaderLen : Ipv4.MinHeaderLen + 4;
  b[off] = 0x40 | hl >>> 2;
  b[off + 1] = tos & 0xff;
  setIpv4TotalLen(b, off, hl + payloadLen);
  setIpv4Id(b, off, id);
  writeU16(b, off + 6, (flags & 7) << 13);
  b[off + 8] = ttl & 0xff;
  b[off + 9] = protocol & 0xff;
  writeU32(b, off + 12, src);
  writeU32(b, off + 16, dst);
  if (option !== 0) writeU32(b, off + Ipv4.MinHeaderLen, option);
  fillIpv4Checksum(b, off);
  return off + hl;
}

/**
 * Write a 20-byte IPv4 header (no options, DF set, checksum filled) at `off`; returns off + 20.
 * `payloadLen` is the L4 length; total length = 20 + payloadLen.
 */
export function emitIpv4(b: Uint8Array, off: number, src: number, dst: number, protocol: number,
  payloadLen: number, id = 0, ttl = 64): number {
  return emitIpv4Header(b, off, 0, Ipv4.FlagDf, ttl, protocol, src, dst, payloadLen, id, 0);
}
