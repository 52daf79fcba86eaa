/**
 * IPv4 header view (RFC 791) at the start of the IP header.
 *
 * Layout at `off`: version/ihl [0], tos [1], total length [2], id [4], flags/fragment [6],
 * ttl [8], protocol [9], header checksum [10], src [12], dst [16], options [20..ihl*4).
 * `checkIpv4` validates untrusted input once and returns the header length; accessors are plain
 * reads after that. Total length is checked separately (`checkIpv4Length`) because offloaded
 * TCP super-frames may carry 0 or a mismatched total length.
 */

import { readIpv4, writeIpv4 } from './addr.js';
import { internetChecksum, verifyChecksum } from './checksum.js';

export const IPV4_MIN_HLEN = 20;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPV4_BROADCAST = 0xffffffff;

/** Header length of the IPv4 packet at b[off..end) (version 4, ihl >= 5, fits); -1 if not. */
export function checkIpv4(b: Uint8Array, off: number, end: number): number {
  if (off < 0 || end > b.length || end - off < IPV4_MIN_HLEN) return -1;
  const v = b[off];
  if (v >>> 4 !== 4) return -1;
  const hl = (v & 0x0f) << 2;
  if (hl < IPV4_MIN_HLEN || hl > end - off) return -1;
  return hl;
}

/** True when total length is consistent: >= header length and <= the bytes present. */
export function checkIpv4Length(b: Uint8Array, off: number, end: number): boolean {
  const tl = b[off + 2] << 8 | b[off + 3];
  return tl >= (b[off] & 0x0f) << 2 && tl <= end - off;
}

export function ipv4Version(b: Uint8Array, off: number): number { return b[off] >>> 4; }
export function ipv4HeaderLen(b: Uint8Array, off: number): number { return (b[off] & 0x0f) << 2; }
export function ipv4Tos(b: Uint8Array, off: number): number { return b[off + 1]; }
export function ipv4TotalLen(b: Uint8Array, off: number): number { return b[off + 2] << 8 | b[off + 3]; }
export function ipv4Id(b: Uint8Array, off: number): number { return b[off + 4] << 8 | b[off + 5]; }
/** Flags (DF 0x2, MF 0x1) in the low 3 bits. */
export function ipv4Flags(b: Uint8Array, off: number): number { return b[off + 6] >>> 5; }
/** Fragment offset in 8-byte units. */
export function ipv4FragOffset(b: Uint8Array, off: number): number { return (b[off + 6] & 0x1f) << 8 | b[off + 7]; }
export function ipv4Ttl(b: Uint8Array, off: number): number { return b[off + 8]; }
export function ipv4Protocol(b: Uint8Array, off: number): number { return b[off + 9]; }
export function ipv4Checksum(b: Uint8Array, off: number): number { return b[off + 10] << 8 | b[off + 11]; }
export function ipv4Src(b: Uint8Array, off: number): number { return readIpv4(b, off + 12); }
export function ipv4Dst(b: Uint8Array, off: number): number { return readIpv4(b, off + 16); }

/** True for 224.0.0.0/4. */
export function isIpv4Multicast(ip: number): boolean { return ip >>> 28 === 0xe; }

export function setIpv4TotalLen(b: Uint8Array, off: number, v: number): void { b[off + 2] = v >>> 8 & 0xff; b[off + 3] = v & 0xff; }
export function setIpv4Id(b: Uint8Array, off: number, v: number): void { b[off + 4] = v >>> 8 & 0xff; b[off + 5] = v & 0xff; }
export function setIpv4Ttl(b: Uint8Array, off: number, v: number): void { b[off + 8] = v & 0xff; }
export function setIpv4Src(b: Uint8Array, off: number, ip: number): void { writeIpv4(b, off + 12, ip); }
export function setIpv4Dst(b: Uint8Array, off: number, ip: number): void { writeIpv4(b, off + 16, ip); }

/** Compute the header checksum (over ihl*4 bytes, field taken as zero) without writing it. */
export function computeIpv4Checksum(b: Uint8Array, off: number): number {
  const hl = (b[off] & 0x0f) << 2;
  const saved = b[off + 10] << 8 | b[off + 11];
  b[off + 10] = 0; b[off + 11] = 0;
  const c = internetChecksum(b, off, off + hl);
  b[off + 10] = saved >>> 8; b[off + 11] = saved & 0xff;
  return c;
}

/** Compute and write the header checksum. */
export function fillIpv4Checksum(b: Uint8Array, off: number): void {
  b[off + 10] = 0; b[off + 11] = 0;
  const c = internetChecksum(b, off, off + ((b[off] & 0x0f) << 2));
  b[off + 10] = c >>> 8; b[off + 11] = c & 0xff;
}

/** True when the header checksum is correct. */
export function verifyIpv4Checksum(b: Uint8Array, off: number): boolean {
  return verifyChecksum(b, off, off + ((b[off] & 0x0f) << 2));
}

/**
 * Write a 20-byte IPv4 header (no options, DF set, checksum filled) at `off`; returns off + 20.
 * `payloadLen` is the L4 length; total length = 20 + payloadLen.
 */
export function emitIpv4(b: Uint8Array, off: number, src: number, dst: number, protocol: number,
  payloadLen: number, id = 0, ttl = 64): number {
  b[off] = 0x45; b[off + 1] = 0;
  setIpv4TotalLen(b, off, IPV4_MIN_HLEN + payloadLen);
  setIpv4Id(b, off, id);
  b[off + 6] = 0x40; b[off + 7] = 0;
  b[off + 8] = ttl & 0xff; b[off + 9] = protocol & 0xff;
  writeIpv4(b, off + 12, src);
  writeIpv4(b, off + 16, dst);
  fillIpv4Checksum(b, off);
  return off + IPV4_MIN_HLEN;
}
