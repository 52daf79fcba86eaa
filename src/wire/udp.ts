/**
 * UDP header view (RFC 768) at the start of the UDP header.
 *
 * Layout at `off`: src port [0], dst port [2], length [4], checksum [6]; 8 bytes.
 * `checkUdp` validates untrusted input once; accessors are plain reads after that.
 */

import { IpProto } from './ipv4.js';
import { internetChecksum, pseudoSum4, pseudoSum6 } from './checksum.js';

export const UDP_HLEN = 8;

/** True when b[off..end) holds a UDP header whose length field fits (>= 8, <= bytes present). */
export function checkUdp(b: Uint8Array, off: number, end: number): boolean {
  if (off < 0 || end > b.length || end - off < UDP_HLEN) return false;
  const len = b[off + 4] << 8 | b[off + 5];
  return len >= UDP_HLEN && len <= end - off;
}

export function udpSrcPort(b: Uint8Array, off: number): number { return b[off] << 8 | b[off + 1]; }
export function udpDstPort(b: Uint8Array, off: number): number { return b[off + 2] << 8 | b[off + 3]; }
export function udpLength(b: Uint8Array, off: number): number { return b[off + 4] << 8 | b[off + 5]; }
export function udpChecksum(b: Uint8Array, off: number): number { return b[off + 6] << 8 | b[off + 7]; }

/** Write a UDP header (checksum 0) at `off` for `payloadLen` bytes of data; returns off + 8. */
export function emitUdp(b: Uint8Array, off: number, srcPort: number, dstPort: number, payloadLen: number): number {
  b[off] = srcPort >>> 8 & 0xff; b[off + 1] = srcPort & 0xff;
  b[off + 2] = dstPort >>> 8 & 0xff; b[off + 3] = dstPort & 0xff;
  const len = UDP_HLEN + payloadLen;
  b[off + 4] = len >>> 8 & 0xff; b[off + 5] = len & 0xff;
  b[off + 6] = 0; b[off + 7] = 0;
  return off + UDP_HLEN;
}

/**
 * Compute and write the UDP checksum over b[udp..udp+length) with the IPv4 (ipv6=false) or IPv6
 * pseudo-header of the header at `ip`. A computed 0 is sent as 0xffff (RFC 768).
 */
export function fillUdpChecksum(b: Uint8Array, ip: number, udp: number, ipv6: boolean): void {
  const len = b[udp + 4] << 8 | b[udp + 5];
  b[udp + 6] = 0; b[udp + 7] = 0;
  const ps = ipv6 ? pseudoSum6(b, ip, IpProto.Udp, len) : pseudoSum4(b, ip, IpProto.Udp, len);
  let c = internetChecksum(b, udp, udp + len, ps);
  if (c === 0) c = 0xffff;
  b[udp + 6] = c >>> 8; b[udp + 7] = c & 0xff;
}
