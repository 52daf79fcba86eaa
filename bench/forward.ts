/**
 * Microbenchmark of the forwarding core (not a test): frames per second through IpSwitch and
 * EthernetSwitch in memory, 64-byte IPv4 UDP guest->guest frames behind a 10-byte zero
 * virtio-net header, laid out in one batch buffer the way the data plane receives them, with an
 * Egress that only counts. Also LAN IP table lookup cost at 10 and 100,000 addresses, and the
 * number of minor (scavenge) GCs while frames were being forwarded: the core allocates nothing
 * per frame, so this stays at 0 or 1 (the timing loop's own BigInt clock reads); an allocation per
 * frame would show as dozens. Prints one JSON object.
 * Run: node dist/bench/forward.js [seconds per case, default 2]
 */
import { PerformanceObserver, performance, constants } from 'node:perf_hooks';
import { IpSwitch } from '../src/forward/ip-switch.js';
import { EthernetSwitch } from '../src/forward/ethernet-switch.js';
import { PortRole, Egress, Forwarder } from '../src/forward/api.js';
import { newCounterBuffer } from '../src/forward/counters.js';
import { LanIpTable } from '../src/forward/lan-ip-table.js';
import { emitEthernet, EtherType } from '../src/wire/ethernet.js';
import { emitIpv4, IpProto } from '../src/wire/ipv4.js';
import { emitUdp } from '../src/wire/udp.js';
import { parseIpv4 } from '../src/wire/addr.js';

const SECONDS = Number(process.argv[2] ?? 2);
const A = 0x020000000001, B = 0x020000000002, U = 0x0200000000ff;
const IP_A = parseIpv4('192.168.1.1'), IP_B = parseIpv4('192.168.1.2');
const BATCH = 64;
const STRIDE = 2048;
const FRAME = 64;

class CountingEgress implements Egress {
  frames = 0;
  bytes = 0;
  send(_port: number, _buf: Uint8Array, _hdr: number, eth: number, end: number): void {
    this.frames++;
    this.bytes += end - eth;
  }
}

/** A batch buffer: frame i at i*STRIDE (header) + 10, alternating A->B and B->A. */
function batch(): Uint8Array {
  const buf = new Uint8Array(BATCH * STRIDE);
  for (let i = 0; i < BATCH; i++) {
    const eth = i * STRIDE + 10;
    const ab = i % 2 === 0;
    const l3 = emitEthernet(buf, eth, ab ? B : A, ab ? A : B, EtherType.Ipv4);
    const l4 = emitIpv4(buf, l3, ab ? IP_A : IP_B, ab ? IP_B : IP_A, IpProto.Udp, FRAME - 34);
    emitUdp(buf, l4, 1000, 2000, FRAME - 42);
  }
  return buf;
}

/** Start times of minor GCs (PerformanceObserver delivers them after the synchronous runs). */
const scavenges: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const detail = (e as unknown as { detail?: { kind?: number } }).detail;
    if (detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges.push(e.startTime);
  }
});
gcObserver.observe({ entryTypes: ['gc'] });
/** The timed forwarding windows [start, end) in performance.now() time. */
const windows: Array<[number, number]> = [];

function run(fw: Forwarder, eg: CountingEgress): number {
  const buf = batch();
  const pass = (n: number, now: number) => {
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < BATCH; i++) {
        const hdr = i * STRIDE;
        fw.input(i % 2 === 0 ? 1 : 2, buf, hdr, hdr + 10, hdr + 10 + FRAME, now);
      }
    }
  };
  pass(20000, 0); // warm up (JIT)
  eg.frames = 0;
  let frames = 0;
  const w0 = performance.now();
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  // A wall-clock-sized time (not a small integer), as the data plane passes it.
  let now = 1.7e12 + 0.5;
  while (elapsed < SECONDS * 1e9) {
    pass(1000, now);
    now += 0.25;
    frames += 1000 * BATCH;
    elapsed = Number(process.hrtime.bigint() - t0);
  }
  windows.push([w0, performance.now()]);
  if (eg.frames !== frames) throw new Error(`forwarded ${eg.frames} of ${frames}`);
  return Math.round(frames / (elapsed / 1e9));
}

function ipSwitchFps(): number {
  const eg = new CountingEgress();
  const sw = new IpSwitch(0, new Float64Array(newCounterBuffer()), eg, {});
  sw.addPort(1, PortRole.Nic, A);
  sw.addPort(2, PortRole.Nic, B);
  sw.addPort(3, PortRole.Uplink, U);
  sw.setAddress(IP_A, 1, false);
  sw.setAddress(IP_B, 2, false);
  return run(sw, eg);
}

function ethernetSwitchFps(): number {
  const eg = new CountingEgress();
  const sw = new EthernetSwitch(0, new Float64Array(newCounterBuffer()), eg);
  sw.addPort(1, PortRole.Nic, A);
  sw.addPort(2, PortRole.Nic, B);
  sw.addPort(3, PortRole.Uplink, U);
  return run(sw, eg) ;
}

function lookupNs(size: number): number {
  const t = new LanIpTable();
  const ips: number[] = [];
  for (let i = 0; i < size; i++) ips.push(Math.imul(i + 1, 0x9e3779b1) >>> 0);
  for (let i = 0; i < size; i++) t.set(ips[i], i & 1023, false);
  const probe = new Uint32Array(4096);
  for (let i = 0; i < probe.length; i++) probe[i] = ips[(i * 7919) % size];
  let hit = 0;
  for (let r = 0; r < 200; r++) for (let i = 0; i < probe.length; i++) if (t.lookup(probe[i]) !== undefined) hit++;
  const n = 2000 * probe.length;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < 2000; r++) for (let i = 0; i < probe.length; i++) if (t.lookup(probe[i]) !== undefined) hit++;
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (hit !== 2200 * probe.length) throw new Error('lookup missed');
  return Math.round(ns * 10) / 10;
}

const heap0 = process.memoryUsage().heapUsed;
const ipFps = ipSwitchFps();
const ethFps = ethernetSwitchFps();
const lookup10 = lookupNs(10);
const lookup100k = lookupNs(100000);
const heapGrowthMB = Math.round((process.memoryUsage().heapUsed - heap0) / 1e5) / 10;
await new Promise((resolve) => setTimeout(resolve, 50)); // let the GC entries arrive
gcObserver.disconnect();
const result = {
  frameBytes: FRAME,
  ipSwitchFps: ipFps,
  ethernetSwitchFps: ethFps,
  lanIpLookupNs10: lookup10,
  lanIpLookupNs100k: lookup100k,
  heapGrowthMB,
  minorGcsWhileForwarding: scavenges.filter((t) => windows.some(([a, b]) => t >= a && t < b)).length,
};
console.log(JSON.stringify(result));
