/**
 * IPv6 header view (RFC 8200) at the start of the IP header, its extension-header chain, and
 * IPv6 addresses in the forwarding core's form.
 *
 * Layout at `off`: version/traffic class/flow label [0..4), payload length [4], next header [6],
 * hop limit [7], src [8..24), dst [24..40).
 * `checkIpv6` validates the fixed header of untrusted input once (`checkIpv6Length` the payload
 * length, separately: an offloaded TCP super-frame may carry another); accessors are plain reads
 * after that.
 *
 * `ipv6UpperLayer` walks the extension headers (hop-by-hop, routing, fragment, destination
 * options, AH) to the upper-layer header, within the packet: a chain that runs past the packet
 * or is longer than MAX_EXT_HEADERS headers is malformed (-1), so the walk is bounded work on
 * any input. Its answer packs three numbers into one int32 (nothing allocated): the upper
 * layer's offset (upperOffset), whether a fragment header was passed (upperIsFragment) and the
 * upper-layer protocol (upperProto); a fragment that is not the first one ends the walk with
 * protocol NH_FRAGMENT (its payload is not a header).
 *
 * Addresses in the forwarding core are four int32 words (big-endian, word 0 first: 2001:db8::1
 * is 0x20010db8, 0, 0, 1), read with ipv6SrcWord / ipv6DstWord; the control plane and the
 * data-plane messages carry them as 32 hex digits (ip6Hex, the canonical text with formatIpv6,
 * parseIpv6 for untrusted text). Nothing on the per-frame path allocates.
 */

import { readI32, readU16, writeU16, writeU32 } from './bytes.js';

export const IPV6_HLEN = 40;

/** Next-header values of the extension headers the walk knows (RFC 8200 4, RFC 4302). */
export const enum Nh {
  HopByHop = 0,
  Routing = 43,
  Fragment = 44,
  Esp = 50,
  Ah = 51,
  NoNext = 59,
  DestOpts = 60,
}

/** The longest extension-header chain walked (RFC 8200 allows each at most twice; 8 is generous). */
export const MAX_EXT_HEADERS = 8;

/** Bit of an ipv6UpperLayer answer: a fragment header was passed. */
const UPPER_FRAG = 0x100;

/** True when b[off..end) starts with a version-6 header of 40 bytes. */
export function checkIpv6(b: Uint8Array, off: number, end: number): boolean {
  return off >= 0 && end <= b.length && end - off >= IPV6_HLEN && ipv6Version(b, off) === 6;
}

/** True when the payload length fits the bytes present (Ethernet padding may follow it). */
export function checkIpv6Length(b: Uint8Array, off: number, end: number): boolean {
  return IPV6_HLEN + ipv6PayloadLen(b, off) <= end - off;
}

export function ipv6Version(b: Uint8Array, off: number): number { return b[off] >>> 4; }
export function ipv6PayloadLen(b: Uint8Array, off: number): number { return readU16(b, off + 4); }
export function ipv6NextHeader(b: Uint8Array, off: number): number { return b[off + 6]; }
export function ipv6HopLimit(b: Uint8Array, off: number): number { return b[off + 7]; }
/** The end of the packet at `off` (its payload length; checkIpv6Length passed). */
export function ipv6End(b: Uint8Array, off: number): number { return off + IPV6_HLEN + readU16(b, off + 4); }

/** Word i (0..3) of the source address, int32 form. */
export function ipv6SrcWord(b: Uint8Array, off: number, i: number): number { return readI32(b, off + 8 + 4 * i); }
/** Word i (0..3) of the destination address, int32 form. */
export function ipv6DstWord(b: Uint8Array, off: number, i: number): number { return readI32(b, off + 24 + 4 * i); }

export function setIpv6PayloadLen(b: Uint8Array, off: number, v: number): void { writeU16(b, off + 4, v); }

/** True when the 16 bytes at `at` are all zero (the unspecified address ::). */
export function ipv6IsUnspecified(b: Uint8Array, at: number): boolean {
  let v = 0;
  for (let i = 0; i < 16; i++) v |= b[at + i];
  return v === 0;
}

/** True when the 16 bytes at `at` are equal to those at `other`. */
export function ipv6Equal(b: Uint8Array, at: number, c: Uint8Array, other: number): boolean {
  for (let i = 0; i < 16; i++) if (b[at + i] !== c[other + i]) return false;
  return true;
}

/** Copy 16 address bytes from c[from..] to b[to..]. */
export function copyIpv6(b: Uint8Array, to: number, c: Uint8Array, from: number): void {
  for (let i = 0; i < 16; i++) b[to + i] = c[from + i];
}

/** Write an address from its four words at `at`. */
export function writeIpv6Words(b: Uint8Array, at: number, w0: number, w1: number, w2: number, w3: number): void {
  writeU32(b, at, w0);
  writeU32(b, at + 4, w1);
  writeU32(b, at + 8, w2);
  writeU32(b, at + 12, w3);
}

/**
 * Walk the extension headers of the packet b[off..end) (checkIpv6 passed; `end` is the
 * packet's end: its payload length, or the frame's end for a super-frame). Returns the packed
 * answer (upperOffset, upperIsFragment, upperProto) or -1 when the chain is malformed: a header
 * that does not fit before `end`, or more than MAX_EXT_HEADERS of them.
 */
export function ipv6UpperLayer(b: Uint8Array, off: number, end: number): number {
  let nh = b[off + 6];
  let p = off + IPV6_HLEN;
  let frag = 0;
  for (let n = 0; n <= MAX_EXT_HEADERS; n++) {
    let len: number;
    switch (nh) {
      case Nh.HopByHop:
      case Nh.Routing:
      case Nh.DestOpts:
        if (end - p < 8) return -1;
        len = (b[p + 1] + 1) * 8;
        break;
      case Nh.Fragment:
        if (end - p < 8) return -1;
        frag = UPPER_FRAG;
        if ((readU16(b, p + 2) & 0xfff8) !== 0) return (p + 8) << 9 | frag | Nh.Fragment; // not the first fragment
        len = 8;
        break;
      case Nh.Ah:
        if (end - p < 8) return -1;
        len = (b[p + 1] + 2) * 4;
        break;
      default:
        return p << 9 | frag | nh;
    }
    if (len > end - p) return -1;
    nh = b[p];
    p += len;
  }
  return -1;
}

/** The upper layer's offset of an ipv6UpperLayer answer (>= 0). */
export function upperOffset(r: number): number { return r >>> 9; }
/** The upper-layer protocol of an ipv6UpperLayer answer (Nh.Fragment: a later fragment). */
export function upperProto(r: number): number { return r & 0xff; }
/** Did the walk pass a fragment header? */
export function upperIsFragment(r: number): boolean { return (r & UPPER_FRAG) !== 0; }

/** Where a packet to the destination at b[at..at+16) goes. */
export const enum Ipv6Dst {
  /** One host. */
  Unicast = 0,
  /** A multicast group beyond the link (scope > link-local): its MLD-snooped members. */
  Group = 1,
  /** Every host on the link: ff01::/16 and ff02::/16 (link-scope groups, as IPv4's 224.0.0.0/24). */
  All = 2,
}

/** Classify the destination address at b[at..at+16). */
export function classifyIpv6Addr(b: Uint8Array, at: number): number {
  if (b[at] !== 0xff) return Ipv6Dst.Unicast;
  const scope = b[at + 1] & 0x0f;
  return scope <= 2 ? Ipv6Dst.All : Ipv6Dst.Group;
}

/** Same, for a group in its four-word form (word 0 first). */
export function classifyIpv6Words(w0: number): number {
  if (w0 >>> 24 !== 0xff) return Ipv6Dst.Unicast;
  return (w0 >>> 16 & 0x0f) <= 2 ? Ipv6Dst.All : Ipv6Dst.Group;
}

/** The Ethernet MAC an IPv6 multicast address maps to (RFC 2464 7): 33:33 + its last 32 bits. */
export function ipv6GroupMac(w3: number): number {
  return 0x333300000000 + (w3 >>> 0);
}

/** Word 3 of the solicited-node multicast address of an address whose word 3 is w3 (RFC 4291 2.7.1): ff02::1:ff00:0/104. */
export function solicitedNodeW3(w3: number): number {
  return (0xff000000 | w3 & 0xffffff) | 0;
}
/** Words 0..2 of every solicited-node multicast address. */
export const SOLICITED_W0 = 0xff020000 | 0;
export const SOLICITED_W2 = 1;
/** ff02::1, all nodes: words 0 and 3 (1 and 2 are zero). */
export const ALL_NODES_W0 = 0xff020000 | 0;
export const ALL_NODES_W3 = 1;

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

/** Write an IPv6 header at `off` with addresses as words; returns off + 40. */
export function emitIpv6Words(b: Uint8Array, off: number, nextHeader: number, payloadLen: number, hopLimit: number,
  s0: number, s1: number, s2: number, s3: number, d0: number, d1: number, d2: number, d3: number): number {
  writeU32(b, off, 0x60000000);
  setIpv6PayloadLen(b, off, payloadLen);
  b[off + 6] = nextHeader & 0xff;
  b[off + 7] = hopLimit & 0xff;
  writeIpv6Words(b, off + 8, s0, s1, s2, s3);
  writeIpv6Words(b, off + 24, d0, d1, d2, d3);
  return off + IPV6_HLEN;
}

// ---- text and hex forms (control plane; these allocate) -------------------------------------

/** Parse IPv6 text (RFC 4291 2.2: hex groups, one `::`, an IPv4 tail; no zone) into 16 bytes; null if malformed. */
export function parseIpv6(s: string): Uint8Array | null {
  if (s.length === 0 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  const out = new Uint8Array(16);
  let text = s;
  if (text.includes('.')) {
    const lastColon = text.lastIndexOf(':');
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.slice(lastColon + 1));
    if (lastColon < 0 || !m) return null;
    const o = m.slice(1).map(Number);
    if (o.some((x) => x > 255)) return null;
    text = `${text.slice(0, lastColon + 1)}${(o[0] << 8 | o[1]).toString(16)}:${(o[2] << 8 | o[3]).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (h: string): number[] | null => {
    if (h === '') return [];
    const g = h.split(':');
    const r: number[] = [];
    for (const x of g) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(x)) return null;
      r.push(parseInt(x, 16));
    }
    return r;
  };
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (!head || !rest) return null;
  const n = head.length + rest.length;
  if (halves.length === 2 ? n > 7 : n !== 8) return null;
  const all = [...head, ...new Array<number>(8 - n).fill(0), ...rest];
  for (let i = 0; i < 8; i++) { out[2 * i] = all[i] >> 8; out[2 * i + 1] = all[i] & 0xff; }
  return out;
}

/** The canonical text (RFC 5952: lower case, the longest run of two or more zero groups as `::`). */
export function formatIpv6(a: Uint8Array, at = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(a[at + 2 * i] << 8 | a[at + 2 * i + 1]);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hexs = g.map((x) => x.toString(16));
  if (best < 0) return hexs.join(':');
  return `${hexs.slice(0, best).join(':')}::${hexs.slice(best + bestLen).join(':')}`;
}

/** 32 lower-case hex digits of the 16 bytes at `at` (the data-plane messages' form). */
export function ip6Hex(a: Uint8Array, at = 0): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += a[at + i].toString(16).padStart(2, '0');
  return s;
}

/** The 16 bytes of 32 hex digits; null if malformed. */
export function ip6FromHex(h: string): Uint8Array | null {
  if (!/^[0-9a-f]{32}$/.test(h)) return null;
  const a = new Uint8Array(16);
  for (let i = 0; i < 16; i++) a[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return a;
}

/** 32 hex digits from the four words. */
export function ip6HexOfWords(w0: number, w1: number, w2: number, w3: number): string {
  return [w0, w1, w2, w3].map((w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
}

/** The four words (int32 form) of 16 bytes. */
export function ip6Words(a: Uint8Array): [number, number, number, number] {
  return [readI32(a, 0), readI32(a, 4), readI32(a, 8), readI32(a, 12)];
}

/** Is the address link-local unicast (fe80::/10)? */
export function ipv6IsLinkLocal(a: Uint8Array): boolean {
  return a[0] === 0xfe && (a[1] & 0xc0) === 0x80;
}
