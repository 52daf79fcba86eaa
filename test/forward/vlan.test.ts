/**
 * The ETHERNET-mode forwarder with layer-2 policies (l2-policy.ts, ethernet-switch.ts): 802.1Q
 * at the edges (access, trunk, the uplink as a trunk with a native VLAN), the MAC table per
 * VLAN, MACPROTECT, ISOLATION and promiscuous (mirror) ports; drops counted by reason. Pure,
 * with the recording egress: a send's TCI is what the egress tags with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EthernetSwitch } from '../../src/forward/ethernet-switch.js';
import { PortRole } from '../../src/forward/api.js';
import { portPolicyError, switchPolicyError } from '../../src/forward/l2-policy.js';
import type { PortPolicy, SwitchPolicy } from '../../src/protocol/dataplane.js';
import { RecordingEgress, counters, drops, udpFrame, ip, hexOf, tag, Frame } from './helpers.js';

const SW = 7;
const A = 0x020000000001, B = 0x020000000002, C = 0x020000000003, T = 0x020000000004, P = 0x020000000005;
const U = 0x0200000000ff, L = 0x00aa00000001, BC = 0xffffffffffff;
const PA = 1, PB = 2, PC = 3, PT = 4, PP = 5, PU = 9;

const access = (pvid: number, more: Partial<PortPolicy> = {}): PortPolicy =>
  ({ portType: 'ACCESS', pvid, vlans: [], promiscuous: false, macProtect: false, ...more });
const trunk = (pvid: number, vlans: number[], more: Partial<PortPolicy> = {}): PortPolicy =>
  ({ portType: 'TRUNK', pvid, vlans, promiscuous: false, macProtect: false, ...more });
const aware = (nativeVid = 0, isolation = false): SwitchPolicy => ({ vlanAware: true, nativeVid, isolation });

/** A: access 10, B: access 10, C: access 20, T: trunk of 10 and 20 (no native), the uplink. */
function setup(opts: { native?: number; isolation?: boolean; uplink?: boolean } = {}) {
  const eg = new RecordingEgress();
  const c = counters();
  const sw = new EthernetSwitch(SW, c, eg, { maxEntries: 64 });
  sw.setSwitchPolicy(aware(opts.native ?? 0, opts.isolation ?? false));
  sw.addPort(PA, PortRole.Nic, A); sw.setPortPolicy(PA, access(10));
  sw.addPort(PB, PortRole.Nic, B); sw.setPortPolicy(PB, access(10));
  sw.addPort(PC, PortRole.Nic, C); sw.setPortPolicy(PC, access(20));
  sw.addPort(PT, PortRole.Nic, T); sw.setPortPolicy(PT, trunk(0, [10, 20]));
  if (opts.uplink !== false) sw.addPort(PU, PortRole.Uplink, U);
  return { sw, eg, c };
}
type S = ReturnType<typeof setup>;
const f = (dst: number, src: number) => udpFrame(dst, src, ip('10.0.0.1'), ip('10.0.0.2'));

const run = (s: S, port: number, fr: Frame, now = 0) => s.sw.input(port, fr.buf, fr.hdr, fr.eth, fr.end, now);
const sent = (s: S) => s.eg.sent.map((x) => `${x.port}/${x.tci}`);

test('vlan: a broadcast from an access port floods its VLAN only, untagged inside, with its VLAN for the egress', () => {
  const s = setup();
  const fr = f(BC, A);
  const before = hexOf(fr.buf, fr.eth, fr.end);
  run(s, PA, fr);
  assert.deepEqual(sent(s), ['2/10', '4/10', '9/10']);
  for (const x of s.eg.sent) assert.equal(hexOf(x.frame), before, 'the frame itself untagged');
  run(s, PC, f(BC, C));
  assert.deepEqual(sent(s).slice(3), ['4/20', '9/20'], 'VLAN 20 reaches the trunk and the uplink, not A or B');
  assert.deepEqual(drops(s.c, SW), {});
});

test('vlan: a tagged frame from an access port is tagged-on-access (802.1Q and 802.1ad)', () => {
  const s = setup();
  run(s, PA, tag(f(BC, A), 10));
  run(s, PA, tag(f(BC, A), 10, 0x88a8));
  assert.deepEqual(sent(s), []);
  assert.deepEqual(drops(s.c, SW), { 'tagged-on-access': 2 });
});

test('vlan: a trunk sends tagged in its VLANs; the tag comes off, the priority stays, the virtio-net header follows', () => {
  const s = setup();
  const fr = f(BC, T);
  fr.buf[0] = 1; fr.buf[6] = 34; fr.buf[7] = 0; fr.buf[8] = 6; // NEEDS_CSUM, csum_start 34 (UDP), csum_offset 6
  const inner = hexOf(fr.buf, fr.eth, fr.end);
  const t = tag(fr, 0xa000 | 20);
  assert.equal(t.buf[t.hdr + 6], 38, 'tagged: csum_start 38');
  run(s, PT, t);
  assert.deepEqual(sent(s), [`3/${0xa000 | 20}`, `9/${0xa000 | 20}`]);
  for (const x of s.eg.sent) {
    assert.equal(hexOf(x.frame), inner, 'untagged inside the switch');
    assert.equal(x.vnet[6], 34, 'csum_start back to the untagged frame');
  }
});

test('vlan: a trunk frame in a VLAN not granted, untagged without a native VLAN, double tagged, or VID 4095 is vlan-not-allowed', () => {
  const s = setup();
  run(s, PT, tag(f(BC, T), 30));
  run(s, PT, f(BC, T));
  run(s, PT, tag(tag(f(BC, T), 20), 10));
  run(s, PT, tag(f(BC, T), 4095));
  run(s, PT, tag(f(BC, T), 10, 0x88a8));
  assert.deepEqual(sent(s), []);
  assert.deepEqual(drops(s.c, SW), { 'vlan-not-allowed': 5 });
});

test('vlan: the uplink is a trunk of the NICs\' VLANs; untagged LAN frames need a native VLAN', () => {
  const s = setup();
  run(s, PU, f(BC, L));
  run(s, PU, tag(f(BC, L), 99));
  assert.deepEqual(drops(s.c, SW), { 'vlan-not-allowed': 2 });
  run(s, PU, tag(f(BC, L), 10));
  assert.deepEqual(sent(s), ['1/10', '2/10', '4/10']);
  s.eg.clear();
  s.sw.setSwitchPolicy(aware(20));
  run(s, PU, f(BC, L));
  assert.deepEqual(sent(s), ['3/20', '4/20'], 'untagged LAN frames are in the native VLAN');
  s.eg.clear();
  s.sw.setPortPolicy(PC, access(30));
  run(s, PU, tag(f(BC, L), 30));
  assert.deepEqual(sent(s), ['3/30'], 'a VLAN a NIC was moved to is on the uplink at once');
  run(s, PU, tag(f(BC, L), 10));
  s.eg.clear();
  s.sw.setPortPolicy(PA, access(11)); s.sw.setPortPolicy(PB, access(11)); s.sw.setPortPolicy(PT, trunk(0, [20]));
  run(s, PU, tag(f(BC, L), 10));
  assert.deepEqual(sent(s), [], 'a VLAN no NIC is in any more is not carried');
});

test('vlan: the MAC table is per VLAN: the same MAC in two VLANs is two entries, never crossed', () => {
  const s = setup({ native: 0 });
  run(s, PU, tag(f(BC, L), 10), 5);
  run(s, PU, tag(f(BC, L), 20), 5);
  s.eg.clear();
  run(s, PA, f(L, A), 10);
  run(s, PC, f(L, C), 10);
  assert.deepEqual(sent(s), ['9/10', '9/20']);
  s.eg.clear();
  // C (VLAN 20) is learned; A (VLAN 10) sending to C's MAC floods VLAN 10 and never reaches C.
  run(s, PA, f(C, A), 10);
  assert.deepEqual(sent(s), ['2/10', '4/10', '9/10']);
  const fdb = s.sw.fdb(12).map((e) => `${e.mac.toString(16)}@${e.vid}:${e.port}:${e.ageMs}`).sort();
  assert.deepEqual(fdb, ['20000000001@10:1:2', '20000000003@20:3:2', 'aa00000001@10:9:7', 'aa00000001@20:9:7']);
});

test('vlan: MACPROTECT: a foreign source MAC is spoofed-mac; nobody moves a protected NIC\'s entry', () => {
  const s = setup();
  s.sw.setPortPolicy(PA, access(10, { macProtect: true }));
  run(s, PA, f(BC, 0x02000000dead));
  assert.deepEqual(drops(s.c, SW), { 'spoofed-mac': 1 });
  assert.equal(s.sw.table.size, 0, 'not learned');
  run(s, PA, f(BC, A));
  assert.equal(s.sw.table.lookup(A, 10), PA);
  run(s, PB, f(BC, A)); // B is not protected, but A's MAC is A's
  run(s, PU, tag(f(BC, A), 10)); // nor from the LAN
  assert.deepEqual(drops(s.c, SW), { 'spoofed-mac': 3 });
  assert.equal(s.sw.table.lookup(A, 10), PA, 'A\'s entry did not move');
  s.eg.clear();
  run(s, PB, f(A, B));
  assert.deepEqual(sent(s), ['1/10'], 'traffic to A still reaches A');
  s.sw.setPortPolicy(PA, access(10));
  run(s, PB, f(BC, A));
  assert.equal(s.sw.table.lookup(A, 10), PB, 'without protection a station may move');
});

test('vlan: ISOLATION: NICs reach only the uplink (unicast, broadcast, multicast); the uplink reaches them all', () => {
  const s = setup({ isolation: true });
  run(s, PB, f(BC, B));
  s.eg.clear();
  run(s, PA, f(B, A));
  assert.deepEqual(drops(s.c, SW), { isolated: 1 });
  run(s, PA, f(BC, A));
  run(s, PA, f(0x01005e000001, A));
  run(s, PA, f(0x020000000077, A));
  assert.deepEqual(sent(s), ['9/10', '9/10', '9/10']);
  s.eg.clear();
  run(s, PU, tag(f(BC, L), 10));
  run(s, PU, tag(f(A, L), 10));
  assert.deepEqual(sent(s), ['1/10', '2/10', '4/10', '1/10']);
  s.eg.clear();
  s.sw.setSwitchPolicy(aware(0, false));
  run(s, PA, f(B, A));
  assert.deepEqual(sent(s), ['2/10'], 'off again: A reaches B');
  const n = setup({ isolation: true, uplink: false });
  run(n, PA, f(BC, A));
  assert.deepEqual(drops(n.c, SW), { isolated: 1 }, 'no uplink: nowhere to go');
});

test('vlan: a promiscuous NIC gets a copy of every forwarded frame of its VLANs, both directions, once', () => {
  const s = setup();
  s.sw.addPort(PP, PortRole.Nic, P);
  s.sw.setPortPolicy(PP, access(10, { promiscuous: true }));
  run(s, PB, f(BC, B));
  run(s, PU, tag(f(BC, L), 10));
  s.eg.clear();
  run(s, PA, f(B, A));
  run(s, PA, f(L, A));
  run(s, PU, tag(f(A, L), 10));
  assert.deepEqual(sent(s), ['2/10', '5/10', '9/10', '5/10', '1/10', '5/10']);
  s.eg.clear();
  run(s, PC, f(BC, C));
  assert.deepEqual(sent(s), ['4/20', '9/20'], 'not VLAN 20');
  s.eg.clear();
  run(s, PA, f(A, A));
  run(s, PA, tag(f(B, A), 10));
  assert.deepEqual(sent(s), [], 'dropped frames are not copied');
  s.eg.clear();
  run(s, PA, f(BC, A));
  assert.deepEqual(sent(s), ['2/10', '4/10', '9/10', '5/10'], 'a flood reaches it once');
  s.eg.clear();
  s.sw.setSwitchPolicy(aware(0, true));
  run(s, PA, f(BC, A));
  run(s, PA, f(B, A));
  assert.deepEqual(sent(s), ['9/10', '5/10'], 'isolation: the flood goes to the uplink and the mirror; the isolated unicast nowhere');
  assert.equal(drops(s.c, SW).isolated, 1);
  s.eg.clear();
  run(s, PP, f(B, P));
  assert.deepEqual(sent(s), [], 'a promiscuous port sends under the same rules');
});

test('vlan: a VLAN-unaware switch passes tags untouched and sends with no TCI', () => {
  const eg = new RecordingEgress();
  const c = counters();
  const sw = new EthernetSwitch(SW, c, eg);
  sw.addPort(PA, PortRole.Nic, A);
  sw.addPort(PB, PortRole.Nic, B);
  sw.setPortPolicy(PA, access(0));
  const t = tag(f(BC, A), 10);
  const before = hexOf(t.buf, t.eth, t.end);
  sw.input(PA, t.buf, t.hdr, t.eth, t.end, 0);
  assert.deepEqual(eg.sent.map((x) => [x.port, x.tci, hexOf(x.frame)]), [[PB, 0, before]]);
});

test('vlan: a bad policy is refused with a reason and changes nothing', () => {
  assert.match(String(switchPolicyError({ vlanAware: true, nativeVid: 4095, isolation: false })), /native VLAN 4095/);
  assert.match(String(portPolicyError(access(10, { vlans: [20] }))), /ACCESS port carries no tagged/);
  assert.match(String(portPolicyError(trunk(0, [0]))), /VLAN 0 is not 1..4094/);
  assert.match(String(portPolicyError({ ...access(1), portType: 'HYBRID' as 'ACCESS' })), /port type HYBRID/);
  assert.equal(portPolicyError(trunk(1, [2, 4094])), null);
  const s = setup();
  assert.throws(() => s.sw.setPortPolicy(PA, access(5000)), RangeError);
  assert.throws(() => s.sw.setSwitchPolicy({ vlanAware: true, nativeVid: -1, isolation: false }), RangeError);
  run(s, PA, f(BC, A));
  assert.deepEqual(sent(s), ['2/10', '4/10', '9/10'], 'A still in VLAN 10');
});
