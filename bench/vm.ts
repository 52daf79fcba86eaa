/**
 * The VM rows of `npm run bench` (issues 13 and 14), selected with `--only vm`: a QEMU VM (TCG,
 * the test image of test/helpers/vm.ts) to a namespace guest through an IP-mode switch, once
 * per NIC transport, in the same run on the same switch, one VM at a time:
 *
 *   STREAM  `-netdev stream` over the daemon's unix socket (no virtio-net header: the daemon
 *           segments and checksums in software for the VM, the VM's frames are MTU-sized)
 *   DGRAM   `-netdev dgram` over the daemon's unix datagram socket (one frame per datagram,
 *           no header; otherwise as STREAM)
 *   TAP     `-netdev tap` on the daemon's host TAP (virtio-net headers end to end: the VM's TSO
 *           super-frames cross the switch whole)
 *
 * For each: TCP from the VM to the guest (busybox `nc` sending a file of TCP_MB MiB; the rate is
 * the receiver's, first byte to last) and ping from the VM (PINGS echoes; p50 and p99 of the
 * per-echo times). Around every TCP and ping repetition the daemon's data-plane worker is
 * probed (bench/cost.ts; the switch is bench/qemu-switch.ts's): its CPU ns per frame the switch
 * received (VM frames and the guest's answers), its CPU share, and for TCP its CPU time per
 * MiB carried (comparable across transports whose frames differ in size). TCG makes the
 * absolute rates low; the ratios between transports are the point. QEMU runs in the daemon's
 * namespace (the TAP lives there). Everything lives in the Scope.
 */
import { median, percentile, waitFor, type Scope } from './lib.js';
import type { Metric } from './report.js';
import { costOf, type Cost } from './cost.js';
import { guestUp, startQemuSwitch } from './qemu-switch.js';
import { Vm } from '../test/helpers/vm.js';

export const TCP_MB = 32;
export const PINGS = 60;
const NET = '10.76.9';

export type VmTransport = 'STREAM' | 'DGRAM' | 'TAP';

/** The transports in the order they are measured: user id and host part of the VM's address. */
export const VM_TRANSPORTS: ReadonlyArray<readonly [VmTransport, string, number]> = [['STREAM', 'VMS', 21], ['DGRAM', 'VMD', 23], ['TAP', 'VMT', 22]];

export interface VmRow {
  transport: VmTransport;
  status: 'ok' | 'n/a';
  reason?: string;
  bootSeconds: number | null;
  tcpMbps: Metric;
  pingP50Ms: Metric;
  pingP99Ms: Metric;
  /** The VM NIC's receive counters over the transfers: bytes per frame (> 1514: super-frames). */
  rxBytesPerFrame: number | null;
  /** The worker during each TCP repetition: CPU ns per frame the switch received, CPU share, CPU ms per MiB carried. */
  tcpNsPerFrame: Metric;
  tcpCpuShare: Metric;
  tcpCpuMsPerMiB: Metric;
  /** The same during each ping repetition (ns per frame). */
  pingNsPerFrame: Metric;
}

export interface VmResult {
  status: 'ok' | 'partial' | 'n/a';
  reason?: string;
  rows: VmRow[];
}

const metric = (values: number[]): Metric => ({ values, median: values.length ? median(values) : null });

/** Receives one connection, prints {bytes, seconds} from its first byte to its end. */
const RECEIVER = `
const net = require('node:net');
const srv = net.createServer((s) => { let n = 0, t0 = 0;
  s.on('data', (d) => { if (n === 0) t0 = process.hrtime.bigint(); n += d.length; });
  s.on('end', () => { const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(JSON.stringify({ bytes: n, seconds: secs }) + '\\n'); s.end(); srv.close(); }); });
srv.listen(Number(process.argv[1]), process.argv[2], () => process.stdout.write('listening\\n'));
setTimeout(() => process.exit(3), 300000);
`;

export interface VmBenchContext {
  scope: Scope;
  prefix: string;
  repoRoot: string;
  reps: number;
  log: (msg: string) => void;
}

export async function measureVm(ctx: VmBenchContext): Promise<VmResult> {
  const { scope, prefix, repoRoot, log } = ctx;
  const vms: Vm[] = [];
  scope.defer('VMs', () => { for (const v of vms) v.killNow(); });
  try {
    await Vm.image();
    const sw = await scope.netns(`${prefix}s`);
    const g = await scope.netns(`${prefix}g`);
    const q = await startQemuSwitch({ scope, ns: sw, repoRoot, log, name: 'BVM', writer: 'bench/vm.ts', netnsGuests: [['G1', g]], qemuGuests: VM_TRANSPORTS.map(([t, u]) => [u, t] as const) });
    await guestUp(g, `${NET}.11`);
    const { nic, probe } = q;
    /** fn() with the worker probed around it: its cost, or null when there is no probe or a probe failed. */
    const probed = async (fn: () => Promise<void>): Promise<Cost | null> => {
      const a = probe ? await probe().catch(() => null) : null;
      await fn();
      const b = probe && a ? await probe().catch(() => null) : null;
      return a && b ? costOf(a, b) : null;
    };
    const rows: VmRow[] = [];
    for (const [transport, user, host] of VM_TRANSPORTS) {
      const row: VmRow = {
        transport, status: 'ok', bootSeconds: null, tcpMbps: metric([]), pingP50Ms: metric([]), pingP99Ms: metric([]), rxBytesPerFrame: null,
        tcpNsPerFrame: metric([]), tcpCpuShare: metric([]), tcpCpuMsPerMiB: metric([]), pingNsPerFrame: metric([]),
      };
      rows.push(row);
      try {
        const n = await nic(user);
        const t0 = Date.now();
        const vm = await Vm.boot({ name: `${prefix}${user}`, netns: sw, netdevArgs: [], deviceArgs: [], extraArgs: n.qemu.args, cmdline: `vsw.ip=${NET}.${host}/24` });
        vms.push(vm);
        row.bootSeconds = (Date.now() - t0) / 1000;
        const warm = await vm.run(`ping -c 3 -W 5 ${NET}.11`, 60_000);
        if (warm.code !== 0) throw new Error(`no ping from the VM: ${warm.output.trim().slice(-200)}`);
        const mk = await vm.run(`dd if=/dev/zero of=/tmp/zeros bs=1M count=${TCP_MB} 2>&1`, 60_000);
        if (mk.code !== 0) throw new Error(`cannot write the payload in the VM: ${mk.output.trim().slice(-200)}`);
        const before = (await nic(user)).counters;
        const tcp: number[] = [];
        const p50: number[] = [];
        const p99: number[] = [];
        const tcpNs: number[] = [], tcpShare: number[] = [], tcpMsMiB: number[] = [], pingNs: number[] = [];
        for (let r = 0; r < ctx.reps; r++) {
          const rx = scope.spawn(g, process.execPath, ['-e', RECEIVER, '5001', `${NET}.11`]);
          await waitFor('receiver', 10_000, () => rx.stdout.includes('listening') || !rx.running);
          const tc = await probed(async () => {
            const s = await vm.run(`nc ${NET}.11 5001 < /tmp/zeros`, 180_000);
            if (s.code !== 0) throw new Error(`nc from the VM failed: ${s.output.trim().slice(-200)}`);
            await waitFor('receiver result', 30_000, () => rx.stdout.includes('{') || !rx.running);
          });
          const got = JSON.parse(rx.stdout.split('\n').find((l) => l.startsWith('{')) ?? 'null') as { bytes: number; seconds: number } | null;
          if (got === null || got.bytes !== TCP_MB << 20) throw new Error(`receiver got ${JSON.stringify(got)}`);
          tcp.push((got.bytes * 8) / got.seconds / 1e6);
          if (tc?.nsPerFrame != null) { tcpNs.push(tc.nsPerFrame); tcpShare.push(tc.cpuShare); tcpMsMiB.push(tc.cpuMs / TCP_MB); }
          let out = '';
          const pc = await probed(async () => { out = (await vm.run(`ping -c ${PINGS} -i 0.05 -W 2 ${NET}.11`, 120_000)).output; });
          const times = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
          if (times.length === 0) throw new Error(`no echo times in: ${out.trim().slice(-200)}`);
          p50.push(percentile(times, 50));
          p99.push(percentile(times, 99));
          if (pc?.nsPerFrame != null) pingNs.push(pc.nsPerFrame);
          log(`vm ${transport}: ${r + 1}/${ctx.reps}: tcp ${tcp[r]!.toFixed(0)} Mbit/s (worker ${tc?.nsPerFrame?.toFixed(0) ?? 'n/a'} ns/frame), ` +
            `ping p50 ${p50[r]!.toFixed(3)} ms p99 ${p99[r]!.toFixed(3)} ms (worker ${pc?.nsPerFrame?.toFixed(0) ?? 'n/a'} ns/frame)`);
        }
        const after = (await nic(user)).counters;
        row.tcpMbps = metric(tcp);
        row.pingP50Ms = metric(p50);
        row.pingP99Ms = metric(p99);
        row.tcpNsPerFrame = metric(tcpNs);
        row.tcpCpuShare = metric(tcpShare);
        row.tcpCpuMsPerMiB = metric(tcpMsMiB);
        row.pingNsPerFrame = metric(pingNs);
        if (before && after && after.rxFrames > before.rxFrames) row.rxBytesPerFrame = (after.rxBytes - before.rxBytes) / (after.rxFrames - before.rxFrames);
        await vm.shutdown();
      } catch (e) {
        row.status = 'n/a';
        row.reason = (e as Error).message.replace(/\s+/g, ' ').slice(0, 400);
        log(`vm ${transport}: n/a: ${row.reason}`);
      }
    }
    const bad = rows.filter((r) => r.status !== 'ok');
    return bad.length === 0 ? { status: 'ok', rows } : { status: bad.length === rows.length ? 'n/a' : 'partial', reason: bad.map((r) => `${r.transport}: ${r.reason}`).join('; '), rows };
  } catch (e) {
    return { status: 'n/a', reason: (e as Error).message.replace(/\s+/g, ' ').slice(0, 400), rows: [] };
  }
}

function f(v: number | null, digits = 1): string {
  return v === null ? 'n/a' : v.toFixed(digits);
}

/** The report's VM section: two lines per transport (figures, the worker's cost), then the ratios to stream. */
export function vmText(r: VmResult | null): string {
  const lines = ['VM to namespace guest (QEMU TCG, test image; TCP VM -> guest, ping from the VM; worker = the data-plane thread, per frame the switch received):'];
  if (r === null) return [...lines, '  not selected (--only)'].join('\n');
  if (r.status === 'n/a' && r.rows.length === 0) return [...lines, `  n/a: ${r.reason}`].join('\n');
  if (r.status === 'partial') lines.push(`  partial: ${r.reason}`);
  const label: Record<VmTransport, string> = {
    STREAM: 'stream socket (-netdev stream)', DGRAM: 'dgram socket (-netdev dgram)  ', TAP: 'host TAP (-netdev tap)        ',
  };
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(0)}%`);
  for (const row of r.rows) {
    if (row.status !== 'ok') { lines.push(`  ${label[row.transport]}  n/a: ${row.reason}`); continue; }
    lines.push(`  ${label[row.transport]}  TCP ${f(row.tcpMbps.median, 0)} Mbit/s  ping p50 ${f(row.pingP50Ms.median, 3)} / p99 ${f(row.pingP99Ms.median, 3)} ms` +
      `  (${f(row.rxBytesPerFrame, 0)} bytes a frame from the VM; boot ${f(row.bootSeconds, 1)} s)`);
    lines.push(`  ${' '.repeat(label[row.transport].length)}  worker: TCP ${f(row.tcpNsPerFrame.median, 0)} ns/frame, ${pct(row.tcpCpuShare.median)} CPU, ` +
      `${f(row.tcpCpuMsPerMiB.median, 2)} ms CPU per MiB; ping ${f(row.pingNsPerFrame.median, 0)} ns/frame`);
  }
  const s = r.rows.find((x) => x.transport === 'STREAM' && x.status === 'ok');
  for (const t of r.rows.filter((x) => x.transport !== 'STREAM' && x.status === 'ok')) {
    if (!s || !s.tcpMbps.median || !t.tcpMbps.median || !s.pingP50Ms.median || !t.pingP50Ms.median) continue;
    const name = t.transport === 'TAP' ? 'TAP' : 'dgram';
    const x = (a: number | null, b: number | null, what: string) => (a && b ? `, ${what} x${(a / b).toFixed(2)}` : '');
    const ns = x(t.tcpNsPerFrame.median, s.tcpNsPerFrame.median, 'worker TCP ns/frame');
    const mib = x(t.tcpCpuMsPerMiB.median, s.tcpCpuMsPerMiB.median, 'CPU per MiB');
    lines.push(`  ${name} / stream: TCP x${(t.tcpMbps.median / s.tcpMbps.median).toFixed(2)}, ping p50 x${(t.pingP50Ms.median / s.pingP50Ms.median).toFixed(2)}${ns}${mib}`);
  }
  return lines.join('\n');
}
