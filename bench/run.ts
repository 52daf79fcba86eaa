/**
 * `npm run bench`: vswitch next to the Linux bridge, vde_switch, Open vSwitch's userspace
 * datapath and a router namespace, in one run on one harness (issue 5). For every path it builds
 * fresh namespaces, measures TCP (iperf3), 64-byte frames (trafgen, receiver counters) and ping
 * latency (p50, p99), each the median of --reps repetitions, tears the path down, and goes on.
 * Then 1,000 QEMU-socket NICs on one switch (bench/scale.ts: QUERY time, memory per NIC), and
 * a QEMU VM to a namespace guest over the stream socket, the dgram socket and the host TAP
 * (bench/vm.ts), 64-byte frames through the stream and dgram sockets with a stand-in QEMU
 * (bench/sockets.ts, `--only sockets`), and
 * the forwarding core's microbenchmark (dist/bench/forward.js, if present). It prints a
 * table with ratios to the bridge and to the best userspace peer and the goals of issue 5, and
 * writes results/<timestamp>/{results.json,chart.svg,report.txt}.
 * For every vswitch row it also reports what the data-plane worker spent (bench/cost.ts, issue
 * 14): CPU ns per frame in each test, its CPU share, frames per batch and per wake-up, its CPU
 * time while idle for 10 s; and what the run ran on (kernel, CPU, cores, Node, load average).
 * `--compare VAR=VALUE` measures every vswitch path again with that environment for its daemon
 * (a lever off or on), alternating with the plain row repetition by repetition.
 *
 *   node dist/bench/run.js [--quick] [--only NAME[,NAME]] [--reps N] [--tx-cpus N] [--compare VAR=VALUE[,...]]... [--out DIR]
 *
 * Everything it makes (namespaces named vsbn<pid>..., processes, temp dirs) is removed at the end,
 * on failure and on SIGINT/SIGTERM. Needs root.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Scope, run, median, sleep, sweep } from './lib.js';
import { costOf, machine, machineText } from './cost.js';
import { startProfile, summary, removePerfMap, type ProfileResult } from './profile.js';

/** Profiles taken in this run (--profile). */
const profiles: Array<ProfileResult | string> = [];
import { startIperfServer, tcpOnce, framesOnce, pingRun, writeTrafgenConfig, type Durations } from './measure.js';
import { PATHS, selects, type PathDef, type PathSetup } from './paths.js';
import { table, costTable, goals, goalsText, svg, type PathResult, type Metric, type ForwardResult } from './report.js';
import { measureScale, scaleGoals, scaleText, type ScaleResult, type LookupFigures } from './scale.js';
import { measureVm, vmText, type VmResult } from './vm.js';
import { measureSockets, socketsText, type SocketsResult } from './sockets.js';
import { measureGrow, growText, measureTable, tableText, type GrowRow, type TableRow } from './grow.js';
import { VXLAN_PATHS } from './vxlan.js';

// The VXLAN rows (bench/vxlan.ts, issue 15) are measured as the other paths.
PATHS.push(...VXLAN_PATHS);

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Options {
  quick: boolean; only: string[] | null; reps: number; durations: Durations;
  /** Variants of every vswitch path: each an extra environment for its daemon (--compare). */
  compare: Record<string, string>[];
  /** --profile DIR: perf profiles of the worker (bench/profile.ts), or null. */
  profile: string | null;
  /** --out DIR: where results.json, chart.svg and report.txt go (default results/<timestamp>). */
  out: string | null;
}

function usage(): string {
  return `usage: node dist/bench/run.js [--quick] [--only NAME[,NAME]] [--reps N] [--tx-cpus N] [--compare VAR=VALUE[,VAR=VALUE]]... [--out DIR]
  --quick      1 repetition, short runs (for development)
  --only       paths to run, of: ${PATHS.map((p) => p.name).join(', ')}, forward, scale, vm, sockets, grow, table;
               ipv6: every IPv6 row (${PATHS.filter((p) => p.family === 6).map((p) => p.name).join(', ')})
  --reps N     repetitions per figure (default 3; the figure is the median)
  --tx-cpus N  trafgen worker processes for the 64-byte test (default 1: the sending guest has
               one CPU and the switch the other; with 2 the kernel bridge uses both CPUs and a
               userspace switch competes with the sender for its CPU)
  --compare    run every selected vswitch path a second time with these environment variables
               set for its daemon (a lever switched off or on, e.g. VSWITCH_ADAPTIVE_POLL=0);
               repeat for more variants. The rows are measured alternately, in one run.
  --profile D  perf profiles of each vswitch row's worker thread during the first TCP,
               64-byte and ping repetitions, into directory D (bench/profile.ts; needs linux-perf);
               sampling slows the profiled repetitions (ping most), so take figures from a run without it
  --out D      write results.json, chart.svg and report.txt into directory D (default
               results/<timestamp>; test/bench/smoke.test.ts uses a temporary one)`;
}

function parseArgs(argv: string[]): Options {
  let quick = false, only: string[] | null = null, reps: number | null = null, txCpus = 1;
  const compare: Record<string, string>[] = [];
  let profile: string | null = null;
  let out: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!v) throw new Error('--only needs a list of path names');
      only = v.split(',').map((s) => s.trim()).filter(Boolean);
      const known = new Set([...PATHS.map((p) => p.name), 'ipv6', 'forward', 'scale', 'vm', 'sockets', 'grow', 'table']);
      for (const n of only) if (!known.has(n)) throw new Error(`unknown path ${n}; known: ${[...known].join(', ')}`);
    } else if (a === '--reps' || a.startsWith('--reps=')) {
      const v = Number(a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error('--reps needs a positive integer');
      reps = v;
    } else if (a === '--tx-cpus' || a.startsWith('--tx-cpus=')) {
      const v = Number(a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error('--tx-cpus needs a positive integer');
      txCpus = v;
    } else if (a === '--compare' || a.startsWith('--compare=')) {
      const v = a.includes('=') && a.startsWith('--compare=') ? a.slice('--compare='.length) : argv[++i];
      const env: Record<string, string> = {};
      for (const kv of (v ?? '').split(',').filter(Boolean)) {
        const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(kv);
        if (!m) throw new Error(`--compare takes VAR=VALUE[,VAR=VALUE], not '${kv}'`);
        env[m[1]!] = m[2]!;
      }
      if (Object.keys(env).length === 0) throw new Error('--compare needs VAR=VALUE');
      compare.push(env);
    } else if (a === '--profile' || a.startsWith('--profile=')) {
      const v = a.startsWith('--profile=') ? a.slice('--profile='.length) : argv[++i];
      if (!v) throw new Error('--profile needs a directory');
      profile = resolve(v);
    } else if (a === '--out' || a.startsWith('--out=')) {
      const v = a.startsWith('--out=') ? a.slice('--out='.length) : argv[++i];
      if (!v) throw new Error('--out needs a directory');
      out = resolve(v);
    } else if (a === '--help' || a === '-h') { console.log(usage()); process.exit(0); }
    else throw new Error(`unknown argument ${a}\n${usage()}`);
  }
  return {
    quick, only, reps: reps ?? (quick ? 1 : 3), compare, profile, out,
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

/** One row being measured: a path (possibly a variant of it) with its live set-up. */
interface Member { def: PathDef; res: PathResult; scope: Scope; setup: PathSetup | null; errors: string[] }

const IDLE_SECONDS = 10;

/**
 * Measure one path and its variants (`envs`: one extra environment per variant, the first {}
 * being the path as it is). Every member is set up first; then each test runs rep by rep with
 * the members alternating (A B, B A, ...) so load from elsewhere on the machine falls on all
 * of them alike; then the members that have a worker probe sit idle for IDLE_SECONDS together.
 * Around every repetition a vswitch member's worker is probed (bench/cost.ts): its CPU time
 * and frames give ns/frame for each test.
 */
async function measureGroup(root: Scope, def: PathDef, index: number, tag: string, opt: Options, envs: Record<string, string>[]): Promise<PathResult[]> {
  const members: Member[] = [];
  try {
    for (let v = 0; v < envs.length; v++) {
      const env = envs[v]!;
      const suffix = Object.entries(env).map(([k, x]) => `${k}=${x}`).join(',');
      const res: PathResult = {
        name: suffix ? `${def.name}[${suffix}]` : def.name, label: suffix ? `${def.label} [${suffix}]` : def.label, kind: def.kind, status: 'ok',
        ...(def.family === 6 ? { family: 6 as const } : {}),
        tcpGbps: metric([]), framesPerSec: metric([]), pingP50Ms: metric([]), pingP99Ms: metric([]), pingLost: [],
      };
      const m: Member = { def, res, scope: root.child(res.name), setup: null, errors: [] };
      members.push(m);
      try {
        log(`${res.name}: setting up`);
        // Variants get their own code letter so their names differ (prefix is 4 chars at most).
        const code = v === 0 ? def.code : `${def.code[0]}${v}`;
        const denv = opt.profile !== null ? { ...env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --perf-basic-prof`.trim() } : env;
        m.setup = await def.setup({ scope: m.scope, prefix: `${tag}${code}`, net: 10 + index + 20 * v, repoRoot: ROOT, log, env: denv });
        const pr = m.setup.probe;
        if (opt.profile !== null && pr) m.scope.defer('perf map', () => removePerfMap(pr.pid));
        if (m.setup.extra) res.extra = { ...m.setup.extra };
        if (m.setup.probe) res.cost = { tcp: [], frames: [], ping: [], idle: null };
      } catch (e) {
        res.status = 'n/a';
        res.reason = (e as Error).message.replace(/\s+/g, ' ').slice(0, 600);
        log(`${res.name}: n/a: ${res.reason}`);
      }
    }
    const live = (): Member[] => members.filter((m) => m.setup !== null);
    const order = (r: number): Member[] => (r % 2 === 0 ? live() : [...live()].reverse());
    /** One repetition of one test on one member, with the worker probed around it. */
    const rep = async (m: Member, what: 'tcp' | 'frames' | 'ping', fn: () => Promise<void>, r: number): Promise<void> => {
      const probe = m.setup!.probe;
      const a = probe ? await probe().catch(() => null) : null;
      // Ping: the worker runs ~1% of the time, so it is sampled 20 times as often to get as many samples.
      const stop = opt.profile !== null && probe && r === 0
        ? await startProfile(m.scope, opt.profile, m.res.name, what, probe.pid, probe.tid, what === 'ping' ? 19_999 : 999) : null;
      try { await fn(); } finally { if (stop) profiles.push(await stop()); }
      const b = probe && a ? await probe().catch(() => null) : null;
      if (a && b && m.res.cost) m.res.cost[what].push(costOf(a, b));
    };

    // TCP
    const tcp = new Map<Member, number[]>(members.map((m) => [m, []]));
    for (const m of live()) {
      try { await startIperfServer(m.scope, m.setup!.topology.dst); } catch (e) { m.errors.push(`tcp: ${(e as Error).message}`); }
    }
    for (let r = 0; r < opt.reps; r++) {
      for (const m of order(r)) {
        if (m.errors.some((x) => x.startsWith('tcp'))) continue;
        try {
          await rep(m, 'tcp', async () => { tcp.get(m)!.push(await tcpOnce(m.setup!.topology, opt.durations.tcpSeconds)); }, r);
          log(`${m.res.name}: tcp ${r + 1}/${opt.reps}: ${tcp.get(m)!.at(-1)!.toFixed(2)} Gbit/s${costNote(m, 'tcp')}`);
        } catch (e) { m.errors.push(`tcp: ${(e as Error).message}`); }
      }
    }
    for (const m of members) m.res.tcpGbps = metric(tcp.get(m)!, m.errors.find((x) => x.startsWith('tcp')));

    // 64-byte frames
    const fr = new Map<Member, number[]>(members.map((m) => [m, []]));
    const cfgs = new Map<Member, string>();
    for (const m of live()) {
      try { cfgs.set(m, await writeTrafgenConfig(m.scope.tempDir('tg'), m.setup!.topology)); } catch (e) { m.errors.push(`frames: ${(e as Error).message}`); }
    }
    for (let r = 0; r < opt.reps; r++) {
      for (const m of order(r)) {
        const cfg = cfgs.get(m);
        if (cfg === undefined || m.errors.some((x) => x.startsWith('frames'))) continue;
        try {
          await rep(m, 'frames', async () => { fr.get(m)!.push(await framesOnce(m.scope, m.setup!.topology, cfg, opt.durations.framesSeconds, opt.durations.txCpus)); }, r);
          log(`${m.res.name}: frames ${r + 1}/${opt.reps}: ${(fr.get(m)!.at(-1)! / 1e3).toFixed(1)} k/s${costNote(m, 'frames')}`);
        } catch (e) { m.errors.push(`frames: ${(e as Error).message}`); }
      }
    }
    for (const m of members) m.res.framesPerSec = metric(fr.get(m)!, m.errors.find((x) => x.startsWith('frames')));

    // latency
    const p50 = new Map<Member, number[]>(members.map((m) => [m, []]));
    const p99 = new Map<Member, number[]>(members.map((m) => [m, []]));
    for (let r = 0; r < opt.reps; r++) {
      for (const m of order(r)) {
        if (m.errors.some((x) => x.startsWith('ping'))) continue;
        try {
          await rep(m, 'ping', async () => {
            const p = await pingRun(m.setup!.topology, opt.durations.pings);
            p50.get(m)!.push(p.p50); p99.get(m)!.push(p.p99); m.res.pingLost.push(p.lost);
          }, r);
          log(`${m.res.name}: ping ${r + 1}/${opt.reps}: p50 ${p50.get(m)!.at(-1)!.toFixed(3)} ms, p99 ${p99.get(m)!.at(-1)!.toFixed(3)} ms, lost ${m.res.pingLost.at(-1)}${costNote(m, 'ping')}`);
        } catch (e) { m.errors.push(`ping: ${(e as Error).message}`); }
      }
    }
    for (const m of members) {
      m.res.pingP50Ms = metric(p50.get(m)!, m.errors.find((x) => x.startsWith('ping')));
      m.res.pingP99Ms = metric(p99.get(m)!);
    }

    // idle: every probed member at once, nothing sent
    const probed = live().filter((m) => m.setup!.probe && m.res.cost);
    if (probed.length > 0) {
      const before = await Promise.all(probed.map((m) => m.setup!.probe!().catch(() => null)));
      await sleep(IDLE_SECONDS * 1000);
      const afterIdle = await Promise.all(probed.map((m) => m.setup!.probe!().catch(() => null)));
      probed.forEach((m, i) => {
        const a = before[i], b = afterIdle[i];
        if (a && b) {
          m.res.cost!.idle = costOf(a, b);
          log(`${m.res.name}: idle ${IDLE_SECONDS} s: worker ${m.res.cost!.idle.cpuMs.toFixed(1)} ms CPU`);
        }
      });
    }

    for (const m of live()) {
      if (m.setup!.after) {
        try { m.res.extra = { ...(m.res.extra ?? {}), ...((await m.setup!.after()) as Record<string, unknown>) }; } catch { /* informational only */ }
      }
      if (m.errors.length) { m.res.status = 'partial'; m.res.reason = m.errors.join('; '); }
    }
  } finally {
    for (const m of members) {
      m.scope.close();
      if (m.scope.errors.length) log(`${m.res.name}: cleanup: ${m.scope.errors.join('; ')}`);
    }
  }
  return members.map((m) => m.res);
}

/** ", worker N ns/frame, X% CPU" for the last repetition of a test, or ''. */
function costNote(m: Member, what: 'tcp' | 'frames' | 'ping'): string {
  const c = m.res.cost?.[what].at(-1);
  if (!c) return '';
  return `; worker ${c.nsPerFrame === null ? 'n/a' : c.nsPerFrame.toFixed(0)} ns/frame, ${(c.cpuShare * 100).toFixed(0)}% CPU`;
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
  const host = machine();
  log(machineText(host));
  const selected = PATHS.filter((p) => selects(opt.only, p));
  log(`${selected.length} path(s), ${opt.reps} repetition(s) each; tag ${tag}`);
  const results: PathResult[] = [];
  let scale: ScaleResult | null = null;
  let vm: VmResult | null = null;
  let sockets: SocketsResult | null = null;
  let grow: GrowRow[] | null = null;
  let lanTable: TableRow[] | null = null;
  try {
    for (const def of selected) {
      const envs = def.kind === 'vswitch' ? [{}, ...opt.compare] : [{}];
      results.push(...await measureGroup(root, def, PATHS.indexOf(def), tag, opt, envs));
    }
    if (!opt.only || opt.only.includes('scale')) scale = await measureScale({ scope: root, prefix: `${tag}sc`, repoRoot: ROOT, reps: opt.reps, log });
    if (!opt.only || opt.only.includes('grow')) {
      grow = await measureGrow({ scope: root, prefix: `${tag}w`, repoRoot: ROOT, reps: opt.reps, seconds: opt.durations.framesSeconds, log });
    }
    if (!opt.only || opt.only.includes('table')) {
      lanTable = await measureTable({ scope: root, prefix: `${tag}t`, repoRoot: ROOT, reps: opt.reps, seconds: opt.durations.framesSeconds, net: 95, log });
    }
    if (!opt.only || opt.only.includes('vm')) vm = await measureVm({ scope: root.child('vm'), prefix: `${tag}vm`, repoRoot: ROOT, reps: opt.reps, log });
    if (!opt.only || opt.only.includes('sockets')) {
      sockets = await measureSockets({ scope: root.child('sockets'), prefix: `${tag}q`, repoRoot: ROOT, reps: opt.reps, seconds: opt.durations.framesSeconds, log });
    }
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
  const outDir = opt.out ?? join(ROOT, 'results', stamp);
  mkdirSync(outDir, { recursive: true });
  const title = `vswitch benchmark ${started.toISOString()} (${host.cores} CPUs, kernel ${host.kernel}, median of ${opt.reps})`;
  const fwdText = fwd.status === 'ok'
    ? [...Object.entries(fwd.figures ?? {}).map(([k, v]) => `  ${k}: ${(v / 1e6).toFixed(2)} M frames/s`),
      ...Object.entries(fwd.other ?? {}).map(([k, v]) => `  ${k}: ${v}`)].join('\n')
    : `  n/a: ${fwd.reason}`;
  const text = [
    title, machineText(host), '',
    table(results), '',
    costTable(results, IDLE_SECONDS), '',
    ...(profiles.length ? [summary(profiles), ''] : []),
    'forwarding core alone (dist/bench/forward.js, in memory, no I/O):', fwdText, '',
    'goals (issue 5):', goalsText(gs), '',
    scaleText(scale, lookup), '',
    growText(grow), '',
    tableText(lanTable), '',
    vmText(vm), '',
    socketsText(sockets), '',
    `method: iperf3 ${opt.durations.tcpSeconds} s per run, server-side received rate; trafgen (${opt.durations.txCpus} worker(s)) 64-byte UDP frames for ${opt.durations.framesSeconds} s,` +
      ' delivered rate = receiver interface rx_packets per second; ping -i 0.01, ' + `${opt.durations.pings} pings per run; every figure the median of ${opt.reps}.`,
  ].join('\n');
  const json = {
    started: started.toISOString(), finished: new Date().toISOString(),
    machine: {
      ...host, cpus: host.cores,
      tools: {
        iperf3: await version('iperf3', ['--version']), trafgen: await version('trafgen', ['--version']),
        vde_switch: await version('vde_switch', ['--version']), ovs: await version('ovs-vswitchd', ['--version']),
      },
    },
    options: { quick: opt.quick, only: opt.only, reps: opt.reps, durations: opt.durations },
    paths: results, forward: fwd, goals: gs, profiles,
    scale: { ...(scale ?? { status: 'not selected' }), lanIpLookupNs: lookup },
    vm: vm ?? { status: 'not selected' },
    sockets: sockets ?? { status: 'not selected' },
    grow: grow ?? { status: 'not selected' },
    lanTable: lanTable ?? { status: 'not selected' },
  };
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(json, null, 2) + '\n');
  writeFileSync(join(outDir, 'chart.svg'), svg(results, title));
  writeFileSync(join(outDir, 'report.txt'), text + '\n');
  console.log(text);
  console.log(`\nwritten: ${opt.out ?? join('results', stamp)}/{results.json,chart.svg,report.txt}`);
  if (root.errors.length) log(`cleanup problems: ${root.errors.join('; ')}`);
  return 0;
}

main().then((code) => process.exit(code), (e) => { log(`failed: ${(e as Error).stack ?? e}`); process.exit(1); });
