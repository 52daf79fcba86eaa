/**
 * IP-mode multicast (issue 3): IGMP snooping in the forwarding core and the group table.
 * Pure tests with a fake clock (time is the `now` argument), a recording egress, no sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpSwitch, GROUP_MEMBERSHIP_MS, QUERY_INTERVAL_MS } from '../../src/forward/ip-switch.js';
import { GroupTable, JOIN_FULL, JOIN_NEW, JOIN_REFRESHED } from '../../src/forward/group-table.js';
import { PortRole } from '../../src/forward/api.js';
import { readMac } from '../../src/wire/addr.js';
import { readU32 } from '../../src/wire/bytes.js';
import { emitEthernet, EtherType } from '../../src/wire/ethernet.js';
import { emitIpv4, checkIpv4, verifyIpv4Checksum, IpProto } from '../../src/wire/ipv4.js';
import {
  emitIgmpV2, emitIgmpV3Report, checkIgmp, groupMac, IGMP_V2_REPORT, IGMP_V2_LEAVE, IGMP_QUERY,
  CHANGE_TO_EXCLUDE, CHANGE_TO_INCLUDE, MODE_IS_EXCLUDE, BLOCK_OLD_SOURCES,
} from '../../src/wire/igmp.js';
import { RecordingEgress, counters, drops, udpFrame, ip, Frame } from './helpers.js';

const SW = 5;
const A = 0x020000000001, B = 0x020000000002, C = 0x020000000003, U = 0x0200000000ff;
const L = 0x00aa00000001;
const IP_A = ip('10.0.0.1'), IP_B = ip('10.0.0.2'), IP_C = ip('10.0.0.3'), IP_L = ip('10.0.0.100');
const PA = 1, PB = 2, PC = 3, PU = 9;
const G = ip('239.1.2.3'), H = ip('232.9.9.9');
const VNET = 10;

function setup(opts: { uplink?: boolean } = {}) {
  const eg = new RecordingEgress();
  const c = counters();
  const ev: string[] = [];
  const sw = new IpSwitch(SW, c, eg, {
    joinedGroup: (p, g) => { ev.push(`join ${p} ${g.toString(16)}`); },
    leftGroup: (p, g) => { ev.push(`leave ${p} ${g.toString(16)}`); },
  });
  sw.addPort(PA, PortRole.Nic, A);
  sw.addPort(PB, PortRole.Nic, B);
  sw.addPort(PC, PortRole.Nic, C);
  if (opts.uplink !== false) sw.addPort(PU, PortRole.Uplink, U);
  sw.setAddress(IP_A, PA, false);
  sw.setAddress(IP_B, PB, false);
  sw.setAddress(IP_C, PC, false);
  return { sw, eg, c, ev };
}

/** An IGMP packet (20-byte IP header, TTL 1) in an Ethernet frame padded to 60 bytes. */
function igmpFrame(srcMac: number, srcIp: number, dstIp: number, emit: (b: Uint8Array, off: number) => number): Frame {
  const tmp = new Uint8Array(256);
  const len = emit(tmp, 0);
  const buf = new Uint8Array(VNET + Math.max(60, 14 + 20 + len));
  const l3 = emitEthernet(buf, VNET, groupMac(dstIp), srcMac, EtherType.Ipv4);
  const l4 = emitIpv4(buf, l3, srcIp, dstIp, IpProto.Igmp, len, 0, 1);
  buf.set(tmp.subarray(0, len), l4);
  return { buf, hdr: 0, eth: VNET, end: buf.length };
}

const v3 = (mac: number, src: number, records: Array<{ type: number; group: number; sources?: number[] }>) =>
  igmpFrame(mac, src, ip('224.0.0.22'), (b, o) => emitIgmpV3Report(b, o, records));
const v2report = (mac: number, src: number, g: number) => igmpFrame(mac, src, g, (b, o) => emitIgmpV2(b, o, IGMP_V2_REPORT, 0, g));
const v2leave = (mac: number, src: number, g: number) => igmpFrame(mac, src, ip('224.0.0.2'), (b, o) => emitIgmpV2(b, o, IGMP_V2_LEAVE, 0, g));
const join = (mac: number, src: number, g: number) => v3(mac, src, [{ type: CHANGE_TO_EXCLUDE, group: g }]);
const leave = (mac: number, src: number, g: number) => v3(mac, src, [{ type: CHANGE_TO_INCLUDE, group: g }]);

function run(s: ReturnType<typeof setup>, port: number, f: Frame, now = 0) {
  s.sw.input(port, f.buf, f.hdr, f.eth, f.end, now);
}

const ports = (s: ReturnType<typeof setup>) => s.eg.sent.map((x) => x.port);

test('multicast: a v3 join is recorded once, reported to the controller once, and sent to the uplink only under the uplink MAC', () => {
  const s = setup();
  run(s, PA, join(A, IP_A, G));
  assert.deepEqual(s.ev, [`join ${PA} ef010203`]);
  assert.deepEqual(ports(s), [PU]);
  assert.equal(readMac(s.eg.sent[0].frame, 6), U);
  assert.equal(readMac(s.eg.sent[0].frame, 0), groupMac(ip('224.0.0.22')));
  assert.deepEqual(drops(s.c, SW), {});
  run(s, PA, join(A, IP_A, G), 1000); // the robustness repeat / a refresh
  assert.equal(s.ev.length, 1, 'no second event for the same membership');
  assert.deepEqual(s.sw.groups.lookup(G)?.ports.slice(0, 1), [PA]);
});

test('multicast: LAN group traffic reaches only the member NICs, unchanged', () => {
  const s = setup();
  run(s, PA, join(A, IP_A, G));
  run(s, PB, v2report(B, IP_B, G));
  assert.deepEqual(s.ev, [`join ${PA} ef010203`, `join ${PB} ef010203`]);
  s.eg.clear();
  const f = udpFrame(groupMac(G), L, IP_L, G);
  const orig = f.buf.slice(f.eth, f.end);
  run(s, PU, f);
  assert.deepEqual(ports(s).sort(), [PA, PB]);
  for (const x of s.eg.sent) assert.deepEqual(x.frame, orig);
  assert.deepEqual(drops(s.c, SW), {});
});

test('multicast: group traffic from a NIC goes to the other members, then the uplink under the uplink MAC', () => {
  const s = setup();
  run(s, PA, join(A, IP_A, G));
  run(s, PB, join(B, IP_B, G));
  s.eg.clear();
  run(s, PC, udpFrame(groupMac(G), C, IP_C, G));
  assert.deepEqual(ports(s), [PA, PB, PU]);
  assert.equal(readMac(s.eg.sent[0].frame, 6), C);
  assert.equal(readMac(s.eg.sent[2].frame, 6), U);
  s.eg.clear();
  run(s, PA, udpFrame(groupMac(G), A, IP_A, G));
  assert.deepEqual(ports(s), [PB, PU], 'not back to the sender');
  assert.deepEqual(drops(s.c, SW), {});
});

test('multicast: no member: from the LAN NoGroupMember; from a NIC only the uplink; alone NoGroupMember', () => {
  const s = setup();
  run(s, PU, udpFrame(groupMac(H), L, IP_L, H));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'no-group-member': 1 });
  run(s, PA, udpFrame(groupMac(H), A, IP_A, H));
  assert.deepEqual(ports(s), [PU]);
  const n = setup({ uplink: false });
  run(n, PA, udpFrame(groupMac(H), A, IP_A, H));
  assert.equal(n.eg.sent.length, 0);
  assert.deepEqual(drops(n.c, SW), { 'no-group-member': 1 });
});

test('multicast: the link-local block 224.0.0.0/24 still floods to every NIC both ways', () => {
  const s = setup();
  run(s, PU, udpFrame(groupMac(ip('224.0.0.251')), L, IP_L, ip('224.0.0.251')));
  assert.deepEqual(ports(s), [PA, PB, PC]);
  s.eg.clear();
  run(s, PA, udpFrame(groupMac(ip('224.0.0.251')), A, IP_A, ip('224.0.0.251')));
  assert.deepEqual(ports(s), [PB, PC, PU]);
});

test('multicast: leaving (v3 TO_INCLUDE {}, v2 leave) undoes the membership', () => {
  const s = setup();
  run(s, PA, join(A, IP_A, G));
  run(s, PB, v2report(B, IP_B, G));
  s.ev.length = 0;
  s.eg.clear();
  run(s, PA, leave(A, IP_A, G));
  assert.deepEqual(s.ev, [`leave ${PA} ef010203`]);
  assert.deepEqual(ports(s), [PU], 'the leave goes to the LAN');
  s.eg.clear();
  run(s, PU, udpFrame(groupMac(G), L, IP_L, G));
  assert.deepEqual(ports(s), [PB]);
  run(s, PB, v2leave(B, IP_B, G));
  run(s, PB, v2leave(B, IP_B, G)); // a repeat changes nothing
  assert.deepEqual(s.ev, [`leave ${PA} ef010203`, `leave ${PB} ef010203`]);
  s.eg.clear();
  run(s, PU, udpFrame(groupMac(G), L, IP_L, G));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'no-group-member': 1 });
  assert.equal(s.sw.groups.size, 0);
});

test('multicast: one v3 report with several records; BLOCK and link-local groups change nothing', () => {
  const s = setup();
  run(s, PA, v3(A, IP_A, [
    { type: MODE_IS_EXCLUDE, group: G },
    { type: CHANGE_TO_EXCLUDE, group: H },
    { type: BLOCK_OLD_SOURCES, group: ip('239.5.5.5'), sources: [IP_L] },
    { type: CHANGE_TO_EXCLUDE, group: ip('224.0.0.251') },
  ]));
  assert.deepEqual(s.ev, [`join ${PA} ef010203`, `join ${PA} e8090909`]);
  run(s, PA, v3(A, IP_A, [{ type: CHANGE_TO_INCLUDE, group: G }, { type: CHANGE_TO_INCLUDE, group: H }]));
  assert.deepEqual(s.ev.slice(2), [`leave ${PA} ef010203`, `leave ${PA} e8090909`]);
});

test('multicast: removing a port removes its memberships (leftGroup for each)', () => {
  const s = setup();
  run(s, PA, join(A, IP_A, G));
  run(s, PA, join(A, IP_A, H));
  run(s, PB, join(B, IP_B, G));
  s.ev.length = 0;
  s.sw.removePort(PA);
  assert.deepEqual(s.ev.sort(), [`leave ${PA} e8090909`, `leave ${PA} ef010203`]);
  s.eg.clear();
  run(s, PU, udpFrame(groupMac(G), L, IP_L, G));
  assert.deepEqual(ports(s), [PB]);
});

test('multicast: memberships age out after the group membership interval unless refreshed (fake clock)', () => {
  const s = setup();
  run(s, PA, join(A, IP_A, G), 0);
  run(s, PB, join(B, IP_B, G), 100_000);
  s.ev.length = 0;
  s.sw.tick(GROUP_MEMBERSHIP_MS - 1);
  assert.deepEqual(s.ev, []);
  s.sw.tick(GROUP_MEMBERSHIP_MS);
  assert.deepEqual(s.ev, [`leave ${PA} ef010203`]);
  run(s, PB, join(B, IP_B, G), 300_000); // refreshed by a report
  s.sw.tick(100_000 + GROUP_MEMBERSHIP_MS);
  assert.equal(s.ev.length, 1, 'the refresh kept PB');
  s.sw.tick(300_000 + GROUP_MEMBERSHIP_MS);
  assert.deepEqual(s.ev, [`leave ${PA} ef010203`, `leave ${PB} ef010203`]);
  assert.equal(s.sw.groups.memberships, 0);
});

test('multicast: a startup query after NICs are added; while memberships exist a v3 general query to every NIC each query interval', () => {
  const s = setup();
  s.sw.tick(0);
  assert.deepEqual(ports(s), [PA, PB, PC, PA, PB, PC], 'startup query: IGMP, then MLD (ip6-switch.test.ts)');
  s.eg.clear();
  s.sw.tick(1000);
  s.sw.tick(QUERY_INTERVAL_MS * 2);
  assert.equal(s.eg.sent.length, 0, 'no membership, no query');
  const t0 = QUERY_INTERVAL_MS * 2 + 500;
  run(s, PA, join(A, IP_A, G), t0);
  s.eg.clear();
  s.sw.tick(t0 + 1000);
  assert.equal(s.eg.sent.length, 0);
  s.sw.tick(t0 + 1000 + QUERY_INTERVAL_MS);
  assert.deepEqual(ports(s), [PA, PB, PC]);
  const f = s.eg.sent[0].frame;
  assert.equal(f.length, 60);
  assert.equal(readMac(f, 0), 0x01005e000001);
  assert.equal(readMac(f, 6), U);
  assert.equal(checkIpv4(f, 14, f.length), 24);
  assert.ok(verifyIpv4Checksum(f, 14));
  assert.equal(f[14 + 8], 1, 'TTL 1');
  assert.equal(readU32(f, 14 + 12), 0);
  assert.equal(readU32(f, 14 + 16), ip('224.0.0.1'));
  assert.equal(f[38], IGMP_QUERY);
  assert.ok(checkIgmp(f, 38, 50));
  assert.equal(readU32(f, 42), 0, 'general query');
  s.eg.clear();
  s.sw.tick(t0 + 2000 + QUERY_INTERVAL_MS);
  assert.equal(s.eg.sent.length, 0, 'one query per interval');
});

test('multicast: bad IGMP is Malformed and records nothing; a report with no uplink is NoUplink but still recorded', () => {
  const s = setup();
  const f = join(A, IP_A, G);
  f.buf[f.eth + 14 + 20 + 2] ^= 0xff; // IGMP checksum
  run(s, PA, f);
  const short = v2report(A, IP_A, G);
  short.buf[short.eth + 14 + 3] = 20 + 6; // IP total length leaves 6 bytes of IGMP
  short.buf[short.eth + 14 + 10] = 0; short.buf[short.eth + 14 + 11] = 0;
  run(s, PA, short);
  assert.deepEqual(drops(s.c, SW), { malformed: 2 });
  assert.deepEqual(s.ev, []);
  const n = setup({ uplink: false });
  run(n, PA, join(A, IP_A, G));
  assert.deepEqual(n.ev, [`join ${PA} ef010203`]);
  assert.deepEqual(drops(n.c, SW), { 'no-uplink': 1 });
});

test('multicast: a query from a NIC is switched like other link-local multicast', () => {
  const s = setup();
  run(s, PA, igmpFrame(A, IP_A, ip('224.0.0.1'), (b, o) => emitIgmpV2(b, o, IGMP_QUERY, 100, 0)));
  assert.deepEqual(ports(s), [PB, PC, PU]);
  assert.deepEqual(s.ev, []);
});

test('multicast: a full group table refuses the join (GroupTableFull) but still forwards the report', () => {
  const s = setup();
  for (let i = 0; i < 256; i++) run(s, PA, join(A, IP_A, ip('239.2.0.0') + i));
  assert.equal(s.sw.groups.memberships, 256);
  s.eg.clear();
  run(s, PA, join(A, IP_A, G));
  assert.deepEqual(ports(s), [PU]);
  assert.deepEqual(drops(s.c, SW), { 'group-table-full': 1 });
  assert.equal(s.sw.groups.lookup(G), undefined);
  run(s, PB, join(B, IP_B, G));
  assert.deepEqual(s.sw.groups.lookup(G)?.ports.slice(0, 1), [PB], 'another port still has room');
});

test('group table: join, refresh, leave, bounds, entry reuse', () => {
  const t = new GroupTable(2, 2);
  assert.equal(t.join(G, 1, 10), JOIN_NEW);
  assert.equal(t.join(G, 1, 20), JOIN_REFRESHED);
  assert.equal(t.join(G, 2, 10), JOIN_NEW);
  assert.equal(t.join(H, 1, 10), JOIN_NEW);
  assert.equal(t.join(ip('239.7.7.7'), 3, 10), JOIN_FULL, 'group bound');
  assert.equal(t.join(H, 1, 10), JOIN_REFRESHED);
  assert.equal(t.size, 2);
  assert.equal(t.memberships, 3);
  const e = t.lookup(G)!;
  assert.equal(t.leave(G, 1), true);
  assert.equal(t.leave(G, 1), false);
  assert.deepEqual(e.ports.slice(0, e.count), [2]);
  assert.equal(t.leave(G, 2), true);
  assert.equal(t.lookup(G), undefined);
  assert.equal(t.join(ip('239.7.7.7'), 3, 10), JOIN_NEW);
  assert.equal(t.lookup(ip('239.7.7.7')), e, 'the freed entry is reused');
  const left: string[] = [];
  assert.equal(t.expire(10, (p, g) => left.push(`${p} ${g.toString(16)}`)), 2);
  assert.deepEqual(left.sort(), ['1 e8090909', '3 ef070707']);
  assert.equal(t.memberships, 0);
});
