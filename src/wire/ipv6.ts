/**
 * IPv6 fixed header view (RFC 8200) at the start of the IP header.
 *
 * Layout at `off`: version/traffic class/flow label [0..4), payload length [4], next header [6],
 * hop limit [7], src [8..24), dst [24..40). Extension headers are not walked here.
 * `checkIpv6` validates untrusted input once; accessors are plain reads after that.
 * Addresses are left in the buffer (128 bits do not fit a number); readers give 32-bit words.
 */

export const IPV6_HLEN = 40;

/** True when b[off..end) starts with a version-6 header of 40 bytes. */
export function checkIpv6(b: Uint8Array, off: number, end: number): boolean {
  return off >= 0 && end <= b.length && end - off >= IPV6_HLEN && b[off] >>> 4 === 6;
}

/** True when payload length fits the bytes present (not for offloaded super-frames). */
export function checkIpv6Length(b: Uint8Array, off: number, end: number): boolean {
  return (b[off + 4] << 8 | b[off + 5]) <= end - off - IPV6_HLEN;
}

export function ipv6Version(b: Uint8Array, off: number): number { return b[off] >>> 4; }
export function ipv6TrafficClass(b: Uint8Array, off: number): number { return (b[off] & 0x0f) << 4 | b[off + 1] >>> 4; }
export function ipv6FlowLabel(b: Uint8Array, off: number): number { return (b[off + 1] & 0x0f) << 16 | b[off + 2] << 8 | b[off + 3]; }
export function ipv6PayloadLen(b: Uint8Array, off: number): number { return b[off + 4] << 8 | b[off + 5]; }
export function ipv6NextHeader(b: Uint8Array, off: number): number { return b[off + 6]; }
export function ipv6HopLimit(b: Uint8Array, off: number): number { return b[off + 7]; }
/** Word i (0..3) of the source address as a uint32. */
export function ipv6SrcWord(b: Uint8Array, off: number, i: number): number {
  const o = off + 8 + i * 4;
  return (b[o] << 24 | b[o + 1] << 16 | b[o + 2] << 8 | b[o + 3]) >>> 0;
}
/** Word i (0..3) of the destination address as a uint32. */
export function ipv6DstWord(b: Uint8Array, off: number, i: number): number {
  const o = off + 24 + i * 4;
  return (b[o] << 24 | b[o + 1] << 16 | b[o + 2] << 8 | b[o + 3]) >>> 0;
}
/** True when the destination is multicast (ff00::/8). */
export function ipv6DstIsMulticast(b: Uint8Array, off: number): boolean { return b[off + 24] === 0xff; }

export function setIpv6PayloadLen(b: Uint8Array, off: number, v: number): void { b[off + 4] = v >>> 8 & 0xff; b[off + 5] = v & 0xff; }

/**
 * Write an IPv6 header at `off` with the 16-byte addresses copied from src/dst arrays
 * (test and CLI helper); returns off + 40.
 */
export function emitIpv6(b: Uint8Array, off: number, src: Uint8Array, dst: Uint8Array, nextHeader: number,
  payloadLen: number, hopLimit = 64): number {
  b[off] = 0x60; b[off + 1] = 0; b[off + 2] = 0; b[off + 3] = 0;
  setIpv6PayloadLen(b, off, payloadLen);
  b[off + 6] = nextHeader & 0xff;
  b[off + 7] = hopLimit & 0xff;
  for (let i = 0; i < 16; i++) { b[off + 8 + i] = src[i]; b[off + 24 + i] = dst[i]; }
  return off + IPV6_HLEN;
}
