/**
 * The IP-mode forwarder with layer-2 policies: a LAN IP table per VLAN (an address in one VLAN
 * is no source, destination or ARP answer in another), floods within the VLAN, tags at the
 * edges through the sends' TCI, ISOLATION, MACPROTECT and promiscuous copies. Pure, with the
 * recording egress.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpSwitch } from '../../src/forward/ip-switch.js';
import { PortRole } from '../../src/forward/api.js';
import { readMac } from '../../src/wire/addr.js';
import type { PortPolicy } from '../../src/protocol/dataplane.js';
import { RecordingEgress, counters, drops, udpFrame, arpFrame, ip, tag, Frame } from './helpers.js';

const SW = 4;
const A = 0x020000000001, B = 0x020000000002, T = 0x020000000004, P = 0x020000000005, U = 0x0200000000ff;
const L = 0x00aa00000001, BC = 0xffffffffffff;
const PA = 1, PB = 2, PT = 4, PP = 5, PU = 9;
const IP_A = ip('10.0.0.1'), IP_B = ip('10.0.0.2'), IP_T10 = ip('10.0.0.3'), IP_T20 = ip('10.0.0.4'), IP_L = ip('10.0.0.100');
const access = (pvid: number, more: Partial<PortPolicy> = {}): PortPolicy =>
  ({ portType: 'ACCESS', pvid, vlans: [], promiscuous: false, macProtect: false, ...more });

/** A: access 10, B: access 20, T: trunk of 10 and 20; addresses registered per VLAN; uplink with native VLAN 20. */
function setup(isolation = false) {
  const eg = new RecordingEgress();
  const c = counters();
  const seen: Array<[number, number, number]> = [];
  const sw = new IpSwitch(SW, c, eg, { sawAddress: (p, a, v) => { seen.push([p, a, v]); } });
  sw.setSwitchPolicy({ vlanAware: true, nativeVid: 20, isolation });
  sw.addPort(PA, PortRole.Nic, A); sw.setPortPolicy(PA, access(10));
  sw.addPort(PB, PortRole.Nic, B); sw.setPortPolicy(PB, access(20));
  sw.addPort(PT, PortRole.Nic, T); sw.setPortPolicy(PT, { portType: 'TRUNK', pvid: 0, vlans: [10, 20], promiscuous: false, macProtect: false });
  sw.addPort(PU, PortRole.Uplink, U);
  sw.setAddress(IP_A, PA, false, 10);
  sw.setAddress(IP_B, PB, false, 20);
  sw.setAddress(IP_T10, PT, false, 10);
  sw.setAddress(IP_T20, PT, false, 20);
  return { sw, eg, c, seen };
}
type S = ReturnType<typeof setup>;
const run = (s: S, port: number, f: Frame) => s.sw.input(port, f.buf, f.hdr, f.eth, f.end, 0);
const sent = (s: S) => s.eg.sent.map((x) => `${x.port}/${x.tci}`);

test('ip vlan: unicast is looked up in the frame\'s VLAN only; another VLAN\'s address goes to the uplink, never to its NIC', () => {
  const s = setup();
  run(s, PA, udpFrame(U, A, IP_A, IP_T10));
  run(s, PA, udpFrame(U, A, IP_A, IP_B));
  run(s, PT, tag(udpFrame(U, T, IP_T20, IP_B), 20));
  assert.deepEqual(sent(s), ['4/10', '9/10', '2/20']);
  assert.equal(readMac(s.eg.sent[0].frame, 0), T, 'delivered with T\'s MAC');
  assert.deepEqual(drops(s.c, SW), {});
});

test('ip vlan: an address registered in one VLAN is not a source in another (spoofed-source)', () => {
  const s = setup();
  run(s, PT, tag(udpFrame(U, T, IP_T10, IP_L), 20));
  run(s, PT, tag(arpFrame(BC, T, 1, T, IP_T10, 0, IP_L), 20));
  assert.deepEqual(sent(s), []);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 2 });
  run(s, PT, tag(udpFrame(U, T, IP_T10, IP_L), 10));
  assert.deepEqual(sent(s), ['9/10']);
});

test('ip vlan: the same address in two VLANs is two entries; the uplink delivers by VLAN; untagged LAN frames are the native VLAN', () => {
  const s = setup();
  const X = ip('10.0.0.9');
  s.sw.setAddress(X, PA, false, 10);
  s.sw.setAddress(X, PB, false, 20);
  run(s, PU, tag(udpFrame(U, L, IP_L, X), 10));
  run(s, PU, udpFrame(U, L, IP_L, X));
  run(s, PU, tag(udpFrame(U, L, IP_L, X), 30));
  assert.deepEqual(sent(s), ['1/10', '2/20']);
  assert.deepEqual(drops(s.c, SW), { 'vlan-not-allowed': 1 });
  s.sw.clearAddress(X, 10);
  run(s, PU, tag(udpFrame(U, L, IP_L, X), 10));
  assert.deepEqual(drops(s.c, SW), { 'vlan-not-allowed': 1, 'unknown-destination': 1 });
  assert.throws(() => s.sw.setAddress(X, PA, false, 4095), RangeError);
});

test('ip vlan: ARP is answered per VLAN; broadcasts reach only the VLAN\'s NICs', () => {
  const s = setup();
  run(s, PU, tag(arpFrame(BC, L, 1, L, IP_L, 0, IP_A), 10));
  run(s, PU, arpFrame(BC, L, 1, L, IP_L, 0, IP_A));
  assert.deepEqual(sent(s), ['9/10'], 'A\'s address answered in VLAN 10 only');
  assert.equal(drops(s.c, SW)['arp-ignored'], 1);
  s.eg.clear();
  run(s, PU, tag(udpFrame(BC, L, IP_L, 0xffffffff), 10));
  run(s, PU, udpFrame(BC, L, IP_L, 0xffffffff));
  assert.deepEqual(sent(s), ['1/10', '4/10', '2/20', '4/20']);
  s.eg.clear();
  run(s, PA, arpFrame(BC, A, 1, A, IP_A, 0, IP_B));
  assert.deepEqual(sent(s), ['9/10'], 'B\'s address (VLAN 20) is not answered for A: relayed to the LAN in VLAN 10');
});

test('ip vlan: a tagged frame from an access port is tagged-on-access; the sawAddress report names the VLAN', () => {
  const s = setup();
  run(s, PA, tag(udpFrame(U, A, IP_A, IP_L), 10));
  assert.deepEqual(drops(s.c, SW), { 'tagged-on-access': 1 });
  run(s, PT, tag(udpFrame(U, T, ip('10.0.0.77'), IP_L), 20));
  assert.deepEqual(s.seen, [[PT, ip('10.0.0.77'), 20]]);
});

test('ip vlan: ISOLATION keeps NICs apart (unicast, ARP answers, broadcast) and lets them reach the LAN', () => {
  const s = setup(true);
  run(s, PA, udpFrame(T, A, IP_A, IP_T10));
  run(s, PA, arpFrame(BC, A, 1, A, IP_A, 0, IP_T10));
  assert.deepEqual(drops(s.c, SW), { isolated: 2 });
  run(s, PA, udpFrame(BC, A, IP_A, 0xffffffff));
  run(s, PA, udpFrame(U, A, IP_A, IP_L));
  run(s, PU, tag(udpFrame(U, L, IP_L, IP_A), 10));
  assert.deepEqual(sent(s), ['9/10', '9/10', '1/10']);
});

test('ip vlan: MACPROTECT drops a NIC\'s frame with a foreign source MAC (spoofed-mac)', () => {
  const s = setup();
  s.sw.setPortPolicy(PA, access(10, { macProtect: true }));
  run(s, PA, udpFrame(U, 0x0200000000aa, IP_A, IP_L));
  run(s, PA, udpFrame(U, A, IP_A, IP_L));
  assert.deepEqual(drops(s.c, SW), { 'spoofed-mac': 1 });
  assert.deepEqual(sent(s), ['9/10']);
});

test('ip vlan: a promiscuous NIC gets copies of its VLAN\'s switched frames, both directions', () => {
  const s = setup();
  s.sw.addPort(PP, PortRole.Nic, P);
  s.sw.setPortPolicy(PP, access(10, { promiscuous: true }));
  run(s, PA, udpFrame(T, A, IP_A, IP_T10));
  run(s, PA, udpFrame(U, A, IP_A, IP_L));
  run(s, PU, tag(udpFrame(U, L, IP_L, IP_A), 10));
  run(s, PB, udpFrame(U, B, IP_B, IP_L));
  assert.deepEqual(sent(s), ['4/10', '5/10', '9/10', '5/10', '1/10', '5/10', '9/20']);
});

test('ip vlan: the switch\'s own frames go in the VLAN asked for (announce, probe); unaware: untagged', () => {
  const s = setup();
  s.sw.announce(IP_B, 20);
  s.sw.probe(ip('10.0.0.50'), 10);
  assert.deepEqual(sent(s), ['9/20', '9/10']);
  const eg = new RecordingEgress();
  const u = new IpSwitch(SW, counters(), eg, {});
  u.addPort(PU, PortRole.Uplink, U);
  u.announce(IP_A);
  assert.deepEqual(eg.sent.map((x) => x.tci), [0]);
});

test('ip vlan: a LAN holder is held in its VLAN only: a LAN host\'s address in VLAN 20 does not refuse the probe of it in VLAN 10; its probe in VLAN 20 is refused at once; a probe answered in VLAN 10 reports VLAN 10', () => {
  const eg = new RecordingEgress();
  const holders: Array<[number, number, number]> = [];
  const sw = new IpSwitch(SW, counters(), eg, { lanHolder: (i, m, v) => { holders.push([i, m, v]); } });
  sw.setSwitchPolicy({ vlanAware: true, nativeVid: 20, isolation: false });
  sw.addPort(PA, PortRole.Nic, A); sw.setPortPolicy(PA, access(10));
  sw.addPort(PU, PortRole.Uplink, U);
  const X = ip('10.0.0.50');
  // The VLAN-20 LAN host L holds X: its ARP seen on the uplink untagged (the native VLAN, 20).
  const f = arpFrame(BC, L, 1, L, X, 0, IP_L);
  sw.input(PU, f.buf, f.hdr, f.eth, f.end, 0);
  sw.probe(X, 10);
  assert.deepEqual(holders, [], 'not held in VLAN 10');
  sw.probe(X, 20);
  assert.deepEqual(holders, [[X, L, 20]], 'held in VLAN 20: refused without a probe');
  // Another LAN host M answers the VLAN-10 probe (a probe of its own for X, tagged 10).
  const M = 0x00aa00000002;
  const g = tag(arpFrame(BC, M, 1, M, 0, 0, X), 10);
  sw.input(PU, g.buf, g.hdr, g.eth, g.end, 0);
  assert.deepEqual(holders, [[X, L, 20], [X, M, 10]], 'the VLAN-10 probe\'s answer is reported in VLAN 10');
});
