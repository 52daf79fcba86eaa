/**
 * ICMPv6 (RFC 4443) view at the start of the ICMPv6 message, with Neighbor Discovery
 * (RFC 4861: RS, RA, NS, NA, Redirect and their options) and MLD (RFC 2710 v1, RFC 3810 v2).
 *
 * Layout at `icmp`: type [0], code [1], checksum [2], then per type:
 *   RS: reserved [4..8), options from 8.        RA: hop limit [4], flags [5], router lifetime [6],
 *   reachable [8], retrans [12], options from 16.   NS: reserved [4..8), target [8..24), options
 *   from 24.   NA: flags R/S/O [4], target [8..24), options from 24.   Redirect: reserved
 *   [4..8), target [8..24), destination [24..40), options from 40.
 *   Options: type [0], length in 8-byte units [1] (0 is invalid), data; the link-layer address
 *   options (1 source, 2 target) carry a MAC at [2..8) on Ethernet.
 *   MLDv1 (130 query, 131 report, 132 done): max delay [4], reserved [6], group [8..24).
 *   MLDv2 report (143): reserved [4], number of records [6], records from 8: type [0], aux data
 *   length in 32-bit words [1], number of sources [2], group [4..20), sources 16 bytes each, aux.
 *
 * Untrusted input is validated once: `checkIcmpv6` (length and the checksum over the
 * pseudo-header, RFC 8200 8.1), `checkNdp` (RFC 4861's validity rules: hop limit 255, code 0,
 * the type's minimum length, a target that is not multicast, every option of non-zero length
 * and within the message) and `checkMld`; after that the accessors are plain reads. A message
 * ends where the IPv6 payload length says (Ethernet padding may follow). MLDv2 records are
 * walked with `mld2Record*`, each checked against the end; their semantics are IGMPv3's
 * (igmpv3RecordAction in igmp.ts: the record types are the same numbers). Addresses read as
 * int32 words (ipv6.ts). Writers (`emitNa`, `rewriteLinkLayerOptions`) fill the checksum.
 * Nothing allocates.
 */

import { readI32, readU16, writeU16 } from './bytes.js';
import { internetChecksum, pseudoSum6, sum16, fold16 } from './checksum.js';
import { writeMacHL } from './addr.js';
import { emitIpv6Words, writeIpv6Words, IPV6_HLEN, SOLICITED_W0, SOLICITED_W2, solicitedNodeW3 } from './ipv6.js';

/** The ICMPv6 next header, and the types the switch tells apart. */
export const enum Icmp6 {
  NextHeader = 58,
  DestUnreachable = 1,
  PacketTooBig = 2,
  TimeExceeded = 3,
  ParamProblem = 4,
  EchoRequest = 128,
  EchoReply = 129,
  MldQuery = 130,
  MldReport = 131,
  MldDone = 132,
  RouterSolicit = 133,
  RouterAdvert = 134,
  NeighborSolicit = 135,
  NeighborAdvert = 136,
  Redirect = 137,
  Mld2Report = 143,
}

/** NDP option types and NA flags. */
export const enum Ndp {
  OptSourceLla = 1,
  OptTargetLla = 2,
  /** An Ethernet link-layer address option: type, length 1, six MAC bytes. */
  LlaOptLen = 8,
  FlagRouter = 0x80,
  FlagSolicited = 0x40,
  FlagOverride = 0x20,
  HopLimit = 255,
  /** An NA with a target link-layer address option (and an NS with a source one): 24 + 8 bytes. */
  NaLen = 32,
}

/** Minimum MLDv1 message (and v2 query) length. */
export const MLD_MIN_LEN = 24;

/** True when b[icmp..end) holds an ICMPv6 message of at least 4 bytes whose checksum (pseudo-header of the IPv6 header at `ip`) is right. */
export function checkIcmpv6(b: Uint8Array, ip: number, icmp: number, end: number): boolean {
  if (!(icmp >= 0) || end > b.length || end - icmp < 4) return false;
  return fold16(sum16(b, icmp, end, pseudoSum6(b, ip, Icmp6.NextHeader, end - icmp))) === 0xffff;
}

export function icmp6Type(b: Uint8Array, icmp: number): number { return b[icmp]; }
export function icmp6Code(b: Uint8Array, icmp: number): number { return b[icmp + 1]; }

/** Is `type` one of the Neighbor Discovery messages (133..137)? */
export function isNdp(type: number): boolean {
  return type >= Icmp6.RouterSolicit && type <= Icmp6.Redirect;
}

/** Is `type` an MLD listener message (130, 131, 132, 143)? */
export function isMld(type: number): boolean {
  return type === Icmp6.MldQuery || type === Icmp6.MldReport || type === Icmp6.MldDone || type === Icmp6.Mld2Report;
}

/** Where the options of an NDP message of `type` start (from the message's start); -1 for other types. */
export function ndpOptionsAt(type: number): number {
  switch (type) {
    case Icmp6.RouterSolicit: return 8;
    case Icmp6.RouterAdvert: return 16;
    case Icmp6.NeighborSolicit:
    case Icmp6.NeighborAdvert: return 24;
    case Icmp6.Redirect: return 40;
    default: return -1;
  }
}

/** True when the options b[at..end) are whole: each of non-zero length and within `end`. */
export function ndpOptionsOk(b: Uint8Array, at: number, end: number): boolean {
  let p = at;
  while (p < end) {
    if (end - p < 2) return false;
    const len = b[p + 1] * 8;
    if (len === 0 || len > end - p) return false;
    p += len;
  }
  return true;
}

/**
 * RFC 4861's validity checks of the NDP message b[icmp..end) in the IPv6 packet at `ip`
 * (checkIcmpv6 passed): hop limit 255, code 0, the type's minimum length, options whole, a
 * target (NS, NA) that is not multicast; an NS from :: goes to a solicited-node group.
 */
export function checkNdp(b: Uint8Array, ip: number, icmp: number, end: number): boolean {
  const type = b[icmp];
  const opts = ndpOptionsAt(type);
  if (opts < 0 || b[ip + 7] !== Ndp.HopLimit || b[icmp + 1] !== 0 || end - icmp < opts) return false;
  if (!ndpOptionsOk(b, icmp + opts, end)) return false;
  if (type === Icmp6.NeighborSolicit || type === Icmp6.NeighborAdvert) {
    if (b[icmp + 8] === 0xff) return false;
  }
  return true;
}

/** Offset of the first option of `optType` in the NDP message (checkNdp passed), or -1. */
export function ndpFindOption(b: Uint8Array, icmp: number, end: number, optType: number): number {
  let p = icmp + ndpOptionsAt(b[icmp]);
  while (p + 2 <= end) {
    const len = b[p + 1] * 8;
    if (len === 0) return -1;
    if (b[p] === optType) return p;
    p += len;
  }
  return -1;
}

/** The MAC of an Ethernet link-layer address option at `opt` (length 1), first three octets. */
export function llaMacHi(b: Uint8Array, opt: number): number { return b[opt + 2] << 16 | b[opt + 3] << 8 | b[opt + 4]; }
/** Its last three octets. */
export function llaMacLo(b: Uint8Array, opt: number): number { return b[opt + 5] << 16 | b[opt + 6] << 8 | b[opt + 7]; }
/** Is the option at `opt` an Ethernet link-layer address option (length 1 unit)? */
export function llaIsEthernet(b: Uint8Array, opt: number): boolean { return b[opt + 1] === 1; }

/** Word i (0..3) of the target address of an NS, NA or Redirect. */
export function ndpTargetWord(b: Uint8Array, icmp: number, i: number): number { return readI32(b, icmp + 8 + 4 * i); }
/** Word i of a Redirect's destination address. */
export function redirectDstWord(b: Uint8Array, icmp: number, i: number): number { return readI32(b, icmp + 24 + 4 * i); }
/** The flags byte of an NA (Ndp.FlagRouter, FlagSolicited, FlagOverride). */
export function naFlags(b: Uint8Array, icmp: number): number { return b[icmp + 4]; }
/** An RA's router lifetime in seconds (0: not a default router). */
export function raRouterLifetime(b: Uint8Array, icmp: number): number { return readU16(b, icmp + 6); }

/** Compute and write the checksum of the ICMPv6 message b[icmp..end) in the IPv6 packet at `ip`. */
export function fillIcmpv6Checksum(b: Uint8Array, ip: number, icmp: number, end: number): void {
  writeU16(b, icmp + 2, 0);
  writeU16(b, icmp + 2, internetChecksum(b, icmp, end, pseudoSum6(b, ip, Icmp6.NextHeader, end - icmp)));
}

/**
 * Set the MAC of every Ethernet link-layer address option of `optType` in the NDP message
 * (checkNdp passed) to hi:lo and fix the checksum; returns how many there were.
 */
export function rewriteLinkLayerOptions(b: Uint8Array, ip: number, icmp: number, end: number, optType: number,
  hi: number, lo: number): number {
  let n = 0;
  let p = icmp + ndpOptionsAt(b[icmp]);
  while (p + 2 <= end) {
    const len = b[p + 1] * 8;
    if (len === 0) break;
    if (b[p] === optType && len === Ndp.LlaOptLen) {
      writeMacHL(b, p + 2, hi, lo);
      n++;
    }
    p += len;
  }
  if (n > 0) fillIcmpv6Checksum(b, ip, icmp, end);
  return n;
}

/**
 * Write an IPv6 packet at `ip` carrying a Neighbor Advertisement for target t0..t3 with
 * `flags` and a target link-layer address option hi:lo, from s0..s3 to d0..d3, hop limit 255,
 * checksum filled. Returns the packet's end (ip + 40 + 32).
 */
export function emitNa(b: Uint8Array, ip: number, s0: number, s1: number, s2: number, s3: number,
  d0: number, d1: number, d2: number, d3: number, flags: number,
  t0: number, t1: number, t2: number, t3: number, hi: number, lo: number): number {
  const icmp = emitIpv6Words(b, ip, Icmp6.NextHeader, Ndp.NaLen, Ndp.HopLimit, s0, s1, s2, s3, d0, d1, d2, d3);
  return emitTargetMessage(b, ip, icmp, Icmp6.NeighborAdvert, flags, t0, t1, t2, t3, Ndp.OptTargetLla, hi, lo);
}

/**
 * Write an IPv6 packet at `ip` carrying a Neighbor Solicitation for target t0..t3 from s0..s3 to
 * the target's solicited-node multicast address, with a source link-layer address option hi:lo,
 * hop limit 255, checksum filled (RFC 4861 4.3). Returns the packet's end (ip + 40 + 32).
 */
export function emitNs(b: Uint8Array, ip: number, s0: number, s1: number, s2: number, s3: number,
  t0: number, t1: number, t2: number, t3: number, hi: number, lo: number): number {
  const icmp = emitIpv6Words(b, ip, Icmp6.NextHeader, Ndp.NaLen, Ndp.HopLimit, s0, s1, s2, s3,
    SOLICITED_W0, 0, SOLICITED_W2, solicitedNodeW3(t3));
  return emitTargetMessage(b, ip, icmp, Icmp6.NeighborSolicit, 0, t0, t1, t2, t3, Ndp.OptSourceLla, hi, lo);
}

/** The NS/NA body at `icmp` (type, flags byte, target, one link-layer address option) and its checksum; returns its end. */
function emitTargetMessage(b: Uint8Array, ip: number, icmp: number, type: number, flags: number,
  t0: number, t1: number, t2: number, t3: number, optType: number, hi: number, lo: number): number {
  b[icmp] = type;
  b[icmp + 1] = 0;
  b[icmp + 4] = flags;
  b[icmp + 5] = 0; b[icmp + 6] = 0; b[icmp + 7] = 0;
  writeIpv6Words(b, icmp + 8, t0, t1, t2, t3);
  b[icmp + 24] = optType;
  b[icmp + 25] = 1;
  writeMacHL(b, icmp + 26, hi, lo);
  const end = icmp + Ndp.NaLen;
  fillIcmpv6Checksum(b, ip, icmp, end);
  return end;
}

/** The IPv6 packet length of emitNa's packets. */
export const NA_PACKET_LEN = IPV6_HLEN + Ndp.NaLen;

// ---- MLD ------------------------------------------------------------------------------------

/** True when b[icmp..end) is a whole MLD message (checkIcmpv6 passed): v1 and queries 24 bytes, a v2 report 8. */
export function checkMld(b: Uint8Array, icmp: number, end: number): boolean {
  return end - icmp >= (b[icmp] === Icmp6.Mld2Report ? 8 : MLD_MIN_LEN);
}

/** Word i of an MLDv1 message's (or query's) group. */
export function mldGroupWord(b: Uint8Array, icmp: number, i: number): number { return readI32(b, icmp + 8 + 4 * i); }
/** Number of records of an MLDv2 report. */
export function mld2RecordCount(b: Uint8Array, icmp: number): number { return readU16(b, icmp + 6); }
/** Offset of the first record of the MLDv2 report at `icmp`. */
export function mld2FirstRecord(icmp: number): number { return icmp + 8; }
/** End of the record at `rec`, or -1 if it does not fit before `end`. */
export function mld2RecordEnd(b: Uint8Array, rec: number, end: number): number {
  if (end - rec < 20) return -1;
  const e = rec + 20 + 16 * readU16(b, rec + 2) + 4 * b[rec + 1];
  return e <= end ? e : -1;
}
export function mld2RecordType(b: Uint8Array, rec: number): number { return b[rec]; }
export function mld2RecordSources(b: Uint8Array, rec: number): number { return readU16(b, rec + 2); }
/** Word i of a record's group. */
export function mld2RecordGroupWord(b: Uint8Array, rec: number, i: number): number { return readI32(b, rec + 4 + 4 * i); }

/** The packet length of emitMld2Query's query: IPv6 header, Hop-by-Hop header with Router Alert, 28-byte MLDv2 query. */
export const MLD2_QUERY_PACKET_LEN = IPV6_HLEN + 8 + 28;

/**
 * Write an MLDv2 general query (RFC 3810 5.1: type 130, multicast address ::, no sources) at
 * `ip` from the link-local address s0..s3 to ff02::1, hop limit 1, behind a Hop-by-Hop header
 * with the Router Alert option (value 0: MLD), Maximum Response Code `maxRespMs` (below 32768:
 * the value itself), QRV `qrv`, QQIC `qqic` (seconds, below 128: the value itself); checksum
 * filled. Returns the packet's end (ip + MLD2_QUERY_PACKET_LEN).
 */
export function emitMld2Query(b: Uint8Array, ip: number, s0: number, s1: number, s2: number, s3: number,
  maxRespMs: number, qrv: number, qqic: number): number {
  const hbh = emitIpv6Words(b, ip, 0, 8 + 28, 1, s0, s1, s2, s3, 0xff020000 | 0, 0, 0, 1);
  b[hbh] = Icmp6.NextHeader;
  b[hbh + 1] = 0;
  b[hbh + 2] = 5; b[hbh + 3] = 2; b[hbh + 4] = 0; b[hbh + 5] = 0; // Router Alert, MLD
  b[hbh + 6] = 1; b[hbh + 7] = 0; // PadN
  const icmp = hbh + 8;
  b[icmp] = Icmp6.MldQuery;
  b[icmp + 1] = 0;
  writeU16(b, icmp + 4, maxRespMs & 0x7fff);
  b[icmp + 6] = 0; b[icmp + 7] = 0;
  writeIpv6Words(b, icmp + 8, 0, 0, 0, 0);
  b[icmp + 24] = qrv & 7;
  b[icmp + 25] = qqic & 0x7f;
  b[icmp + 26] = 0; b[icmp + 27] = 0;
  const end = icmp + 28;
  fillIcmpv6Checksum(b, ip, icmp, end);
  return end;
}
