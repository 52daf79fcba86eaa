import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  checkIgmp, igmpType, igmpGroup, igmpv3RecordCount, igmpv3FirstRecord, igmpv3RecordEnd, igmpv3RecordType,
  igmpv3RecordSources, igmpv3RecordGroup, igmpv3RecordAction, emitIgmpIpv4, emitIgmpV2, emitIgmpV3Query, emitIgmpV3Report, groupMac,
  isTrackedGroup, IGMP_V3_QUERY_LEN, IGMP_V2_REPORT, IGMP_V2_LEAVE, IGMP_V3_REPORT, IGMP_QUERY, CHANGE_TO_EXCLUDE, CHANGE_TO_INCLUDE,
  MODE_IS_EXCLUDE, MODE_IS_INCLUDE, ALLOW_NEW_SOURCES, BLOCK_OLD_SOURCES,
} from '../../src/wire/igmp.js';
import { checkIpv4, ipv4Protocol, ipv4TotalLen, verifyIpv4Checksum, IpProto } from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/addr.js';

// Captured with tcpdump -xx on a veth: Linux 6.1 joining 239.1.2.3 (node dgram addMembership), then leaving.
// IGMPv3 report, CHANGE_TO_EXCLUDE {} (the join); IP header with router alert (ihl 6).
const v3Join = hex(`
  01005e000016 020000000001 0800 46c0
  0028 0000 4000 0102 f9ef 0a090001 e0000016 94040000
  2200 e8f9 0000 0001 04 00 0000 ef010203`);
// IGMPv3 report, CHANGE_TO_INCLUDE {} (the leave).
const v3Leave = hex(`
  01005e000016 020000000001 0800 46c0
  0028 0000 4000 0102 f9ef 0a090001 e0000016 94040000
  2200 e9f9 0000 0001 03 00 0000 ef010203`);
// force_igmp_version=2: v2 report to the group, v2 leave to 224.0.0.2.
const v2Report = hex(`
  01005e010203 020000000001 0800 46c0
  0020 0000 4000 0102 e909 0a090001 ef010203 94040000
  1600 f8fa ef010203`);
const v2Leave = hex(`
  01005e000002 020000000001 0800 46c0
  0020 0000 4000 0102 fa0b 0a090001 e0000002 94040000
  1700 f7fa ef010203`);

const G = parseIpv4('239.1.2.3');
// Groups read in their int32 form (src/wire/bytes.ts); `>>> 0` compares them with the uint32 form.

function igmpOf(frame: Uint8Array): { off: number; end: number } {
  const hl = checkIpv4(frame, 14, frame.length);
  assert.equal(hl, 24);
  assert.equal(ipv4Protocol(frame, 14), IpProto.Igmp);
  return { off: 14 + hl, end: 14 + ipv4TotalLen(frame, 14) };
}

test('igmp: parse a captured v3 join (CHANGE_TO_EXCLUDE, no sources)', () => {
  const { off, end } = igmpOf(v3Join);
  assert.equal(checkIgmp(v3Join, off, end), true);
  assert.equal(igmpType(v3Join, off), IGMP_V3_REPORT);
  assert.equal(igmpv3RecordCount(v3Join, off), 1);
  const rec = igmpv3FirstRecord(off);
  assert.equal(igmpv3RecordEnd(v3Join, rec, end), end);
  assert.equal(igmpv3RecordType(v3Join, rec), CHANGE_TO_EXCLUDE);
  assert.equal(igmpv3RecordSources(v3Join, rec), 0);
  assert.equal(igmpv3RecordGroup(v3Join, rec) >>> 0, G);
  assert.equal(igmpv3RecordAction(CHANGE_TO_EXCLUDE, 0), 1);
});

test('igmp: parse a captured v3 leave (CHANGE_TO_INCLUDE, no sources)', () => {
  const { off, end } = igmpOf(v3Leave);
  assert.equal(checkIgmp(v3Leave, off, end), true);
  const rec = igmpv3FirstRecord(off);
  assert.equal(igmpv3RecordType(v3Leave, rec), CHANGE_TO_INCLUDE);
  assert.equal(igmpv3RecordGroup(v3Leave, rec) >>> 0, G);
  assert.equal(igmpv3RecordAction(CHANGE_TO_INCLUDE, 0), -1);
});

test('igmp: parse captured v2 report and leave', () => {
  for (const [f, type] of [[v2Report, IGMP_V2_REPORT], [v2Leave, IGMP_V2_LEAVE]] as const) {
    const { off, end } = igmpOf(f);
    assert.equal(end - off, 8);
    assert.equal(checkIgmp(f, off, end), true);
    assert.equal(igmpType(f, off), type);
    assert.equal(igmpGroup(f, off) >>> 0, G);
  }
});

test('igmp: check rejects a bad checksum and a short message', () => {
  const b = v3Join.slice();
  const { off, end } = igmpOf(b);
  b[end - 1] ^= 1;
  assert.equal(checkIgmp(b, off, end), false);
  assert.equal(checkIgmp(v2Report, 38, 45), false);
  assert.equal(checkIgmp(v2Report, 38, v2Report.length + 1), false);
});

test('igmp: a v3 record past the message end is refused', () => {
  const { off, end } = igmpOf(v3Join);
  const rec = igmpv3FirstRecord(off);
  assert.equal(igmpv3RecordEnd(v3Join, rec, end - 1), -1);
  const b = v3Join.slice();
  b[rec + 3] = 1; // one source claimed, none present
  assert.equal(igmpv3RecordEnd(b, rec, end), -1);
});

test('igmp: record actions (RFC 3376 group record types)', () => {
  assert.equal(igmpv3RecordAction(MODE_IS_EXCLUDE, 0), 1);
  assert.equal(igmpv3RecordAction(MODE_IS_INCLUDE, 0), -1);
  assert.equal(igmpv3RecordAction(MODE_IS_INCLUDE, 2), 1);
  assert.equal(igmpv3RecordAction(CHANGE_TO_INCLUDE, 1), 1);
  assert.equal(igmpv3RecordAction(ALLOW_NEW_SOURCES, 1), 1);
  assert.equal(igmpv3RecordAction(ALLOW_NEW_SOURCES, 0), 0);
  assert.equal(igmpv3RecordAction(BLOCK_OLD_SOURCES, 1), 0);
  assert.equal(igmpv3RecordAction(99, 0), 0);
});

test('igmp: emit v2 messages equal to the captured bytes, no stale bytes left', () => {
  for (const [f, type] of [[v2Report, IGMP_V2_REPORT], [v2Leave, IGMP_V2_LEAVE]] as const) {
    const b = stale(12);
    assert.equal(emitIgmpV2(b, 2, type, 0, G), 10);
    assert.equal(toHex(b, 2, 10), toHex(f, 38, 46));
    assert.equal(toHex(b, 0, 2) + toHex(b, 10), 'a5a5a5a5');
  }
});

test('igmp: emit a v3 report equal to the captured join and leave', () => {
  for (const [f, type] of [[v3Join, CHANGE_TO_EXCLUDE], [v3Leave, CHANGE_TO_INCLUDE]] as const) {
    const b = stale(20);
    const end = emitIgmpV3Report(b, 0, [{ type, group: G }]);
    assert.equal(end, 16);
    assert.equal(toHex(b, 0, end), toHex(f, 38, 54));
    assert.equal(toHex(b, end), 'a5a5a5a5');
  }
  // With sources: each source follows its record header; the checksum verifies.
  const b = stale(40);
  const end = emitIgmpV3Report(b, 0, [{ type: ALLOW_NEW_SOURCES, group: G, sources: [parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2')] }, { type: MODE_IS_EXCLUDE, group: G + 1 }]);
  assert.equal(end, 8 + 16 + 8);
  assert.equal(checkIgmp(b, 0, end), true);
  assert.equal(igmpv3RecordEnd(b, 8, end), 24);
  assert.equal(igmpv3RecordGroup(b, 24) >>> 0, G + 1);
});

test('igmp: emit a v3 general query', () => {
  const b = stale(14);
  assert.equal(emitIgmpV3Query(b, 1, 100, 0, 2, 125), 13);
  assert.equal(toHex(b, 1, 13), '1164' + toHex(b, 3, 5) + '00000000' + '027d0000');
  assert.equal(checkIgmp(b, 1, 13), true);
  assert.equal(igmpType(b, 1), IGMP_QUERY);
  assert.equal(toHex(b, 0, 1) + toHex(b, 13), 'a5a5');
});

// The general query a snooping switch sends (RFC 3376 4.1, RFC 4541 2.1.1: source 0.0.0.0):
// IPv4 with TOS 0xc0, TTL 1 and Router Alert, then a 12-byte v3 query, max response 10 s,
// QRV 2, QQIC 125 s; checksums worked out by hand (RFC 1071).
const generalQuery = hex('46c0 0024 0000 0000 0102 4413 00000000 e0000001 94040000' + '1164 ec1e 00000000 027d 0000');

test('igmp: emit the IPv4 header and a v3 general query into a stale buffer', () => {
  const b = stale(2 + generalQuery.length + 2);
  const igmp = emitIgmpIpv4(b, 2, 0, parseIpv4('224.0.0.1'), IGMP_V3_QUERY_LEN);
  assert.equal(igmp, 2 + 24);
  assert.equal(emitIgmpV3Query(b, igmp, 100, 0, 2, 125), 2 + generalQuery.length);
  assert.equal(toHex(b, 2, 2 + generalQuery.length), toHex(generalQuery));
  assert.equal(toHex(b, 0, 2) + toHex(b, 2 + generalQuery.length), 'a5a5' + 'a5a5');
  assert.equal(verifyIpv4Checksum(b, 2), true);
  assert.equal(checkIgmp(b, igmp, igmp + IGMP_V3_QUERY_LEN), true);
});

test('igmp: group MAC and tracked groups', () => {
  assert.equal(groupMac(G), 0x01005e010203);
  assert.equal(groupMac(parseIpv4('239.129.2.3')), 0x01005e010203, 'only the low 23 bits map');
  assert.equal(groupMac(parseIpv4('224.0.0.1')), 0x01005e000001);
  assert.equal(isTrackedGroup(G), true);
  assert.equal(isTrackedGroup(parseIpv4('224.0.1.1')), true);
  assert.equal(isTrackedGroup(parseIpv4('224.0.0.251')), false, 'link-local block floods');
  assert.equal(isTrackedGroup(parseIpv4('10.0.0.1')), false);
  assert.equal(isTrackedGroup(0xffffffff), false);
});
