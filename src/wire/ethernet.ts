/**
 * Ethernet II header view, with 802.1Q / 802.1ad tag awareness.
 *
 * Layout at `off`: dst MAC [0..6), src MAC [6..12), ethertype [12..14). When the ethertype is
 * 0x8100 (802.1Q) or 0x88a8 (802.1ad), a 4-byte tag follows (TCI, then the inner ethertype),
 * and the payload starts 4 bytes later. Only one tag is parsed; a second (QinQ) tag is reported
 * through `ethPayloadType` returning a tag type.
 *
 * `checkEthernet` validates untrusted lengths once; every other reader is a plain read that
 * assumes it passed. MACs are 48-bit numbers (see addr.ts). Nothing allocates.
 */

import { readMac, writeMac } from './addr.js';

export const ETH_HLEN = 14;
export const ETH_VLAN_HLEN = 18;
export const ETH_ALEN = 6;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;

/** Length of the Ethernet header at b[off..end): 14, 18 with one VLAN tag; -1 when truncated. */
export function checkEthernet(b: Uint8Array, off: number, end: number): number {
  if (off < 0 || end > b.length || end - off < ETH_HLEN) return -1;
  const t = b[off + 12] << 8 | b[off + 13];
  if (t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ) return end - off < ETH_VLAN_HLEN ? -1 : ETH_VLAN_HLEN;
  return ETH_HLEN;
}

export function ethDst(b: Uint8Array, off: number): number {
  return readMac(b, off);
}

export function ethSrc(b: Uint8Array, off: number): number {
  return readMac(b, off + 6);
}

/** The outer ethertype (0x8100 for a tagged frame). */
export function ethType(b: Uint8Array, off: number): number {
  return b[off + 12] << 8 | b[off + 13];
}

/** True when the frame carries an 802.1Q or 802.1ad tag. */
export function ethIsTagged(b: Uint8Array, off: number): boolean {
  const t = b[off + 12] << 8 | b[off + 13];
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ;
}

/** VLAN id of a tagged frame (12 bits of the TCI); -1 when untagged. */
export function ethVlanId(b: Uint8Array, off: number): number {
  return ethIsTagged(b, off) ? (b[off + 14] << 8 | b[off + 15]) & 0x0fff : -1;
}

/** VLAN priority (PCP, 3 bits) of a tagged frame; -1 when untagged. */
export function ethVlanPcp(b: Uint8Array, off: number): number {
  return ethIsTagged(b, off) ? b[off + 14] >>> 5 : -1;
}

/** The ethertype of the payload: the inner one when tagged (requires checkEthernet === 18). */
export function ethPayloadType(b: Uint8Array, off: number): number {
  const t = b[off + 12] << 8 | b[off + 13];
  if (t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ) return b[off + 16] << 8 | b[off + 17];
  return t;
}

/** True when the destination MAC is a group address (multicast or broadcast). */
export function ethDstIsGroup(b: Uint8Array, off: number): boolean {
  return (b[off] & 1) === 1;
}

/** True when the destination is ff:ff:ff:ff:ff:ff. */
export function ethDstIsBroadcast(b: Uint8Array, off: number): boolean {
  return (b[off] & b[off + 1] & b[off + 2] & b[off + 3] & b[off + 4] & b[off + 5]) === 0xff;
}

/** True when the source MAC is a group address or all zero (never a valid sender). */
export function ethSrcIsBad(b: Uint8Array, off: number): boolean {
  return (b[off + 6] & 1) === 1 || (b[off + 6] | b[off + 7] | b[off + 8] | b[off + 9] | b[off + 10] | b[off + 11]) === 0;
}

export function setEthDst(b: Uint8Array, off: number, mac: number): void {
  writeMac(b, off, mac);
}

export function setEthSrc(b: Uint8Array, off: number, mac: number): void {
  writeMac(b, off + 6, mac);
}

/** Write an untagged Ethernet header; returns the payload offset (off + 14). */
export function emitEthernet(b: Uint8Array, off: number, dst: number, src: number, type: number): number {
  writeMac(b, off, dst);
  writeMac(b, off + 6, src);
  b[off + 12] = type >>> 8 & 0xff;
  b[off + 13] = type & 0xff;
  return off + ETH_HLEN;
}

/** Write an 802.1Q-tagged Ethernet header; returns the payload offset (off + 18). */
export function emitEthernetVlan(b: Uint8Array, off: number, dst: number, src: number, vid: number, pcp: number, type: number): number {
  writeMac(b, off, dst);
  writeMac(b, off + 6, src);
  b[off + 12] = 0x81;
  b[off + 13] = 0x00;
  const tci = (pcp & 7) << 13 | vid & 0x0fff;
  b[off + 14] = tci >>> 8;
  b[off + 15] = tci & 0xff;
  b[off + 16] = type >>> 8 & 0xff;
  b[off + 17] = type & 0xff;
  return off + ETH_VLAN_HLEN;
}
