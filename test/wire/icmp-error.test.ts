import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  FRAG_NEEDED_MAX, PACKET_TOO_BIG_MAX, emitFragNeeded, emitPacketTooBig, fragNeededAllowed, fragNeededMtu,
  packetTooBigAllowed, packetTooBigMtu,
} from '../../src/wire/icmp-error.js';
import { parseIpv4 } from '../../src/wire/addr.js';

/** n bytes 0, 1, 2, ... (mod 256). */
const seq = (n: number): string => toHex(Uint8Array.from({ length: n }, (_, i) => i & 0xff));

// A 1500-byte DF ping 10.0.0.2 -> 10.0.0.1 (checksums computed independently), 1464 data bytes.
const ping4 = hex('4500 05dc 1234 4000 4001 0eeb 0a00 0002 0a00 0001' + '0800 618e 0001 0001' + seq(1464));
// What the switch answers with next-hop MTU 1400: 576 bytes, the first 548 of the ping quoted.
const fragNeeded = hex('45c0 0240 0000 0000 4001 63fb 0a00 0001 0a00 0002' + '0304 0164 0000 0578') ;
// A 1500-byte UDP packet 2001:db8::2 -> 2001:db8::1, and its Packet Too Big (MTU 1400): 1280 bytes.
const udp6 = hex('6000 0000 05b4 1140 20010db8000000000000000000000002 20010db8000000000000000000000001'
  + '9c40 0009 05b4 0000' + seq(1452));
const tooBig = hex('6000 0000 04d8 3a40 20010db8000000000000000000000001 20010db8000000000000000000000002'
  + '0200 5981 0000 0578');

test('icmp-error: Fragmentation Needed emitted into a stale buffer matches the fixture', () => {
  const out = stale(FRAG_NEEDED_MAX + 8);
  const end = emitFragNeeded(out, 3, ping4, 0, ping4.length, parseIpv4('10.0.0.1'), 1400);
  assert.equal(end, 3 + FRAG_NEEDED_MAX);
  assert.equal(toHex(out, 3, 3 + 28), toHex(fragNeeded));
  assert.equal(toHex(out, 31, end), toHex(ping4, 0, 548), 'the first 548 bytes of the packet quoted');
  assert.equal(toHex(out, 0, 3) + toHex(out, end), 'a5'.repeat(3 + 5), 'nothing written outside');
});

test('icmp-error: a short packet is quoted whole', () => {
  const small = ping4.slice(0, 100);
  small[2] = 0; small[3] = 100;
  const out = stale(200);
  const end = emitFragNeeded(out, 0, small, 0, small.length, parseIpv4('10.0.0.1'), 68);
  assert.equal(end, 128);
  assert.equal(out[2] << 8 | out[3], 128, 'total length');
  assert.equal(toHex(out, 28, 128), toHex(small));
  assert.equal(out[128], 0xa5);
});

test('icmp-error: Packet Too Big emitted into a stale buffer matches the fixture', () => {
  const out = stale(PACKET_TOO_BIG_MAX + 4);
  const end = emitPacketTooBig(out, 2, udp6, 0, udp6.length, 1400);
  assert.equal(end, 2 + PACKET_TOO_BIG_MAX);
  assert.equal(toHex(out, 2, 2 + 48), toHex(tooBig));
  assert.equal(toHex(out, 50, end), toHex(udp6, 0, 1232), 'the first 1232 bytes of the packet quoted');
  assert.equal(toHex(out, 0, 2) + toHex(out, end), 'a5'.repeat(4));
});

test('icmp-error: parse the MTU of known messages', () => {
  assert.equal(fragNeededMtu(fragNeeded, 20), 1400);
  assert.equal(packetTooBigMtu(tooBig, 40), 1400);
  assert.equal(fragNeededMtu(hex('0304 0000 0000 05dc'), 0), 1500);
  assert.equal(packetTooBigMtu(hex('0200 0000 0001 0000'), 0), 65536);
});

test('icmp-error: when an IPv4 error may be sent', () => {
  const ok = (edit: (b: Uint8Array) => void): boolean => {
    const b = ping4.slice();
    edit(b);
    return fragNeededAllowed(b, 0, b.length);
  };
  assert.equal(ok(() => {}), true, 'a DF echo request');
  assert.equal(ok((b) => { b[6] = 0; }), false, 'no DF: to be fragmented');
  assert.equal(ok((b) => { b[6] = 0x40; b[7] = 0xb9; }), false, 'a later fragment');
  assert.equal(ok((b) => { b[12] = 0; b[13] = 0; b[14] = 0; b[15] = 0; }), false, 'source 0.0.0.0');
  assert.equal(ok((b) => { b[12] = 127; }), false, 'loopback source');
  assert.equal(ok((b) => { b[12] = 224; }), false, 'multicast source');
  assert.equal(ok((b) => { b.fill(255, 12, 16); }), false, 'broadcast source');
  assert.equal(ok((b) => { b[16] = 239; }), false, 'multicast destination');
  assert.equal(ok((b) => { b.fill(255, 16, 20); }), false, 'broadcast destination');
  for (const t of [3, 4, 5, 11, 12, 19, 200]) assert.equal(ok((b) => { b[20] = t; }), false, `ICMP type ${t}`);
  for (const t of [0, 8, 13, 17]) assert.equal(ok((b) => { b[20] = t; }), true, `ICMP type ${t}`);
  assert.equal(ok((b) => { b[9] = 17; b[20] = 3; }), true, 'UDP: byte 20 is no ICMP type');
  assert.equal(fragNeededAllowed(ping4, 0, 20), false, 'ICMP type not present');
});

test('icmp-error: when an IPv6 error may be sent', () => {
  const ok = (edit: (b: Uint8Array) => void): boolean => {
    const b = udp6.slice();
    edit(b);
    return packetTooBigAllowed(b, 0, b.length);
  };
  assert.equal(ok(() => {}), true, 'unicast UDP');
  assert.equal(ok((b) => { b.fill(0, 8, 24); }), false, 'unspecified source');
  assert.equal(ok((b) => { b.fill(0, 8, 24); b[23] = 1; }), false, 'loopback source');
  assert.equal(ok((b) => { b[8] = 0xff; }), false, 'multicast source');
  assert.equal(ok((b) => { b[24] = 0xff; }), false, 'multicast destination (no address to answer from)');
  for (const t of [1, 2, 3, 4, 127]) assert.equal(ok((b) => { b[6] = 58; b[40] = t; }), false, `ICMPv6 error type ${t}`);
  for (const t of [128, 129, 135]) assert.equal(ok((b) => { b[6] = 58; b[40] = t; }), true, `ICMPv6 informational type ${t}`);
  assert.equal(packetTooBigAllowed(udp6.map((v, i) => (i === 6 ? 58 : v)), 0, 40), false, 'ICMPv6 type not present');
});
