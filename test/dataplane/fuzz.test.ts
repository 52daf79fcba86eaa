/**
 * Property-based frame fuzzer at the data-plane level (issue 9): fast-check makes batches of
 * frames, with and without virtio-net headers (random or near-valid: plausible TSO headers with
 * wrong sizes, types and offsets), and a guest writes them into its real TAP through packet
 * sockets in its namespace (one with PACKET_VNET_HDR, one without), so they reach the
 * production IP-mode switch in the real worker exactly as a hostile guest's frames would.
 *
 * Topology: the fuzzing guest F and one quiet guest B (no IPv4 address, IPv6 off) on an
 * IP-mode switch without an uplink, both TAPs of MTU 9000 (so nothing is too big), F's and B's
 * addresses registered. Then every frame the switch reads from F has exactly one outcome: a
 * drop counted with its reason at the switch (ingress or forwarder), or exactly one transmit
 * attempt (to B: forwarded or flooded; to F: an ARP answer), counted at that port as a frame
 * sent or a TX drop (an egress reason such as bad-offload rides along with its TX drop and is
 * not counted twice). Asserted after each batch, from the shared counters:
 *   rx(F) = drops (all reasons but the egress's and the notes) + tx(B) + txDrops(B) + tx(F) + txDrops(F)
 * and at the end: the worker never died, and a plain frame still goes through.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap } from '../../src/host/devices.js';
import { DropReason, DROP_REASON_NAMES } from '../../src/forward/api.js';
import { PortCounter } from '../../src/forward/counters.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { emitEthernet, EtherType } from '../../src/wire/ethernet.js';
import { emitIpv4, IpProto } from '../../src/wire/ipv4.js';
import { emitTcp, TCP_ACK } from '../../src/wire/tcp.js';
import { emitVnetHdr } from '../../src/wire/vnet.js';
import { AF_PACKET, PACKET_VNET_HDR, SOCK_RAW, SOL_PACKET, bind, close, ifNameToIndex, raw, setsockoptInt, socket } from '../../src/sys/libc.js';
import { withNetns } from '../../src/sys/netns.js';
import { addNs, delNs, ip, inNs, sleep, uniq } from '../helpers/netns.js';
import { CounterSpan } from './counter-span.js';

const nsF = uniq('vszf'), nsB = uniq('vszb');
const SW = 9, F = 90, B = 91;
const MAC_F = 0x020000009001, MAC_B = 0x020000009101;
const IP_F = '10.85.0.11', IP_B = '10.85.0.12';
/** Reasons counted beside a TX drop (the egress's), or beside a forwarded frame (notes): not outcomes of their own. */
const NOT_OUTCOMES = new Set<number>([DropReason.QueueFull, DropReason.EgressDown, DropReason.TooBig, DropReason.BadOffload,
  DropReason.LearnTableFull, DropReason.GroupTableFull]);

let dp: DataPlane;
let workerError: Error | null = null;
let plainSock = -1, vnetSock = -1;

before(async () => {
  for (const ns of [nsF, nsB]) {
    addNs(ns);
    inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
    inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1');
  }
  dp = await DataPlane.start();
  dp.on('error', (e: Error) => { workerError = e; });
  dp.post({ op: 'switch-add', sw: SW, mode: 'IP', queueBytes: 0 });
  for (const [ns, port, mac] of [[nsF, F, MAC_F], [nsB, B, MAC_B]] as const) {
    const t = openTap({ netns: ns, name: 'enc600', mac, persist: false });
    ip('-n', ns, 'link', 'set', 'enc600', 'mtu', '9000');
    ip('-n', ns, 'link', 'set', 'enc600', 'up');
    dp.post({ op: 'port-add', port, sw: SW, role: 'nic', kind: 'tap', fd: t.fd, mac, vnet: true, name: ns });
  }
  dp.post({ op: 'ip-set', sw: SW, ip: parseIpv4(IP_F), port: F, localOnly: false });
  dp.post({ op: 'ip-set', sw: SW, ip: parseIpv4(IP_B), port: B, localOnly: false });
  withNetns(nsF, () => {
    const sll = Buffer.alloc(20);
    sll.writeUInt16LE(AF_PACKET, 0);
    sll.writeUInt16BE(0x0003, 2);
    sll.writeInt32LE(ifNameToIndex('enc600'), 4);
    plainSock = socket(AF_PACKET, SOCK_RAW, 0);
    bind(plainSock, sll);
    vnetSock = socket(AF_PACKET, SOCK_RAW, 0);
    setsockoptInt(vnetSock, SOL_PACKET, PACKET_VNET_HDR, 1);
    bind(vnetSock, sll);
  });
  await sleep(1500); // past the switch's start-up IGMP query (it goes to both NICs)
});

after(async () => {
  close(plainSock);
  close(vnetSock);
  try { if (dp) await dp.stop(); } finally { for (const ns of [nsF, nsB]) delNs(ns); }
});

// ---- frame generators ----------------------------------------------------------------------

const macArb = fc.oneof(fc.constantFrom(MAC_B, MAC_F, 0xffffffffffff, 0x01005e000001, 0), fc.integer({ min: 0, max: 2 ** 48 - 1 }));
const ipArb = fc.oneof(fc.constantFrom(IP_B, IP_F, '255.255.255.255', '224.0.0.1', '239.1.2.3', '0.0.0.0', '10.85.0.99').map(parseIpv4),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }));

/** A plausible L3 packet (IPv4 TCP/UDP/other, ARP, IPv6, VLAN, or noise) as bytes after the Ethernet header. */
const l3Arb = fc.oneof(
  fc.record({ src: ipArb, dst: ipArb, proto: fc.constantFrom(IpProto.Tcp, IpProto.Udp, 1, 2, 47), len: fc.nat(2900), flags: fc.nat(255) })
    .map(({ src, dst, proto, len, flags }) => {
      const b = new Uint8Array(20 + 20 + len);
      const l4 = emitIpv4(b, 0, src, dst, proto, 20 + len);
      b[6] = flags & 0xe0;
      if (proto === IpProto.Tcp) emitTcp(b, l4, 1234, 80, 1, 1, TCP_ACK, 1000);
      return { type: EtherType.Ipv4, b };
    }),
  fc.record({ op: fc.constantFrom(1, 1, 2, 3), spa: fc.oneof(fc.constant(parseIpv4(IP_F)), ipArb), tpa: fc.oneof(fc.constant(parseIpv4(IP_B)), ipArb), sha: macArb }).map(({ op, spa, tpa, sha }) => {
    const b = new Uint8Array(28);
    b.set([0, 1, 8, 0, 6, 4, 0, op]);
    for (let i = 0; i < 6; i++) b[8 + i] = Math.floor(sha / 2 ** (8 * (5 - i))) & 0xff;
    new DataView(b.buffer).setUint32(14, spa);
    new DataView(b.buffer).setUint32(24, tpa);
    return { type: EtherType.Arp, b };
  }),
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ type: EtherType.Ipv6, b })),
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ type: EtherType.Vlan, b })),
  fc.record({ type: fc.integer({ min: 0, max: 0xffff }), b: fc.uint8Array({ maxLength: 300 }) }),
);

/** A virtio-net header of random fields. */
const randomVnetArb = fc.uint8Array({ minLength: 10, maxLength: 10 });

/** A near-valid TSO header: what a guest's TAP writes for the frame, with fields a liar changes. */
const tsoVnetArb = fc.record({
  flags: fc.constantFrom(1, 1, 1, 0, 3), gso: fc.constantFrom(1, 1, 0x81, 4, 3, 5, 0x80, 0), hdrLen: fc.constantFrom(54, 54, 0, 65535),
  gsoSize: fc.constantFrom(1448, 536, 1, 7, 0, 9000, 65535), csumStart: fc.constantFrom(34, 34, 34, 14, 35, 3000),
  csumOffset: fc.constantFrom(16, 16, 16, 6, 0, 4000),
}).map((h) => {
  const b = new Uint8Array(10);
  emitVnetHdr(b, 0, h.flags, h.gso, h.hdrLen, h.gsoSize, h.csumStart, h.csumOffset);
  return b;
});

/** A TCP/IPv4 frame body (after the Ethernet header) from F, mostly to B, of up to 2900 bytes of data. */
const tcpArb = fc.record({ dst: fc.oneof({ weight: 3, arbitrary: fc.constant(parseIpv4(IP_B)) }, { weight: 1, arbitrary: ipArb }), len: fc.nat(2900) }).map(({ dst, len }) => {
  const b = new Uint8Array(20 + 20 + len);
  const l4 = emitIpv4(b, 0, parseIpv4(IP_F), dst, IpProto.Tcp, 20 + len);
  emitTcp(b, l4, 1234, 80, 1, 1, TCP_ACK, 1000);
  return { type: EtherType.Ipv4, b };
});

/** The frame's virtio-net header: none (a plain frame), random, or near-valid TSO over a TCP frame. */
const bodyArb = fc.oneof(
  { weight: 3, arbitrary: fc.record({ l3: l3Arb, vnet: fc.constant(null) }) },
  { weight: 1, arbitrary: fc.record({ l3: l3Arb, vnet: randomVnetArb }) },
  { weight: 1, arbitrary: fc.record({ l3: l3Arb, vnet: fc.constant(new Uint8Array(10)) }) },
  { weight: 4, arbitrary: fc.record({ l3: tcpArb, vnet: tsoVnetArb }) },
);

const frameArb = fc.record({
  dst: macArb, src: fc.oneof(fc.constant(MAC_F), fc.constant(MAC_F), macArb), body: bodyArb,
  flips: fc.array(fc.tuple(fc.nat(3000), fc.nat(255)), { maxLength: 3 }),
}).map(({ dst, src, body, flips }) => {
  const frame = new Uint8Array(14 + body.l3.b.length);
  emitEthernet(frame, 0, dst, src, body.l3.type);
  frame.set(body.l3.b, 14);
  for (const [at, v] of flips) if (at < frame.length) frame[at] = v;
  return { frame, vnet: body.vnet };
});

// ---- the property --------------------------------------------------------------------------

/** Write one frame through the guest's packet socket; true when its kernel took it. */
function write(f: { frame: Uint8Array; vnet: Uint8Array | null }): boolean {
  if (f.vnet === null) return raw.write(plainSock, Buffer.from(f.frame), f.frame.length) === f.frame.length;
  const b = Buffer.concat([f.vnet, f.frame]);
  return raw.write(vnetSock, b, b.length) === b.length;
}

/** Totals over the whole run, by outcome name (to show the fuzzer reached each kind of outcome). */
const seen = new Map<string, number>();

function outcomes(span: CounterSpan): { rx: number; out: number; detail: string; by: Map<string, number> } {
  const by = new Map<string, number>();
  let drops = 0;
  const named: string[] = [];
  for (let r = 0; r < DROP_REASON_NAMES.length; r++) {
    const n = span.drop(SW, r as DropReason);
    if (n !== 0) { named.push(`${DROP_REASON_NAMES[r]} ${n}`); by.set(DROP_REASON_NAMES[r], n); }
    if (!NOT_OUTCOMES.has(r)) drops += n;
  }
  const tx = span.port(B, PortCounter.TxFrames) + span.port(B, PortCounter.TxDrops)
    + span.port(F, PortCounter.TxFrames) + span.port(F, PortCounter.TxDrops);
  const rx = span.port(F, PortCounter.RxFrames);
  by.set('sent to B', span.port(B, PortCounter.TxFrames));
  by.set('answered to F', span.port(F, PortCounter.TxFrames));
  by.set('refused by a kernel', span.port(B, PortCounter.TxDrops) + span.port(F, PortCounter.TxDrops));
  return { rx, out: drops + tx, detail: `rx ${rx}, drops ${drops} (${named.join(', ')}), tx attempts ${tx}`, by };
}

test('fuzzed frames with and without virtio-net headers: no crash, every frame forwarded once or counted once', async () => {
  let frames = 0;
  let taken = 0;
  await fc.assert(fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 8 }), async (batch) => {
    const span = new CounterSpan(dp.counters);
    for (const f of batch) if (write(f)) taken++;
    // The guest kernel may still drop a frame it took (a header its own stack refuses later), so
    // wait until what the switch read is settled: every outcome counted, nothing new for 30 ms.
    const end = Date.now() + 3000;
    let o = outcomes(span);
    let stableSince = Date.now();
    for (;;) {
      await sleep(5);
      const n = outcomes(span);
      if (n.rx !== o.rx || n.out !== o.out) stableSince = Date.now();
      o = n;
      if ((o.out === o.rx && Date.now() - stableSince >= 30) || Date.now() > end) break;
    }
    o = outcomes(span.end());
    frames += o.rx;
    for (const [k, v] of o.by) seen.set(k, (seen.get(k) ?? 0) + v);
    assert.equal(workerError, null);
    assert.equal(o.out, o.rx, `one outcome per frame: ${o.detail}`);
  }), { numRuns: 200 });
  const summary = JSON.stringify([...seen].filter(([, v]) => v > 0));
  assert.ok(frames > 300, `enough frames reached the switch (${frames} of the ${taken} the guest kernel took): ${summary}`);
  for (const k of ['sent to B', 'answered to F', 'bad-vnet-header', 'malformed', 'spoofed-source', 'not-ip']) {
    assert.ok((seen.get(k) ?? 0) > 0, `the fuzzer reached outcome ${k}: ${summary}`);
  }
  process.stdout.write(`# outcomes: ${summary}\n`);
  // Still alive and forwarding: a broadcast from F reaches B.
  const span = new CounterSpan(dp.counters);
  const bc = new Uint8Array(60);
  emitEthernet(bc, 0, 0xffffffffffff, MAC_F, EtherType.Ipv4);
  emitIpv4(bc, 14, parseIpv4(IP_F), 0xffffffff, IpProto.Udp, 26);
  assert.ok(write({ frame: bc, vnet: null }));
  const end = Date.now() + 2000;
  while (Date.now() < end && span.port(B, PortCounter.TxFrames) < 1) await sleep(10);
  assert.equal(span.end().port(B, PortCounter.TxFrames), 1, 'a plain broadcast still goes through');
  assert.equal(workerError, null, 'the worker never died');
});
