/**
 * ARP for Ethernet/IPv4 (RFC 826), as a view at the start of the ARP payload.
 *
 * Layout at `off`: htype u16 [0], ptype u16 [2], hlen u8 [4], plen u8 [5], op u16 [6],
 * sha [8..14), spa [14..18), tha [18..24), tpa [24..28).
 * `checkArp` validates untrusted input once (htype 1, ptype 0x0800, hlen 6, plen 4, at least
 * 28 bytes); the accessors are plain reads after that. MACs are 48-bit numbers, IPv4 addresses
 * uint32 (addr.ts). `emitArp`/`emitArpFrame` build a packet/frame in a caller's buffer.
 */

import { readIpv4, readMac, writeIpv4, writeMac } from './addr.js';
import { emitEthernet, ETHERTYPE_ARP, ETH_HLEN } from './ethernet.js';

export const ARP_LEN = 28;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;
/** Ethernet frame length of an untagged ARP packet (no padding). */
export const ARP_FRAME_LEN = ETH_HLEN + ARP_LEN;

/** True when b[off..end) is an Ethernet/IPv4 ARP packet. */
export function checkArp(b: Uint8Array, off: number, end: number): boolean {
  return off >= 0 && end <= b.length && end - off >= ARP_LEN &&
    b[off] === 0 && b[off + 1] === 1 && b[off + 2] === 0x08 && b[off + 3] === 0x00 &&
    b[off + 4] === 6 && b[off + 5] === 4;
}

export function arpOp(b: Uint8Array, off: number): number {
  return b[off + 6] << 8 | b[off + 7];
}
export function arpSha(b: Uint8Array, off: number): number {
  return readMac(b, off + 8);
}
export function arpSpa(b: Uint8Array, off: number): number {
  return readIpv4(b, off + 14);
}
export function arpTha(b: Uint8Array, off: number): number {
  return readMac(b, off + 18);
}
export function arpTpa(b: Uint8Array, off: number): number {
  return readIpv4(b, off + 24);
}

export function setArpOp(b: Uint8Array, off: number, op: number): void {
  b[off + 6] = op >>> 8 & 0xff;
  b[off + 7] = op & 0xff;
}
export function setArpSha(b: Uint8Array, off: number, mac: number): void {
  writeMac(b, off + 8, mac);
}
export function setArpSpa(b: Uint8Array, off: number, ip: number): void {
  writeIpv4(b, off + 14, ip);
}
export function setArpTha(b: Uint8Array, off: number, mac: number): void {
  writeMac(b, off + 18, mac);
}
export function setArpTpa(b: Uint8Array, off: number, ip: number): void {
  writeIpv4(b, off + 24, ip);
}

/** Write a 28-byte Ethernet/IPv4 ARP packet at `off`; returns off + 28. */
export function emitArp(b: Uint8Array, off: number, op: number, sha: number, spa: number, tha: number, tpa: number): number {
  b[off] = 0; b[off + 1] = 1; b[off + 2] = 0x08; b[off + 3] = 0x00; b[off + 4] = 6; b[off + 5] = 4;
  setArpOp(b, off, op);
  writeMac(b, off + 8, sha);
  writeIpv4(b, off + 14, spa);
  writeMac(b, off + 18, tha);
  writeIpv4(b, off + 24, tpa);
  return off + ARP_LEN;
}

/**
 * Write an untagged Ethernet frame carrying ARP at `eth` (no padding); returns the frame's end
 * (eth + 42).
 */
export function emitArpFrame(b: Uint8Array, eth: number, dst: number, src: number,
  op: number, sha: number, spa: number, tha: number, tpa: number): number {
  return emitArp(b, emitEthernet(b, eth, dst, src, ETHERTYPE_ARP), op, sha, spa, tha, tpa);
}
