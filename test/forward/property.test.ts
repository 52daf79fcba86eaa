/**
 * Property tests: no input makes a forwarder throw, and every frame ends in exactly one of
 * "sent at least once" or "exactly one drop counted" (LearnTableFull is a note beside a
 * forwarded frame, not a drop outcome, so it is left out of the sum; a spoofed source is one
 * drop, SpoofedSource). IP mode also: what a NIC sends reaches another port only under its own
 * addresses (IPv4 source registered to that NIC, or 0.0.0.0 to the uplink alone; an ARP sender
 * on the uplink registered to it and not local only, or 0.0.0.0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpSwitch } from '../../src/forward/ip-switch.js';
import { EthernetSwitch } from '../../src/forward/ethernet-switch.js';
import { PortRole, DropReason, Forwarder } from '../../src/forward/api.js';
import { RecordingEgress, counters, totalDrops, udpFrame, arpFrame, ip, tag, type Frame } from './helpers.js';

const SW = 1;
const A = 0x020000000001, B = 0x020000000002, U = 0x0200000000ff, BC = 0xffffffffffff;

function ipSwitch(eg: RecordingEgress, c: Float64Array, withUplink: boolean): IpSwitch {
  const sw = new IpSwitch(SW, c, eg, { sawAddress: () => {} });
  sw.addPort(1, PortRole.Nic, A);
  sw.addPort(2, PortRole.Nic, B);
  if (withUplink) sw.addPort(9, PortRole.Uplink, U);
  sw.setAddress(ip('10.0.0.1'), 1, false);
  sw.setAddress(ip('10.0.0.2'), 2, true);
  return sw;
}

function ethSwitch(eg: RecordingEgress, c: Float64Array): EthernetSwitch {
  const sw = new EthernetSwitch(SW, c, eg, { maxEntries: 4, agingMs: 10 });
  sw.addPort(1, PortRole.Nic, A);
  sw.addPort(2, PortRole.Nic, B);
  sw.addPort(9, PortRole.Uplink, U);
  return sw;
}

function seeds(): Uint8Array[] {
  return [
    udpFrame(B, A, ip('10.0.0.1'), ip('10.0.0.2')).buf,
    udpFrame(U, A, ip('10.0.0.1'), ip('8.8.8.8')).buf,
    udpFrame(BC, A, ip('10.0.0.1'), 0xffffffff).buf,
    udpFrame(U, 0x00aa00000001, ip('10.0.0.100'), ip('10.0.0.1')).buf,
    arpFrame(BC, A, 1, A, ip('10.0.0.1'), 0, ip('10.0.0.2')).buf,
    arpFrame(BC, A, 1, A, ip('10.0.0.1'), 0, ip('10.0.0.9')).buf,
    arpFrame(U, 0x00aa00000001, 2, 0x00aa00000001, ip('10.0.0.100'), U, ip('10.0.0.1')).buf,
    udpFrame(BC, A, 0, 0xffffffff).buf, // DHCP-like (the mutations reach the port bytes)
    udpFrame(B, A, ip('10.0.0.100'), ip('10.0.0.2')).buf, // a LAN host's address as source
    arpFrame(BC, B, 1, B, ip('10.0.0.2'), 0, ip('10.0.0.100')).buf, // a local-only sender
    arpFrame(BC, A, 1, A, 0, 0, ip('10.0.0.100')).buf, // a probe
  ];
}

/** The IP switch's addresses, as ipSwitch sets them: ip -> [port, localOnly]. */
const REGISTERED = new Map<number, [number, boolean]>([[ip('10.0.0.1') | 0, [1, false]], [ip('10.0.0.2') | 0, [2, true]]]);
const i32 = (f: Uint8Array, o: number) => (f[o] << 24) | (f[o + 1] << 16) | (f[o + 2] << 8) | f[o + 3];

/** What NIC `from` sent went only under its own addresses (see the file comment). */
function onlyOwnSources(eg: RecordingEgress, from: number): void {
  for (const { port, frame } of eg.sent) {
    if (port === from || frame.length < 42) continue;
    const type = (frame[12] << 8) | frame[13];
    if (type === 0x0800) {
      const src = i32(frame, 26);
      if (src === 0) assert.equal(port, 9, 'a 0.0.0.0 source goes to the uplink only');
      else assert.equal(REGISTERED.get(src)?.[0], from, 'IPv4 source registered to the sender');
    } else if (type === 0x0806 && port === 9) {
      const spa = i32(frame, 28);
      const e = REGISTERED.get(spa);
      assert.ok(spa === 0 || (e?.[0] === from && !e[1]), 'ARP to the LAN under a registered sender');
    }
  }
}

/** One input with the exactly-one-outcome check. */
function once(sw: Forwarder, eg: RecordingEgress, c: Float64Array, port: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): void {
  const before = totalDrops(c, SW, [DropReason.LearnTableFull]);
  eg.clear();
  sw.input(port, buf, hdr, eth, end, now);
  const dropped = totalDrops(c, SW, [DropReason.LearnTableFull]) - before;
  const sent = eg.sent.length;
  assert.ok((sent > 0 && dropped === 0) || (sent === 0 && dropped === 1), `sent ${sent}, drops ${dropped}`);
}

const portArb = fc.constantFrom(1, 2, 9, 5);

const mutated = fc.tuple(fc.nat(6), fc.array(fc.tuple(fc.nat(80), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.integer({ min: -4, max: 80 }), fc.nat(10))
  .map(([k, muts, cut, vnet]) => {
    const src = seeds()[k];
    const b = src.slice();
    for (const [i, v] of muts) if (i < b.length) b[i] = v;
    const end = Math.max(0, Math.min(b.length, cut < 0 ? b.length : 10 + cut));
    return { buf: b, hdr: Math.min(vnet, 10), eth: 10, end: Math.max(10, end) };
  });

const random = fc.uint8Array({ maxLength: 120 }).chain((b) =>
  fc.record({ buf: fc.constant(b), hdr: fc.integer({ min: 0, max: b.length }), eth: fc.integer({ min: 0, max: b.length }), end: fc.integer({ min: 0, max: b.length }) }));

for (const uplink of [true, false]) {
  test(`property: IpSwitch (uplink ${uplink}) never throws and accounts for every frame`, () => {
    const eg = new RecordingEgress();
    const c = counters();
    const sw = ipSwitch(eg, c, uplink);
    fc.assert(fc.property(fc.oneof(mutated, random), portArb, (f, port) => {
      const hdr = Math.min(f.hdr, f.eth);
      once(sw, eg, c, port, f.buf, hdr, f.eth, f.end, 0);
      if (port === 1 || port === 2) onlyOwnSources(eg, port);
    }), { numRuns: 3000 });
  });
}

test('property: EthernetSwitch never throws and accounts for every frame (tiny table, aging)', () => {
  const eg = new RecordingEgress();
  const c = counters();
  const sw = ethSwitch(eg, c);
  let now = 0;
  fc.assert(fc.property(fc.oneof(mutated, random), portArb, (f, port) => {
    now += 3;
    if (now % 7 === 0) sw.tick(now);
    once(sw, eg, c, port, f.buf, Math.min(f.hdr, f.eth), f.eth, f.end, now);
  }), { numRuns: 3000 });
});

test('property: a VLAN-aware EthernetSwitch (access, trunk, native VLAN, isolation, MACPROTECT, a mirror) never throws, accounts for every frame, and keeps VLANs apart', () => {
  const eg = new RecordingEgress();
  const c = counters();
  const sw = ethSwitch(eg, c);
  sw.addPort(3, PortRole.Nic, 0x020000000003);
  sw.setSwitchPolicy({ vlanAware: true, nativeVid: 10, isolation: false });
  sw.setPortPolicy(1, { portType: 'ACCESS', pvid: 10, vlans: [], promiscuous: false, macProtect: true });
  sw.setPortPolicy(2, { portType: 'TRUNK', pvid: 0, vlans: [10, 20], promiscuous: false, macProtect: false });
  sw.setPortPolicy(3, { portType: 'ACCESS', pvid: 20, vlans: [], promiscuous: true, macProtect: false });
  const members: Record<number, number[]> = { 1: [10], 2: [10, 20], 3: [20], 9: [10, 20] };
  const tagged = fc.tuple(fc.oneof(mutated, random), fc.constantFrom(-1, 0, 10, 20, 30, 4095), fc.boolean())
    .map(([f, vid, iso]) => {
      if (vid < 0 || f.end - f.eth < 14 || f.eth < 0) return { f, iso };
      const buf = new Uint8Array(f.buf.length + 4);
      buf.set(f.buf, 4);
      const eth = f.eth + 4, end = f.end + 4;
      for (let i = 0; i < 12; i++) buf[eth - 4 + i] = buf[eth + i];
      buf[eth + 8] = 0x81; buf[eth + 9] = 0; buf[eth + 10] = vid >> 8; buf[eth + 11] = vid & 0xff;
      return { f: { buf, hdr: Math.min(f.hdr + 4, eth - 4), eth: eth - 4, end }, iso };
    });
  let now = 0;
  fc.assert(fc.property(tagged, fc.constantFrom(1, 2, 3, 9, 5), ({ f, iso }, port) => {
    now += 3;
    sw.setSwitchPolicy({ vlanAware: true, nativeVid: 10, isolation: iso });
    once(sw, eg, c, port, f.buf, Math.min(f.hdr, f.eth), f.eth, f.end, now);
    for (const s of eg.sent) {
      const vid = s.tci & 0xfff;
      assert.ok(members[s.port]?.includes(vid), `sent to port ${s.port} in VLAN ${vid}`);
      assert.ok(members[port]?.includes(vid), `from port ${port} in VLAN ${vid}`);
      if (iso && port !== 9) assert.ok(s.port === 9 || s.port === 3, 'isolation: only the uplink and the mirror');
    }
  }), { numRuns: 3000 });
});

test('property: a VLAN-aware IpSwitch never throws, accounts for every frame, and sends only within the frame\'s VLAN', () => {
  const eg = new RecordingEgress();
  const c = counters();
  const sw = ipSwitch(eg, c, true);
  sw.setSwitchPolicy({ vlanAware: true, nativeVid: 10, isolation: false });
  sw.setPortPolicy(1, { portType: 'ACCESS', pvid: 10, vlans: [], promiscuous: true, macProtect: true });
  sw.setPortPolicy(2, { portType: 'TRUNK', pvid: 0, vlans: [10, 20], promiscuous: false, macProtect: false });
  sw.setAddress(ip('10.0.0.1'), 1, false, 10);
  sw.setAddress(ip('10.0.0.2'), 2, false, 20);
  const members: Record<number, number[]> = { 1: [10], 2: [10, 20], 9: [10, 20] };
  fc.assert(fc.property(fc.oneof(mutated, random), fc.constantFrom(-1, 10, 20, 30), fc.boolean(), portArb, (f, vid, iso, port) => {
    let fr: Frame = { buf: f.buf, hdr: Math.min(f.hdr, f.eth), eth: f.eth, end: f.end };
    if (vid >= 0 && f.eth >= 0 && f.end - f.eth >= 14) fr = tag({ buf: f.buf, hdr: fr.hdr, eth: f.eth, end: f.end }, vid);
    sw.setSwitchPolicy({ vlanAware: true, nativeVid: 10, isolation: iso });
    once(sw, eg, c, port, fr.buf, fr.hdr, fr.eth, fr.end, 0);
    for (const s of eg.sent) {
      const v = s.tci & 0xfff;
      assert.ok(members[s.port]?.includes(v), `sent to port ${s.port} in VLAN ${v}`);
      if (s.port !== port) assert.ok(members[port]?.includes(v), `from port ${port} in VLAN ${v}`);
      if (iso && port !== 9) assert.ok(s.port === 9 || s.port === 1 || s.port === port, 'isolation: the uplink, the mirror, or back');
    }
  }), { numRuns: 3000 });
});
