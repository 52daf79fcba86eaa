import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  checkIpv4, checkIpv4Length, ipv4HeaderLen, ipv4TotalLen, ipv4Id, ipv4Flags, ipv4FragOffset, ipv4IsFragment,
  ipv4Protocol, ipv4Src, ipv4Dst, fillIpv4Checksum, verifyIpv4Checksum, emitIpv4, emitIpv4Header, classifyIpv4Addr,
  classifyIpv4Dst, Ipv4, Ipv4Dst, IpProto,
} from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { readU16 } from '../../src/wire/bytes.js';
import { updateChecksum16 } from '../../src/wire/checksum.js';

// The well-known example header: 192.168.0.1 -> 192.168.0.199, UDP, checksum 0xb861.
const h = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7' + '00'.repeat(95));

test('ipv4: parse a known header', () => {
  assert.equal(checkIpv4(h, 0, h.length), 20);
  assert.equal(checkIpv4Length(h, 0, h.length), true);
  assert.equal(ipv4HeaderLen(h, 0), 20);
  assert.equal(ipv4TotalLen(h, 0), 0x73);
  assert.equal(ipv4Id(h, 0), 0);
  assert.equal(ipv4Flags(h, 0), Ipv4.FlagDf);
  assert.equal(ipv4FragOffset(h, 0), 0);
  assert.equal(ipv4IsFragment(h, 0), false);
  assert.equal(ipv4Protocol(h, 0), IpProto.Udp);
  // Addresses read in their int32 form; >>> 0 gives the uint32 form.
  assert.equal(ipv4Src(h, 0) >>> 0, parseIpv4('192.168.0.1'));
  assert.equal(ipv4Dst(h, 0) >>> 0, parseIpv4('192.168.0.199'));
  assert.equal(ipv4Src(h, 0), parseIpv4('192.168.0.1') | 0);
  assert.equal(verifyIpv4Checksum(h, 0), true);
});

test('ipv4: check rejects bad version, ihl, truncation; length check', () => {
  const b = h.slice();
  b[0] = 0x65; assert.equal(checkIpv4(b, 0, b.length), -1);
  b[0] = 0x44; assert.equal(checkIpv4(b, 0, b.length), -1);
  b[0] = 0x4f; assert.equal(checkIpv4(b, 0, 59), -1);
  assert.equal(checkIpv4(b, 0, 60), 60);
  assert.equal(checkIpv4(h, 0, 19), -1);
  assert.equal(checkIpv4(h, 0, h.length + 1), -1);
  assert.equal(checkIpv4(h, NaN, h.length), -1);
  assert.equal(checkIpv4Length(h, 0, 0x72), false);
  const c = h.slice(); c[2] = 0; c[3] = 19;
  assert.equal(checkIpv4Length(c, 0, c.length), false);
});

test('ipv4: fragments: more fragments, or a fragment offset', () => {
  const mf = h.slice(); mf[6] = 0x20; mf[7] = 0;
  assert.equal(ipv4Flags(mf, 0), Ipv4.FlagMf);
  assert.equal(ipv4IsFragment(mf, 0), true);
  const later = h.slice(); later[6] = 0x40; later[7] = 0xb9; // DF set, offset 185
  assert.equal(ipv4FragOffset(later, 0), 185);
  assert.equal(ipv4IsFragment(later, 0), true);
  const high = h.slice(); high[6] = 0x1f; high[7] = 0xff;
  assert.equal(ipv4FragOffset(high, 0), 0x1fff);
});

test('ipv4: checksum detects a change; incremental update equals recomputation', () => {
  const b = h.slice();
  b[8] = 63; // TTL 64 -> 63
  assert.equal(verifyIpv4Checksum(b, 0), false);
  const inc = updateChecksum16(0xb861, 0x4011, 0x3f11);
  fillIpv4Checksum(b, 0);
  assert.equal(readU16(b, 10), inc);
  assert.equal(verifyIpv4Checksum(b, 0), true);
});

test('ipv4: emit into a stale buffer', () => {
  const b = stale(24);
  assert.equal(emitIpv4(b, 2, parseIpv4('192.168.0.1'), parseIpv4('192.168.0.199'), IpProto.Udp, 0x73 - 20, 0, 64), 22);
  assert.equal(toHex(b, 2, 22), toHex(h, 0, 20));
  assert.equal(toHex(b, 0, 2) + toHex(b, 22), 'a5a5a5a5');
});

// The header of an IGMPv3 general query as a snooping switch sends it (RFC 3376 4, RFC 4541 2.1.1):
// TOS 0xc0, not DF, TTL 1, Router Alert, 0.0.0.0 -> 224.0.0.1, 12 bytes of IGMP; checksum
// worked out by hand (RFC 1071).
const withOption = hex('46c0 0024 0000 0000 0102 4413 00000000 e0000001 94040000');

test('ipv4: emit a header with the Router Alert option into a stale buffer', () => {
  const b = stale(26);
  const end = emitIpv4Header(b, 1, 0xc0, 0, 1, IpProto.Igmp, 0, parseIpv4('224.0.0.1'), 12, 0, Ipv4.RouterAlert);
  assert.equal(end, 25);
  assert.equal(toHex(b, 1, 25), toHex(withOption));
  assert.equal(toHex(b, 0, 1) + toHex(b, 25), 'a5a5');
  assert.equal(checkIpv4(b, 1, 25), 24);
  assert.equal(verifyIpv4Checksum(b, 1), true);
});

test('ipv4: who an address is for', () => {
  const cases: Array<[string, number]> = [
    ['10.0.0.1', Ipv4Dst.Unicast], ['192.168.0.199', Ipv4Dst.Unicast], ['223.255.255.255', Ipv4Dst.Unicast],
    ['240.0.0.1', Ipv4Dst.Unicast], ['255.255.255.254', Ipv4Dst.Unicast],
    ['255.255.255.255', Ipv4Dst.All], ['224.0.0.1', Ipv4Dst.All], ['224.0.0.251', Ipv4Dst.All], ['224.0.0.255', Ipv4Dst.All],
    ['224.0.1.0', Ipv4Dst.Group], ['239.1.2.3', Ipv4Dst.Group], ['239.255.255.250', Ipv4Dst.Group],
  ];
  for (const [a, want] of cases) {
    assert.equal(classifyIpv4Addr(parseIpv4(a)), want, a);
    assert.equal(classifyIpv4Addr(parseIpv4(a) | 0), want, `${a}, int32 form`);
  }
});

test('ipv4: who a packet is for: an Ethernet broadcast is for everyone, whatever its IPv4 destination', () => {
  const unicastMac = hex('020000000002'), groupMacBytes = hex('01005e010203'), broadcast = hex('ffffffffffff');
  const all = [unicastMac, groupMacBytes, broadcast];
  for (const mac of all) {
    const isBroadcast = mac === broadcast;
    assert.equal(classifyIpv4Dst(mac, 0, parseIpv4('10.0.0.2') | 0), isBroadcast ? Ipv4Dst.All : Ipv4Dst.Unicast);
    assert.equal(classifyIpv4Dst(mac, 0, parseIpv4('239.1.2.3') | 0), isBroadcast ? Ipv4Dst.All : Ipv4Dst.Group);
    assert.equal(classifyIpv4Dst(mac, 0, parseIpv4('224.0.0.1') | 0), Ipv4Dst.All);
    assert.equal(classifyIpv4Dst(mac, 0, -1), Ipv4Dst.All);
  }
  const atOffset = new Uint8Array(8); atOffset.set(broadcast, 2);
  assert.equal(classifyIpv4Dst(atOffset, 2, parseIpv4('10.0.0.2') | 0), Ipv4Dst.All);
});
