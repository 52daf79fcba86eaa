/**
 * Ethernet II header view, with 802.1Q / 802.1ad tag awareness.
 *
 * Layout at `off`: dst MAC [0..6), src MAC [6..12), ethertype [12..14). When the ethertype is
 * 0x8100 (802.1Q) or 0x88a8 (802.1ad), a 4-byte tag follows (TCI, then the inner ethertype),
 * and the payload starts 4 bytes later. Only one tag is parsed; a second (QinQ) tag is reported
 * through `ethPayloadType` returning a tag type.
 *
 * `checkEthernet` validates untrusted lengths once (`ethHeaderFits` only the untagged 14 bytes,
 * for code that reads no further than the ethertype); every other reader is a plain read that
 * assumes it passed. MACs are 48-bit numbers, or on the hot path two 24-bit halves (addr.ts):
 * the readers and setters the forwarders use (ethSrcHi, setEthDstHL, ...) take that form.
 *
 * Accessors the forwarders call per frame (ethHeaderFits, ethSrcIsBad, ethType, ethDstHi, ...)
 * read their bytes directly rather than through addr.ts or bytes.ts: every nested call spends
 * some of the caller's inlining budget in V8 (920 bytes of bytecode per optimized function)
 * and a target check per frame, and on the forwarding path that showed in the frame rate
 * (bench/forward.ts). The other functions compose.
 *
 * The VLAN tag: `ethVlanTci` reads it (the TCI: PCP 3 bits, DEI 1 bit, VID 12 bits; -1 when
 * untagged), `vlanTci` builds one, `insertVlanTag` and `stripVlanTag` add or remove an 802.1Q
 * tag in place by moving the 12 MAC bytes 4 bytes towards or away from the payload (the
 * payload never moves); both return the frame's new start. Nothing allocates.
 *
 * The sizes and ethertypes are const enums, like every wire constant the forwarders use per
 * frame: tsc writes the number where it is used, so the hot path loads no module variable
 * (V8 in Node 20 does not fold an imported constant: each use is a load and a check).
 */

import * as addr from './addr.js';
import { moveBytes, readU16, writeU16 } from './bytes.js';

// Called per frame (setEthSrcHL), so bound as module constants: see src/forward/ip-switch.ts.
const { writeMac, writeMacHL } = addr;

/** Ethernet sizes (a const enum, see the file comment). */
export const enum Eth {
  /** An untagged header: two MACs and the ethertype. */
  HeaderLen = 14,
  /** A header with one 802.1Q / 802.1ad tag. */
  VlanHeaderLen = 18,
  /** A MAC address, and so the offset of the source MAC. */
  AddrLen = 6,
  /** An 802.1Q tag (TPID and TCI). */
  TagLen = 4,
}

export const enum EtherType {
  Ipv4 = 0x0800,
  Arp = 0x0806,
  Vlan = 0x8100,
  QinQ = 0x88a8,
  Ipv6 = 0x86dd,
}

/** Field offsets from the frame's start. */
const enum Field {
  Type = 12,
  Tci = 14,
  InnerType = 16,
}

/** True when b[off..end) holds an untagged Ethernet header (14 bytes): the MACs and an ethertype. */
export function ethHeaderFits(b: Uint8Array, off: number, end: number): boolean {
  return off >= 0 && end <= b.length && end - off >= Eth.HeaderLen;
}

/** Length of the Ethernet header at b[off..end): 14, 18 with one VLAN tag; -1 when truncated. */
export function checkEthernet(b: Uint8Array, off: number, end: number): number {
  if (!ethHeaderFits(b, off, end)) return -1;
  if (ethIsTagged(b, off)) return end - off < Eth.VlanHeaderLen ? -1 : Eth.VlanHeaderLen;
  return Eth.HeaderLen;
}

/** Destination MAC, first three octets (hot-path form, see addr.ts). */
export function ethDstHi(b: Uint8Array, off: number): number { return b[off] << 16 | b[off + 1] << 8 | b[off + 2]; }
/** Destination MAC, last three octets. */
export function ethDstLo(b: Uint8Array, off: number): number { return b[off + 3] << 16 | b[off + 4] << 8 | b[off + 5]; }
/** Source MAC, first three octets. */
export function ethSrcHi(b: Uint8Array, off: number): number { return b[off + 6] << 16 | b[off + 7] << 8 | b[off + 8]; }
/** Source MAC, last three octets. */
export function ethSrcLo(b: Uint8Array, off: number): number { return b[off + 9] << 16 | b[off + 10] << 8 | b[off + 11]; }

/** The outer ethertype (0x8100 for a tagged frame). */
export function ethType(b: Uint8Array, off: number): number {
  return b[off + Field.Type] << 8 | b[off + Field.Type + 1];
}

/** True when the frame carries an 802.1Q or 802.1ad tag. */
export function ethIsTagged(b: Uint8Array, off: number): boolean {
  const t = ethType(b, off);
  return t === EtherType.Vlan || t === EtherType.QinQ;
}

/** The ethertype of the payload: the inner one when tagged (requires checkEthernet === 18). */
export function ethPayloadType(b: Uint8Array, off: number): number {
  return ethIsTagged(b, off) ? readU16(b, off + Field.InnerType) : ethType(b, off);
}

/** The TCI of a tagged frame (PCP, DEI, VID); -1 when untagged. */
export function ethVlanTci(b: Uint8Array, off: number): number {
  return ethIsTagged(b, off) ? readU16(b, off + Field.Tci) : -1;
}

/** A TCI from a VLAN id and a priority (DEI 0). */
export function vlanTci(vid: number, pcp: number): number {
  return (pcp & 7) << 13 | vid & 0x0fff;
}

/** The one writer of a tag: TPID 0x8100 and `tci` after the MACs of the frame at `off`. */
function writeVlanTag(b: Uint8Array, off: number, tci: number): void {
  writeU16(b, off + Field.Type, EtherType.Vlan);
  writeU16(b, off + Field.Tci, tci);
}

/**
 * Insert an 802.1Q tag with `tci` into the frame at `off`: the MACs move to off - 4, the tag
 * takes their old place before the ethertype. The caller owns the 4 bytes before `off` (a
 * virtio-net header there must be moved first, and its csum_start and hdr_len, which count
 * from the frame's start, grow by 4). Returns the frame's new start (off - 4); its end stays.
 */
export function insertVlanTag(b: Uint8Array, off: number, tci: number): number {
  const start = off - Eth.TagLen;
  moveBytes(b, start, off, Field.Type);
  writeVlanTag(b, start, tci);
  return start;
}

/**
 * Remove the tag of a tagged frame at `off` (ethIsTagged, checkEthernet === 18): the MACs move
 * to off + 4, over the tag, so the inner ethertype follows them. Returns the new start (off + 4).
 */
export function stripVlanTag(b: Uint8Array, off: number): number {
  const start = off + Eth.TagLen;
  moveBytes(b, start, off, Field.Type);
  return start;
}

/** True when the destination MAC is a group address (multicast or broadcast): its I/G bit. */
export function ethDstIsGroup(b: Uint8Array, off: number): boolean {
  return (b[off] & 1) === 1;
}

/** True when the destination is ff:ff:ff:ff:ff:ff. */
export function ethDstIsBroadcast(b: Uint8Array, off: number): boolean {
  return (b[off] & b[off + 1] & b[off + 2] & b[off + 3] & b[off + 4] & b[off + 5]) === 0xff;
}

/** True when the source MAC is a group address or all zero (never a valid sender). */
export function ethSrcIsBad(b: Uint8Array, off: number): boolean {
  const s = off + Eth.AddrLen;
  return (b[s] & 1) === 1 || (b[s] | b[s + 1] | b[s + 2] | b[s + 3] | b[s + 4] | b[s + 5]) === 0;
}

/** Set the destination MAC from its halves (see addr.ts): the MAC writer itself, at the frame's start. */
export const setEthDstHL: (b: Uint8Array, off: number, hi: number, lo: number) => void = writeMacHL;

/** Set the source MAC from its halves (spelled out: a per-frame accessor). */
export function setEthSrcHL(b: Uint8Array, off: number, hi: number, lo: number): void {
  b[off + 6] = hi >> 16; // a Uint8Array store keeps the low 8 bits
  b[off + 7] = hi >> 8;
  b[off + 8] = hi;
  b[off + 9] = lo >> 16;
  b[off + 10] = lo >> 8;
  b[off + 11] = lo;
}

/** Write an untagged Ethernet header; returns the payload offset (off + 14). */
export function emitEthernet(b: Uint8Array, off: number, dst: number, src: number, type: number): number {
  writeMac(b, off, dst);
  writeMac(b, off + Eth.AddrLen, src);
  writeU16(b, off + Field.Type, type);
  return off + Eth.HeaderLen;
}

/** Write an 802.1Q-tagged Ethernet header; returns the payload offset (off + 18). */
export function emitEthernetVlan(b: Uint8Array, off: number, dst: number, src: number, vid: number, pcp: number, type: number): number {
  writeMac(b, off, dst);
  writeMac(b, off + Eth.AddrLen, src);
  writeVlanTag(b, off, vlanTci(vid, pcp));
  writeU16(b, off + Field.InnerType, type);
  return off + Eth.VlanHeaderLen;
}
