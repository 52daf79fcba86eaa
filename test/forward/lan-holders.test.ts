/**
 * The IP forwarder's view of who holds an address on the LAN (issue 9, item 1): the ARP probe
 * it sends for probe(ip), the lan-holder reports (a probe answered, an address already seen, a
 * registered address appearing on the LAN) and the bounded table behind them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpSwitch, PROBE_MARK_MS, LAN_HOLDER_REPORTS_PER_TICK } from '../../src/forward/ip-switch.js';
import { LanHolders, LAN_HOLDER_AGE_MS } from '../../src/forward/lan-holders.js';
import { PortRole } from '../../src/forward/api.js';
import { readMac } from '../../src/wire/addr.js';
import { arpOp, arpSha, arpSpa, arpTha, arpTpa } from '../../src/wire/arp.js';
import { RecordingEgress, counters, arpFrame, ip, hexOf } from './helpers.js';

const SW = 2;
const A = 0x020000000001, U = 0x0200000000ff, L = 0x00aa00000001, M = 0x00aa00000002, BC = 0xffffffffffff;
const PA = 1, PU = 9;
const IP_A = ip('10.0.0.1'), IP_L = ip('10.0.0.100'), IP_NEW = ip('10.0.0.7');

function setup(uplink = true) {
  const eg = new RecordingEgress();
  const holders: Array<[number, number]> = [];
  const sw = new IpSwitch(SW, counters(), eg, { lanHolder: (i, m) => { holders.push([i, m]); } });
  sw.addPort(PA, PortRole.Nic, A);
  if (uplink) sw.addPort(PU, PortRole.Uplink, U);
  sw.setAddress(IP_A, PA, false);
  sw.tick(1000);
  eg.clear();
  return { sw, eg, holders };
}

test('probe: an RFC 5227 ARP probe out the uplink (sender MAC the uplink\'s, sender IP 0.0.0.0); none without an uplink', () => {
  const s = setup();
  s.sw.probe(IP_NEW);
  assert.equal(s.eg.sent.length, 1);
  const { port, frame, vnet } = s.eg.sent[0];
  assert.equal(port, PU);
  assert.equal(readMac(frame, 0), BC);
  assert.equal(readMac(frame, 6), U);
  assert.equal(arpOp(frame, 14), 1);
  assert.equal(arpSha(frame, 14), U);
  assert.equal(arpSpa(frame, 14), 0);
  assert.equal(arpTha(frame, 14), 0);
  assert.equal(arpTpa(frame, 14) >>> 0, IP_NEW);
  assert.equal(frame.length, 60);
  assert.equal(hexOf(vnet), '00'.repeat(10));
  const n = setup(false);
  n.sw.probe(IP_NEW);
  assert.equal(n.eg.sent.length, 0);
});

test('probe: a LAN reply or a LAN probe for the address is reported while the mark stands, not after', () => {
  const s = setup();
  s.sw.probe(IP_NEW);
  s.sw.input(PU, ...args(arpFrame(U, L, 2, L, IP_NEW, U, 0)), 1100);
  assert.deepEqual(s.holders, [[IP_NEW, L]]);
  s.sw.input(PU, ...args(arpFrame(BC, M, 1, M, 0, 0, IP_NEW)), 1200); // another host probing it
  assert.deepEqual(s.holders, [[IP_NEW, L], [IP_NEW, M]]);
  s.sw.input(PU, ...args(arpFrame(BC, U, 1, U, 0, 0, IP_NEW)), 1200); // the switch's own probe looped back
  assert.equal(s.holders.length, 2);
  const t = setup();
  t.sw.probe(IP_NEW);
  t.sw.input(PU, ...args(arpFrame(BC, M, 1, M, 0, 0, IP_NEW)), 1000 + PROBE_MARK_MS);
  assert.deepEqual(t.holders, []);
});

test('probe: an address already seen as an ARP sender on the LAN is reported at once, without a probe; aged ones are probed', () => {
  const s = setup();
  s.sw.input(PU, ...args(arpFrame(BC, L, 1, L, IP_L, 0, ip('10.0.0.200'))), 2000);
  assert.deepEqual(s.holders, []);
  s.eg.clear();
  s.sw.probe(IP_L);
  assert.deepEqual(s.holders, [[IP_L, L]]);
  assert.equal(s.eg.sent.length, 0);
  s.sw.tick(2000 + LAN_HOLDER_AGE_MS);
  s.sw.probe(IP_L);
  assert.equal(s.holders.length, 1);
  assert.equal(s.eg.sent.length, 1, 'probed again');
});

test('a registered address appearing on the LAN is reported, within the per-tick budget', () => {
  const s = setup();
  for (let i = 0; i < LAN_HOLDER_REPORTS_PER_TICK + 5; i++) s.sw.input(PU, ...args(arpFrame(BC, L, 1, L, IP_A, 0, IP_L)), 1500);
  assert.equal(s.holders.length, LAN_HOLDER_REPORTS_PER_TICK);
  assert.deepEqual(s.holders[0], [IP_A, L]);
  s.sw.tick(2500);
  s.sw.input(PU, ...args(arpFrame(BC, L, 1, L, IP_A, 0, IP_L)), 2500);
  assert.equal(s.holders.length, LAN_HOLDER_REPORTS_PER_TICK + 1);
});

test('LanHolders: bounded; a bucket flooded with made-up senders evicts its oldest, lookups age', () => {
  const h = new LanHolders();
  h.record(IP_L | 0, L, 0);
  assert.equal(h.mac(h.find(IP_L | 0, 10)), L);
  h.record(IP_L | 0, M, 20);
  assert.equal(h.mac(h.find(IP_L | 0, 30)), M, 'refreshed in its slot');
  assert.equal(h.find(IP_L | 0, 20 + LAN_HOLDER_AGE_MS), -1);
  const g = new LanHolders();
  for (let i = 0; i < 100_000; i++) g.record(i, L, 1000 + i);
  assert.equal(g.find(0, 200_000), -1, 'the oldest gave way');
  assert.ok(g.find(99_999, 200_000) >= 0, 'the newest is there');
});

function args(f: { buf: Uint8Array; hdr: number; eth: number; end: number }): [Uint8Array, number, number, number] {
  return [f.buf, f.hdr, f.eth, f.end];
}
