/**
 * IPv6 in IP mode under the layer-2 policies (issue 11): the IPv6 path obeys the VLANs,
 * isolation and mirrors as IPv4 does (ip-vlan.test.ts): a LAN IP table, neighbour cache,
 * default router and DAD probes per VLAN, NDP answered per VLAN, floods and MLD groups within
 * the VLAN, every send with the frame's TCI; ISOLATION keeps NICs apart; promiscuous NICs get
 * copies. A property test: whatever IPv6 a port sends, nothing leaves in another VLAN, nothing
 * reaches a port that does not carry the VLAN, no NIC's frame reaches another NIC under
 * isolation, and every frame is sent or counted as exactly one drop. Pure, with the recording
 * egress.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpSwitch } from '../../src/forward/ip-switch.js';
import { PortRole } from '../../src/forward/api.js';
import { Icmp6, Ndp } from '../../src/wire/icmpv6.js';
import type { PortPolicy } from '../../src/protocol/dataplane.js';
import { RecordingEgress, counters, drops, sentOrOneDrop, tag, type Frame } from './helpers.js';
import { dstMac, icmpType, mld1, mld2, na, ns, optMac, ra, rs, srcMac, target, udp6, w6 } from './ip6-frames.js';

const SW = 4;
const A = 0x020000000001, B = 0x020000000002, T = 0x020000000004, P = 0x020000000005, U = 0x0200000000ff;
const L = 0x00aa00000001, R = 0x00aa000000fe;
const PA = 1, PB = 2, PT = 4, PP = 5, PU = 9;
const GA = '2001:db8:10::a', GB = '2001:db8:20::b', GT10 = '2001:db8:10::4', GT20 = '2001:db8:20::4';
const LLA = 'fe80::a', LLB = 'fe80::b', LLT = 'fe80::4';
const GL = '2001:db8:10::100', LLR = 'fe80::1';
const ALL_NODES_MAC = 0x333300000001;
const access = (pvid: number, more: Partial<PortPolicy> = {}): PortPolicy =>
  ({ portType: 'ACCESS', pvid, vlans: [], promiscuous: false, macProtect: false, ...more });

/**
 * A: access 10, B: access 20, T: trunk of 10 and 20 (no native VLAN), the uplink with native
 * VLAN 20; each NIC's addresses registered in its VLANs (T's link-local in both).
 */
function setup(isolation = false) {
  const eg = new RecordingEgress();
  const c = counters();
  const saw: number[] = [];
  const sw = new IpSwitch(SW, c, eg, { sawAddress6: (p) => { saw.push(p); }, joinedGroup6: () => {}, leftGroup6: () => {} });
  sw.setSwitchPolicy({ vlanAware: true, nativeVid: 20, isolation });
  sw.addPort(PA, PortRole.Nic, A); sw.setPortPolicy(PA, access(10));
  sw.addPort(PB, PortRole.Nic, B); sw.setPortPolicy(PB, access(20));
  sw.addPort(PT, PortRole.Nic, T); sw.setPortPolicy(PT, { portType: 'TRUNK', pvid: 0, vlans: [10, 20], promiscuous: false, macProtect: false });
  sw.addPort(PU, PortRole.Uplink, U);
  const set = (vid: number, a: string, port: number) => sw.setAddress6(vid, ...w6(a), port, false);
  set(10, GA, PA); set(10, LLA, PA);
  set(20, GB, PB); set(20, LLB, PB);
  set(10, GT10, PT); set(20, GT20, PT); set(10, LLT, PT); set(20, LLT, PT);
  return { sw, eg, c, saw };
}
type S = ReturnType<typeof setup>;
const run = (s: S, port: number, f: Frame, now = 0) => s.sw.input(port, f.buf, f.hdr, f.eth, f.end, now);
const sent = (s: S) => s.eg.sent.map((x) => `${x.port}/${x.tci}`);
const step = (s: S, port: number, f: Frame, now = 0) => { s.eg.clear(); run(s, port, f, now); return sent(s); };

test('ip6 vlan: unicast is looked up in the frame\'s VLAN only; another VLAN\'s address goes to the LAN in the sender\'s VLAN', () => {
  const s = setup();
  run(s, PU, tag(ra(R, LLR, 1800), 10)); // VLAN 10's default router
  assert.deepEqual(step(s, PA, udp6(U, A, GA, GT10)), ['4/10'], 'T\'s VLAN-10 address, tagged 10 for the trunk');
  assert.equal(dstMac(s.eg.sent[0].frame), T);
  assert.deepEqual(step(s, PA, udp6(U, A, GA, GB)), ['9/10'], 'B\'s address is in VLAN 20: for A it is on the LAN');
  assert.equal(dstMac(s.eg.sent[0].frame), R, 'through VLAN 10\'s router');
  assert.deepEqual(step(s, PT, tag(udp6(U, T, GT20, GB), 20)), ['2/20']);
  assert.deepEqual(step(s, PU, tag(udp6(U, L, GL, GA), 10)), ['1/10']);
  assert.deepEqual(step(s, PU, udp6(U, L, GL, GA)), [], 'untagged from the LAN is VLAN 20, where GA is unknown');
  assert.deepEqual(drops(s.c, SW), { 'unknown-destination': 1 });
});

test('ip6 vlan: an address registered in one VLAN is not a source in another (spoofed-source); the same address in two VLANs is two entries', () => {
  const s = setup();
  assert.deepEqual(step(s, PT, tag(udp6(U, T, GT10, GL), 20)), []);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 1 });
  assert.deepEqual(s.saw, [PT], 'reported as a claim (in VLAN 20 it is nobody\'s)');
  // T's link-local is in both VLANs: a source in each, delivered by VLAN.
  assert.deepEqual(step(s, PA, udp6(U, A, LLA, LLT)), ['4/10']);
  assert.deepEqual(step(s, PB, udp6(U, B, LLB, LLT)), ['4/20']);
  s.sw.clearAddress6(10, ...w6(LLT));
  assert.deepEqual(step(s, PB, udp6(U, B, LLB, LLT)), ['4/20'], 'cleared in VLAN 10 only');
  assert.throws(() => s.sw.setAddress6(4095, ...w6(LLT), PT, false), RangeError);
  assert.throws(() => s.sw.setAddress6(-1, ...w6(LLT), PT, false), RangeError);
});

test('ip6 vlan: NDP is answered per VLAN, from the guests and from the LAN', () => {
  const s = setup();
  assert.deepEqual(step(s, PA, ns(A, GA, GT10)), ['1/10'], 'T\'s VLAN-10 address answered for A');
  assert.equal(optMac(s.eg.sent[0].frame, 24), T);
  assert.deepEqual(step(s, PA, ns(A, GA, GT20)), ['9/10'], 'T\'s VLAN-20 address is not answered in VLAN 10: relayed to the LAN');
  assert.equal(srcMac(s.eg.sent[0].frame), U);
  assert.deepEqual(step(s, PU, tag(ns(L, GL, GA), 10)), ['9/10'], 'the LAN\'s NS in VLAN 10 for A answered in VLAN 10');
  assert.equal(target(s.eg.sent[0].frame), GA);
  assert.deepEqual(step(s, PU, ns(L, GL, GA)), [], 'the same NS in the native VLAN (20): nobody there');
  assert.deepEqual(step(s, PU, tag(ns(L, GL, GA), 30)), [], 'a VLAN no NIC carries');
  assert.deepEqual(drops(s.c, SW), { 'ndp-ignored': 1, 'vlan-not-allowed': 1 });
  assert.deepEqual(step(s, PB, rs(B, LLB)), ['9/20'], 'an RS goes to the LAN in its VLAN');
});

test('ip6 vlan: the neighbour cache and the default router are per VLAN', () => {
  const s = setup();
  run(s, PU, tag(na(U, L, GL, GA, GL, Ndp.FlagSolicited, L), 10)); // the LAN host, learnt in VLAN 10
  assert.deepEqual(step(s, PA, udp6(U, A, GA, GL)), ['9/10']);
  assert.equal(dstMac(s.eg.sent[0].frame), L);
  assert.deepEqual(step(s, PB, udp6(U, B, GB, GL)), ['9/20'], 'not known in VLAN 20: dropped, and asked for in VLAN 20');
  assert.equal(icmpType(s.eg.sent[0].frame), Icmp6.NeighborSolicit);
  assert.deepEqual(drops(s.c, SW), { 'no-neighbour': 1 });
  assert.deepEqual(step(s, PU, ra(R, LLR, 1800)), ['2/20', '4/20'], 'an RA in the native VLAN reaches VLAN 20\'s NICs only');
  assert.deepEqual(step(s, PB, udp6(U, B, GB, '2001:db8:99::1')), ['9/20']);
  assert.equal(dstMac(s.eg.sent[0].frame), R);
  assert.deepEqual(step(s, PA, udp6(U, A, GA, '2001:db8:99::1')), ['9/10'], 'VLAN 10 has no router: asked for on the LAN');
  // The router leaves VLAN 20 (lifetime 0), and after its lifetime a router of VLAN 10 is gone.
  run(s, PU, tag(ra(R, LLR, 2), 10));
  run(s, PU, ra(R, LLR, 0));
  assert.deepEqual(step(s, PB, udp6(U, B, GB, '2001:db8:99::1')), ['9/20'], 'no router in VLAN 20 now: asked for');
  assert.deepEqual(step(s, PA, udp6(U, A, GA, '2001:db8:99::1')), ['9/10']);
  assert.equal(dstMac(s.eg.sent[0].frame), R);
  s.sw.tick(2000);
  assert.deepEqual(step(s, PA, udp6(U, A, GA, '2001:db8:99::1'), 2000), ['9/10'], 'the router gone: asked for again (a second later)');
  assert.equal(icmpType(s.eg.sent[0].frame), Icmp6.NeighborSolicit);
  assert.deepEqual(drops(s.c, SW), { 'no-neighbour': 4 });
});

test('ip6 vlan: link-scope multicast floods within the VLAN; MLD memberships are delivered in the member\'s VLANs only', () => {
  const s = setup();
  assert.deepEqual(step(s, PA, udp6(ALL_NODES_MAC, A, LLA, 'ff02::1')), ['4/10', '9/10']);
  assert.deepEqual(step(s, PB, udp6(ALL_NODES_MAC, B, LLB, 'ff02::1')), ['4/20', '9/20']);
  assert.deepEqual(step(s, PU, tag(ra(R, LLR, 1800), 10)), ['1/10', '4/10']);
  assert.deepEqual(step(s, PA, mld2(A, LLA, [[4, 'ff05::3']])), ['9/10'], 'the report to the LAN in A\'s VLAN');
  assert.deepEqual(step(s, PB, mld1(B, LLB, Icmp6.MldReport, 'ff05::4')), ['9/20']);
  assert.deepEqual(step(s, PU, tag(udp6(0x333300000003, L, GL, 'ff05::3'), 10)), ['1/10']);
  assert.deepEqual(step(s, PU, udp6(0x333300000003, L, GL, 'ff05::3')), [], 'VLAN 20: A is a member, but not in VLAN 20');
  assert.deepEqual(step(s, PA, udp6(0x333300000004, A, GA, 'ff05::4')), ['9/10'], 'B\'s group in VLAN 10: to the LAN only');
  assert.deepEqual(drops(s.c, SW), { 'no-group-member': 1 });
});

test('ip6 vlan: a DAD probe is remembered in its VLAN; the LAN\'s defence in another VLAN reaches no one', () => {
  const s = setup();
  const X = '2001:db8:10::77';
  assert.deepEqual(step(s, PA, ns(A, '::', X)), ['9/10']);
  assert.deepEqual(step(s, PU, na(ALL_NODES_MAC, L, GL, 'ff02::1', X, Ndp.FlagOverride, L)), []);
  assert.deepEqual(step(s, PU, tag(na(ALL_NODES_MAC, L, GL, 'ff02::1', X, Ndp.FlagOverride, L), 10)), ['1/10']);
  assert.deepEqual(drops(s.c, SW), { 'ndp-ignored': 1 });
  // A probe for an address another NIC holds in the VLAN fails at once; in another VLAN it is relayed.
  assert.deepEqual(step(s, PA, ns(A, '::', GT10)), ['1/10']);
  assert.equal(optMac(s.eg.sent[0].frame, 24), T);
  assert.deepEqual(step(s, PA, ns(A, '::', GB)), ['9/10']);
});

test('ip6 vlan: ISOLATION keeps NICs apart (unicast, NS, floods, groups) and lets them reach the LAN; a DAD probe still fails', () => {
  const s = setup(true);
  run(s, PU, tag(ra(R, LLR, 1800), 10));
  assert.deepEqual(step(s, PA, udp6(T, A, GA, GT10)), []);
  assert.deepEqual(step(s, PA, ns(A, GA, GT10)), []);
  assert.deepEqual(drops(s.c, SW), { isolated: 2 });
  assert.deepEqual(step(s, PA, ns(A, '::', GT10)), ['1/10'], 'the probe fails...');
  assert.equal(optMac(s.eg.sent[0].frame, 24), U, '...with the uplink\'s MAC: T\'s is not given away');
  assert.equal(srcMac(s.eg.sent[0].frame), U);
  assert.deepEqual(step(s, PA, udp6(ALL_NODES_MAC, A, LLA, 'ff02::1')), ['9/10'], 'a flood: the uplink only');
  run(s, PT, tag(mld1(T, LLT, Icmp6.MldReport, 'ff05::9'), 10));
  assert.deepEqual(step(s, PA, udp6(0x333300000009, A, GA, 'ff05::9')), ['9/10'], 'group traffic: the uplink only');
  assert.deepEqual(step(s, PA, udp6(U, A, GA, GL)), ['9/10']);
  assert.deepEqual(step(s, PU, tag(udp6(U, L, GL, GA), 10)), ['1/10']);
  assert.deepEqual(step(s, PU, tag(ra(R, LLR, 1800), 10)), ['1/10', '4/10'], 'the LAN reaches every NIC of the VLAN');
  s.sw.removePort(PU);
  assert.deepEqual(step(s, PA, udp6(ALL_NODES_MAC, A, LLA, 'ff02::1')), []);
  assert.equal(drops(s.c, SW).isolated, 3, 'a flood that reaches no one under isolation is isolated');
});

test('ip6 vlan: a promiscuous NIC gets copies of its VLAN\'s switched IPv6, both directions', () => {
  const s = setup();
  s.sw.addPort(PP, PortRole.Nic, P);
  s.sw.setPortPolicy(PP, access(10, { promiscuous: true }));
  run(s, PU, tag(na(U, L, GL, GA, GL, Ndp.FlagSolicited, L), 10));
  run(s, PU, ra(R, LLR, 1800));
  assert.deepEqual(step(s, PA, udp6(T, A, GA, GT10)), ['4/10', '5/10']);
  assert.deepEqual(step(s, PA, udp6(U, A, GA, GL)), ['9/10', '5/10']);
  assert.deepEqual(step(s, PU, tag(udp6(U, L, GL, GA), 10)), ['1/10', '5/10']);
  assert.deepEqual(step(s, PB, udp6(U, B, GB, '2001:db8:99::1')), ['9/20'], 'VLAN 20 is not the mirror\'s');
  assert.deepEqual(step(s, PA, udp6(ALL_NODES_MAC, A, LLA, 'ff02::1')), ['4/10', '5/10', '9/10']);
});

test('ip6 vlan: announce6 goes in the VLAN asked for; a VLAN-unaware switch announces VLAN 0 only, untagged', () => {
  const s = setup();
  s.sw.announce6(20, ...w6(GB));
  s.sw.announce6(10, ...w6(GA));
  assert.deepEqual(sent(s), ['9/20', '9/10']);
  assert.equal(target(s.eg.sent[0].frame), GB);
  const eg = new RecordingEgress();
  const u = new IpSwitch(SW, counters(), eg, {});
  u.addPort(PU, PortRole.Uplink, U);
  u.announce6(0, ...w6(GA));
  u.announce6(5, ...w6(GA));
  assert.deepEqual(eg.sent.map((x) => `${x.port}/${x.tci}`), ['9/0']);
});

test('ip6 vlan: a VLAN-unaware switch with ISOLATION switches IPv6 (no longer refused) and keeps its NICs apart', () => {
  const eg = new RecordingEgress();
  const c = counters();
  const sw = new IpSwitch(SW, c, eg, {});
  sw.setSwitchPolicy({ vlanAware: false, nativeVid: 0, isolation: true });
  sw.addPort(PA, PortRole.Nic, A);
  sw.addPort(PB, PortRole.Nic, B);
  sw.addPort(PU, PortRole.Uplink, U);
  sw.setAddress6(0, ...w6(GA), PA, false);
  sw.setAddress6(0, ...w6(GB), PB, false);
  const f = udp6(B, A, GA, GB);
  sw.input(PA, f.buf, f.hdr, f.eth, f.end, 0);
  const g = udp6(U, L, GL, GA);
  sw.input(PU, g.buf, g.hdr, g.eth, g.end, 0);
  assert.deepEqual(eg.sent.map((x) => `${x.port}/${x.tci}`), ['1/0']);
  assert.deepEqual(drops(c, SW), { isolated: 1 });
});

// ---- the property: IPv6 never crosses VLANs or isolation ----

const ADDRS = [GA, GB, GT10, GT20, LLA, LLB, LLT, GL, LLR, '2001:db8:10::77', '::'];
const DSTS = [...ADDRS.filter((a) => a !== '::'), 'ff02::1', 'ff05::3', 'ff02::1:ff00:a'];
const MACS = [A, B, T, P, U, L, R, ALL_NODES_MAC, 0x333300000003];
const PORTS = [PA, PB, PT, PP, PU];

/** An IPv6 frame of some kind between addresses of the test's set, tagged or not. */
const frames = fc.record({
  kind: fc.constantFrom('udp', 'ns', 'dad', 'na', 'ra', 'rs', 'mld1', 'mld2'),
  src: fc.constantFrom(...ADDRS), dst: fc.constantFrom(...DSTS), tgt: fc.constantFrom(...ADDRS),
  srcMac: fc.constantFrom(...MACS), dstMac: fc.constantFrom(...MACS),
  vid: fc.constantFrom(-1, 0, 10, 20, 30), port: fc.constantFrom(...PORTS),
}).map((r) => {
  let f: Frame;
  switch (r.kind) {
    case 'udp': f = udp6(r.dstMac, r.srcMac, r.src, r.dst); break;
    case 'ns': f = ns(r.srcMac, r.src === '::' ? GA : r.src, r.tgt === '::' ? GT10 : r.tgt); break;
    case 'dad': f = ns(r.srcMac, '::', r.tgt === '::' ? GT20 : r.tgt); break;
    case 'na': f = na(r.dstMac, r.srcMac, r.src, r.dst, r.tgt === '::' ? GL : r.tgt, Ndp.FlagOverride, r.srcMac); break;
    case 'ra': f = ra(r.srcMac, r.src === '::' ? LLR : r.src, 1800); break;
    case 'rs': f = rs(r.srcMac, r.src); break;
    case 'mld1': f = mld1(r.srcMac, r.src, Icmp6.MldReport, 'ff05::3'); break;
    default: f = mld2(r.srcMac, r.src, [[4, 'ff05::3']]); break;
  }
  return { f: r.vid < 0 ? f : tag(f, r.vid), port: r.port, vid: r.vid };
});

for (const isolation of [false, true]) {
  test(`property: IPv6 never leaves its VLAN${isolation ? ' nor crosses isolation' : ''}; every frame sent or one drop`, () => {
    const s = setup(isolation);
    s.sw.addPort(PP, PortRole.Nic, P);
    s.sw.setPortPolicy(PP, access(20, { promiscuous: true }));
    const l2 = s.sw.l2;
    let now = 0;
    fc.assert(fc.property(fc.array(frames, { minLength: 1, maxLength: 8 }), (batch) => {
      for (const { f, port } of batch) {
        now += 500;
        if (now % 30_000 === 0) s.sw.tick(now);
        s.eg.clear();
        const before = drops(s.c, SW);
        const vidIn = l2.classify(port, f.buf, f.eth, f.end);
        run(s, port, f, now);
        assert.ok(sentOrOneDrop(s.eg, s.c, SW, before, PU, ['group-table-full']), `sent ${s.eg.sent.length}, drops ${JSON.stringify(before)} -> ${JSON.stringify(drops(s.c, SW))}`);
        if (s.eg.sent.length === 0) continue;
        assert.ok(vidIn > 0, 'a frame refused by its VLAN is never sent');
        for (const x of s.eg.sent) {
          assert.equal(x.tci & 0xfff, vidIn & 0xfff, `sent to ${x.port} in VLAN ${x.tci & 0xfff}, received in ${vidIn & 0xfff}`);
          assert.ok(l2.member(x.port, vidIn & 0xfff), `port ${x.port} does not carry VLAN ${vidIn & 0xfff}`);
          if (isolation && port !== PU && x.port !== PU && x.port !== port) {
            assert.equal(x.port, PP, `NIC ${port}'s frame reached NIC ${x.port} under isolation`);
          }
        }
      }
    }), { numRuns: 3000 });
  });
}
