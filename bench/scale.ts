/**
 * The scale part of `npm run bench` (issue 5, the Scale bullet), selected with `--only scale`:
 *
 *  - 1,000 namespace-free NICs coupled to one IP-mode switch: QEMU-socket NICs (`DEFINE GUEST
 *    Snnnn QEMU STREAM`, one NIC 0600 each), with one stand-in for the 1,000 QEMUs: this process
 *    listens on the 1,000 stream sockets `<dir>/qemu/snnnn-0600.sock` exactly as QEMU's
 *    `-netdev stream,server=on` does, so the daemon really connects 1,000 ports. The NICs are
 *    defined and coupled with CP commands over the control socket (the protocol bin/vswitch
 *    speaks), and the run waits until every one is connected (QUERY VSWITCH DETAILS shows a
 *    data-plane port for all 1,000 and the stand-in has accepted 1,000 connections).
 *  - `QUERY VSWITCH sw DETAILS` with 1,000 NICs: the median of several, end to end through
 *    bin/vswitch (a fresh CLI process each time, as a user runs it; the CLI's own start-up
 *    cost, measured on `QUERY VMLAN`, is reported next to it) and on an open control-socket
 *    connection (request written to full answer read: the daemon's time plus the transfer).
 *  - Memory per NIC: the daemon's VmRSS (/proc/PID/status) with the switch alone, and after the
 *    1,000 NICs are coupled and connected, difference / 1,000.
 *  - Addresses: each stand-in QEMU then sends gratuitous ARP from ADDRS_PER_NIC distinct source
 *    IPs (the daemon registers addresses it sees, up to 16 per QEMU NIC), so the switch holds
 *    1,000 x ADDRS_PER_NIC addresses; QUERY is timed again with that LAN IP table.
 *
 * The LAN IP table lookup cost at 10 and 100,000 addresses comes from dist/bench/forward.js
 * (the forwarding core in memory); run.ts passes those figures to scaleGoals/scaleText.
 * Everything made here lives in the given Scope (namespace, daemon, temp dir, listeners).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median, run, sleep, waitFor, type Scope } from './lib.js';
import type { Goal, Metric } from './report.js';

export const SCALE_NICS = 1000;
/** Addresses each stand-in QEMU announces (the daemon accepts up to 16 per QEMU NIC). */
export const ADDRS_PER_NIC = 12;
/** Goal: QUERY VSWITCH DETAILS with 1,000 NICs answers in under this many ms. */
export const QUERY_GOAL_MS = 200;
/** "Flat" lookup cost: at 100,000 addresses at most this many times the cost at 10. */
export const FLAT_FACTOR = 2;

const SWITCH = 'SCALESW';
const VDEV = '0600';

export interface ScaleResult {
  status: 'ok' | 'partial' | 'n/a';
  reason?: string;
  nics: number;
  /** NICs QUERY VSWITCH DETAILS showed with a data-plane port, and connections the stand-in accepted. */
  connected: number | null;
  accepted: number | null;
  /** Seconds for the 3,000 DEFINE GUEST / DEFINE NIC / COUPLE commands, and until all were connected. */
  defineSeconds: number | null;
  connectSeconds: number | null;
  rssBeforeKB: number | null;
  rssAfterKB: number | null;
  memPerNicKB: number | null;
  /** QUERY VSWITCH sw DETAILS (text) through bin/vswitch, ms. */
  queryCliMs: Metric;
  /** The same on an open control-socket connection, ms (the daemon's time + transfer). */
  queryDaemonMs: Metric;
  /** bin/vswitch Q VMLAN, ms: what any CLI call costs (node start-up + connect). */
  cliBaselineMs: Metric;
  queryLines: number | null;
  addresses: {
    perNic: number; expected: number; registered: number; seconds: number | null;
    queryCliMs: Metric; queryDaemonMs: Metric; rssKB: number | null;
  } | null;
}

const metric = (values: number[]): Metric => ({ values, median: values.length ? median(values) : null });

/** One open connection to the daemon's control socket; requests answered in order. */
class Control {
  private buf = '';
  private waiting: Array<(line: string) => void> = [];
  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.setMaxListeners(0); // one 'close' listener per request in flight
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
  }

  static open(path: string): Promise<Control> {
    return new Promise((resolveOpen, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolveOpen(new Control(s)));
      s.once('error', reject);
    });
  }

  /** Send a command; resolves with the parsed response (rejects on a closed socket). */
  cmd(command: string): Promise<{ ok: boolean; lines: string[]; data?: any }> {
    return new Promise((resolveCmd, reject) => {
      const onClose = () => reject(new Error('control socket closed'));
      this.sock.once('close', onClose);
      this.waiting.push((line) => {
        this.sock.off('close', onClose);
        try { resolveCmd(JSON.parse(line)); } catch (e) { reject(e as Error); }
      });
      this.sock.write(`${JSON.stringify({ command })}\n`);
    });
  }

  /** Send a batch without waiting between them; resolves with every response. */
  async batch(commands: string[]): Promise<Array<{ ok: boolean; lines: string[] }>> {
    return Promise.all(commands.map((c) => this.cmd(c)));
  }

  close(): void { this.sock.destroy(); }
}

/** The 1,000 stand-in QEMUs: one listening unix socket each, as `-netdev stream,server=on`. */
class StandIn {
  readonly servers: Server[] = [];
  readonly conns = new Map<string, Socket>();
  received = 0;

  async listen(paths: Map<string, string>): Promise<void> {
    for (const [userid, path] of paths) {
      const srv = createServer((sock) => {
        sock.on('data', (d) => { this.received += d.length; }); // what the switch sends: discarded
        sock.on('error', () => { /* the daemon went away: nothing to do */ });
        sock.on('close', () => { if (this.conns.get(userid) === sock) this.conns.delete(userid); });
        this.conns.set(userid, sock);
      });
      await new Promise<void>((res, rej) => { srv.once('error', rej); srv.listen(path, () => res()); });
      this.servers.push(srv);
    }
  }

  close(): void {
    for (const s of this.conns.values()) s.destroy();
    for (const s of this.servers) s.close();
  }
}

function vmRssKB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

/** RSS after the daemon has been quiet for a while: the median of 5 readings 200 ms apart. */
async function settledRss(pid: number): Promise<number | null> {
  await sleep(1500);
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const v = vmRssKB(pid);
    if (v !== null) xs.push(v);
    await sleep(200);
  }
  return xs.length ? median(xs) : null;
}

/** A gratuitous ARP request (spa = tpa = ip) from `mac`, behind QEMU's 4-byte length prefix. */
function garpMessage(mac: number, ip: number): Buffer {
  const b = Buffer.alloc(4 + 42);
  b.writeUInt32BE(42, 0);
  const e = 4;
  b.fill(0xff, e, e + 6);
  b.writeUIntBE(mac, e + 6, 6);
  b.writeUInt16BE(0x0806, e + 12);
  const a = e + 14;
  b.writeUInt16BE(1, a); b.writeUInt16BE(0x0800, a + 2); b[a + 4] = 6; b[a + 5] = 4; b.writeUInt16BE(1, a + 6);
  b.writeUIntBE(mac, a + 8, 6);
  b.writeUInt32BE(ip >>> 0, a + 14);
  b.writeUInt32BE(ip >>> 0, a + 24);
  return b;
}

function parseMac(s: string): number {
  return parseInt(s.replace(/:/g, ''), 16);
}

async function timeCli(cli: string, socket: string, words: string[], reps: number): Promise<{ ms: number[]; lines: number }> {
  const ms: number[] = [];
  let lines = 0;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = await run(cli, ['--socket', socket, ...words], { timeoutMs: 30_000 });
    const t = performance.now() - t0;
    if (r.code !== 0) throw new Error(`vswitch ${words.join(' ')} -> exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
    ms.push(t);
    lines = r.stdout.split('\n').filter(Boolean).length;
  }
  return { ms, lines };
}

async function timeSocket(ctl: Control, command: string, reps: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = await ctl.cmd(command);
    ms.push(performance.now() - t0);
    if (!r.ok) throw new Error(`${command}: ${r.lines.join(' ')}`);
  }
  return ms;
}

export interface ScaleContext {
  scope: Scope;
  /** Unique name prefix (run tag + code); suffixes up to 4 characters. */
  prefix: string;
  repoRoot: string;
  reps: number;
  log: (msg: string) => void;
}

export async function measureScale(ctx: ScaleContext): Promise<ScaleResult> {
  const res: ScaleResult = {
    status: 'ok', nics: SCALE_NICS, connected: null, accepted: null, defineSeconds: null, connectSeconds: null,
    rssBeforeKB: null, rssAfterKB: null, memPerNicKB: null,
    queryCliMs: metric([]), queryDaemonMs: metric([]), cliBaselineMs: metric([]), queryLines: null, addresses: null,
  };
  const scope = ctx.scope.child('scale');
  const log = (m: string) => ctx.log(`scale: ${m}`);
  const queryReps = Math.max(5, ctx.reps * 2 + 1);
  let ctl: Control | null = null;
  try {
    const vswitchd = join(ctx.repoRoot, 'bin/vswitchd');
    const cli = join(ctx.repoRoot, 'bin/vswitch');
    if (!existsSync(vswitchd) || !existsSync(cli)) throw new Error('bin/vswitchd or bin/vswitch does not exist');
    // The daemon gets a namespace of its own although QEMU NICs need none: nothing it does can
    // touch the host's network.
    const ns = await scope.netns(`${ctx.prefix}s`);
    const dir = scope.tempDir('scale');
    const socket = join(dir, 'vswitchd.sock');
    const config = join(dir, 'system.config');
    writeFileSync(config, `* vswitch benchmark (scale): written by bench/scale.ts, removed after the run\nDEFINE VSWITCH ${SWITCH} IP\n`);
    const d = scope.spawn(ns, vswitchd, ['--config', config, '--socket', socket, '--state-dir', join(dir, 'state')]);
    const tail = () => (d.stderr.trim().split('\n').slice(-5).join(' | ') || '(no output)');
    try {
      await waitFor('vswitchd command socket', 20_000, async () => !d.running ||
        (existsSync(socket) && (await run(cli, ['--socket', socket, 'Q', 'VMLAN'], { timeoutMs: 5000 })).code === 0));
    } catch { throw new Error(`vswitchd did not answer: ${tail()}`); }
    if (!d.running) throw new Error(`vswitchd exited (${d.child.exitCode}): ${tail()}`);
    const comm = readFileSync(`/proc/${d.pid}/comm`, 'utf8').trim();
    if (comm !== 'node') throw new Error(`pid ${d.pid} is ${comm}, not the daemon's node process`);
    ctl = await Control.open(socket);

    // The stand-in QEMUs listen before the NICs exist, as VMs started first would.
    const qdir = join(dir, 'qemu');
    mkdirSync(qdir, { recursive: true, mode: 0o2770 });
    const users = Array.from({ length: SCALE_NICS }, (_, i) => `S${String(i + 1).padStart(4, '0')}`);
    const paths = new Map(users.map((u) => [u, join(qdir, `${u.toLowerCase()}-${VDEV}.sock`)]));
    const standIn = new StandIn();
    scope.defer('stand-in QEMUs', () => standIn.close());
    await standIn.listen(paths);
    log(`${SCALE_NICS} stand-in QEMU sockets listening in ${qdir}`);

    res.rssBeforeKB = await settledRss(d.pid);
    log(`daemon RSS with the switch alone: ${res.rssBeforeKB} kB`);

    // 3,000 commands over one connection (what bin/vswitch sends, without 3,000 process starts).
    const t0 = performance.now();
    const cmds = users.flatMap((u) => [`DEFINE GUEST ${u} QEMU STREAM`, `DEFINE NIC ${VDEV} FOR ${u}`, `SET VSWITCH ${SWITCH} GRANT ${u}`, `COUPLE ${VDEV} TO SYSTEM ${SWITCH} FOR ${u}`]);
    for (let i = 0; i < cmds.length; i += 300) {
      const rs = await ctl.batch(cmds.slice(i, i + 300));
      const bad = rs.findIndex((r) => !r.ok);
      if (bad >= 0) throw new Error(`${cmds[i + bad]}: ${rs[bad]!.lines.join(' ')}`);
    }
    res.defineSeconds = (performance.now() - t0) / 1000;
    log(`defined and coupled ${SCALE_NICS} NICs in ${res.defineSeconds.toFixed(2)} s`);

    const portsShown = async (): Promise<{ n: number; doc: any }> => {
      const r = await ctl!.cmd(`QUERY VSWITCH ${SWITCH} DETAILS`);
      const doc = r.data?.switches?.[0];
      return { n: (doc?.nics ?? []).filter((x: { port: number | null }) => x.port !== null).length, doc };
    };
    let last = { n: 0, doc: null as any };
    try {
      await waitFor(`${SCALE_NICS} NICs connected`, 60_000, async () => {
        last = await portsShown();
        return last.n === SCALE_NICS && standIn.conns.size === SCALE_NICS;
      }, 250);
    } catch { /* reported below */ }
    res.connectSeconds = (performance.now() - t0) / 1000;
    res.connected = last.n;
    res.accepted = standIn.conns.size;
    log(`connected: ${res.connected} in QUERY, ${res.accepted} accepted by the stand-in, after ${res.connectSeconds.toFixed(2)} s`);
    if (res.connected !== SCALE_NICS || res.accepted !== SCALE_NICS) {
      res.status = 'partial';
      res.reason = `only ${res.connected} NICs connected (${res.accepted} accepted) within 60 s; daemon: ${tail()}`;
    }

    res.rssAfterKB = await settledRss(d.pid);
    if (res.rssBeforeKB !== null && res.rssAfterKB !== null) res.memPerNicKB = (res.rssAfterKB - res.rssBeforeKB) / SCALE_NICS;
    log(`daemon RSS with ${SCALE_NICS} NICs: ${res.rssAfterKB} kB (${res.memPerNicKB?.toFixed(1)} kB per NIC)`);

    const q = ['QUERY', 'VSWITCH', SWITCH, 'DETAILS'];
    res.cliBaselineMs = metric((await timeCli(cli, socket, ['QUERY', 'VMLAN'], queryReps)).ms);
    const qc = await timeCli(cli, socket, q, queryReps);
    res.queryCliMs = metric(qc.ms);
    res.queryLines = qc.lines;
    res.queryDaemonMs = metric(await timeSocket(ctl, q.join(' '), queryReps));
    log(`QUERY DETAILS (${qc.lines} lines): bin/vswitch ${res.queryCliMs.median?.toFixed(1)} ms (CLI alone ${res.cliBaselineMs.median?.toFixed(1)} ms), socket ${res.queryDaemonMs.median?.toFixed(1)} ms`);

    // Addresses: every stand-in QEMU announces ADDRS_PER_NIC source IPs by gratuitous ARP.
    const macs = new Map<string, number>();
    for (const n of (last.doc?.nics ?? []) as Array<{ guest: string; mac: string }>) macs.set(n.guest, parseMac(n.mac));
    const expected = SCALE_NICS * ADDRS_PER_NIC;
    const t1 = performance.now();
    users.forEach((u, i) => {
      const sock = standIn.conns.get(u);
      const mac = macs.get(u);
      if (!sock || mac === undefined) return;
      const msgs: Buffer[] = [];
      for (let j = 0; j < ADDRS_PER_NIC; j++) msgs.push(garpMessage(mac, (0x0a000000 + i * 16 + j + 1) >>> 0)); // 10.0.0.0/10
      sock.write(Buffer.concat(msgs));
    });
    let registered = 0;
    try {
      await waitFor(`${expected} addresses registered`, 60_000, async () => {
        const r = await ctl!.cmd(`QUERY VSWITCH ${SWITCH} DETAILS`);
        registered = r.data?.switches?.[0]?.ipTable?.length ?? 0;
        return registered >= expected;
      }, 500);
    } catch { /* reported below */ }
    const addrSeconds = (performance.now() - t1) / 1000;
    log(`LAN IP table: ${registered} of ${expected} addresses after ${addrSeconds.toFixed(2)} s`);
    const qc2 = await timeCli(cli, socket, q, queryReps);
    const qd2 = await timeSocket(ctl, q.join(' '), queryReps);
    res.addresses = {
      perNic: ADDRS_PER_NIC, expected, registered, seconds: registered >= expected ? addrSeconds : null,
      queryCliMs: metric(qc2.ms), queryDaemonMs: metric(qd2), rssKB: await settledRss(d.pid),
    };
    log(`QUERY DETAILS with ${registered} addresses (${qc2.lines} lines): bin/vswitch ${res.addresses.queryCliMs.median?.toFixed(1)} ms, socket ${res.addresses.queryDaemonMs.median?.toFixed(1)} ms`);
    if (registered < expected) {
      res.status = 'partial';
      res.reason = [res.reason, `only ${registered} of ${expected} addresses registered within 60 s`].filter(Boolean).join('; ');
    }
    if (!d.running) throw new Error(`vswitchd exited (${d.child.exitCode}): ${tail()}`);
  } catch (e) {
    res.status = 'n/a';
    res.reason = (e as Error).message.replace(/\s+/g, ' ').slice(0, 600);
    log(`n/a: ${res.reason}`);
  } finally {
    ctl?.close();
    scope.close();
    if (scope.errors.length) log(`cleanup: ${scope.errors.join('; ')}`);
  }
  return res;
}

export interface LookupFigures { at10: number | null; at100k: number | null }

const f1 = (v: number | null | undefined, d = 1): string => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(d));

/** The scale goals of issue 5 (null: not measured). */
export function scaleGoals(s: ScaleResult | null, lookup: LookupFigures | null): Goal[] {
  const out: Goal[] = [];
  const why = s === null ? 'not selected (--only)' : (s.reason ?? '');
  if (s === null || s.status === 'n/a') {
    out.push({ goal: `scale: ${SCALE_NICS} namespace-free NICs coupled to one switch`, measured: `not measured (${why})`, met: null });
  } else {
    out.push({
      goal: `scale: ${SCALE_NICS} namespace-free NICs (QEMU stream sockets) coupled to one switch and connected`,
      measured: `${s.connected} connected (${s.accepted} connections accepted by the stand-in QEMUs)`,
      met: s.connected === SCALE_NICS && s.accepted === SCALE_NICS,
    });
    const q = s.queryCliMs.median;
    out.push({
      goal: `scale: QUERY VSWITCH DETAILS with ${SCALE_NICS} NICs < ${QUERY_GOAL_MS} ms (bin/vswitch, end to end)`,
      measured: q === null ? 'not measured' : `${f1(q)} ms (daemon over the socket ${f1(s.queryDaemonMs.median)} ms; CLI start-up alone ${f1(s.cliBaselineMs.median)} ms)`,
      met: q === null ? null : q < QUERY_GOAL_MS,
    });
    const a = s.addresses;
    if (a !== null && a.registered > 0) {
      const q2 = a.queryCliMs.median;
      out.push({
        goal: `scale: QUERY VSWITCH DETAILS with ${SCALE_NICS} NICs and ${a.registered} LAN IP addresses < ${QUERY_GOAL_MS} ms`,
        measured: q2 === null ? 'not measured' : `${f1(q2)} ms (daemon over the socket ${f1(a.queryDaemonMs.median)} ms)`,
        met: q2 === null ? null : q2 < QUERY_GOAL_MS,
      });
    }
    out.push({
      goal: 'scale: memory per NIC reported',
      measured: s.memPerNicKB === null ? 'not measured' : `${f1(s.memPerNicKB)} kB per NIC (daemon RSS ${s.rssBeforeKB} -> ${s.rssAfterKB} kB)`,
      met: s.memPerNicKB === null ? null : true,
    });
  }
  if (lookup && lookup.at10 !== null && lookup.at100k !== null) {
    const r = lookup.at100k / lookup.at10;
    out.push({
      goal: `scale: LAN IP table of 100,000 addresses with flat lookup cost (<= ${FLAT_FACTOR} x the cost at 10)`,
      measured: `${f1(lookup.at100k)} ns at 100,000 vs ${f1(lookup.at10)} ns at 10 (${r.toFixed(2)}x; forwarding core, in memory)`,
      met: r <= FLAT_FACTOR,
    });
  } else {
    out.push({ goal: 'scale: LAN IP table of 100,000 addresses with flat lookup cost', measured: 'not measured (forward.js gave no lookup figures)', met: null });
  }
  return out;
}

/** The scale section of the report. */
export function scaleText(s: ScaleResult | null, lookup: LookupFigures | null): string {
  const lines = [`scale (${SCALE_NICS} QEMU-socket NICs on one IP-mode switch, stand-in QEMUs in the benchmark process):`];
  if (s === null) lines.push('  not selected (--only)');
  else if (s.status === 'n/a') lines.push(`  n/a: ${s.reason}`);
  else {
    if (s.status === 'partial') lines.push(`  partial: ${s.reason}`);
    lines.push(`  NICs connected: ${s.connected}/${s.nics} (defined and coupled in ${f1(s.defineSeconds, 2)} s over the control socket, all connected after ${f1(s.connectSeconds, 2)} s)`);
    lines.push(`  daemon RSS: ${s.rssBeforeKB} kB with the switch alone, ${s.rssAfterKB} kB with ${s.nics} NICs: ${f1(s.memPerNicKB)} kB per NIC`);
    lines.push(`  QUERY VSWITCH DETAILS (${s.queryLines} lines): bin/vswitch ${f1(s.queryCliMs.median)} ms median of ${s.queryCliMs.values.length}` +
      ` (CLI start-up, Q VMLAN: ${f1(s.cliBaselineMs.median)} ms); over an open socket ${f1(s.queryDaemonMs.median)} ms`);
    const a = s.addresses;
    if (a !== null) {
      lines.push(`  with addresses: ${a.registered}/${a.expected} registered (${a.perNic} per NIC by gratuitous ARP${a.seconds !== null ? `, in ${f1(a.seconds, 2)} s` : ''}); daemon RSS ${a.rssKB} kB`);
      lines.push(`    QUERY VSWITCH DETAILS: bin/vswitch ${f1(a.queryCliMs.median)} ms; over an open socket ${f1(a.queryDaemonMs.median)} ms`);
    }
  }
  if (lookup && lookup.at10 !== null && lookup.at100k !== null) {
    lines.push(`  LAN IP table lookup (forwarding core, forward.js): ${f1(lookup.at10)} ns at 10 addresses, ${f1(lookup.at100k)} ns at 100,000`);
  }
  return lines.join('\n');
}
