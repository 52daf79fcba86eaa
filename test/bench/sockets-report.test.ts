/**
 * The socket-path section of the benchmark (bench/sockets.ts socketsText) and the frames its
 * stand-in QEMU sends (bench/qemu-peer.ts udpFrame, garp): byte fixtures, the table with its
 * dgram / stream ratios and the peers named, n/a rows with their reason, "not selected".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { socketsText, type SocketRow, type SocketRowName } from '../../bench/sockets.js';
import { FRAME_LEN, garp, udpFrame } from '../../bench/qemu-peer.js';
import { verifyIpv4Checksum } from '../../src/wire/ipv4.js';

const m = (v: number) => ({ values: [v], median: v });
const none = { values: [], median: null };

function row(name: SocketRowName, kfps: number, ns: number, peer = 'P'): SocketRow {
  return {
    name, peer, status: 'ok', framesPerSec: m(kfps * 1000), offeredPerSec: m(kfps * 1000 + 500), nsPerFrame: m(ns),
    workerCpuShare: m(0.5), framesPerWakeup: m(3.25), peerCpuShare: name === 'guest-to-guest' ? none : m(0.125),
  };
}

test('the table: one line per row, dgram / stream per direction, the peers and the method', () => {
  const text = socketsText({ status: 'ok', seconds: 3, qlen: 512, rows: [
    { ...row('stream-to-guest', 200, 4000, 'S'), framesPerWakeup: m(501216) }, row('guest-to-stream', 100, 5000, 'S'),
    row('dgram-to-guest', 100, 6000, 'D'), row('guest-to-dgram', 150, 4500, 'D'), row('guest-to-guest', 120, 5500, 'none'),
    row('dgram-to-guest-qlen', 150, 3000, 'D'), row('guest-to-dgram-qlen', 150, 4500, 'D'),
  ] });
  assert.equal(text, [
    "QEMU socket paths at full rate (64-byte UDP frames; a stand-in on QEMU's side of the socket, bench/qemu-peer.ts; TCP over them: the VM rows):",
    '  path                                      | delivered kfr/s | offered kfr/s | worker ns/frame | worker CPU | fr/wake | stand-in CPU',
    '  stream socket -> guest (stand-in sends)   |           200.0 |         200.5 |            4000 |        50% |    501k |          13%',
    '  guest -> stream socket (stand-in counts)  |           100.0 |         100.5 |            5000 |        50% |     3.3 |          13%',
    '  dgram socket -> guest (stand-in sends)    |           100.0 |         100.5 |            6000 |        50% |     3.3 |          13%',
    '  guest -> dgram socket (stand-in counts)   |           150.0 |         150.5 |            4500 |        50% |     3.3 |          13%',
    '  guest -> guest (TAP NICs, reference)      |           120.0 |         120.5 |            5500 |        50% |     3.3 |            -',
    '  dgram socket -> guest, max_dgram_qlen 512 |           150.0 |         150.5 |            3000 |        50% |     3.3 |          13%',
    '  guest -> dgram socket, max_dgram_qlen 512 |           150.0 |         150.5 |            4500 |        50% |     3.3 |          13%',
    '  dgram / stream, socket -> guest: rate x0.50, worker ns/frame x1.50',
    '  dgram / stream, guest -> socket: rate x1.50, worker ns/frame x0.90',
    '  dgram qlen 512 / default, socket -> guest: rate x1.50, worker ns/frame x0.50',
    '  dgram qlen 512 / default, guest -> socket: rate x1.00, worker ns/frame x1.00',
    '  peer: S', '  peer: D', '  peer: none',
    '  each figure the median of the repetitions, 3 s each; worker ns/frame = data-plane thread CPU / frames the switch received',
  ].join('\n'));
});

test('a row that could not run says why and has no ratio; n/a as a whole; not selected', () => {
  const bad: SocketRow = { ...row('dgram-to-guest', 0, 0), status: 'n/a', reason: 'the DGRAM stand-in exited' };
  const text = socketsText({ status: 'partial', reason: 'dgram-to-guest: the DGRAM stand-in exited', seconds: 3, qlen: 512, rows: [row('stream-to-guest', 200, 4000), bad] });
  assert.match(text, /^ {2}partial: dgram-to-guest: the DGRAM stand-in exited$/m);
  assert.match(text, /^ {2}dgram socket -> guest \(stand-in sends\) +\| n\/a: the DGRAM stand-in exited$/m);
  assert.doesNotMatch(text, /dgram \/ stream/);
  assert.match(socketsText({ status: 'n/a', reason: 'no vswitchd', seconds: 3, qlen: 512, rows: [] }), /\n {2}n\/a: no vswitchd$/);
  assert.match(socketsText(null), /not selected \(--only sockets\)$/);
});

test('the stand-in\'s 64-byte frame and gratuitous ARP, byte for byte', () => {
  const f = udpFrame(0x02aa00000001, 0x0a4c0a15, 0x02bb00000002, 0x0a4c0a0b);
  assert.equal(f.length, FRAME_LEN);
  assert.equal(Buffer.from(f).toString('hex'),
    '02bb00000002' + '02aa00000001' + '0800' + // Ethernet
    '45000032' + '00004000' + '4011' + Buffer.from(f.subarray(24, 26)).toString('hex') + '0a4c0a15' + '0a4c0a0b' + // IPv4, DF, UDP
    '9c400009' + '001e0000' + '00'.repeat(22)); // UDP 40000 -> 9, length 30, checksum 0
  assert.ok(verifyIpv4Checksum(f, 14), 'IPv4 header checksum');
  assert.equal(Buffer.from(garp(0x02aa00000001, 0x0a4c0a15)).toString('hex'),
    'ffffffffffff' + '02aa00000001' + '0806' + '0001' + '0800' + '06' + '04' + '0001' + '02aa00000001' + '0a4c0a15' + '000000000000' + '0a4c0a15');
});
