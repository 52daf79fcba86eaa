import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { emitIpv4, IpProto } from '../../src/wire/ipv4.js';
import { checkIpv6, ipv6Version, ipv6NextHeader, setIpv6PayloadLen, emitIpv6 } from '../../src/wire/ipv6.js';
import { emitUdp } from '../../src/wire/udp.js';
import {
  checkTcp, tcpSeq, tcpHeaderLen, tcpFlags, setTcpSeq, setTcpFlags, emitTcp, fillTcpChecksum, TCP_ACK, TCP_SYN,
} from '../../src/wire/tcp.js';

// 10.0.0.1:1234 -> 10.0.0.2:5678 "hi"; checksum worked by hand: 0x686e.
const udpPkt = hex('4500 001e 0000 4000 4011 26cd 0a00 0001 0a00 0002' + '04d2 162e 000a 686e 6869');
// 10.0.0.1:1234 -> 10.0.0.2:80 SYN seq 1 win 65535; checksum worked by hand: 0x96bd.
const tcpPkt = hex('4500 0028 0000 4000 4006 26ce 0a00 0001 0a00 0002' +
  '04d2 0050 00000001 00000000 5002 ffff 96bd 0000');

test('udp: emit into a stale buffer (checksum left 0)', () => {
  const b = stale(32);
  const u = emitIpv4(b, 0, parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2'), IpProto.Udp, 10);
  const p = emitUdp(b, u, 1234, 5678, 2);
  assert.equal(p, 28);
  b[p] = 0x68; b[p + 1] = 0x69;
  assert.equal(toHex(b, 0, 26), toHex(udpPkt, 0, 26));
  assert.equal(toHex(b, 26, 28), '0000');
  assert.equal(toHex(b, 28, 30), toHex(udpPkt, 28, 30));
  assert.equal(toHex(b, 30), 'a5a5');
});

test('tcp: parse a known segment', () => {
  assert.equal(checkTcp(tcpPkt, 20, tcpPkt.length), 20);
  assert.equal(tcpSeq(tcpPkt, 20), 1);
  assert.equal(tcpHeaderLen(tcpPkt, 20), 20);
  assert.equal(tcpFlags(tcpPkt, 20), TCP_SYN);
  const bad = tcpPkt.slice(); bad[32] = 0x40;
  assert.equal(checkTcp(bad, 20, bad.length), -1);
  bad[32] = 0x60;
  assert.equal(checkTcp(bad, 20, bad.length), -1);
  assert.equal(checkTcp(tcpPkt, 20, 39), -1);
});

test('tcp: sequence and flags setters', () => {
  const b = tcpPkt.slice();
  setTcpSeq(b, 20, 0xfffffffe + 5); // wraps modulo 2^32
  setTcpFlags(b, 20, TCP_ACK);
  assert.equal(toHex(b, 24, 28), '00000003');
  assert.equal(tcpSeq(b, 20), 3);
  assert.equal(tcpFlags(b, 20), TCP_ACK);
  assert.equal(toHex(b, 0, 24) + toHex(b, 28, 33) + toHex(b, 34), toHex(tcpPkt, 0, 24) + toHex(tcpPkt, 28, 33) + toHex(tcpPkt, 34));
});

test('tcp: emit and checksum into a stale buffer', () => {
  const b = stale(42);
  const t = emitIpv4(b, 0, parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2'), IpProto.Tcp, 20);
  const e = emitTcp(b, t, 1234, 80, 1, 0, TCP_SYN, 0xffff);
  fillTcpChecksum(b, 0, t, e, false);
  assert.equal(toHex(b, 0, 40), toHex(tcpPkt));
  assert.equal(toHex(b, 40), 'a5a5');
});

const v6 = hex('6abcdef1 0008 11 40' + 'fe800000000000000000000000000001' + 'ff020000000000000000000000000001' +
  '0222 0223 0008 0000');

test('ipv6: parse basic fields', () => {
  assert.equal(checkIpv6(v6, 0, v6.length), true);
  assert.equal(ipv6Version(v6, 0), 6);
  assert.equal(ipv6NextHeader(v6, 0), IpProto.Udp);
  assert.equal(checkIpv6(v6, 0, 39), false);
  const b = v6.slice(); b[0] = 0x4a;
  assert.equal(checkIpv6(b, 0, b.length), false);
});

test('ipv6: emit into a stale buffer', () => {
  const b = stale(42);
  const e = emitIpv6(b, 1, v6.subarray(8, 24), v6.subarray(24, 40), IpProto.Udp, 8, 64);
  assert.equal(e, 41);
  assert.equal(toHex(b, 1, 41), '60000000000811 40'.replace(/ /g, '') + toHex(v6, 8, 40));
  assert.equal(toHex(b, 0, 1) + toHex(b, 41), 'a5a5');
  setIpv6PayloadLen(b, 1, 0x1234);
  assert.equal(toHex(b, 5, 7), '1234');
});
