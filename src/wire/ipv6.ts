/**
 * IPv6 fixed header view (RFC 8200) at the start of the IP header.
 *
 * Layout at `off`: version/traffic class/flow label [0..4), payload length [4], next header [6],
 * hop limit [7], src [8..24), dst [24..40). Extension headers are not walked here.
 * `checkIpv6` validates untrusted input once; accessors are plain reads after that. Only what
 * segmentation uses is here (the forwarders do not switch IPv6 yet). Nothing allocates.
 */

import { writeU16, writeU32 } from './bytes.js';

export const IPV6_HLEN = 40;

/** True when b[off..end) starts with a version-6 header of 40 bytes. */
export function checkIpv6(b: Uint8Array, off: number, end: number): boolean {
  return off >= 0 && end <= b.length && end - off >= IPV6_HLEN && ipv6Version(b, off) === 6;
}

export function ipv6Version(b: Uint8Array, off: number): number { return b[off] >>> 4; }
export function ipv6NextHeader(b: Uint8Array, off: number): number { return b[off + 6]; }

export function setIpv6PayloadLen(b: Uint8Array, off: number, v: number): void { writeU16(b, off + 4, v); }

/**
 * Write an IPv6 header at `off` with the 16-byte addresses copied from src/dst arrays
 * (tests build frames with it); returns off + 40.
 */
export function emitIpv6(b: Uint8Array, off: number, src: Uint8Array, dst: Uint8Array, nextHeader: number,
  payloadLen: number, hopLimit = 64): number {
  writeU32(b, off, 0x60000000);
  setIpv6PayloadLen(b, off, payloadLen);
  b[off + 6] = nextHeader & 0xff;
  b[off + 7] = hopLimit & 0xff;
  for (let i = 0; i < 16; i++) { b[off + 8 + i] = src[i]; b[off + 24 + i] = dst[i]; }
  return off + IPV6_HLEN;
}
