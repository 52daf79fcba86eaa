/**
 * ICMP (RFC 792) view at the start of the ICMP header: type [0], code [1], checksum [2],
 * rest of header [4..8) (echo: identifier [4], sequence [6]).
 * `checkIcmp` validates untrusted input once; accessors are plain reads after that.
 */

import { internetChecksum, verifyChecksum } from './checksum.js';

export const ICMP_HLEN = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;

export function checkIcmp(b: Uint8Array, off: number, end: number): boolean {
  return off >= 0 && end <= b.length && end - off >= ICMP_HLEN;
}

export function icmpType(b: Uint8Array, off: number): number { return b[off]; }
export function icmpCode(b: Uint8Array, off: number): number { return b[off + 1]; }
export function icmpChecksum(b: Uint8Array, off: number): number { return b[off + 2] << 8 | b[off + 3]; }
export function icmpEchoId(b: Uint8Array, off: number): number { return b[off + 4] << 8 | b[off + 5]; }
export function icmpEchoSeq(b: Uint8Array, off: number): number { return b[off + 6] << 8 | b[off + 7]; }

/** Write an echo request/reply header (checksum 0) at `off`; returns off + 8. */
export function emitIcmpEcho(b: Uint8Array, off: number, type: number, id: number, seq: number): number {
  b[off] = type & 0xff; b[off + 1] = 0; b[off + 2] = 0; b[off + 3] = 0;
  b[off + 4] = id >>> 8 & 0xff; b[off + 5] = id & 0xff;
  b[off + 6] = seq >>> 8 & 0xff; b[off + 7] = seq & 0xff;
  return off + ICMP_HLEN;
}

/** Compute and write the checksum over the whole message b[off..end). */
export function fillIcmpChecksum(b: Uint8Array, off: number, end: number): void {
  b[off + 2] = 0; b[off + 3] = 0;
  const c = internetChecksum(b, off, end);
  b[off + 2] = c >>> 8; b[off + 3] = c & 0xff;
}

export function verifyIcmpChecksum(b: Uint8Array, off: number, end: number): boolean {
  return verifyChecksum(b, off, end);
}
