/**
 * IGMP (IPv4 protocol 2) view: v1/v2 messages (RFC 1112, RFC 2236) and v3 membership reports
 * and queries (RFC 3376), at the start of the IGMP message (after the IPv4 header).
 *
 * Layout at `off`:
 *   v1/v2: type [0], max resp time [1], checksum [2], group [4]; 8 bytes.
 *   v3 report (type 0x22): type [0], reserved [1], checksum [2], reserved [4], number of group
 *     records [6], records from [8]; each record: type [0], aux data len in 32-bit words [1],
 *     number of sources [2], group [4], sources [8 + 4i], then the aux data.
 *   v3 query (type 0x11, 12+ bytes): v2's 8 bytes, then resv/S/QRV [8], QQIC [9], number of sources [10].
 * `checkIgmp` validates untrusted input once (length, checksum over the whole message);
 * v3 records are walked with `igmpv3Record*` functions that check each record's bounds and
 * return plain numbers, so a walk allocates nothing. The message ends where the IPv4 total
 * length says, not at the end of the frame (Ethernet padding follows short packets).
 * Groups read in the hot path's int32 form (bytes.ts; `>>> 0` gives the uint32 form).
 * `emitIgmpIpv4` writes the IPv4 header every IGMP message travels under.
 */

import { readI32, readU16, writeU16, writeU32 } from './bytes.js';
import { internetChecksum, verifyChecksum } from './checksum.js';
import { classifyIpv4Addr, emitIpv4Header, IpProto, Ipv4, Ipv4Dst } from './ipv4.js';

export const IGMP_MIN_LEN = 8;
/** Length of a v3 query without sources. */
export const IGMP_V3_QUERY_LEN = 12;
/** TOS of IGMP packets: internetwork control (RFC 3376 4). */
export const IGMP_TOS = 0xc0;

export const IGMP_QUERY = 0x11;
export const IGMP_V1_REPORT = 0x12;
export const IGMP_V2_REPORT = 0x16;
export const IGMP_V2_LEAVE = 0x17;
export const IGMP_V3_REPORT = 0x22;

/** IGMPv3 group record types (RFC 3376 4.2.12). */
export const MODE_IS_INCLUDE = 1;
export const MODE_IS_EXCLUDE = 2;
export const CHANGE_TO_INCLUDE = 3;
export const CHANGE_TO_EXCLUDE = 4;
export const ALLOW_NEW_SOURCES = 5;
export const BLOCK_OLD_SOURCES = 6;

/** 224.0.0.1, all systems (where general queries go). */
export const ALL_SYSTEMS = 0xe0000001;
/** 224.0.0.22, where IGMPv3 reports go. */
export const ALL_V3_ROUTERS = 0xe0000016;

/** True when b[off..end) holds an IGMP message of at least 8 bytes with a correct checksum. */
export function checkIgmp(b: Uint8Array, off: number, end: number): boolean {
  if (!(off >= 0) || end > b.length || end - off < IGMP_MIN_LEN) return false;
  return verifyChecksum(b, off, end);
}

export function igmpType(b: Uint8Array, off: number): number { return b[off]; }
/** Group of a v1/v2 message or a query (int32 form). */
export function igmpGroup(b: Uint8Array, off: number): number { return readI32(b, off + 4); }
/** Number of group records of a v3 report. */
export function igmpv3RecordCount(b: Uint8Array, off: number): number { return readU16(b, off + 6); }

/** Offset of the first record of the v3 report at `off`. */
export function igmpv3FirstRecord(off: number): number { return off + 8; }

/** End of the record at `rec` (its header, sources and aux data), or -1 if it does not fit before `end`. */
export function igmpv3RecordEnd(b: Uint8Array, rec: number, end: number): number {
  if (end - rec < 8) return -1;
  const e = rec + 8 + 4 * igmpv3RecordSources(b, rec) + 4 * b[rec + 1];
  return e <= end ? e : -1;
}

export function igmpv3RecordType(b: Uint8Array, rec: number): number { return b[rec]; }
export function igmpv3RecordSources(b: Uint8Array, rec: number): number { return readU16(b, rec + 2); }
export function igmpv3RecordGroup(b: Uint8Array, rec: number): number { return readI32(b, rec + 4); }

/**
 * What a v3 group record means for the reporting host's membership: 1 member (any EXCLUDE
 * mode, or INCLUDE/ALLOW with sources: a source-specific join, switched as a join of the
 * group), -1 not a member (INCLUDE mode or TO_INCLUDE with no sources: the leave), 0 no
 * change (BLOCK_OLD_SOURCES, ALLOW with no sources, unknown types).
 */
export function igmpv3RecordAction(type: number, sources: number): number {
  switch (type) {
    case MODE_IS_EXCLUDE:
    case CHANGE_TO_EXCLUDE:
      return 1;
    case MODE_IS_INCLUDE:
    case CHANGE_TO_INCLUDE:
      return sources > 0 ? 1 : -1;
    case ALLOW_NEW_SOURCES:
      return sources > 0 ? 1 : 0;
    default:
      return 0;
  }
}

/** A group address (either form) that membership is tracked for: 224.0.0.0/4 outside 224.0.0.0/24. */
export function isTrackedGroup(group: number): boolean {
  return classifyIpv4Addr(group) === Ipv4Dst.Group;
}

/** The Ethernet MAC an IPv4 group maps to (RFC 1112 6.4): 01:00:5e + the low 23 bits. */
export function groupMac(group: number): number {
  return 0x01005e000000 + (group & 0x7fffff);
}

/**
 * Write the IPv4 header of an IGMP message of `igmpLen` bytes from `src` to `dst` (RFC 3376 4,
 * RFC 2236 2): TOS 0xc0, TTL 1, not DF, the Router Alert option; 24 bytes, checksum filled.
 * Returns the offset of the IGMP message (off + 24).
 */
export function emitIgmpIpv4(b: Uint8Array, off: number, src: number, dst: number, igmpLen: number): number {
  return emitIpv4Header(b, off, IGMP_TOS, 0, 1, IpProto.Igmp, src, dst, igmpLen, 0, Ipv4.RouterAlert);
}

/** Write an 8-byte v1/v2 message (checksum filled); returns off + 8. */
export function emitIgmpV2(b: Uint8Array, off: number, type: number, maxResp: number, group: number): number {
  b[off] = type & 0xff;
  b[off + 1] = maxResp & 0xff;
  b[off + 2] = 0; b[off + 3] = 0;
  writeU32(b, off + 4, group);
  fillIgmpChecksum(b, off, off + 8);
  return off + 8;
}

/** Write a 12-byte v3 query without sources (checksum filled); returns off + 12. */
export function emitIgmpV3Query(b: Uint8Array, off: number, maxRespCode: number, group: number, qrv: number, qqic: number): number {
  b[off] = IGMP_QUERY;
  b[off + 1] = maxRespCode & 0xff;
  b[off + 2] = 0; b[off + 3] = 0;
  writeU32(b, off + 4, group);
  b[off + 8] = qrv & 7;
  b[off + 9] = qqic & 0xff;
  b[off + 10] = 0; b[off + 11] = 0;
  fillIgmpChecksum(b, off, off + IGMP_V3_QUERY_LEN);
  return off + IGMP_V3_QUERY_LEN;
}

/** Write a v3 report of `records` (no aux data; checksum filled); returns the end offset. Tests and tools. */
export function emitIgmpV3Report(b: Uint8Array, off: number, records: ReadonlyArray<{ type: number; group: number; sources?: readonly number[] }>): number {
  b[off] = IGMP_V3_REPORT;
  b[off + 1] = 0;
  b[off + 2] = 0; b[off + 3] = 0;
  b[off + 4] = 0; b[off + 5] = 0;
  writeU16(b, off + 6, records.length);
  let p = off + 8;
  for (const r of records) {
    const src = r.sources ?? [];
    b[p] = r.type & 0xff;
    b[p + 1] = 0;
    writeU16(b, p + 2, src.length);
    writeU32(b, p + 4, r.group);
    p += 8;
    for (const s of src) { writeU32(b, p, s); p += 4; }
  }
  fillIgmpChecksum(b, off, p);
  return p;
}

/** Compute and write the checksum of the IGMP message b[off..end). */
function fillIgmpChecksum(b: Uint8Array, off: number, end: number): void {
  writeU16(b, off + 2, 0);
  writeU16(b, off + 2, internetChecksum(b, off, end));
}
