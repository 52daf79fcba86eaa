/**
 * ARP for Ethernet/IPv4 (RFC 826), as a view at the start of the ARP payload.
 *
 * Layout at `off`: htype u16 [0], ptype u16 [2], hlen u8 [4], plen u8 [5], op u16 [6],
 * sha [8..14), spa [14..18), tha [18..24), tpa [24..28).
 * `checkArp` validates untrusted input once (htype 1, ptype 0x0800, hlen 6, plen 4, at least
 * 28 bytes); the accessors are plain reads after that. MACs read as 48-bit numbers and are
 * written from their two 24-bit halves (addr.ts); IPv4 addresses read in int32 form (bytes.ts;
 * `>>> 0` gives the uint32 form). `arpReplyInPlace` answers a request in its own buffer;
 * `emitArp`/`emitArpFrame` build a packet/frame in a caller's buffer. Nothing allocates.
 */

import { readMac, writeMac, writeMacHL } from './addr.js';
import { moveBytes, readI32, readU16, writeU16, writeU32 } from './bytes.js';
import { emitEthernet, setEthSrcHL, Eth, EtherType } from './ethernet.js';

/** ARP sizes (const enums, as every wire constant the forwarders use per frame: see ethernet.ts). */
export const enum Arp {
  /** An Ethernet/IPv4 ARP packet. */
  Len = 28,
  /** Its hardware type: Ethernet. */
  HtypeEthernet = 1,
}

export const enum ArpOp {
  Request = 1,
  Reply = 2,
}

/** Field offsets from the ARP packet's start. */
const enum Field {
  Op = 6,
  Sha = 8,
  Spa = 14,
  Tha = 18,
  Tpa = 24,
}

/** True when b[off..end) is an Ethernet/IPv4 ARP packet. */
export function checkArp(b: Uint8Array, off: number, end: number): boolean {
  return off >= 0 && end <= b.length && end - off >= Arp.Len &&
    readU16(b, off) === Arp.HtypeEthernet && readU16(b, off + 2) === EtherType.Ipv4 &&
    b[off + 4] === Eth.AddrLen && b[off + 5] === 4;
}

export function arpOp(b: Uint8Array, off: number): number {
  return readU16(b, off + Field.Op);
}
export function arpSha(b: Uint8Array, off: number): number {
  return readMac(b, off + Field.Sha);
}
export function arpSpa(b: Uint8Array, off: number): number {
  return readI32(b, off + Field.Spa);
}
export function arpTha(b: Uint8Array, off: number): number {
  return readMac(b, off + Field.Tha);
}
export function arpTpa(b: Uint8Array, off: number): number {
  return readI32(b, off + Field.Tpa);
}

/** Set the sender MAC from its halves (addr.ts). */
export function setArpShaHL(b: Uint8Array, off: number, hi: number, lo: number): void {
  writeMacHL(b, off + Field.Sha, hi, lo);
}
/** Set the target MAC from its halves. */
export function setArpThaHL(b: Uint8Array, off: number, hi: number, lo: number): void {
  writeMacHL(b, off + Field.Tha, hi, lo);
}

/**
 * Turn the ARP request in the frame at `eth` (its ARP packet at `arp`) into the reply of the
 * station whose MAC is hi:lo (addr.ts halves) and that holds the requested address, in place:
 * Ethernet dst = the request's Ethernet source, src = that MAC; op reply; tha and tpa = the
 * requester's sha and spa; sha = that MAC, spa = the requested address. The frame's length and
 * every other byte stay.
 */
export function arpReplyInPlace(b: Uint8Array, eth: number, arp: number, hi: number, lo: number): void {
  const requested = readI32(b, arp + Field.Tpa);
  moveBytes(b, eth, eth + Eth.AddrLen, Eth.AddrLen);
  setEthSrcHL(b, eth, hi, lo);
  writeU16(b, arp + Field.Op, ArpOp.Reply);
  moveBytes(b, arp + Field.Tha, arp + Field.Sha, Field.Tha - Field.Sha);
  setArpShaHL(b, arp, hi, lo);
  writeU32(b, arp + Field.Spa, requested);
}

/** Write a 28-byte Ethernet/IPv4 ARP packet at `off`; returns off + 28. */
export function emitArp(b: Uint8Array, off: number, op: number, sha: number, spa: number, tha: number, tpa: number): number {
  writeU16(b, off, Arp.HtypeEthernet);
  writeU16(b, off + 2, EtherType.Ipv4);
  b[off + 4] = Eth.AddrLen;
  b[off + 5] = 4;
  writeU16(b, off + Field.Op, op);
  writeMac(b, off + Field.Sha, sha);
  writeU32(b, off + Field.Spa, spa);
  writeMac(b, off + Field.Tha, tha);
  writeU32(b, off + Field.Tpa, tpa);
  return off + Arp.Len;
}

/**
 * Write an untagged Ethernet frame carrying ARP at `eth` (no padding); returns the frame's end
 * (eth + 42).
 */
export function emitArpFrame(b: Uint8Array, eth: number, dst: number, src: number,
  op: number, sha: number, spa: number, tha: number, tpa: number): number {
  return emitArp(b, emitEthernet(b, eth, dst, src, EtherType.Arp), op, sha, spa, tha, tpa);
}
