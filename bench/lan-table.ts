/**
 * The data plane of one IP-mode switch with a LAN IP table of a given size, for the benchmark's
 * "cost as the table grows" rows (bench/grow.ts, issue 14). Run as
 *
 *   node dist/bench/lan-table.js ENTRIES G1NS G2NS G1IP G2IP SAMPLEFILE
 *
 * (the namespaces exist). One data-plane worker (production forwarders, driven by ToWorker
 * messages as vswitchd drives it) gets switch 1 with a TAP enc600 in each guest namespace (ports
 * 10 and 20; no uplink); its LAN IP table gets fillers 10.201.0.0 upward and the hot set
 * 10.200.1.0 .. 10.200.1.(H-1) (H = min(ENTRIES, 256): what the bench's trafgen sends to), all
 * on port 20, ENTRIES addresses in all, then the guests' own (G1IP on port 10, G2IP on port
 * 20) last, so G1 reaching G2 means the whole table is in place. Every 50 ms it writes one JSON line to SAMPLEFILE (replacing it): a
 * bench/cost.ts Sample (process.hrtime ns, the worker thread's CPU ns from its schedstat,
 * frames received and sent by both ports, loop wake-ups, batches, empty polls, sleeps), so
 * the bench reads the worker's cost without a daemon's /metrics. Prints "ready" once every
 * address was posted and the first sample written, and runs until killed.
 */
import { readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { DataPlane } from '../src/host/dataplane.js';
import { openTap } from '../src/host/devices.js';
import { LoopCounter, PortCounter, loopSlot, portSlot } from '../src/forward/counters.js';
import { parseIpv4 } from '../src/wire/addr.js';

const [entriesArg, g1, g2, ip1, ip2, sampleFile] = process.argv.slice(2);
const entries = Number(entriesArg);
if (!Number.isInteger(entries) || entries < 1 || entries > 1_000_000 || !g1 || !g2 || !ip1 || !ip2 || !sampleFile) {
  process.stderr.write('usage: node dist/bench/lan-table.js ENTRIES G1NS G2NS G1IP G2IP SAMPLEFILE\n');
  process.exit(2);
}
const addr = (s: string): number => {
  const a = parseIpv4(s);
  if (a < 0) throw new Error(`not an IPv4 address: ${s}`);
  return a;
};

/** The hot set's size: the addresses the bench sends to (10.200.1.0/24 from its start). */
const HOT = Math.min(entries, 256);

const dp = await DataPlane.start({});
dp.post({ op: 'switch-add', sw: 1, mode: 'IP', queueBytes: 0 });
const guests: Array<[number, string, number, string]> = [[10, g1, 0x02cc00000001, ip1], [20, g2, 0x02cc00000002, ip2]];
for (const [port, ns, mac] of guests) {
  const t = openTap({ netns: ns, name: 'enc600', mac, persist: false });
  dp.post({ op: 'port-add', port, sw: 1, role: 'nic', kind: 'tap', fd: t.fd, mac, vnet: true, name: 'enc600' });
}
// Fillers and the hot set first, the guests' own addresses last: the worker applies messages in
// order, so once G1 reaches G2 the whole table is in place.
const hotBase = addr('10.200.1.0'), fillBase = addr('10.201.0.0');
for (let i = entries - 1; i >= 0; i--) {
  const ip = i < HOT ? hotBase + i : fillBase + (i - HOT);
  dp.post({ op: 'ip-set', sw: 1, ip: ip >>> 0, port: 20, localOnly: false });
}
for (const [port, , , ip] of guests) dp.post({ op: 'ip-set', sw: 1, ip: addr(ip), port, localOnly: false });

let tid = -1;
for (const t of readdirSync('/proc/self/task')) {
  try { if (readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'vswitch-dp') tid = Number(t); } catch { /* gone */ }
}
const c = dp.counters;
const sample = (): void => {
  let cpuNs = NaN;
  try { cpuNs = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]); } catch { /* worker gone */ }
  const s = {
    at: Number(process.hrtime.bigint()), cpuNs,
    frames: c[portSlot(10, PortCounter.RxFrames)] + c[portSlot(20, PortCounter.RxFrames)],
    txFrames: c[portSlot(10, PortCounter.TxFrames)] + c[portSlot(20, PortCounter.TxFrames)],
    wakeups: c[loopSlot(LoopCounter.Wakeups)], batches: c[loopSlot(LoopCounter.Batches)],
    emptyPolls: c[loopSlot(LoopCounter.EmptyPolls)], sleeps: c[loopSlot(LoopCounter.Sleeps)],
  };
  writeFileSync(`${sampleFile}.new`, JSON.stringify(s) + '\n');
  renameSync(`${sampleFile}.new`, sampleFile);
};
sample();
setInterval(sample, 50);
process.stdout.write(`ready ${tid}\n`);
const stop = (): void => { void dp.stop().then(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
