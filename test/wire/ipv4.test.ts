import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  checkIpv4, checkIpv4Length, ipv4Version, ipv4HeaderLen, ipv4TotalLen, ipv4Id, ipv4Flags, ipv4FragOffset,
  ipv4Ttl, ipv4Protocol, ipv4Checksum, ipv4Src, ipv4Dst, computeIpv4Checksum, fillIpv4Checksum,
  verifyIpv4Checksum, emitIpv4, isIpv4Multicast, setIpv4Ttl, IPPROTO_UDP,
} from '../../src/wire/ipv4.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { updateChecksum16 } from '../../src/wire/checksum.js';

// The well-known example header: 192.168.0.1 -> 192.168.0.199, UDP, checksum 0xb861.
const h = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7' + '00'.repeat(95));

test('ipv4: parse a known header', () => {
  assert.equal(checkIpv4(h, 0, h.length), 20);
  assert.equal(checkIpv4Length(h, 0, h.length), true);
  assert.equal(ipv4Version(h, 0), 4);
  assert.equal(ipv4HeaderLen(h, 0), 20);
  assert.equal(ipv4TotalLen(h, 0), 0x73);
  assert.equal(ipv4Id(h, 0), 0);
  assert.equal(ipv4Flags(h, 0), 2);
  assert.equal(ipv4FragOffset(h, 0), 0);
  assert.equal(ipv4Ttl(h, 0), 64);
  assert.equal(ipv4Protocol(h, 0), IPPROTO_UDP);
  assert.equal(ipv4Checksum(h, 0), 0xb861);
  assert.equal(ipv4Src(h, 0), parseIpv4('192.168.0.1'));
  assert.equal(ipv4Dst(h, 0), parseIpv4('192.168.0.199'));
  assert.equal(computeIpv4Checksum(h, 0), 0xb861);
  assert.equal(verifyIpv4Checksum(h, 0), true);
});

test('ipv4: check rejects bad version, ihl, truncation; length check', () => {
  const b = h.slice();
  b[0] = 0x65; assert.equal(checkIpv4(b, 0, b.length), -1);
  b[0] = 0x44; assert.equal(checkIpv4(b, 0, b.length), -1);
  b[0] = 0x4f; assert.equal(checkIpv4(b, 0, 59), -1);
  assert.equal(checkIpv4(b, 0, 60), 60);
  assert.equal(checkIpv4(h, 0, 19), -1);
  assert.equal(checkIpv4Length(h, 0, 0x72), false);
  const c = h.slice(); c[2] = 0; c[3] = 19;
  assert.equal(checkIpv4Length(c, 0, c.length), false);
});

test('ipv4: checksum detects a change; incremental update equals recomputation', () => {
  const b = h.slice();
  setIpv4Ttl(b, 0, 63);
  assert.equal(verifyIpv4Checksum(b, 0), false);
  const inc = updateChecksum16(0xb861, 0x4011, 0x3f11);
  fillIpv4Checksum(b, 0);
  assert.equal(ipv4Checksum(b, 0), inc);
  assert.equal(verifyIpv4Checksum(b, 0), true);
});

test('ipv4: emit into a stale buffer', () => {
  const b = stale(24);
  assert.equal(emitIpv4(b, 2, parseIpv4('192.168.0.1'), parseIpv4('192.168.0.199'), IPPROTO_UDP, 0x73 - 20, 0, 64), 22);
  assert.equal(toHex(b, 2, 22), toHex(h, 0, 20));
  assert.equal(toHex(b, 0, 2) + toHex(b, 22), 'a5a5a5a5');
});

test('ipv4: multicast test', () => {
  assert.equal(isIpv4Multicast(parseIpv4('224.0.0.1')), true);
  assert.equal(isIpv4Multicast(parseIpv4('239.255.255.250')), true);
  assert.equal(isIpv4Multicast(parseIpv4('240.0.0.1')), false);
  assert.equal(isIpv4Multicast(parseIpv4('223.255.255.255')), false);
});
