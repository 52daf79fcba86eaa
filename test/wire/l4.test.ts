import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { emitIpv4, IpProto } from '../../src/wire/ipv4.js';
import {
  checkIpv6, checkIpv6Length, ipv6Version, ipv6TrafficClass, ipv6FlowLabel, ipv6PayloadLen, ipv6NextHeader,
  ipv6HopLimit, ipv6SrcWord, ipv6DstWord, ipv6DstIsMulticast, emitIpv6,
} from '../../src/wire/ipv6.js';
import { checkUdp, udpSrcPort, udpDstPort, udpLength, udpChecksum, emitUdp, fillUdpChecksum } from '../../src/wire/udp.js';
import {
  checkTcp, tcpSrcPort, tcpDstPort, tcpSeq, tcpAck, tcpHeaderLen, tcpFlags, tcpWindow, tcpChecksum, emitTcp,
  fillTcpChecksum, verifyTcpChecksum, TCP_SYN,
} from '../../src/wire/tcp.js';
import {
  checkIcmp, icmpType, icmpCode, icmpChecksum, icmpEchoId, icmpEchoSeq, emitIcmpEcho, fillIcmpChecksum,
  verifyIcmpChecksum, ICMP_ECHO_REQUEST,
} from '../../src/wire/icmp.js';

// 10.0.0.1:1234 -> 10.0.0.2:5678 "hi"; checksum worked by hand: 0x686e.
const udpPkt = hex('4500 001e 0000 4000 4011 26cd 0a00 0001 0a00 0002' + '04d2 162e 000a 686e 6869');
// 10.0.0.1:1234 -> 10.0.0.2:80 SYN seq 1 win 65535; checksum worked by hand: 0x96bd.
const tcpPkt = hex('4500 0028 0000 4000 4006 26ce 0a00 0001 0a00 0002' +
  '04d2 0050 00000001 00000000 5002 ffff 96bd 0000');

test('udp: parse a known datagram', () => {
  assert.equal(checkUdp(udpPkt, 20, udpPkt.length), true);
  assert.equal(udpSrcPort(udpPkt, 20), 1234);
  assert.equal(udpDstPort(udpPkt, 20), 5678);
  assert.equal(udpLength(udpPkt, 20), 10);
  assert.equal(udpChecksum(udpPkt, 20), 0x686e);
  assert.equal(checkUdp(udpPkt, 20, udpPkt.length - 1), false);
  const bad = udpPkt.slice(); bad[25] = 7;
  assert.equal(checkUdp(bad, 20, bad.length), false);
});

test('udp: emit and checksum into a stale buffer', () => {
  const b = stale(32);
  const u = emitIpv4(b, 0, parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2'), IpProto.Udp, 10);
  const p = emitUdp(b, u, 1234, 5678, 2);
  b[p] = 0x68; b[p + 1] = 0x69;
  fillUdpChecksum(b, 0, u, false);
  assert.equal(toHex(b, 0, 30), toHex(udpPkt));
  assert.equal(toHex(b, 30), 'a5a5');
});

test('tcp: parse a known segment and verify its checksum', () => {
  assert.equal(checkTcp(tcpPkt, 20, tcpPkt.length), 20);
  assert.equal(tcpSrcPort(tcpPkt, 20), 1234);
  assert.equal(tcpDstPort(tcpPkt, 20), 80);
  assert.equal(tcpSeq(tcpPkt, 20), 1);
  assert.equal(tcpAck(tcpPkt, 20), 0);
  assert.equal(tcpHeaderLen(tcpPkt, 20), 20);
  assert.equal(tcpFlags(tcpPkt, 20), TCP_SYN);
  assert.equal(tcpWindow(tcpPkt, 20), 0xffff);
  assert.equal(tcpChecksum(tcpPkt, 20), 0x96bd);
  assert.equal(verifyTcpChecksum(tcpPkt, 0, 20, tcpPkt.length, false), true);
  const bad = tcpPkt.slice(); bad[32] = 0x40;
  assert.equal(checkTcp(bad, 20, bad.length), -1);
  bad[32] = 0x60;
  assert.equal(checkTcp(bad, 20, bad.length), -1);
  assert.equal(checkTcp(tcpPkt, 20, 39), -1);
});

test('tcp: emit and checksum into a stale buffer', () => {
  const b = stale(42);
  const t = emitIpv4(b, 0, parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2'), IpProto.Tcp, 20);
  const e = emitTcp(b, t, 1234, 80, 1, 0, TCP_SYN, 0xffff);
  fillTcpChecksum(b, 0, t, e, false);
  assert.equal(toHex(b, 0, 40), toHex(tcpPkt));
  assert.equal(toHex(b, 40), 'a5a5');
});

test('icmp: known echo request bytes', () => {
  const b = hex('0800 f7ff 0000 0000');
  assert.equal(checkIcmp(b, 0, 8), true);
  assert.equal(checkIcmp(b, 0, 7), false);
  assert.equal(icmpType(b, 0), ICMP_ECHO_REQUEST);
  assert.equal(icmpCode(b, 0), 0);
  assert.equal(icmpChecksum(b, 0), 0xf7ff);
  assert.equal(verifyIcmpChecksum(b, 0, 8), true);
  const e = stale(10);
  emitIcmpEcho(e, 1, ICMP_ECHO_REQUEST, 0x1234, 7);
  fillIcmpChecksum(e, 1, 9);
  assert.equal(icmpEchoId(e, 1), 0x1234);
  assert.equal(icmpEchoSeq(e, 1), 7);
  assert.equal(toHex(e), 'a5' + '0800' + (~(0x0800 + 0x1234 + 7) & 0xffff).toString(16) + '12340007' + 'a5');
});

const v6 = hex('6abcdef1 0008 11 40' + 'fe800000000000000000000000000001' + 'ff020000000000000000000000000001' +
  '0222 0223 0008 0000');

test('ipv6: parse basic fields', () => {
  assert.equal(checkIpv6(v6, 0, v6.length), true);
  assert.equal(checkIpv6Length(v6, 0, v6.length), true);
  assert.equal(checkIpv6Length(v6, 0, v6.length - 1), false);
  assert.equal(ipv6Version(v6, 0), 6);
  assert.equal(ipv6TrafficClass(v6, 0), 0xab);
  assert.equal(ipv6FlowLabel(v6, 0), 0xcdef1);
  assert.equal(ipv6PayloadLen(v6, 0), 8);
  assert.equal(ipv6NextHeader(v6, 0), IpProto.Udp);
  assert.equal(ipv6HopLimit(v6, 0), 64);
  assert.equal(ipv6SrcWord(v6, 0, 0), 0xfe800000);
  assert.equal(ipv6SrcWord(v6, 0, 3), 1);
  assert.equal(ipv6DstWord(v6, 0, 0), 0xff020000);
  assert.equal(ipv6DstIsMulticast(v6, 0), true);
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
});
