/**
 * `npm run bench`: vswitch next to the Linux bridge, vde_switch, Open vSwitch's userspace
 * datapath and a router namespace, in one run on one harness (issue 5). For every path it builds
 * fresh namespaces, measures TCP (iperf3), 64-byte frames (trafgen, receiver counters) and ping
 * latency (p50, p99), each the median of --reps repetitions, tears the path down, and goes on.
 * Then 1,000 QEMU-socket NICs on one switch (bench/scale.ts: QUERY time, memory per NIC), and
 * a QEMU VM to a namespace guest over the stream socket and over the host TAP (bench/vm.ts), and
 * the forwarding core's microbenchmark (dist/bench/forward.js, if present). It prints a
 * table with ratios to the bridge and to the best userspace peer and the goals of issue 5, and
 * writes results/<timestamp>/{results.json,chart.svg,report.txt}.
 *
 *   node dist/bench/run.js [--quick] [--only NAME[,NAME]] [--reps N] [--tx-cpus N]
 *
 * Everything it makes (namespaces named vsbn<pid>..., processes, temp dirs) is removed at the end,
 * on failure and on SIGINT/SIGTERM. Needs root.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, release } from 'node:os';
import { Scope, run, median, sweep } from './lib.js';
import { startIperfServer, tcpOnce, framesOnce, pingRun, writeTrafgenConfig, type Durations } from './measure.js';
import { PATHS, type PathDef } from './paths.js';
import { table, goals, goalsText, svg, type PathResult, type Metric, type ForwardResult } from './report.js';
import { measureScale, scaleGoals, scaleText, type ScaleResult, type LookupFigures } from './scale.js';
import { measureVm, vmText, type VmResult } from './vm.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Options { quick: boolean; only: string[] | null; reps: number; durations: Durations }

function usage(): string {
  return `usage: node dist/bench/run.js [--quick] [--only NAME[,NAME]] [--reps N] [--tx-cpus N]
  --quick      1 repetition, short runs (for development)
  --only       paths to run, of: ${PATHS.map((p) => p.name).join(', ')}, forward, scale, vm
  --reps N     repetitions per figure (default 3; the figure is the median)
  --tx-cpus N  trafgen worker processes for the 64-byte test (default 1: the sending guest has
               one CPU and the switch the other; with 2 the kernel bridge uses both CPUs and a
               userspace switch competes with the sender for its CPU)`;
}

function parseArgs(argv: string[]): Options {
  let quick = false, only: string[] | null = null, reps: number | null = null, txCpus = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!v) throw new Error('--only needs a list of path names');
      only = v.split(',').map((s) => s.trim()).filter(Boolean);
      const known = new Set([...PATHS.map((p) => p.name), 'forward', 'scale', 'vm']);
      for (const n of only) if (!known.has(n)) throw new Error(`unknown path ${n}; known: ${[...known].join(', ')}`);
    } else if (a === '--reps' || a.startsWith('--reps=')) {
      const v = Number(a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error('--reps needs a positive integer');
      reps = v;
    } else if (a === '--tx-cpus' || a.startsWith('--tx-cpus=')) {
      const v = Number(a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error('--tx-cpus needs a positive integer');
      txCpus = v;
    } else if (a === '--help' || a === '-h') { console.log(usage()); process.exit(0); }
    else throw new Error(`unknown argument ${a}\n${usage()}`);
  }
  return {
    quick, only, reps: reps ?? (quick ? 1 : 3),
    durations: quick ? { tcpSeconds: 2, framesSeconds: 1, pings: 50, txCpus } : { tcpSeconds: 5, framesSeconds: 3, pings: 200, txCpus },
  };
}

/** Every name a run makes starts with PREFIX + its pid in base 36 + '-' (the run's tag). */
const PREFIX = 'vsbn';

/** Is the benchmark run that made `name` (a namespace, link or temp dir name) still running? */
function tagAlive(name: string): boolean {
  const m = /^vsbn([0-9a-z]+)-/.exec(name);
  if (!m) return true; // not one of ours after all: leave it alone
  try {
    return readFileSync(`/proc/${parseInt(m[1]!, 36)}/cmdline`, 'utf8').includes('bench/run.js');
  } catch { return false; }
}

const log = (msg: string): void => { process.stderr.write(`bench: ${msg}\n`); };

function metric(values: number[], error?: string): Metric {
  return { values, median: values.length ? median(values) : null, ...(error ? { error } : {}) };
}

async function measurePath(root: Scope, def: PathDef, index: number, tag: string, opt: Options): Promise<PathResult> {
  const res: PathResult = {
    name: def.name, label: def.label, kind: def.kind, status: 'ok',
    tcpGbps: metric([]), framesPerSec: metric([]), pingP50Ms: metric([]), pingP99Ms: metric([]), pingLost: [],
  };
  const scope = root.child(def.name);
  try {
    log(`${def.name}: setting up`);
    const s = await def.setup({ scope, prefix: `${tag}${def.code}`, net: 10 + index, repoRoot: ROOT, log });
    const t = s.topology;
    if (s.extra) res.extra = { ...s.extra };
    const errors: string[] = [];

    // TCP
    const tcp: number[] = [];
    try {
      await startIperfServer(scope, t.dst);
      for (let r = 0; r < opt.reps; r++) {
        tcp.push(await tcpOnce(t, opt.durations.tcpSeconds));
        log(`${def.name}: tcp ${r + 1}/${opt.reps}: ${tcp[tcp.length - 1]!.toFixed(2)} Gbit/s`);
      }
    } catch (e) { errors.push(`tcp: ${(e as Error).message}`); }
    res.tcpGbps = metric(tcp, errors.find((x) => x.startsWith('tcp')));

    // 64-byte frames
    const fr: number[] = [];
    try {
      const cfg = await writeTrafgenConfig(scope.tempDir('tg'), t);
      for (let r = 0; r < opt.reps; r++) {
        fr.push(await framesOnce(scope, t, cfg, opt.durations.framesSeconds, opt.durations.txCpus));
        log(`${def.name}: frames ${r + 1}/${opt.reps}: ${(fr[fr.length - 1]! / 1e3).toFixed(1)} k/s`);
      }
    } catch (e) { errors.push(`frames: ${(e as Error).message}`); }
    res.framesPerSec = metric(fr, errors.find((x) => x.startsWith('frames')));

    // latency
    const p50: number[] = [], p99: number[] = [];
    try {
      for (let r = 0; r < opt.reps; r++) {
        const p = await pingRun(t, opt.durations.pings);
        p50.push(p.p50); p99.push(p.p99); res.pingLost.push(p.lost);
        log(`${def.name}: ping ${r + 1}/${opt.reps}: p50 ${p.p50.toFixed(3)} ms, p99 ${p.p99.toFixed(3)} ms, lost ${p.lost}`);
      }
    } catch (e) { errors.push(`ping: ${(e as Error).message}`); }
    res.pingP50Ms = metric(p50, errors.find((x) => x.startsWith('ping')));
    res.pingP99Ms = metric(p99);

    if (s.after) {
      try { res.extra = { ...(res.extra ?? {}), ...((await s.after()) as Record<string, unknown>) }; } catch { /* informational only */ }
    }
    if (errors.length) { res.status = 'partial'; res.reason = errors.join('; '); }
  } catch (e) {
    res.status = 'n/a';
    res.reason = (e as Error).message.replace(/\s+/g, ' ').slice(0, 600);
    log(`${def.name}: n/a: ${res.reason}`);
  } finally {
    scope.close();
    if (scope.errors.length) log(`${def.name}: cleanup: ${scope.errors.join('; ')}`);
  }
  return res;
}

/**
 * dist/bench/forward.js: the forwarding core alone. It prints one JSON object; its numeric
 * fields ending in "Fps" are the figures of the goal, the other numeric fields (such as LAN IP
 * table lookup cost) are kept alongside. Each is the median over the repetitions.
 */
async function measureForward(opt: Options): Promise<ForwardResult> {
  const js = join(ROOT, 'dist/bench/forward.js');
  if (!existsSync(js)) return { status: 'n/a', reason: 'dist/bench/forward.js does not exist (bench/forward.ts not written yet)' };
  const runs: Record<string, number>[] = [];
  for (let r = 0; r < opt.reps; r++) {
    const out = await run(process.execPath, [js, ...(opt.quick ? ['1'] : [])], { timeoutMs: 300_000 });
    if (out.code !== 0) return { status: 'n/a', reason: `forward.js exit ${out.code}: ${(out.stderr || out.stdout).trim().slice(-300)}` };
    const line = out.stdout.trim().split('\n').reverse().find((l) => l.trim().startsWith('{'));
    let j: Record<string, unknown>;
    try { j = JSON.parse(line ?? ''); } catch { return { status: 'n/a', reason: `forward.js printed no JSON line: ${out.stdout.slice(-200)}` }; }
    const nums: Record<string, number> = {};
    for (const [k, v] of Object.entries(j)) if (typeof v === 'number') nums[k] = v;
    runs.push(nums);
    log(`forward: ${r + 1}/${opt.reps}: ${JSON.stringify(j)}`);
  }
  const figures: Record<string, number> = {};
  const other: Record<string, number> = {};
  for (const k of Object.keys(runs[0] ?? {})) {
    const m = median(runs.map((x) => x[k]).filter((x): x is number => x !== undefined));
    if (/fps$/i.test(k)) figures[k] = m; else other[k] = m;
  }
  return { status: 'ok', figures, other };
}

async function version(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: 5000 });
  return (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
}

async function main(): Promise<number> {
  let opt: Options;
  try { opt = parseArgs(process.argv.slice(2)); } catch (e) { log((e as Error).message); return 2; }
  if (process.getuid && process.getuid() !== 0) { log('needs root (network namespaces, TAP)'); return 2; }
  const tag = `${PREFIX}${process.pid.toString(36)}-`;
  // Leftovers of earlier runs that were killed hard (SIGKILL, power): their process is gone.
  const stale = sweep(PREFIX, (name) => !tagAlive(name));
  if (stale.length) log(`removed leftovers of an earlier run: ${stale.join(', ')}`);
  const root = new Scope(tag);
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    root.close();
    sweep(tag, () => true);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => { log(`${sig}: cleaning up`); cleanup(); process.exit(130); });
  }
  process.on('uncaughtException', (e) => { log(`failed: ${e.stack ?? e}`); cleanup(); process.exit(1); });
  process.on('unhandledRejection', (e) => { log(`failed: ${(e as Error)?.stack ?? e}`); cleanup(); process.exit(1); });

  const started = new Date();
  const selected = PATHS.filter((p) => !opt.only || opt.only.includes(p.name));
  log(`${selected.length} path(s), ${opt.reps} repetition(s) each; tag ${tag}`);
  const results: PathResult[] = [];
  let scale: ScaleResult | null = null;
  let vm: VmResult | null = null;
  try {
    for (const def of selected) results.push(await measurePath(root, def, PATHS.indexOf(def), tag, opt));
    if (!opt.only || opt.only.includes('scale')) scale = await measureScale({ scope: root, prefix: `${tag}sc`, repoRoot: ROOT, reps: opt.reps, log });
    if (!opt.only || opt.only.includes('vm')) vm = await measureVm({ scope: root.child('vm'), prefix: `${tag}vm`, repoRoot: ROOT, reps: opt.reps, log });
  } finally {
    cleanup();
  }
  const fwd: ForwardResult = !opt.only || opt.only.includes('forward') ? await measureForward(opt) : { status: 'n/a', reason: 'not selected (--only)' };
  // The scale section's LAN IP table lookup cost is forward.js's; run it once if only scale was selected.
  const lookFwd = fwd.status === 'ok' || !opt.only?.includes('scale') ? fwd : await measureForward({ ...opt, quick: true, reps: 1 });
  const lookup: LookupFigures | null = lookFwd.other
    ? { at10: lookFwd.other['lanIpLookupNs10'] ?? null, at100k: lookFwd.other['lanIpLookupNs100k'] ?? null } : null;
  const gs = goals(results, fwd, scaleGoals(scale, lookup));

  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const outDir = join(ROOT, 'results', stamp);
  mkdirSync(outDir, { recursive: true });
  const title = `vswitch benchmark ${started.toISOString()} (${availableParallelism()} CPUs, kernel ${release()}, median of ${opt.reps})`;
  const fwdText = fwd.status === 'ok'
    ? [...Object.entries(fwd.figures ?? {}).map(([k, v]) => `  ${k}: ${(v / 1e6).toFixed(2)} M frames/s`),
      ...Object.entries(fwd.other ?? {}).map(([k, v]) => `  ${k}: ${v}`)].join('\n')
    : `  n/a: ${fwd.reason}`;
  const text = [
    title, '',
    table(results), '',
    'forwarding core alone (dist/bench/forward.js, in memory, no I/O):', fwdText, '',
    'goals (issue 5):', goalsText(gs), '',
    scaleText(scale, lookup), '',
    vmText(vm), '',
    `method: iperf3 ${opt.durations.tcpSeconds} s per run, server-side received rate; trafgen (${opt.durations.txCpus} worker(s)) 64-byte UDP frames for ${opt.durations.framesSeconds} s,` +
      ' delivered rate = receiver interface rx_packets per second; ping -i 0.01, ' + `${opt.durations.pings} pings per run; every figure the median of ${opt.reps}.`,
  ].join('\n');
  const json = {
    started: started.toISOString(), finished: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(), kernel: release(), node: process.version,
      tools: {
        iperf3: await version('iperf3', ['--version']), trafgen: await version('trafgen', ['--version']),
        vde_switch: await version('vde_switch', ['--version']), ovs: await version('ovs-vswitchd', ['--version']),
      },
    },
    options: { quick: opt.quick, only: opt.only, reps: opt.reps, durations: opt.durations },
    paths: results, forward: fwd, goals: gs,
    scale: { ...(scale ?? { status: 'not selected' }), lanIpLookupNs: lookup },
    vm: vm ?? { status: 'not selected' },
  };
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(json, null, 2) + '\n');
  writeFileSync(join(outDir, 'chart.svg'), svg(results, title));
  writeFileSync(join(outDir, 'report.txt'), text + '\n');
  console.log(text);
  console.log(`\nwritten: ${join('results', stamp)}/{results.json,chart.svg,report.txt}`);
  if (root.errors.length) log(`cleanup problems: ${root.errors.join('; ')}`);
  return 0;
}

main().then((code) => process.exit(code), (e) => { log(`failed: ${(e as Error).stack ?? e}`); process.exit(1); });
