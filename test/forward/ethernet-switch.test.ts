import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EthernetSwitch } from '../../src/forward/ethernet-switch.js';
import { PortRole } from '../../src/forward/api.js';
import { RecordingEgress, counters, drops, udpFrame, ip, hexOf, Frame } from './helpers.js';

const SW = 5;
const A = 0x020000000001, B = 0x020000000002, C = 0x020000000003, L = 0x00aa00000001;
const BC = 0xffffffffffff;

function setup(opts?: { maxEntries?: number; agingMs?: number }) {
  const eg = new RecordingEgress();
  const c = counters();
  const sw = new EthernetSwitch(SW, c, eg, opts);
  sw.addPort(1, PortRole.Nic, A);
  sw.addPort(2, PortRole.Nic, B);
  sw.addPort(3, PortRole.Nic, C);
  sw.addPort(9, PortRole.Uplink, 0x0200000000ff);
  return { sw, eg, c };
}
const f = (dst: number, src: number) => udpFrame(dst, src, ip('10.0.0.1'), ip('10.0.0.2'));
const run = (s: ReturnType<typeof setup>, port: number, fr: Frame, now = 0) => s.sw.input(port, fr.buf, fr.hdr, fr.eth, fr.end, now);
const ports = (s: ReturnType<typeof setup>) => s.eg.sent.map((x) => x.port);

test('ethernet: unknown unicast floods to all other ports (uplink included), unchanged', () => {
  const s = setup();
  const fr = f(B, A);
  const before = hexOf(fr.buf, fr.eth, fr.end);
  run(s, 1, fr);
  assert.deepEqual(ports(s), [2, 3, 9]);
  for (const x of s.eg.sent) assert.equal(hexOf(x.frame), before);
  assert.deepEqual(drops(s.c, SW), {});
});

test('ethernet: learned unicast goes only to its port; the uplink is just a port', () => {
  const s = setup();
  run(s, 2, f(A, B));
  run(s, 9, f(B, L));
  s.eg.clear();
  run(s, 1, f(B, A));
  run(s, 2, f(L, B));
  run(s, 9, f(A, L));
  assert.deepEqual(ports(s), [2, 9, 1]);
});

test('ethernet: broadcast and multicast flood even when learned', () => {
  const s = setup();
  run(s, 2, f(A, B));
  s.eg.clear();
  run(s, 1, f(BC, A));
  run(s, 1, f(0x01005e000001, A));
  assert.deepEqual(ports(s), [2, 3, 9, 2, 3, 9]);
});

test('ethernet: destination learned on the ingress port is Hairpin', () => {
  const s = setup();
  run(s, 1, f(BC, A));
  run(s, 1, f(0x020000000011, 0x020000000010));
  s.eg.clear();
  run(s, 1, f(A, 0x020000000010));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { hairpin: 1 });
});

test('ethernet: a flood with no other port is Hairpin', () => {
  const eg = new RecordingEgress();
  const c = counters();
  const sw = new EthernetSwitch(SW, c, eg);
  sw.addPort(1, PortRole.Nic, A);
  const fr = f(BC, A);
  sw.input(1, fr.buf, fr.hdr, fr.eth, fr.end, 0);
  assert.deepEqual(drops(c, SW), { hairpin: 1 });
});

test('ethernet: group or zero source is BadSource and is not learned', () => {
  const s = setup();
  run(s, 1, f(B, 0x010000000001));
  run(s, 1, f(B, 0));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'bad-source': 2 });
  assert.equal(s.sw.table.size, 0);
});

test('ethernet: short frames and frames from unattached ports are Malformed', () => {
  const s = setup();
  const fr = f(B, A);
  run(s, 1, { ...fr, end: fr.eth + 13 });
  run(s, 77, fr);
  run(s, -1, fr);
  assert.deepEqual(drops(s.c, SW), { malformed: 3 });
});

test('ethernet: a station that moves is relearned on its new port', () => {
  const s = setup();
  run(s, 1, f(BC, A));
  run(s, 3, f(BC, A));
  s.eg.clear();
  run(s, 2, f(A, B));
  assert.deepEqual(ports(s), [3]);
});

test('ethernet: aging with a fake clock', () => {
  const s = setup({ agingMs: 1000 });
  run(s, 1, f(BC, A), 0);
  run(s, 2, f(BC, B), 500);
  s.sw.tick(999);
  assert.equal(s.sw.table.lookup(A), 1);
  s.sw.tick(1000);
  assert.equal(s.sw.table.lookup(A), -1, 'A expired at used + agingMs');
  assert.equal(s.sw.table.lookup(B), 2);
  run(s, 2, f(BC, B), 1400); // refreshed
  s.sw.tick(1600);
  assert.equal(s.sw.table.lookup(B), 2);
  s.eg.clear();
  run(s, 2, f(A, B), 1600);
  assert.deepEqual(ports(s), [1, 3, 9], 'unknown again: flooded');
  s.sw.tick(2600);
  assert.equal(s.sw.table.lookup(B), -1);
});

test('ethernet: full table evicts from the port holding the most entries; a MAC flood cannot push out other stations', () => {
  const s = setup({ maxEntries: 8 });
  run(s, 1, f(BC, A), 1);
  run(s, 2, f(BC, B), 2);
  run(s, 3, f(BC, C), 3);
  // Port 9 floods random source MACs.
  for (let i = 0; i < 100; i++) run(s, 9, f(BC, 0x0a0000000000 + i), 10 + i);
  assert.equal(s.sw.table.size, 8);
  assert.equal(s.sw.table.lookup(A), 1);
  assert.equal(s.sw.table.lookup(B), 2);
  assert.equal(s.sw.table.lookup(C), 3);
  assert.equal(s.sw.table.portCount(9), 5);
  // The newest five of the flood remain (LRU per port).
  for (let i = 95; i < 100; i++) assert.equal(s.sw.table.lookup(0x0a0000000000 + i), 9);
  assert.deepEqual(drops(s.c, SW), { 'learn-table-full': 95 });
  // Another station on a small port still gets learned, evicting from the flooder.
  run(s, 1, f(BC, 0x020000000044), 500);
  assert.equal(s.sw.table.lookup(0x020000000044), 1);
  assert.equal(s.sw.table.portCount(9), 4);
});

test('ethernet: full-table eviction picks the biggest port even when it is not the learner', () => {
  const s = setup({ maxEntries: 4 });
  run(s, 1, f(BC, 0x020000000101), 1);
  run(s, 1, f(BC, 0x020000000102), 2);
  run(s, 1, f(BC, 0x020000000103), 3);
  run(s, 2, f(BC, B), 4);
  run(s, 3, f(BC, C), 5);
  assert.equal(s.sw.table.lookup(0x020000000101), -1, 'oldest entry of port 1 evicted');
  assert.equal(s.sw.table.lookup(B), 2);
  assert.equal(s.sw.table.lookup(C), 3);
});

test('ethernet: removePort forgets its stations and stops flooding to it', () => {
  const s = setup();
  run(s, 2, f(BC, B));
  s.sw.removePort(2);
  assert.equal(s.sw.table.lookup(B), -1);
  s.eg.clear();
  run(s, 1, f(B, A));
  assert.deepEqual(ports(s), [3, 9]);
});

test('ethernet: offload header passes through with the frame', () => {
  const s = setup();
  const fr = f(BC, A);
  fr.buf.set([1, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0], 0);
  run(s, 1, fr);
  assert.equal(hexOf(s.eg.sent[0].vnet), '01013600a80522001000');
});
