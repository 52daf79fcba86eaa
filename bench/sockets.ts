/**
 * The QEMU socket paths at full rate (issue 14), selected with `--only sockets`: 64-byte frames
 * through the daemon's `-netdev stream` and `-netdev dgram` ports, with a fast native stand-in
 * on QEMU's side of the socket instead of a TCG VM (a VM under TCG cannot generate or take
 * 64-byte frames anywhere near the switch's rate; TCP over these paths is in the VM rows,
 * bench/vm.ts). The stand-in is bench/qemu-peer.ts: it speaks QEMU's protocol on QEMU's socket
 * (stream: 4-byte big-endian length + frame; dgram: one frame per datagram), registers its
 * address the way a QEMU guest does (gratuitous ARP), and generates or counts frames.
 *
 * One IP-mode switch (bench/qemu-switch.ts: vswitchd with --metrics, in a namespace of its own) with two namespace
 * guests (G1, G2: TAP NICs) and two QEMU guests (QS: STREAM, QD: DGRAM); a second one with G1
 * and QD only, whose namespace has net.unix.max_dgram_qlen QLEN instead of Linux's 10 (a unix
 * datagram socket queues at most that many datagrams from a sender it is not connected to:
 * QEMU's socket, which connects to nothing, holds at most 10 of the daemon's frames, the
 * daemon's socket, connected to QEMU's, is not bounded so; the stand-in's socket is made in the
 * daemon's namespace and takes the setting, so expect a difference guest -> dgram only; the
 * two switches are separate daemons, so compare their rows with the run's spread in mind).
 * Rows, each the median of the repetitions, measured alternately
 * (A B ..., then ... B A) so load from elsewhere falls on all alike:
 *   stream -> guest   the stand-in sends 64-byte UDP frames as fast as the socket takes them to
 *                     G1; delivered = G1's enc600 rx_packets per second
 *   guest -> stream   trafgen in G1 sends 64-byte UDP frames to the stand-in; delivered = frames
 *                     the stand-in read per second
 *   dgram -> guest, guest -> dgram   the same over the dgram NIC
 *   guest -> guest    trafgen G2 -> G1 (TAP NICs at both ends): the reference in the same run
 *   dgram ..., max_dgram_qlen QLEN   the two dgram rows on the second switch
 * For each: offered (frames the sender put into the path per second: the stand-in's count, or
 * the frames trafgen got into its TAP, tx_packets), the data-plane worker's CPU ns per frame the
 * switch received, its CPU share and frames per wake-up (bench/cost.ts; the window includes
 * the 0.7 s warm-up), and the stand-in's CPU share (all its
 * threads; near 100% of a core would mean the stand-in, not the switch, set the rate).
 * Everything lives in the given Scope.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { median, sh, sleep, waitFor, type Proc, type Scope } from './lib.js';
import { framesOnce, linkMac, rxPackets, writeTrafgenConfig, type Endpoint, type Topology } from './measure.js';
import { costOf, type Cost, type Probe } from './cost.js';
import { guestUp, startQemuSwitch } from './qemu-switch.js';
import type { Metric } from './report.js';

const NET = '10.76.10';
const NET_QLEN = '10.76.11';
/** net.unix.max_dgram_qlen of the second switch's namespace (a new namespace has 10). */
export const QLEN = 512;

export type SocketRowName = 'stream-to-guest' | 'guest-to-stream' | 'dgram-to-guest' | 'guest-to-dgram' | 'guest-to-guest'
  | 'dgram-to-guest-qlen' | 'guest-to-dgram-qlen';

function label(n: SocketRowName, qlen: number): string {
  const l: Record<SocketRowName, string> = {
    'stream-to-guest': 'stream socket -> guest (stand-in sends)',
    'guest-to-stream': 'guest -> stream socket (stand-in counts)',
    'dgram-to-guest': 'dgram socket -> guest (stand-in sends)',
    'guest-to-dgram': 'guest -> dgram socket (stand-in counts)',
    'guest-to-guest': 'guest -> guest (TAP NICs, reference)',
    'dgram-to-guest-qlen': `dgram socket -> guest, max_dgram_qlen ${qlen}`,
    'guest-to-dgram-qlen': `guest -> dgram socket, max_dgram_qlen ${qlen}`,
  };
  return l[n];
}

export interface SocketRow {
  name: SocketRowName;
  /** Who was on QEMU's side of the socket (or "none"). */
  peer: string;
  status: 'ok' | 'n/a';
  reason?: string;
  /** Frames delivered per second at the receiving end. */
  framesPerSec: Metric;
  /** Frames the sender put into the path per second. */
  offeredPerSec: Metric;
  /** Worker CPU ns per frame the switch received, and its CPU share. */
  nsPerFrame: Metric;
  workerCpuShare: Metric;
  /** Frames the switch received per wake-up of the worker (a dgram socket's receive queue holds net.unix.max_dgram_qlen). */
  framesPerWakeup: Metric;
  /** The stand-in's CPU time / wall time (null for the reference row). */
  peerCpuShare: Metric;
}

export interface SocketsResult {
  status: 'ok' | 'partial' | 'n/a';
  reason?: string;
  seconds: number;
  /** net.unix.max_dgram_qlen of the -qlen rows. */
  qlen: number;
  rows: SocketRow[];
}

/** tx packets of an interface as its namespace sees them (what trafgen got into the TAP). */
async function txPackets(e: Endpoint): Promise<number> {
  const j = JSON.parse(await sh('ip', ['-n', e.ns, '-s', '-j', 'link', 'show', 'dev', e.dev])) as Array<{ stats64: { tx: { packets: number } } }>;
  return Number(j[0]!.stats64.tx.packets);
}

const metric = (values: number[]): Metric => ({ values, median: values.length ? median(values) : null });

interface PeerCount { rx: number; rxBytes: number; tx: number; at: number; cpuNs: number }

/** A running bench/qemu-peer.js, driven over its stdin. */
class Peer {
  constructor(readonly proc: Proc, readonly what: string) {}

  /** Send a command; resolves with its one-line answer. */
  async cmd(c: string): Promise<string> {
    const before = this.proc.stdout.length;
    this.proc.child.stdin!.write(`${c}\n`);
    let line = '';
    await waitFor(`${this.what} to answer ${c}`, 10_000, () => {
      if (!this.proc.running) throw new Error(`${this.what} exited: ${this.proc.stderr.trim().slice(-300)}`);
      const rest = this.proc.stdout.slice(before);
      const nl = rest.indexOf('\n');
      if (nl < 0) return false;
      line = rest.slice(0, nl);
      return true;
    }, 5);
    if (line.startsWith('error')) throw new Error(`${this.what}: ${line}`);
    return line;
  }

  async count(): Promise<PeerCount> {
    return JSON.parse(await this.cmd('count')) as PeerCount;
  }
}

export interface SocketsContext {
  scope: Scope;
  prefix: string;
  repoRoot: string;
  reps: number;
  seconds: number;
  log: (msg: string) => void;
}

/** One repetition's figures. */
interface Once { delivered: number; offered: number; cost: Cost | null; peerShare: number | null }

/** A switch of the benchmark: its guests' endpoints, the stand-ins by transport, the worker probe. */
interface Rig {
  guests: Endpoint[];
  peers: Map<'STREAM' | 'DGRAM', { peer: Peer; ep: Endpoint }>;
  probe: Probe | null;
  /** Throws when the daemon is gone (its last lines in the message). */
  alive: () => void;
}

/**
 * The switch (bench/qemu-switch.ts) in namespace `${prefix}s` with namespace guests G1.. (one per
 * `guests` letter) and one QEMU guest per transport, each with its stand-in connected and its
 * address registered. `qlen`: net.unix.max_dgram_qlen set in the daemon's namespace before the
 * daemon starts (its sockets and the stand-ins' are made there), or null for the default.
 */
async function rig(ctx: SocketsContext, scope: Scope, prefix: string, net: string, guests: string[], transports: Array<'STREAM' | 'DGRAM'>, qlen: number | null): Promise<Rig> {
  const { repoRoot, log } = ctx;
  const peerJs = join(repoRoot, 'dist/bench/qemu-peer.js');
  if (!existsSync(peerJs)) throw new Error('dist/bench/qemu-peer.js does not exist (npm run build)');
  const sw = await scope.netns(`${prefix}s`);
  if (qlen !== null) await sh('ip', ['netns', 'exec', sw, 'sysctl', '-qw', `net.unix.max_dgram_qlen=${qlen}`]);
  const gns: Array<[string, string]> = [];
  for (const [i, letter] of guests.entries()) gns.push([`G${i + 1}`, await scope.netns(`${prefix}${letter}`)]);
  const qemus = transports.map((t) => [t === 'STREAM' ? 'QS' : 'QD', t] as const);
  const q = await startQemuSwitch({ scope, ns: sw, repoRoot, log, name: 'BSK', writer: 'bench/sockets.ts', netnsGuests: gns, qemuGuests: qemus });
  const ends: Endpoint[] = [];
  for (const [i, [, ns]] of gns.entries()) ends.push(await guestUp(ns, `${net}.${11 + i}`));
  const e1 = ends[0]!;
  const nic = q.nic;
  const g1Mac = await linkMac(e1);

  // The stand-ins, one per QEMU NIC, started as QEMU would be: after the NIC exists. They send to G1.
  const peers: Rig['peers'] = new Map();
  for (const [i, [user, transport]] of qemus.entries()) {
    const n = await nic(user);
    const ip = `${net}.${21 + i}`;
    const p = scope.spawn(sw, process.execPath, [peerJs, transport.toLowerCase(), n.qemu.paths.qemu, n.qemu.paths.daemon ?? '-', n.mac, ip, g1Mac, e1.ip], { stdin: 'pipe' });
    const peer = new Peer(p, `the ${transport} stand-in`);
    await waitFor(`${peer.what} to be connected`, 20_000, () => p.stdout.includes('ready') || !p.running);
    if (!p.running) throw new Error(`${peer.what} exited: ${p.stderr.trim().slice(-300)}`);
    // Registered once the switch saw the address in use (local only is enough guest to guest).
    let tries = 0;
    await waitFor(`${user}'s address ${ip} to be registered`, 20_000, async () => {
      if (((await nic(user)).addresses as Array<{ ip: string }>).some((a) => a.ip === ip)) return true;
      if (++tries % 5 === 0) await peer.cmd('announce');
      return false;
    }, 200);
    // ep: only its ip is used (the trafgen destination); the stand-in has no interface.
    peers.set(transport, { peer, ep: { ns: sw, dev: user, ip } });
  }
  return { guests: ends, peers, probe: q.probe, alive: q.alive };
}

/** The rows of one rig: stand-in -> G1 and G1 -> stand-in for each of its transports, names suffixed by `variant`. */
async function socketPlans(ctx: SocketsContext, scope: Scope, r: Rig, variant: '' | '-qlen'): Promise<Plan[]> {
  const e1 = r.guests[0]!;
  /** Probe the worker around fn, and the stand-in `peer` if given. */
  const measured = async (peer: Peer | null, fn: () => Promise<{ delivered: number; offered: number }>): Promise<Once> => {
    const pa = peer ? await peer.count() : null;
    const a = r.probe ? await r.probe().catch(() => null) : null;
    const x = await fn();
    const b = r.probe && a ? await r.probe().catch(() => null) : null;
    const pb = peer ? await peer.count() : null;
    r.alive();
    return { ...x, cost: a && b ? costOf(a, b) : null, peerShare: pa && pb && pb.at > pa.at ? (pb.cpuNs - pa.cpuNs) / (pb.at - pa.at) : null };
  };
  /** `seconds` of stand-in sending: delivered = G1's rx_packets, offered = the stand-in's tx. */
  const standInSends = (peer: Peer) => measured(peer, async () => {
    await peer.cmd('start');
    try {
      await sleep(700);
      const [c0, p0] = await Promise.all([rxPackets(e1), peer.count()]);
      await sleep(ctx.seconds * 1000);
      const [c1, p1] = await Promise.all([rxPackets(e1), peer.count()]);
      const secs = (p1.at - p0.at) / 1e9;
      return { delivered: (c1 - c0) / secs, offered: (p1.tx - p0.tx) / secs };
    } finally { await peer.cmd('stop'); }
  });
  /** trafgen t.src -> t.dst: delivered = what `delivered` counts; offered = the frames trafgen got into its TAP (tx_packets). */
  const trafgenTo = (peer: Peer | null, t: Topology, cfg: string, delivered: () => Promise<number>) => measured(peer, async () => {
    const tx: number[] = [];
    const got = await framesOnce(scope, t, cfg, ctx.seconds, 1, async () => {
      const [n, sent] = await Promise.all([delivered(), txPackets(t.src)]);
      tx.push(sent);
      return n;
    });
    return { delivered: got, offered: tx.length === 2 ? (tx[1]! - tx[0]!) / ctx.seconds : NaN };
  });
  const plans: Plan[] = [];
  for (const [transport, p] of r.peers) {
    const lower = transport === 'STREAM' ? 'stream' : 'dgram';
    const who = `bench/qemu-peer.ts on QEMU's socket (${lower === 'stream' ? 'node:net, 64 KiB writes of length-prefixed frames' : 'koffi, blocking sendmmsg to the daemon socket path, unconnected as QEMU, and recvmmsg, 64 datagrams a call'})`;
    plans.push({ name: `${lower}-to-guest${variant}` as SocketRowName, peer: who, once: () => standInSends(p.peer) });
    const t: Topology = { src: e1, dst: p.ep };
    const cfg = await writeTrafgenConfig(scope.tempDir('tg'), t);
    plans.push({ name: `guest-to-${lower}${variant}` as SocketRowName, peer: who, once: () => trafgenTo(p.peer, t, cfg, async () => (await p.peer.count()).rx) });
  }
  if (r.guests.length > 1) {
    const ref: Topology = { src: r.guests[1]!, dst: e1 };
    const refCfg = await writeTrafgenConfig(scope.tempDir('tg'), ref);
    plans.push({ name: 'guest-to-guest', peer: 'none (trafgen in G2, rx_packets in G1)', once: () => trafgenTo(null, ref, refCfg, () => rxPackets(e1)) });
  }
  return plans;
}

/** A row to measure: its name, who was on QEMU's side, one repetition. */
interface Plan { name: SocketRowName; peer: string; once: () => Promise<Once> }

export async function measureSockets(ctx: SocketsContext): Promise<SocketsResult> {
  const { scope, prefix, log } = ctx;
  const res: SocketsResult = { status: 'ok', seconds: ctx.seconds, qlen: QLEN, rows: [] };
  try {
    // The main switch (default max_dgram_qlen), and one with only a DGRAM NIC and a larger queue.
    const main = await rig(ctx, scope, prefix, NET, ['a', 'b'], ['STREAM', 'DGRAM'], null);
    const big = await rig(ctx, scope, `${prefix}q`, NET_QLEN, ['a'], ['DGRAM'], QLEN);
    const plans = [...await socketPlans(ctx, scope, main, ''), ...await socketPlans(ctx, scope, big, '-qlen')];
    const runs = new Map<SocketRowName, Once[]>(plans.map((p) => [p.name, []]));
    const errors = new Map<SocketRowName, string>();
    for (let r = 0; r < ctx.reps; r++) {
      for (const p of r % 2 === 0 ? plans : [...plans].reverse()) {
        if (errors.has(p.name)) continue;
        try {
          const o = await p.once();
          runs.get(p.name)!.push(o);
          log(`sockets ${p.name}: ${r + 1}/${ctx.reps}: ${(o.delivered / 1e3).toFixed(1)} k/s delivered, ${(o.offered / 1e3).toFixed(1)} k/s offered, ` +
            `worker ${o.cost?.nsPerFrame?.toFixed(0) ?? 'n/a'} ns/frame, stand-in ${o.peerShare === null ? '-' : `${(o.peerShare * 100).toFixed(0)}% CPU`}`);
        } catch (e) {
          errors.set(p.name, (e as Error).message.replace(/\s+/g, ' ').slice(0, 300));
          log(`sockets ${p.name}: n/a: ${errors.get(p.name)}`);
        }
      }
    }
    for (const p of plans) {
      const os = runs.get(p.name)!;
      const nums = (f: (o: Once) => number | null | undefined) => metric(os.map(f).filter((x): x is number => typeof x === 'number' && Number.isFinite(x)));
      const err = errors.get(p.name);
      res.rows.push({
        name: p.name, peer: p.peer, status: err === undefined ? 'ok' : 'n/a', ...(err !== undefined ? { reason: err } : {}),
        framesPerSec: nums((o) => o.delivered), offeredPerSec: nums((o) => o.offered),
        nsPerFrame: nums((o) => o.cost?.nsPerFrame), workerCpuShare: nums((o) => o.cost?.cpuShare),
        framesPerWakeup: nums((o) => o.cost?.framesPerWakeup), peerCpuShare: nums((o) => o.peerShare),
      });
    }
    if (errors.size > 0) {
      res.status = errors.size === plans.length ? 'n/a' : 'partial';
      res.reason = [...errors].map(([k, v]) => `${k}: ${v}`).join('; ');
    }
    return res;
  } catch (e) {
    return { ...res, status: 'n/a', reason: (e as Error).message.replace(/\s+/g, ' ').slice(0, 400) };
  }
}

const f = (v: number | null, digits: number, scale = 1): string => (v === null ? 'n/a' : (v * scale).toFixed(digits));
/** Frames per wake-up; thousands as "501k" (the worker hardly slept: its sockets always had frames). */
const perWake = (x: number | null): string => (x !== null && x >= 1000 ? `${(x / 1000).toFixed(0)}k` : f(x, 1));
const pct = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(0)}%`);

/** The report's socket section: one line per row, the stand-ins named, then dgram / stream per direction. */
export function socketsText(r: SocketsResult | null): string {
  const lines = ['QEMU socket paths at full rate (64-byte UDP frames; a stand-in on QEMU\'s side of the socket, bench/qemu-peer.ts; TCP over them: the VM rows):'];
  if (r === null) return [...lines, '  not selected (--only sockets)'].join('\n');
  if (r.status === 'n/a' && r.rows.length === 0) return [...lines, `  n/a: ${r.reason}`].join('\n');
  if (r.status === 'partial') lines.push(`  partial: ${r.reason}`);
  const w = Math.max(...r.rows.map((x) => label(x.name, r.qlen).length));
  const L = (n: SocketRowName) => label(n, r.qlen).padEnd(w);
  lines.push(`  ${'path'.padEnd(w)} | delivered kfr/s | offered kfr/s | worker ns/frame | worker CPU | fr/wake | stand-in CPU`);
  for (const row of r.rows) {
    if (row.status !== 'ok') { lines.push(`  ${L(row.name)} | n/a: ${row.reason}`); continue; }
    lines.push(`  ${L(row.name)} | ${f(row.framesPerSec.median, 1, 1e-3).padStart(15)} | ${f(row.offeredPerSec.median, 1, 1e-3).padStart(13)} | ` +
      `${f(row.nsPerFrame.median, 0).padStart(15)} | ${pct(row.workerCpuShare.median).padStart(10)} | ${perWake(row.framesPerWakeup.median).padStart(7)} | ${pct(row.peerCpuShare.median).padStart(12)}`);
  }
  const by = (n: SocketRowName) => r.rows.find((x) => x.name === n && x.status === 'ok');
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? `x${(a / b).toFixed(2)}` : 'n/a');
  for (const [x, y, what] of [
    ['dgram-to-guest', 'stream-to-guest', 'dgram / stream, socket -> guest'], ['guest-to-dgram', 'guest-to-stream', 'dgram / stream, guest -> socket'],
    ['dgram-to-guest-qlen', 'dgram-to-guest', `dgram qlen ${r.qlen} / default, socket -> guest`], ['guest-to-dgram-qlen', 'guest-to-dgram', `dgram qlen ${r.qlen} / default, guest -> socket`],
  ] as const) {
    const a = by(x), b = by(y);
    if (a && b) lines.push(`  ${what}: rate ${ratio(a.framesPerSec.median, b.framesPerSec.median)}, worker ns/frame ${ratio(a.nsPerFrame.median, b.nsPerFrame.median)}`);
  }
  const peers = [...new Set(r.rows.map((x) => x.peer))];
  lines.push(...peers.map((p) => `  peer: ${p}`), `  each figure the median of the repetitions, ${r.seconds} s each; worker ns/frame = data-plane thread CPU / frames the switch received`);
  return lines.join('\n');
}
