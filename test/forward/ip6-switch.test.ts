import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpSwitch } from '../../src/forward/ip-switch.js';
import { PortRole } from '../../src/forward/api.js';
import { NEIGHBOUR_MS, MLD_MEMBERSHIP_MS, PROBE_MS } from '../../src/forward/ip6-switch.js';
import { checkIcmpv6, checkNdp, Icmp6, Ndp } from '../../src/wire/icmpv6.js';
import { RecordingEgress, counters, drops, hexOf, type Frame } from './helpers.js';
import {
  a6, ip6Frame as ipFrame, dstIp, dstMac, groupMacOf, icmpType, mld1, mld2, na, ns, optMac, ra, redirect, rs, solicited, srcIp, srcMac, target, udp6, w6,
} from './ip6-frames.js';

const SW = 2;
const A = 0x020000000001, B = 0x020000000002, C = 0x020000000003, U = 0x0200000000ff;
const L = 0x00aa00000001, R = 0x00aa000000fe; // a LAN host, the LAN's router
const PA = 1, PB = 2, PC = 3, PU = 9;
const GA = '2001:db8:1::a', LLA = 'fe80::a', GB = '2001:db8:1::b', GC = '2001:db8:1::c';
const GL = '2001:db8:1::100', LLL = 'fe80::100', LLR = 'fe80::1';

function setup(opts: { uplink?: boolean } = {}) {
  const eg = new RecordingEgress();
  const c = counters();
  const saw: Array<[number, string]> = [];
  const groups: string[] = [];
  const hex = (w0: number, w1: number, w2: number, w3: number) =>
    [w0, w1, w2, w3].map((w) => w.toString(16).padStart(8, '0')).join('');
  const sw = new IpSwitch(SW, c, eg, {
    sawAddress6: (p, w0, w1, w2, w3) => { saw.push([p, hex(w0, w1, w2, w3)]); },
    joinedGroup6: (p, w0, w1, w2, w3) => { groups.push(`+${p} ${hex(w0, w1, w2, w3)}`); },
    leftGroup6: (p, w0, w1, w2, w3) => { groups.push(`-${p} ${hex(w0, w1, w2, w3)}`); },
  });
  sw.addPort(PA, PortRole.Nic, A);
  sw.addPort(PB, PortRole.Nic, B);
  sw.addPort(PC, PortRole.Nic, C);
  if (opts.uplink !== false) sw.addPort(PU, PortRole.Uplink, U);
  const set = (s: string, port: number, localOnly = false) => sw.setAddress6(0, ...w6(s), port, localOnly);
  set(GA, PA); set(LLA, PA); set(GB, PB, true); set(GC, PC); set('fe80::c', PC);
  return { sw, eg, c, saw, groups, set };
}
type S = ReturnType<typeof setup>;

function run(s: S, port: number, f: Frame, now = 0): void {
  s.eg.sent = [];
  s.sw.input(port, f.buf, f.hdr, f.eth, f.end, now);
}

function sentOk(f: Uint8Array): void {
  assert.ok(checkIcmpv6(f, 14, 54, f.length), 'checksum');
  assert.ok(checkNdp(f, 14, 54, f.length), 'valid NDP');
}

const hexA6 = (s: string) => hexOf(a6(s));

// ---- neighbour discovery from the guests ----

test('ip6 nic NS: for another NIC\'s address answered with that NIC\'s MAC, to the requester', () => {
  const s = setup();
  run(s, PA, ns(A, GA, GC));
  assert.equal(s.eg.sent.length, 1);
  const { port, frame, vnet } = s.eg.sent[0];
  assert.equal(port, PA);
  assert.equal(hexOf(vnet), '00'.repeat(10));
  sentOk(frame);
  assert.equal(dstMac(frame), A);
  assert.equal(srcMac(frame), C);
  assert.equal(icmpType(frame), Icmp6.NeighborAdvert);
  assert.equal(srcIp(frame), GC);
  assert.equal(dstIp(frame), GA);
  assert.equal(target(frame), GC);
  assert.equal(frame[58], Ndp.FlagSolicited | Ndp.FlagOverride);
  assert.equal(optMac(frame, 24), C);
  // A local-only address is answered too (guests reach each other before registration).
  run(s, PA, ns(A, GA, GB));
  assert.equal(optMac(s.eg.sent[0].frame, 24), B);
  assert.deepEqual(drops(s.c, SW), {});
});

test('ip6 nic NS: for its own address ignored; for a LAN address relayed under the uplink\'s MAC', () => {
  const s = setup();
  run(s, PA, ns(A, GA, GA));
  assert.equal(s.eg.sent.length, 0);
  run(s, PA, ns(A, LLA, LLR));
  assert.equal(s.eg.sent.length, 1);
  const { port, frame } = s.eg.sent[0];
  assert.equal(port, PU);
  sentOk(frame);
  assert.equal(srcMac(frame), U);
  assert.equal(dstMac(frame), groupMacOf(solicited(LLR)));
  assert.equal(optMac(frame, 24), U, 'SLLA is the uplink\'s');
  assert.equal(srcIp(frame), LLA, 'the guest\'s source is kept');
  assert.deepEqual(drops(s.c, SW), { 'ndp-ignored': 1 });
});

test('ip6 nic NS (DAD): another NIC\'s address gets the NA that fails the DAD; a new one is reported and relayed', () => {
  const s = setup();
  run(s, PB, ns(B, '::', GC));
  assert.equal(s.eg.sent.length, 1);
  const { port, frame } = s.eg.sent[0];
  assert.equal(port, PB);
  sentOk(frame);
  assert.equal(dstIp(frame), 'ff02::1');
  assert.equal(dstMac(frame), 0x333300000001);
  assert.equal(target(frame), GC);
  assert.equal(frame[58], Ndp.FlagOverride, 'not solicited: to all nodes');
  assert.equal(optMac(frame, 24), C);
  run(s, PB, ns(B, '::', '2001:db8:1::77'));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PU);
  assert.equal(srcMac(s.eg.sent[0].frame), U);
  assert.deepEqual(s.saw, [[PB, hexA6('2001:db8:1::77')]]);
  assert.deepEqual(drops(s.c, SW), {});
});

test('ip6 nic: a unicast NS to a LAN neighbour goes to its MAC from the cache, or to its solicited-node MAC', () => {
  const s = setup();
  run(s, PA, ns(A, GA, GL, { dst: GL, dstMac: U }));
  assert.equal(dstMac(s.eg.sent[0].frame), groupMacOf(solicited(GL)));
  run(s, PU, na(U, L, GL, GA, GL, Ndp.FlagSolicited, L));
  run(s, PA, ns(A, GA, GL, { dst: GL, dstMac: U }));
  assert.equal(dstMac(s.eg.sent[0].frame), L);
});

test('ip6 nic: RS to the uplink with SLLA rewritten; RA, NA, Redirect from guests are ignored', () => {
  const s = setup();
  run(s, PA, rs(A, LLA));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PU);
  sentOk(s.eg.sent[0].frame);
  assert.equal(optMac(s.eg.sent[0].frame, 8), U);
  run(s, PA, ra(A, LLA, 1800));
  run(s, PA, na(U, A, GA, 'ff02::1', GA, Ndp.FlagOverride, A));
  run(s, PA, redirect(C, A, LLA, GC, GA, '2001:db8:9::1', A));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'ndp-ignored': 3 });
});

test('ip6 nic: a source not registered to the NIC is SpoofedSource; an unregistered one is reported once per tick', () => {
  const s = setup();
  run(s, PA, udp6(C, A, GC, GB));
  assert.equal(s.eg.sent.length, 0);
  run(s, PA, ns(A, GC, GL));
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 2 });
  run(s, PA, udp6(B, A, '2001:db8:1::99', GC));
  run(s, PA, udp6(B, A, '2001:db8:1::99', GC));
  assert.equal(s.saw.length, 1);
  s.sw.tick(1000);
  run(s, PA, udp6(B, A, '2001:db8:1::99', GC));
  assert.deepEqual(s.saw, [[PA, hexA6('2001:db8:1::99')], [PA, hexA6('2001:db8:1::99')]]);
  run(s, PA, udp6(B, A, '::', GC));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 6 });
  // :: is a DAD probe's, an RS's and an MLD report's source.
  run(s, PA, rs(A, '::'));
  run(s, PA, mld1(A, '::', Icmp6.MldReport, 'ff05::1'));
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 6 });
});

// ---- guest to guest and to the LAN ----

test('ip6 nic: to another NIC by destination address, MACs rewritten; to itself Hairpin', () => {
  const s = setup();
  run(s, PA, udp6(U, A, GA, GC));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PC);
  assert.equal(dstMac(s.eg.sent[0].frame), C);
  assert.equal(srcMac(s.eg.sent[0].frame), A);
  run(s, PA, udp6(A, A, LLA, GA));
  assert.deepEqual(drops(s.c, SW), { hairpin: 1 });
});

test('ip6 nic: to the LAN by the neighbour cache (fed by the LAN\'s NA), else via the default router (from its RA), else NoNeighbour', () => {
  const s = setup();
  run(s, PA, udp6(U, A, GA, GL));
  assert.deepEqual(drops(s.c, SW), { 'no-neighbour': 1 });
  assert.deepEqual(s.eg.sent.map((x) => icmpType(x.frame)), [Icmp6.NeighborSolicit], 'and the switch asks the LAN for it');
  // The router's RA: a default router; off-link destinations go to its MAC.
  run(s, PU, ra(R, LLR, 1800), 10);
  run(s, PA, udp6(U, A, GA, '2001:db8:99::1'), 20);
  assert.equal(s.eg.sent[0].port, PU);
  assert.equal(dstMac(s.eg.sent[0].frame), R);
  assert.equal(srcMac(s.eg.sent[0].frame), U);
  // A link-local destination never goes through a router.
  run(s, PA, udp6(U, A, LLA, LLL), 20);
  assert.deepEqual(s.eg.sent.map((x) => icmpType(x.frame)), [Icmp6.NeighborSolicit]);
  // The LAN host's NA answers the relayed NS: its MAC is cached, the guest sees the uplink's.
  run(s, PU, na(U, L, LLL, LLA, LLL, Ndp.FlagSolicited | Ndp.FlagOverride, L), 30);
  assert.equal(s.eg.sent[0].port, PA);
  sentOk(s.eg.sent[0].frame);
  assert.equal(optMac(s.eg.sent[0].frame, 24), U);
  assert.equal(dstMac(s.eg.sent[0].frame), A);
  run(s, PA, udp6(U, A, LLA, LLL), 40);
  assert.equal(dstMac(s.eg.sent[0].frame), L);
  // The entry expires without confirmation; a packet from the LAN host confirms it.
  run(s, PU, udp6(U, L, LLL, LLA), NEIGHBOUR_MS);
  s.sw.tick(30 + NEIGHBOUR_MS + 1);
  run(s, PA, udp6(U, A, LLA, LLL), 50);
  assert.equal(dstMac(s.eg.sent[0].frame), L, 'confirmed by the packet from it');
  s.sw.tick(2 * NEIGHBOUR_MS + 1);
  run(s, PA, udp6(U, A, LLA, LLL), 2 * NEIGHBOUR_MS + 2);
  assert.deepEqual(s.eg.sent.map((x) => icmpType(x.frame)), [Icmp6.NeighborSolicit]);
  assert.deepEqual(drops(s.c, SW), { 'no-neighbour': 3 });
});

test('ip6 nic: with no neighbour for a LAN destination the switch asks the LAN, once a second, and the answer lets the next packet pass', () => {
  // A guest that moved here (VMRELOCATE) still has the LAN host in its own cache and does not ask.
  const s = setup();
  run(s, PA, udp6(U, A, GA, GL), 1000);
  assert.equal(s.eg.sent.length, 1);
  const { port, frame } = s.eg.sent[0];
  assert.equal(port, PU);
  sentOk(frame);
  assert.equal(icmpType(frame), Icmp6.NeighborSolicit);
  assert.equal(srcMac(frame), U, 'from the uplink\'s MAC');
  assert.equal(dstMac(frame), 0x3333ff000100, 'to the solicited-node group\'s MAC');
  assert.equal(srcIp(frame), GA, 'from the sender\'s own address');
  assert.equal(dstIp(frame), 'ff02::1:ff00:100');
  assert.equal(target(frame), GL);
  assert.equal(optMac(frame, 24), U, 'SLLA: the uplink\'s MAC');
  run(s, PA, udp6(U, A, GA, GL), 1500);
  assert.equal(s.eg.sent.length, 0, 'not again within a second');
  run(s, PB, udp6(U, B, GB, GL), 1600);
  assert.equal(s.eg.sent.length, 0, 'nor for another NIC');
  run(s, PA, udp6(U, A, GA, GL), 2000);
  assert.equal(s.eg.sent.length, 1, 'again after a second');
  // The LAN host answers the guest's address: its MAC is cached, the NA reaches the guest, the next packet goes.
  run(s, PU, na(U, L, GL, GA, GL, Ndp.FlagSolicited | Ndp.FlagOverride, L), 2100);
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PA]);
  run(s, PA, udp6(U, A, GA, GL), 2200);
  assert.deepEqual(s.eg.sent.map((x) => [x.port, dstMac(x.frame)]), [[PU, L]]);
  assert.deepEqual(drops(s.c, SW), { 'no-neighbour': 4 });
});

test('ip6 uplink: an RA reaches every guest with SLLA = the uplink\'s MAC; a lifetime of 0 ends the default router', () => {
  const s = setup();
  run(s, PU, ra(R, LLR, 1800));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PA, PB, PC]);
  for (const x of s.eg.sent) {
    sentOk(x.frame);
    assert.equal(optMac(x.frame, 16), U);
  }
  run(s, PU, ra(R, LLR, 0));
  run(s, PA, udp6(U, A, GA, '2001:db8:99::1'));
  assert.deepEqual(drops(s.c, SW), { 'no-neighbour': 1 });
});

test('ip6 uplink: a Redirect is cached for its destination and delivered with TLLA = the uplink\'s MAC', () => {
  const s = setup();
  const R2 = 0x00aa000000fd;
  run(s, PU, redirect(U, R, LLR, GA, 'fe80::2', '2001:db8:77::1', R2));
  assert.equal(s.eg.sent[0].port, PA);
  sentOk(s.eg.sent[0].frame);
  assert.equal(optMac(s.eg.sent[0].frame, 40), U);
  run(s, PA, udp6(U, A, GA, '2001:db8:77::1'));
  assert.equal(dstMac(s.eg.sent[0].frame), R2);
});

// ---- the LAN's neighbour discovery ----

test('ip6 uplink NS: a registered address is answered with the uplink\'s MAC (solicited-node and unicast), local only not', () => {
  const s = setup();
  run(s, PU, ns(L, GL, GA));
  assert.equal(s.eg.sent.length, 1);
  const { port, frame } = s.eg.sent[0];
  assert.equal(port, PU);
  sentOk(frame);
  assert.equal(dstMac(frame), L);
  assert.equal(srcMac(frame), U);
  assert.equal(srcIp(frame), GA);
  assert.equal(dstIp(frame), GL);
  assert.equal(target(frame), GA);
  assert.equal(frame[58], Ndp.FlagSolicited | Ndp.FlagOverride);
  assert.equal(optMac(frame, 24), U);
  run(s, PU, ns(L, GL, LLA, { dst: LLA, dstMac: U }));
  assert.equal(target(s.eg.sent[0].frame), LLA);
  run(s, PU, ns(L, GL, GB));
  run(s, PU, ns(L, GL, '2001:db8:1::55'));
  run(s, PU, rs(L, LLL));
  assert.deepEqual(drops(s.c, SW), { 'local-only': 1, 'ndp-ignored': 2 });
  // The LAN's DAD probe for a guest's address is defended to all nodes.
  run(s, PU, ns(L, '::', GC));
  assert.equal(dstIp(s.eg.sent[0].frame), 'ff02::1');
  assert.equal(s.eg.sent[0].frame[58], Ndp.FlagOverride);
});

test('ip6 announce6: an unsolicited NA with the uplink\'s MAC; none without uplink', () => {
  const s = setup();
  s.sw.announce6(0, ...w6(GA));
  assert.equal(s.eg.sent.length, 1);
  const { port, frame, vnet } = s.eg.sent[0];
  assert.equal(port, PU);
  assert.equal(hexOf(vnet), '00'.repeat(10));
  sentOk(frame);
  assert.equal(dstMac(frame), 0x333300000001);
  assert.equal(srcMac(frame), U);
  assert.equal(srcIp(frame), GA);
  assert.equal(dstIp(frame), 'ff02::1');
  assert.equal(frame[58], Ndp.FlagOverride);
  assert.equal(optMac(frame, 24), U);
  const t = setup({ uplink: false });
  t.sw.announce6(0, ...w6(GA));
  assert.equal(t.eg.sent.length, 0);
});

test('ip6 uplink: a LAN host\'s defence (multicast NA) reaches only the NIC that probed the address, or holds it', () => {
  const s = setup();
  const NEW = '2001:db8:1::77';
  run(s, PB, ns(B, '::', NEW), 100);
  assert.equal(s.eg.sent[0].port, PU, 'the probe is relayed');
  // The LAN host holds NEW and defends it to all nodes: only PB (the prober) gets it, TLLA the uplink's.
  run(s, PU, na(0x333300000001, L, NEW, 'ff02::1', NEW, Ndp.FlagOverride, L), 200);
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PB]);
  sentOk(s.eg.sent[0].frame);
  assert.equal(target(s.eg.sent[0].frame), NEW);
  assert.equal(optMac(s.eg.sent[0].frame, 24), U);
  // A LAN host announcing a guest's address (a conflict): only its holder gets it.
  run(s, PU, na(0x333300000001, L, GC, 'ff02::1', GC, Ndp.FlagOverride, L), 300);
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PC]);
  // An announcement nobody probed or holds reaches no guest (its MAC is still cached).
  run(s, PU, na(0x333300000001, L, GL, 'ff02::1', GL, Ndp.FlagOverride, L), 400);
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'ndp-ignored': 1 });
  // The probe is forgotten after PROBE_MS (tick sweeps it), and when the prober's NIC goes.
  s.sw.tick(100 + PROBE_MS);
  run(s, PU, na(0x333300000001, L, NEW, 'ff02::1', NEW, Ndp.FlagOverride, L), 100 + PROBE_MS);
  assert.equal(s.eg.sent.length, 0);
  run(s, PA, ns(A, '::', NEW), 20_000);
  s.sw.removePort(PA);
  run(s, PU, na(0x333300000001, L, NEW, 'ff02::1', NEW, Ndp.FlagOverride, L), 20_001);
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'ndp-ignored': 3 });
  // A unicast NA is delivered by destination as before.
  run(s, PU, na(U, L, GL, GC, GL, Ndp.FlagSolicited, L), 20_002);
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PC]);
});

test('ip6 uplink: by destination; unknown is UnknownDestination, local only LocalOnly; link-scope multicast to every NIC', () => {
  const s = setup();
  run(s, PU, udp6(U, L, GL, GA));
  assert.equal(s.eg.sent[0].port, PA);
  assert.equal(dstMac(s.eg.sent[0].frame), A);
  run(s, PU, udp6(U, L, GL, '2001:db8:1::dead'));
  run(s, PU, udp6(U, L, GL, GB));
  run(s, PU, udp6(0x333300010002, L, LLL, 'ff02::1:2'));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PA, PB, PC]);
  assert.deepEqual(drops(s.c, SW), { 'unknown-destination': 1, 'local-only': 1 });
  s.sw.clearAddress6(0, ...w6(GA));
  run(s, PU, udp6(U, L, GL, GA));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'unknown-destination': 2, 'local-only': 1 });
});

test('ip6: ICMPv6 errors (Packet Too Big) pass both ways like any packet', () => {
  const s = setup();
  const ptb = (dm: number, sm: number, src: string, dst: string) => {
    const body = new Uint8Array(4 + 4 + 48);
    body[0] = Icmp6.PacketTooBig; body[6] = 0x05; body[7] = 0x00;
    return ipFrame(dm, sm, src, dst, Icmp6.NextHeader, body);
  };
  run(s, PU, ptb(U, R, LLR, GA));
  assert.equal(s.eg.sent[0].port, PA);
  run(s, PU, ra(R, LLR, 1800));
  run(s, PA, ptb(U, A, GA, '2001:db8:99::1'));
  assert.equal(s.eg.sent[0].port, PU);
  assert.deepEqual(drops(s.c, SW), {});
});

// ---- MLD snooping ----

test('ip6 MLD: reports put a NIC in the group (beyond link scope), group traffic reaches members only; done and aging end it', () => {
  const s = setup();
  const G = 'ff05::1:3';
  run(s, PA, mld1(A, LLA, Icmp6.MldReport, G));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PU], 'the report goes to the uplink only');
  assert.equal(srcMac(s.eg.sent[0].frame), U);
  run(s, PC, mld2(C, 'fe80::c', [[4, G], [4, 'ff02::1:ff00:c']]), 0);
  assert.deepEqual(s.groups, [`+${PA} ${hexA6(G)}`, `+${PC} ${hexA6(G)}`], 'link-scope groups are not tracked');
  run(s, PU, udp6(groupMacOf(G), L, GL, G));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PA, PC]);
  run(s, PB, udp6(groupMacOf(G), B, GB, G));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PA, PC, PU]);
  run(s, PA, mld1(A, LLA, Icmp6.MldDone, G));
  run(s, PU, udp6(groupMacOf(G), L, GL, G));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PC]);
  s.sw.tick(MLD_MEMBERSHIP_MS + 1);
  run(s, PU, udp6(groupMacOf(G), L, GL, 'ff05::1:3'));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(s.groups.slice(2), [`-${PA} ${hexA6(G)}`, `-${PC} ${hexA6(G)}`]);
  assert.deepEqual(drops(s.c, SW), { 'no-group-member': 1 });
  // The ids are reused: join and leave many groups.
  for (let i = 0; i < 10000; i++) {
    run(s, PA, mld1(A, LLA, Icmp6.MldReport, `ff05::${i.toString(16)}`));
    run(s, PA, mld1(A, LLA, Icmp6.MldDone, `ff05::${i.toString(16)}`));
  }
  assert.equal(s.sw.v6.groups.size, 0);
  assert.deepEqual(drops(s.c, SW), { 'no-group-member': 1 });
});

test('ip6: removing a NIC removes its addresses and memberships', () => {
  const s = setup();
  run(s, PA, mld1(A, LLA, Icmp6.MldReport, 'ff05::9'));
  s.sw.removePort(PA);
  assert.deepEqual(s.groups, [`+${PA} ${hexA6('ff05::9')}`, `-${PA} ${hexA6('ff05::9')}`]);
  run(s, PU, udp6(U, L, GL, GA));
  assert.deepEqual(drops(s.c, SW), { 'unknown-destination': 1 });
});

// ---- malformed input ----

test('ip6: truncated headers, payload past the frame, a chain past the end, bad NDP are Malformed', () => {
  const s = setup();
  const f = udp6(C, A, GA, GC);
  run(s, PA, { ...f, end: f.eth + 14 + 39 });
  const long = udp6(C, A, GA, GC); long.buf[long.eth + 14 + 5] = 200;
  run(s, PA, long);
  const ext = ipFrame(C, A, GA, GC, 0, new Uint8Array([17, 4, 0, 0, 0, 0, 0, 0]));
  run(s, PA, ext);
  const zeroOpt = ns(A, GA, GL); zeroOpt.buf[zeroOpt.eth + 54 + 25] = 0;
  run(s, PA, zeroOpt);
  const hop = ns(A, GA, GL); hop.buf[hop.eth + 14 + 7] = 64;
  run(s, PA, hop);
  const sum = ns(A, GA, GL); sum.buf[sum.eth + 54 + 2] ^= 0xff;
  run(s, PA, sum);
  run(s, PU, { ...na(U, L, LLL, LLA, LLL, 0, L), end: f.eth + 14 + 40 + 20 });
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { malformed: 7 });
});
