import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpSwitch } from '../../src/forward/ip-switch.js';
import { PortRole, DropReason } from '../../src/forward/api.js';
import { readMac } from '../../src/wire/addr.js';
import { arpOp, arpSha, arpSpa, arpTha, arpTpa } from '../../src/wire/arp.js';
import { emitVnetHdr, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_F_NEEDS_CSUM } from '../../src/wire/vnet.js';
import { RecordingEgress, counters, drops, udpFrame, arpFrame, vlanFrame, ipv6Frame, ip, hexOf, Frame } from './helpers.js';

const SW = 3;
const A = 0x020000000001, B = 0x020000000002, C = 0x020000000003, U = 0x0200000000ff;
const L = 0x00aa00000001; // a LAN host
const BC = 0xffffffffffff;
const IP_A = ip('10.0.0.1'), IP_B = ip('10.0.0.2'), IP_C = ip('192.168.7.3'), IP_L = ip('10.0.0.100');
const PA = 1, PB = 2, PC = 3, PU = 9;

function setup(opts: { uplink?: boolean } = {}) {
  const eg = new RecordingEgress();
  const c = counters();
  const seen: Array<[number, number]> = [];
  const sw = new IpSwitch(SW, c, eg, { sawAddress: (p, a) => { seen.push([p, a]); } });
  sw.addPort(PA, PortRole.Nic, A);
  sw.addPort(PB, PortRole.Nic, B);
  sw.addPort(PC, PortRole.Nic, C);
  if (opts.uplink !== false) sw.addPort(PU, PortRole.Uplink, U);
  sw.setAddress(IP_A, PA, false);
  sw.setAddress(IP_B, PB, true); // local only
  sw.setAddress(IP_C, PC, false);
  return { sw, eg, c, seen };
}

function run(s: ReturnType<typeof setup>, port: number, f: Frame, now = 0) {
  s.sw.input(port, f.buf, f.hdr, f.eth, f.end, now);
}

// The ARP views read addresses in their int32 form (src/wire/bytes.ts): `>>> 0` compares with the uint32 form.
const dstOf = (f: Uint8Array) => readMac(f, 0);
const srcOf = (f: Uint8Array) => readMac(f, 6);

// ---- NIC port: ARP ----

test('nic ARP: request for another registered NIC is answered in place, back to the ingress port', () => {
  const s = setup();
  run(s, PA, arpFrame(BC, A, 1, A, IP_A, 0, IP_C));
  assert.equal(s.eg.sent.length, 1);
  const { port, frame, vnet } = s.eg.sent[0];
  assert.equal(port, PA);
  assert.equal(dstOf(frame), A);
  assert.equal(srcOf(frame), C);
  assert.equal(arpOp(frame, 14), 2);
  assert.equal(arpSha(frame, 14), C);
  assert.equal(arpSpa(frame, 14) >>> 0, IP_C);
  assert.equal(arpTha(frame, 14), A);
  assert.equal(arpTpa(frame, 14) >>> 0, IP_A);
  assert.equal(frame.length, 60, 'reply keeps the frame length');
  assert.equal(hexOf(vnet), '00'.repeat(10));
  assert.deepEqual(drops(s.c, SW), {});
});

test('nic ARP: a local-only target is answered too', () => {
  const s = setup();
  run(s, PA, arpFrame(BC, A, 1, A, IP_A, 0, IP_B));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(arpSha(s.eg.sent[0].frame, 14), B);
});

test('nic ARP: gratuitous request (tpa = spa) and DAD probe of its own address are ArpIgnored', () => {
  const s = setup();
  run(s, PA, arpFrame(BC, A, 1, A, IP_A, 0, IP_A));
  run(s, PA, arpFrame(BC, A, 1, A, 0, 0, IP_A));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'arp-ignored': 2 });
});

test('nic ARP: request for an unregistered target is relayed to the uplink under the uplink MAC', () => {
  const s = setup();
  run(s, PA, arpFrame(BC, A, 1, A, IP_A, 0, IP_L));
  assert.equal(s.eg.sent.length, 1);
  const { port, frame } = s.eg.sent[0];
  assert.equal(port, PU);
  assert.equal(dstOf(frame), BC);
  assert.equal(srcOf(frame), U);
  assert.equal(arpOp(frame, 14), 1);
  assert.equal(arpSha(frame, 14), U);
  assert.equal(arpSpa(frame, 14) >>> 0, IP_A);
  assert.equal(arpTpa(frame, 14) >>> 0, IP_L);
});

test('nic ARP: relay without an uplink is NoUplink', () => {
  const s = setup({ uplink: false });
  run(s, PA, arpFrame(BC, A, 1, A, IP_A, 0, IP_L));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'no-uplink': 1 });
});

test('nic ARP: replies and other ops from a guest are ArpIgnored', () => {
  const s = setup();
  run(s, PA, arpFrame(U, A, 2, A, IP_A, U, IP_L));
  run(s, PA, arpFrame(BC, A, 2, A, IP_A, 0, IP_A));
  run(s, PA, arpFrame(BC, A, 3, A, IP_A, 0, IP_L));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'arp-ignored': 3 });
});

test('nic ARP: sender IP registered to another NIC is SpoofedSource; an unregistered sender is reported and not relayed', () => {
  const s = setup();
  run(s, PA, arpFrame(BC, A, 1, A, IP_C, 0, IP_L));
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 1 });
  const fresh = ip('10.0.0.77');
  run(s, PA, arpFrame(BC, A, 1, A, fresh, 0, IP_L));
  assert.deepEqual(s.seen, [[PA, fresh]], 'a claim');
  assert.equal(s.eg.sent.length, 0, 'not relayed to the LAN');
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 2 });
  assert.equal(s.sw.table.lookup(fresh), undefined, 'no table change');
});

test('nic ARP: only registered senders reach the LAN (a LAN host\'s or a local-only address does not; a probe does)', () => {
  const s = setup();
  run(s, PA, arpFrame(BC, A, 1, A, IP_L, 0, ip('10.0.0.200'))); // forged: the LAN host's address
  run(s, PB, arpFrame(BC, B, 1, B, IP_B, 0, IP_L)); // local only: the adapter does not have it yet
  run(s, PA, arpFrame(BC, A, 1, A, 0xffffffff, 0, IP_L));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 3 });
  run(s, PA, arpFrame(BC, A, 1, A, 0, 0, IP_L)); // RFC 5227 probe
  run(s, PA, arpFrame(BC, A, 1, A, IP_A, 0, IP_L)); // registered
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PU, PU]);
  for (const { frame } of s.eg.sent) assert.equal(arpSha(frame, 14), U);
  run(s, PB, arpFrame(BC, B, 1, B, IP_B, 0, IP_A)); // local only, but to a guest: answered in place
  assert.equal(s.eg.sent.at(-1)?.port, PB);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 3 });
});

test('nic ARP: malformed ARP (bad hlen, plen, htype, ptype, short) is Malformed', () => {
  const s = setup();
  for (const [i, v] of [[0, 1], [2, 0x86], [4, 8], [5, 6]] as const) {
    const f = arpFrame(BC, A, 1, A, IP_A, 0, IP_C);
    f.buf[f.eth + 14 + i] = v;
    run(s, PA, f);
  }
  const short = arpFrame(BC, A, 1, A, IP_A, 0, IP_C);
  run(s, PA, { ...short, end: short.eth + 14 + 27 });
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { malformed: 5 });
});

// ---- NIC port: IPv4 ----

test('nic IPv4: unicast to another NIC gets dst = its MAC, src = sender NIC MAC', () => {
  const s = setup();
  const f = udpFrame(0x020000009999, A, IP_A, IP_C);
  const payloadBefore = hexOf(f.buf, f.eth + 12, f.end);
  run(s, PA, f);
  assert.equal(s.eg.sent.length, 1);
  const { port, frame } = s.eg.sent[0];
  assert.equal(port, PC);
  assert.equal(dstOf(frame), C);
  assert.equal(srcOf(frame), A);
  assert.equal(hexOf(frame, 12), payloadBefore, 'IP packet untouched');
});

test('nic IPv4: unicast to a local-only NIC is delivered (local only limits the LAN, not guests)', () => {
  const s = setup();
  run(s, PA, udpFrame(U, A, IP_A, IP_B));
  assert.equal(s.eg.sent[0].port, PB);
});

test('nic IPv4: destination registered to the same NIC is Hairpin', () => {
  const s = setup();
  s.sw.setAddress(ip('10.0.0.11'), PA, false);
  run(s, PA, udpFrame(U, A, IP_A, ip('10.0.0.11')));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { hairpin: 1 });
});

test('nic IPv4: unknown destination goes to the uplink with src = uplink MAC, dst kept', () => {
  const s = setup();
  run(s, PA, udpFrame(L, A, IP_A, IP_L));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PU);
  assert.equal(dstOf(s.eg.sent[0].frame), L);
  assert.equal(srcOf(s.eg.sent[0].frame), U);
});

test('nic IPv4: unknown destination without an uplink is NoUplink', () => {
  const s = setup({ uplink: false });
  run(s, PA, udpFrame(L, A, IP_A, IP_L));
  assert.deepEqual(drops(s.c, SW), { 'no-uplink': 1 });
});

test('nic IPv4: broadcast, Ethernet broadcast and link-local multicast go to other NICs unchanged, then the uplink with src = uplink MAC', () => {
  // Other groups go to their members only (test/forward/multicast.test.ts).
  for (const [dmac, dip] of [[BC, 0xffffffff], [BC, ip('10.0.0.255')], [0x01005e0000fb, ip('224.0.0.251')], [BC, ip('239.255.255.250')]]) {
    const s = setup();
    run(s, PA, udpFrame(dmac, A, IP_A, dip));
    assert.deepEqual(s.eg.sent.map((x) => x.port), [PB, PC, PU]);
    for (const x of s.eg.sent.slice(0, 2)) {
      assert.equal(dstOf(x.frame), dmac);
      assert.equal(srcOf(x.frame), A);
    }
    assert.equal(dstOf(s.eg.sent[2].frame), dmac);
    assert.equal(srcOf(s.eg.sent[2].frame), U);
    assert.deepEqual(drops(s.c, SW), {});
  }
});

test('nic IPv4: broadcast with no uplink goes to the other NICs; alone, it is NoUplink', () => {
  const s = setup({ uplink: false });
  run(s, PA, udpFrame(BC, A, IP_A, 0xffffffff));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PB, PC]);
  s.sw.removePort(PB);
  s.sw.removePort(PC);
  s.eg.clear();
  run(s, PA, udpFrame(BC, A, IP_A, 0xffffffff));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'no-uplink': 1 });
});

test('nic IPv4: source registered to another NIC is SpoofedSource', () => {
  const s = setup();
  run(s, PA, udpFrame(L, A, IP_C, IP_L));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 1 });
});

test('nic IPv4: an unregistered source is reported (once per tick) and dropped as SpoofedSource, the table unchanged; 0.0.0.0 is not reported', () => {
  const s = setup();
  s.sw.tick(0);
  s.eg.clear(); // the startup IGMP query to the NICs (test/forward/multicast.test.ts)
  const fresh = ip('10.0.0.50');
  run(s, PA, udpFrame(L, A, fresh, IP_L));
  run(s, PA, udpFrame(L, A, fresh, IP_L));
  assert.deepEqual(s.seen, [[PA, fresh]]);
  assert.equal(s.eg.sent.length, 0);
  assert.equal(s.sw.table.lookup(fresh), undefined);
  s.sw.tick(1000);
  run(s, PA, udpFrame(L, A, fresh, IP_L));
  assert.deepEqual(s.seen, [[PA, fresh], [PA, fresh]]);
  run(s, PA, udpFrame(BC, A, 0, 0xffffffff)); // UDP from 0.0.0.0, not to the DHCP port
  assert.equal(s.seen.length, 2);
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 4 });
  s.sw.setAddress(fresh, PA, true); // the claim accepted (local only): its frames pass
  run(s, PA, udpFrame(B, A, fresh, IP_B));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PB]);
});

test('nic IPv4: sources that are not the NIC\'s (a LAN host, 8.8.8.8, 0.0.0.0, 255.255.255.255, another NIC\'s) reach no one', () => {
  const s = setup();
  s.sw.tick(0);
  s.eg.clear();
  for (const src of [IP_L, ip('8.8.8.8'), 0, 0xffffffff, IP_C]) {
    run(s, PA, udpFrame(C, A, src, IP_C));
    run(s, PA, udpFrame(L, A, src, IP_L));
    run(s, PA, udpFrame(BC, A, src, 0xffffffff));
  }
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 15 });
});

test('nic IPv4: a DHCP discover from 0.0.0.0 goes to the LAN only; a local-only source reaches guests', () => {
  const s = setup();
  s.sw.tick(0);
  s.eg.clear();
  const d = udpFrame(BC, A, 0, 0xffffffff);
  d.buf[d.eth + 14 + 20 + 2] = 0;
  d.buf[d.eth + 14 + 20 + 3] = 67;
  run(s, PA, d);
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PU]);
  assert.equal(srcOf(s.eg.sent[0].frame), U);
  s.eg.clear();
  run(s, PB, udpFrame(A, B, IP_B, IP_A));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PA]);
  assert.deepEqual(drops(s.c, SW), {});
  const n = setup({ uplink: false });
  run(n, PA, d);
  assert.deepEqual(drops(n.c, SW), { 'no-uplink': 1 });
});

test('nic IPv4: malformed headers are Malformed', () => {
  const s = setup();
  const cases: Array<(f: Frame) => Frame> = [
    (f) => { f.buf[f.eth + 14] = 0x65; return f; }, // version 6 in an IPv4 frame
    (f) => { f.buf[f.eth + 14] = 0x44; return f; }, // ihl 4
    (f) => { f.buf[f.eth + 14] = 0x4f; return f; }, // ihl 15 > frame
    (f) => { f.buf[f.eth + 16] = 0x01; return f; }, // total length 256 > frame
    (f) => { f.buf[f.eth + 16] = 0; f.buf[f.eth + 17] = 19; return f; }, // total length < ihl*4
    (f) => { f.buf[f.eth + 16] = 0; f.buf[f.eth + 17] = 0; return f; }, // total length 0, no GSO
    (f) => ({ ...f, end: f.eth + 14 + 19 }), // truncated header
    (f) => ({ ...f, end: f.eth + 13 }), // truncated Ethernet
  ];
  for (const mk of cases) run(s, PA, mk(udpFrame(L, A, IP_A, IP_L)));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { malformed: cases.length });
});

test('nic IPv4: a GSO super-frame may carry total length 0 or larger than the frame; the header travels with it', () => {
  const s = setup();
  for (const tl of [0, 0xffff]) {
    const f = udpFrame(0x020000009999, A, IP_A, IP_C);
    emitVnetHdr(f.buf, f.hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
    f.buf[f.eth + 16] = tl >>> 8; f.buf[f.eth + 17] = tl & 0xff;
    run(s, PA, f);
  }
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PC, PC]);
  assert.equal(hexOf(s.eg.sent[0].vnet), '01013600a80522001000');
  assert.deepEqual(drops(s.c, SW), {});
});

test('nic: VLAN-tagged and other ethertypes are NotIp (IPv6 goes to ip6-switch.ts: here a source the NIC does not hold)', () => {
  const s = setup();
  run(s, PA, vlanFrame(L, A));
  run(s, PA, ipv6Frame(L, A));
  const other = udpFrame(L, A, IP_A, IP_L);
  other.buf[other.eth + 12] = 0x88; other.buf[other.eth + 13] = 0xcc; // LLDP
  run(s, PA, other);
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'not-ip': 2, 'spoofed-source': 1 });
});

test('nic: group or zero source MAC is BadSource (any MAC that is not group/zero is fine)', () => {
  const s = setup();
  run(s, PA, udpFrame(L, 0x010000000001, IP_A, IP_L));
  run(s, PA, udpFrame(L, 0, IP_A, IP_L));
  run(s, PA, arpFrame(BC, BC, 1, A, IP_A, 0, IP_L));
  assert.deepEqual(drops(s.c, SW), { 'bad-source': 3 });
  run(s, PA, udpFrame(L, 0x02123456789a, IP_A, IP_L));
  assert.equal(s.eg.sent.length, 1);
});

// ---- uplink ----

test('uplink ARP: request for a registered, not-local-only address is answered with the uplink MAC', () => {
  const s = setup();
  run(s, PU, arpFrame(BC, L, 1, L, IP_L, 0, IP_C));
  assert.equal(s.eg.sent.length, 1);
  const { port, frame } = s.eg.sent[0];
  assert.equal(port, PU);
  assert.equal(dstOf(frame), L);
  assert.equal(srcOf(frame), U);
  assert.equal(arpOp(frame, 14), 2);
  assert.equal(arpSha(frame, 14), U);
  assert.equal(arpSpa(frame, 14) >>> 0, IP_C);
  assert.equal(arpTha(frame, 14), L);
  assert.equal(arpTpa(frame, 14) >>> 0, IP_L);
});

test('uplink ARP: request for a local-only or unknown address, and other ops, are ArpIgnored', () => {
  const s = setup();
  run(s, PU, arpFrame(BC, L, 1, L, IP_L, 0, IP_B));
  run(s, PU, arpFrame(BC, L, 1, L, IP_L, 0, ip('10.0.0.200')));
  run(s, PU, arpFrame(BC, L, 3, L, IP_L, 0, IP_C));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'arp-ignored': 3 });
});

test('uplink ARP: reply to a relayed request is delivered to the NIC with tha and dst = its MAC', () => {
  const s = setup();
  run(s, PU, arpFrame(U, L, 2, L, IP_L, U, IP_A));
  assert.equal(s.eg.sent.length, 1);
  const { port, frame } = s.eg.sent[0];
  assert.equal(port, PA);
  assert.equal(dstOf(frame), A);
  assert.equal(srcOf(frame), L);
  assert.equal(arpTha(frame, 14), A);
  assert.equal(arpSha(frame, 14), L);
  assert.equal(arpSpa(frame, 14) >>> 0, IP_L);
  assert.equal(arpTpa(frame, 14) >>> 0, IP_A);
});

test('uplink ARP: reply for an unregistered address is ArpIgnored; malformed ARP is Malformed', () => {
  const s = setup();
  run(s, PU, arpFrame(U, L, 2, L, IP_L, U, ip('10.0.0.200')));
  const bad = arpFrame(BC, L, 1, L, IP_L, 0, IP_C);
  bad.buf[bad.eth + 14 + 5] = 16;
  run(s, PU, bad);
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'arp-ignored': 1, malformed: 1 });
});

test('uplink IPv4: unicast to a registered address gets dst = NIC MAC, src kept', () => {
  const s = setup();
  run(s, PU, udpFrame(U, L, IP_L, IP_C));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PC);
  assert.equal(dstOf(s.eg.sent[0].frame), C);
  assert.equal(srcOf(s.eg.sent[0].frame), L);
});

test('uplink IPv4: local-only destination is LocalOnly, unknown is UnknownDestination', () => {
  const s = setup();
  run(s, PU, udpFrame(U, L, IP_L, IP_B));
  run(s, PU, udpFrame(U, L, IP_L, ip('10.0.0.200')));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'local-only': 1, 'unknown-destination': 1 });
});

test('uplink IPv4: broadcast and multicast go to every NIC with the frame unchanged', () => {
  const s = setup();
  const f = udpFrame(BC, L, IP_L, 0xffffffff);
  const before = hexOf(f.buf, f.eth, f.end);
  run(s, PU, f);
  run(s, PU, udpFrame(0x01005e0000fb, L, IP_L, ip('224.0.0.251')));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PA, PB, PC, PA, PB, PC]);
  for (const x of s.eg.sent.slice(0, 3)) assert.equal(hexOf(x.frame), before);
});

test('uplink IPv4: broadcast with no NIC is UnknownDestination; malformed is Malformed', () => {
  const s = setup();
  s.sw.removePort(PA); s.sw.removePort(PB); s.sw.removePort(PC);
  run(s, PU, udpFrame(BC, L, IP_L, 0xffffffff));
  const bad = udpFrame(U, L, IP_L, IP_C);
  bad.buf[bad.eth + 14] = 0x43;
  run(s, PU, bad);
  assert.deepEqual(drops(s.c, SW), { 'unknown-destination': 1, malformed: 1 });
});

test('uplink: VLAN-tagged and other ethertypes are NotIp (IPv6 to no registered address: UnknownDestination); bad source MAC is BadSource', () => {
  const s = setup();
  run(s, PU, ipv6Frame(U, L));
  run(s, PU, vlanFrame(U, L));
  run(s, PU, udpFrame(U, 0, IP_L, IP_C));
  assert.deepEqual(drops(s.c, SW), { 'not-ip': 1, 'unknown-destination': 1, 'bad-source': 1 });
});

// ---- control surface ----

test('announce: gratuitous ARP request out the uplink behind a zero virtio-net header', () => {
  const s = setup();
  s.sw.announce(IP_C);
  assert.equal(s.eg.sent.length, 1);
  const { port, frame, vnet } = s.eg.sent[0];
  assert.equal(port, PU);
  assert.equal(hexOf(vnet), '00'.repeat(10));
  assert.equal(hexOf(frame, 0, 42),
    'ffffffffffff' + '0200000000ff' + '0806' + '0001080006040001' + '0200000000ff' + 'c0a80703' + '000000000000' + 'c0a80703');
  assert.equal(frame.length, 60);
  assert.equal(hexOf(frame, 42), '00'.repeat(18));
  const t = setup({ uplink: false });
  t.sw.announce(IP_C);
  assert.equal(t.eg.sent.length, 0);
});

test('setAddress / clearAddress change forwarding; removePort forgets the NIC and its addresses', () => {
  const s = setup();
  s.sw.clearAddress(IP_C);
  run(s, PU, udpFrame(U, L, IP_L, IP_C));
  assert.deepEqual(drops(s.c, SW), { 'unknown-destination': 1 });
  s.sw.setAddress(IP_C, PA, false);
  run(s, PU, udpFrame(U, L, IP_L, IP_C));
  assert.equal(s.eg.sent[0].port, PA);
  s.sw.setAddress(IP_B, PB, false); // registration accepted: no longer local only
  run(s, PU, udpFrame(U, L, IP_L, IP_B));
  assert.equal(s.eg.sent[1].port, PB);
  s.sw.removePort(PB);
  assert.equal(s.sw.table.lookup(IP_B), undefined);
  run(s, PB, udpFrame(L, B, IP_B, IP_L));
  assert.deepEqual(drops(s.c, SW), { 'unknown-destination': 1, malformed: 1 });
});

test('removing the uplink makes LAN-bound traffic NoUplink; counters of other switches are untouched', () => {
  const s = setup();
  s.sw.removePort(PU);
  run(s, PA, udpFrame(L, A, IP_A, IP_L));
  assert.deepEqual(drops(s.c, SW), { 'no-uplink': 1 });
  assert.deepEqual(drops(s.c, SW - 1), {});
  assert.deepEqual(drops(s.c, SW + 1), {});
  assert.equal(DropReason.NoUplink, 7);
});
