/**
 * The IP-mode switch's VXLAN overlay (src/forward/overlay.ts through src/forward/ip-switch.ts),
 * pure: a recording egress, frames built by the wire emitters, no sockets. Every case checks
 * where each frame went (port, MACs, ARP and NDP fields) or the one drop it counted. IPv6:
 * the remote guests' global/ULA addresses (overlay remote6) answered by NDP locally, reached
 * out the overlay, accepted from it only from those addresses; link-local stays per member.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpSwitch } from '../../src/forward/ip-switch.js';
import { PortRole } from '../../src/forward/api.js';
import { readMac } from '../../src/wire/addr.js';
import { arpOp, arpSha, arpSpa, arpTha, arpTpa } from '../../src/wire/arp.js';
import { ArpOp } from '../../src/wire/arp.js';
import { LEARNED_MS, MAX_LEARNED, MAX_REMOTE, overlayable6 } from '../../src/forward/overlay.js';
import { checkIcmpv6, checkNdp, Icmp6, Ndp } from '../../src/wire/icmpv6.js';
import { RecordingEgress, counters, drops, sentOrOneDrop, udpFrame, arpFrame, ipv6Frame, ip, Frame } from './helpers.js';
import { dstIp, icmpType, na, ns, optMac, srcIp, target, udp6, w6 } from './ip6-frames.js';

const SW = 2;
const A = 0x02b001000001, U = 0x0200000000ff, OV = 0x06aa00000001;
const R = 0x02b002000001; // a remote member's guest
const P = 0x0a0000000099; // a host behind a static VTEP
const BC = 0xffffffffffff;
const IP_A = ip('10.237.0.11'), IP_R = ip('10.237.0.21'), IP_P = ip('10.237.0.99'), IP_X = ip('10.237.0.50');
const PA = 1, PU = 9, PO = 12;
const G6A = 'fd00:237::11', G6R = 'fd00:237::21', G6R2 = '2001:db8:237::22', LL_A = 'fe80::11', LL_R = 'fe80::21', G6X = 'fd00:237::50';

function setup(opts: { uplink?: boolean } = {}) {
  const eg = new RecordingEgress();
  const c = counters();
  const sw = new IpSwitch(SW, c, eg, {});
  sw.addPort(PA, PortRole.Nic, A);
  if (opts.uplink !== false) sw.addPort(PU, PortRole.Uplink, U);
  sw.addPort(PO, PortRole.Overlay, OV);
  sw.setAddress(IP_A, PA, true);
  sw.overlay.setRemote(IP_R, R);
  sw.setAddress6(0, ...w6(G6A), PA, true);
  sw.setAddress6(0, ...w6(LL_A), PA, false);
  assert.ok(sw.overlay.setRemote6(...w6(G6R), R));
  return { sw, eg, c };
}

function run(s: ReturnType<typeof setup>, port: number, f: Frame, now = 0): void {
  s.sw.input(port, f.buf, f.hdr, f.eth, f.end, now);
}

/** A frame of an EtherType the overlay does not carry (0x88b5, local experimental). */
function vlanLike(dst: number, src: number): Frame {
  const f = ipv6Frame(dst, src);
  f.buf[f.eth + 12] = 0x88; f.buf[f.eth + 13] = 0xb5;
  return f;
}

const dstOf = (f: Uint8Array) => readMac(f, 0);
const srcOf = (f: Uint8Array) => readMac(f, 6);

test('a NIC\'s ARP for a remote guest is answered locally with the remote guest\'s MAC; nothing crosses the overlay', () => {
  const s = setup();
  run(s, PA, arpFrame(BC, A, ArpOp.Request, A, IP_A, 0, IP_R));
  assert.equal(s.eg.sent.length, 1);
  const f = s.eg.sent[0];
  assert.equal(f.port, PA);
  assert.equal(arpOp(f.frame, 14), ArpOp.Reply);
  assert.equal(arpSha(f.frame, 14), R);
  assert.equal(arpSpa(f.frame, 14) >>> 0, IP_R);
  assert.equal(arpTha(f.frame, 14), A);
  assert.equal(dstOf(f.frame), A);
  assert.equal(srcOf(f.frame), R);
  assert.deepEqual(drops(s.c, SW), {});
});

test('a NIC\'s IPv4 to a remote guest goes out the overlay with the remote MAC, the guest\'s own source MAC kept (not the uplink)', () => {
  const s = setup();
  run(s, PA, udpFrame(U, A, IP_A, IP_R));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PO);
  assert.equal(dstOf(s.eg.sent[0].frame), R);
  assert.equal(srcOf(s.eg.sent[0].frame), A);
  // An address the overlay does not know goes to the uplink as before.
  s.eg.clear();
  run(s, PA, udpFrame(U, A, IP_A, IP_X));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PU);
  assert.equal(srcOf(s.eg.sent[0].frame), U);
  // A cleared remote is no longer reached through the overlay.
  s.sw.overlay.clearRemote(IP_R);
  s.eg.clear();
  run(s, PA, udpFrame(R, A, IP_A, IP_R));
  assert.equal(s.eg.sent[0].port, PU);
});

test('from the overlay: IPv4 of a known source to a local guest is delivered with its MAC; unknown sources and destinations are dropped and counted', () => {
  const s = setup();
  run(s, PO, udpFrame(A, R, IP_R, IP_A));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PA);
  assert.equal(dstOf(s.eg.sent[0].frame), A);
  s.eg.clear();
  run(s, PO, udpFrame(A, P, IP_P, IP_A)); // nobody said who 10.237.0.99 is
  run(s, PO, udpFrame(A, R, IP_R, IP_X)); // no such local guest
  run(s, PO, udpFrame(BC, R, IP_R, ip('255.255.255.255')));
  run(s, PO, vlanLike(A, R));
  run(s, PO, udpFrame(A, BC, IP_R, IP_A)); // a broadcast source MAC
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 1, 'unknown-destination': 2, 'not-ip': 1, 'bad-source': 1 });
});

test('a host behind a static VTEP: its ARP is answered with the guest\'s MAC and teaches the switch its address', () => {
  const s = setup();
  run(s, PO, arpFrame(BC, P, ArpOp.Request, P, IP_P, 0, IP_A), 1000);
  assert.equal(s.eg.sent.length, 1);
  const f = s.eg.sent[0];
  assert.equal(f.port, PO);
  assert.equal(arpOp(f.frame, 14), ArpOp.Reply);
  assert.equal(arpSha(f.frame, 14), A);
  assert.equal(dstOf(f.frame), P);
  s.eg.clear();
  // Now the guest reaches it (ARP answered from what was learned; IPv4 out the overlay), and its IPv4 is accepted.
  run(s, PA, arpFrame(BC, A, ArpOp.Request, A, IP_A, 0, IP_P), 2000);
  assert.equal(arpSha(s.eg.sent[0].frame, 14), P);
  run(s, PA, udpFrame(P, A, IP_A, IP_P), 2000);
  assert.equal(s.eg.sent[1].port, PO);
  assert.equal(dstOf(s.eg.sent[1].frame), P);
  run(s, PO, udpFrame(A, P, IP_P, IP_A), 2000);
  assert.equal(s.eg.sent[2].port, PA);
  // Learned entries age out.
  s.eg.clear();
  run(s, PO, udpFrame(A, P, IP_P, IP_A), 1000 + LEARNED_MS + 1);
  assert.equal(s.eg.sent.length, 0);
  assert.equal(drops(s.c, SW)['spoofed-source'], 1);
});

test('an ARP from the overlay claiming a local guest\'s address is dropped; a remote address is never relearned from ARP', () => {
  const s = setup();
  run(s, PO, arpFrame(BC, P, ArpOp.Request, P, IP_A, 0, IP_X));
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 1 });
  run(s, PO, arpFrame(BC, P, ArpOp.Request, P, IP_R, 0, IP_A)); // answered, but R stays the store's
  s.eg.clear();
  run(s, PA, udpFrame(P, A, IP_A, IP_R));
  assert.equal(dstOf(s.eg.sent[0].frame), R);
});

test('a store entry that claims a local guest\'s address does not let the overlay speak as that guest (IPv4 and IPv6)', () => {
  const s = setup();
  const B = 0x02b001000002, PB = 2, IP_B = ip('10.237.0.12'), G6B = 'fd00:237::12';
  s.sw.addPort(PB, PortRole.Nic, B);
  s.sw.setAddress(IP_B, PB, true);
  s.sw.setAddress6(0, ...w6(G6B), PB, true);
  // A malformed or malicious member publishes B's addresses as its own.
  s.sw.overlay.setRemote(IP_B, R);
  assert.ok(s.sw.overlay.setRemote6(...w6(G6B), R));
  run(s, PO, udpFrame(A, R, IP_B, IP_A));
  run(s, PO, udp6(A, R, G6B, G6A));
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 2 });
  // Local traffic to B still goes to B, not out the overlay.
  run(s, PA, udpFrame(A, A, IP_A, IP_B));
  run(s, PA, udp6(A, A, G6A, G6B));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PB, PB]);
});

test('a NIC\'s ARP for an unknown address goes to the overlay unchanged and to the uplink under the uplink\'s MAC; the reply from the overlay reaches the guest', () => {
  const s = setup();
  run(s, PA, arpFrame(BC, A, ArpOp.Request, A, IP_A, 0, IP_P));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PO]); // local only: not to the LAN (unchanged rule), but the overlay asks
  assert.equal(arpSha(s.eg.sent[0].frame, 14), A);
  s.sw.setAddress(IP_A, PA, false);
  s.eg.clear();
  run(s, PA, arpFrame(BC, A, ArpOp.Request, A, IP_A, 0, IP_P));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PO, PU]);
  assert.equal(arpSha(s.eg.sent[0].frame, 14), A);
  assert.equal(arpSha(s.eg.sent[1].frame, 14), U);
  s.eg.clear();
  run(s, PO, arpFrame(A, P, ArpOp.Reply, P, IP_P, A, IP_A));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PA);
  assert.equal(arpTpa(s.eg.sent[0].frame, 14) >>> 0, IP_A);
  // Without an uplink, the overlay alone is no NoUplink drop.
  const t = setup({ uplink: false });
  t.sw.setAddress(IP_A, PA, false);
  run(t, PA, arpFrame(BC, A, ArpOp.Request, A, IP_A, 0, IP_P));
  assert.deepEqual(t.eg.sent.map((x) => x.port), [PO]);
  assert.deepEqual(drops(t.c, SW), {});
});

test('the learned table is bounded; the overlay port removed stops the overlay', () => {
  const s = setup();
  for (let i = 0; i < MAX_LEARNED + 10; i++) run(s, PO, arpFrame(BC, P + i, ArpOp.Request, P + i, ip('10.238.0.0') + i, 0, IP_X));
  assert.deepEqual(s.sw.overlay.sizes(), [1, MAX_LEARNED]);
  assert.equal(drops(s.c, SW)['arp-ignored'], MAX_LEARNED + 10);
  s.sw.removePort(PO);
  s.eg.clear();
  run(s, PA, udpFrame(R, A, IP_A, IP_R));
  assert.equal(s.eg.sent[0].port, PU);
  run(s, PO, udpFrame(A, R, IP_R, IP_A));
  assert.equal(drops(s.c, SW).malformed, 1); // a port no longer attached
});

test('the remote IPv4 table is bounded: past MAX_REMOTE a new address is refused (not reached), a known one still changes, a cleared one makes room', () => {
  const s = setup(); // IP_R is remote already
  const base = ip('10.64.0.0');
  for (let i = 1; i < MAX_REMOTE; i++) assert.ok(s.sw.overlay.setRemote(base + i, R + 1));
  assert.deepEqual(s.sw.overlay.sizes(), [MAX_REMOTE, 0]);
  const extra = ip('10.237.0.77');
  assert.equal(s.sw.overlay.setRemote(extra, R + 2), false, 'a new address past the bound is refused');
  assert.deepEqual(s.sw.overlay.sizes(), [MAX_REMOTE, 0]);
  // Refused means unknown: a NIC's IPv4 to it goes to the uplink, not the overlay, and its traffic from the overlay is spoofed.
  run(s, PA, udpFrame(U, A, IP_A, extra));
  assert.equal(s.eg.sent.at(-1)?.port, PU);
  run(s, PO, udpFrame(A, R + 2, extra, IP_A));
  assert.equal(drops(s.c, SW)['spoofed-source'], 1);
  // A known address still takes a new MAC at the bound.
  assert.ok(s.sw.overlay.setRemote(IP_R, R + 3));
  s.eg.clear();
  run(s, PA, udpFrame(U, A, IP_A, IP_R));
  assert.equal(s.eg.sent[0].port, PO);
  assert.equal(dstOf(s.eg.sent[0].frame), R + 3);
  // A cleared address makes room for the refused one.
  s.sw.overlay.clearRemote(base + 1);
  assert.ok(s.sw.overlay.setRemote(extra, R + 2));
  s.eg.clear();
  run(s, PA, udpFrame(U, A, IP_A, extra));
  assert.equal(s.eg.sent[0].port, PO);
});

test('property: with an overlay port, no input throws and every frame is sent at least once or counted as exactly one drop', () => {
  const s = setup();
  s.sw.overlay.setRemote(ip('10.237.0.22'), R + 1);
  s.sw.overlay.setRemote6(...w6(G6R2), R + 1);
  const seeds = [
    udpFrame(R, A, IP_A, IP_R).buf, udpFrame(A, R, IP_R, IP_A).buf, udpFrame(A, P, IP_P, IP_A).buf,
    arpFrame(BC, A, ArpOp.Request, A, IP_A, 0, IP_R).buf, arpFrame(BC, A, ArpOp.Request, A, IP_A, 0, IP_P).buf,
    arpFrame(BC, P, ArpOp.Request, P, IP_P, 0, IP_A).buf, arpFrame(A, P, ArpOp.Reply, P, IP_P, A, IP_A).buf,
    arpFrame(BC, P, ArpOp.Request, P, 0, 0, IP_A).buf, udpFrame(BC, R, IP_R, 0xffffffff).buf, ipv6Frame(A, R).buf,
    ns(A, G6A, G6R).buf, ns(A, '::', G6R).buf, ns(A, LL_A, LL_R).buf, udp6(U, A, G6A, G6R).buf, udp6(U, A, G6A, G6R2).buf,
    udp6(A, R, G6R, G6A).buf, udp6(A, R, G6R, LL_A).buf, udp6(A, R, LL_R, LL_A).buf, udp6(A, P, G6X, G6A).buf,
    udp6(A, R, G6R2, G6A, 64).buf, na(A, R, G6R, G6A, G6R, Ndp.FlagSolicited, R).buf, udp6(A, R, G6R, 'ff02::1').buf,
  ];
  const frame = fc.tuple(fc.nat(seeds.length - 1), fc.array(fc.tuple(fc.nat(80), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.integer({ min: -4, max: 80 }), fc.nat(10))
    .map(([k, muts, cut, vnet]) => {
      const b = seeds[k]!.slice();
      for (const [i, v] of muts) if (i < b.length) b[i] = v;
      const end = cut < 0 ? b.length : Math.max(10, Math.min(b.length, 10 + cut));
      return { buf: b, hdr: Math.min(vnet, 10), eth: 10, end };
    });
  let now = 0;
  fc.assert(fc.property(frame, fc.constantFrom(PA, PU, PO, 5), (f, port) => {
    now += 1000;
    const before = drops(s.c, SW);
    s.eg.clear();
    s.sw.input(port, f.buf, f.hdr, f.eth, f.end, now);
    assert.ok(sentOrOneDrop(s.eg, s.c, SW, before, PU), `sent ${s.eg.sent.length}, drops ${JSON.stringify(before)} -> ${JSON.stringify(drops(s.c, SW))}`);
  }), { numRuns: 3000 });
});

// ---- IPv6 across the overlay ----

test('IPv6: a NIC\'s NS for a remote guest\'s address is answered locally with the remote guest\'s MAC; its DAD for it fails; nothing crosses the overlay', () => {
  const s = setup();
  run(s, PA, ns(A, G6A, G6R));
  assert.equal(s.eg.sent.length, 1);
  const f = s.eg.sent[0];
  assert.equal(f.port, PA);
  assert.ok(checkIcmpv6(f.frame, 14, 54, f.frame.length) && checkNdp(f.frame, 14, 54, f.frame.length), 'a valid NA');
  assert.equal(icmpType(f.frame), Icmp6.NeighborAdvert);
  assert.equal(target(f.frame), G6R);
  assert.equal(srcIp(f.frame), G6R);
  assert.equal(dstIp(f.frame), G6A);
  assert.equal(f.frame[58], Ndp.FlagSolicited | Ndp.FlagOverride);
  assert.equal(optMac(f.frame, 24), R, 'TLLA = the remote guest\'s MAC');
  assert.equal(dstOf(f.frame), A);
  assert.equal(srcOf(f.frame), R);
  // From a link-local source too (the NS's source is the guest's choice).
  s.eg.clear();
  run(s, PA, ns(A, LL_A, G6R));
  assert.equal(optMac(s.eg.sent[0].frame, 24), R);
  // A DAD probe for it gets the NA to all nodes that fails the DAD.
  s.eg.clear();
  run(s, PA, ns(A, '::', G6R));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PA);
  assert.equal(dstIp(s.eg.sent[0].frame), 'ff02::1');
  assert.equal(s.eg.sent[0].frame[58], Ndp.FlagOverride);
  assert.equal(optMac(s.eg.sent[0].frame, 24), R);
  assert.deepEqual(drops(s.c, SW), {});
});

test('IPv6: unicast to a remote guest goes out the overlay with its MAC, the guest\'s own source MAC kept; unknown and cleared addresses go to the uplink', () => {
  const s = setup();
  run(s, PA, udp6(U, A, G6A, G6R));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PO);
  assert.equal(dstOf(s.eg.sent[0].frame), R);
  assert.equal(srcOf(s.eg.sent[0].frame), A);
  // An NS for an address the overlay does not know goes to the uplink (as before), never into the overlay.
  s.eg.clear();
  run(s, PA, ns(A, G6A, G6X));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PU]);
  s.sw.overlay.clearRemote6(...w6(G6R));
  s.eg.clear();
  run(s, PA, ns(A, G6A, G6R));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PU]);
  // No uplink: a cleared remote is NoUplink, not the overlay.
  const t = setup({ uplink: false });
  t.sw.overlay.clearRemote6(...w6(G6R));
  run(t, PA, udp6(U, A, G6A, G6R));
  assert.equal(t.eg.sent.length, 0);
  assert.deepEqual(drops(t.c, SW), { 'no-uplink': 1 });
});

test('IPv6 from the overlay: a known remote source to a local guest is delivered with its MAC; anything else is dropped and counted', () => {
  const s = setup();
  run(s, PO, udp6(OV, R, G6R, G6A));
  assert.equal(s.eg.sent.length, 1);
  assert.equal(s.eg.sent[0].port, PA);
  assert.equal(dstOf(s.eg.sent[0].frame), A);
  assert.equal(srcOf(s.eg.sent[0].frame), R);
  s.eg.clear();
  run(s, PO, udp6(A, P, G6X, G6A)); // a source the store did not give
  run(s, PO, udp6(A, R, LL_R, LL_A)); // link-local never crosses
  run(s, PO, udp6(A, R, G6R, G6X)); // no such local guest
  run(s, PO, udp6(A, R, G6R, LL_A)); // a local link-local address is not reachable from the overlay
  run(s, PO, udp6(BC, R, G6R, 'ff02::1'));
  run(s, PO, ns(A, G6R, G6A)); // NDP for local guests is answered on the remote guest's own member
  run(s, PO, na(A, R, G6R, G6A, G6R, Ndp.FlagSolicited, R));
  run(s, PO, udp6(A, BC, G6R, G6A)); // a broadcast source MAC
  const bad = udp6(A, R, G6R, G6A);
  run(s, PO, { ...bad, end: bad.eth + 14 + 20 }); // cut in the IPv6 header
  assert.equal(s.eg.sent.length, 0);
  assert.deepEqual(drops(s.c, SW), { 'spoofed-source': 2, 'unknown-destination': 3, 'ndp-ignored': 2, 'bad-source': 1, malformed: 1 });
  // Without an overlay port nothing goes there (the uplink knows no neighbour for it: dropped, and
  // the switch asks the LAN), the NIC's NS is relayed to the LAN, and the port's frames are Malformed.
  s.sw.removePort(PO);
  s.eg.clear();
  run(s, PA, udp6(U, A, G6A, G6R));
  run(s, PA, ns(A, G6A, G6R));
  run(s, PO, udp6(OV, R, G6R, G6A));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PU, PU]);
  assert.equal(drops(s.c, SW)['no-neighbour'], 1);
  assert.equal(drops(s.c, SW).malformed, 2);
});

test('IPv6: only global and ULA addresses cross the overlay (link-local, multicast, ::, ::1 are refused by setRemote6)', () => {
  const s = setup();
  for (const a of [LL_R, 'fe80::1', 'febf::1', 'ff02::1', 'ff0e::1', '::', '::1']) {
    assert.equal(overlayable6(...w6(a)), false, a);
    assert.equal(s.sw.overlay.setRemote6(...w6(a), R), false, a);
  }
  for (const a of [G6R, G6R2, 'fec0::1', '::2', '64:ff9b::1']) assert.equal(overlayable6(...w6(a)), true, a);
  assert.equal(s.sw.overlay.remote6.size, 1);
  // A NIC's NS for a remote's link-local address is not answered from the overlay: it goes to the uplink as any unknown target.
  run(s, PA, ns(A, LL_A, LL_R));
  assert.deepEqual(s.eg.sent.map((x) => x.port), [PU]);
});
