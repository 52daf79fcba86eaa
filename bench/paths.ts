/**
 * The measured paths. Each `setup` builds its own namespaces and processes inside the scope
 * it is given (so closing the scope removes all of it) and returns the two endpoints to
 * measure between. A path that cannot run here throws an Error whose message is the reason;
 * the runner prints that row as n/a with the reason.
 *
 *   bridge        kernel bridge in a namespace, a veth to each guest (the physical limit)
 *   vde           vde_switch with two TAP ports moved into the guest namespaces
 *   ovs           Open vSwitch, userspace datapath (datapath_type=netdev), TAP ports, private
 *                 ovsdb-server/ovs-vswitchd with db, sockets, logs in a temp dir
 *   vswitch-ip    vswitchd, IP mode, guest to guest
 *   vswitch-eth   vswitchd, ETHERNET mode, guest to guest
 *   vswitch-lan   vswitchd, IP mode, guest to LAN host through the uplink veth
 *   vswitch-from-lan  the same path the other way: the LAN host sends to a guest (the uplink's
 *                 receive side: TCP client, trafgen and ping in the LAN namespace)
 *   vswitch-trace vswitchd, IP mode, guest to guest, with `vswitch trace` of the whole switch open
 *                 (its pcapng written to /dev/null: the cost of copying every frame, both ways)
 *   router        guest -> router namespace (ip_forward=1) -> LAN host (the path the seed replaced)
 *   vswitch-eth-pair  the data plane of two ETHERNET-mode switches joined uplink to uplink by a
 *                 veth, a guest on each (bench/l2-pair.ts), VLAN-unaware
 *   vswitch-eth-vlan  the same with both guests on ACCESS ports of VLAN 10: tags added at one
 *                 uplink and removed at the other (compare with vswitch-eth-pair)
 *   bridge-ipv6   the Linux bridge path measured over IPv6 (fd00:77:NET::/64, static)
 *   vswitch-ip-ipv6  vswitchd, IP mode, guest to guest over IPv6 (static ULA addresses, measured
 *                 once they are not tentative and in the switch's IPv6 LAN IP table)
 * The IPv6 rows have family 6 (`--only ipv6` selects them all); their "x bridge" is to bridge-ipv6.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sh, sleep, waitFor, type Scope, type Proc } from './lib.js';
import { pingOnce, type Topology } from './measure.js';
import { probeDaemon, probeProcess, type Probe } from './cost.js';

export type PathKind = 'kernel' | 'peer' | 'vswitch' | 'prior';

export interface PathContext {
  scope: Scope;
  /** Unique name prefix for this path (run tag + path code); keep suffixes to 4 chars. */
  prefix: string;
  /** Third octet for this path's addresses, unique per path. */
  net: number;
  repoRoot: string;
  log: (msg: string) => void;
  /** Extra environment for the switch under test (a variant: a lever switched off). */
  env?: Record<string, string>;
}

export interface PathSetup {
  topology: Topology;
  /** Every guest of a vswitch path, G1 first (the topology's src). */
  guests?: Array<{ ns: string; dev: string; ip: string }>;
  /** Anything worth keeping in the JSON (e.g. the switch's DETAILS report). */
  extra?: Record<string, unknown>;
  /** Called after the measurements, before teardown; its answer goes into the JSON too. */
  after?: () => Promise<unknown>;
  /** The switch's data-plane worker: CPU time and counters (vswitch paths; vde_switch's process). */
  probe?: Probe;
}

export interface PathDef {
  name: string;
  code: string;
  label: string;
  kind: PathKind;
  /** The address family measured (4 unless said). */
  family?: 4 | 6;
  setup(ctx: PathContext): Promise<PathSetup>;
}

async function waitPing(t: Topology, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pingOnce(t.src, t.dst.ip)) return;
    await sleep(200);
  }
  throw new Error(`no ping from ${t.src.ns} (${t.src.ip}) to ${t.dst.ip} within ${timeoutMs} ms`);
}

async function veth(nsA: string, a: string, nsB: string, b: string): Promise<void> {
  await sh('ip', ['-n', nsA, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', nsB]);
  await sh('ip', ['-n', nsA, 'link', 'set', a, 'up']);
  await sh('ip', ['-n', nsB, 'link', 'set', b, 'up']);
}

/** Add an address ("ADDR/LEN", optionally followed by flags such as nodad) and bring dev up. */
async function addr(ns: string, dev: string, cidr: string): Promise<void> {
  await sh('ip', ['-n', ns, 'addr', 'add', ...cidr.split(' ').slice(0, 1), 'dev', dev, ...cidr.split(' ').slice(1)]);
  await sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
}

/** Two guests with TAPs created in `swNs`, handed to `attach`, then moved into the guests. */
async function tapGuests(ctx: PathContext, swNs: string, attach: (taps: [string, string]) => Promise<void>): Promise<Topology> {
  const { scope, prefix, net } = ctx;
  const a = await scope.netns(`${prefix}a`);
  const b = await scope.netns(`${prefix}b`);
  const taps: [string, string] = [`${prefix}ta`, `${prefix}tb`];
  for (const t of taps) await sh('ip', ['-n', swNs, 'tuntap', 'add', 'mode', 'tap', 'name', t]);
  await attach(taps);
  await sh('ip', ['-n', swNs, 'link', 'set', taps[0], 'netns', a]);
  await sh('ip', ['-n', swNs, 'link', 'set', taps[1], 'netns', b]);
  await addr(a, taps[0], `10.77.${net}.1/24`);
  await addr(b, taps[1], `10.77.${net}.2/24`);
  const t = { src: { ns: a, dev: taps[0], ip: `10.77.${net}.1` }, dst: { ns: b, dev: taps[1], ip: `10.77.${net}.2` } };
  await waitPing(t);
  return t;
}

/** The IPv6 address of host `host` (hex) on path `net`'s ULA prefix. */
function ula(net: number, host: number): string {
  return `fd00:77:${net.toString(16)}::${host.toString(16)}`;
}

/** The Linux bridge between two veth guests, over IPv4 or (family 6) IPv6. */
async function bridgeSetup(ctx: PathContext, family: 4 | 6): Promise<PathSetup> {
  const { scope, prefix, net } = ctx;
  const sw = await scope.netns(`${prefix}s`);
  const a = await scope.netns(`${prefix}a`);
  const b = await scope.netns(`${prefix}b`);
  await sh('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
  await sh('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
  await veth(sw, 'pa', a, 'eth0');
  await veth(sw, 'pb', b, 'eth0');
  await sh('ip', ['-n', sw, 'link', 'set', 'pa', 'master', 'br0']);
  await sh('ip', ['-n', sw, 'link', 'set', 'pb', 'master', 'br0']);
  const [ipA, ipB] = family === 6 ? [ula(net, 1), ula(net, 2)] : [`10.77.${net}.1`, `10.77.${net}.2`];
  // nodad: the kernel bridge path needs no duplicate detection to be measured.
  await addr(a, 'eth0', family === 6 ? `${ipA}/64 nodad` : `${ipA}/24`);
  await addr(b, 'eth0', family === 6 ? `${ipB}/64 nodad` : `${ipB}/24`);
  const t = { src: { ns: a, dev: 'eth0', ip: ipA }, dst: { ns: b, dev: 'eth0', ip: ipB } };
  await waitPing(t);
  return { topology: t };
}

const bridge: PathDef = {
  name: 'bridge', code: 'br', label: 'Linux bridge (kernel, veth)', kind: 'kernel',
  setup: (ctx) => bridgeSetup(ctx, 4),
};

const bridge6: PathDef = {
  name: 'bridge-ipv6', code: 'b6', label: 'Linux bridge (kernel, veth), IPv6', kind: 'kernel', family: 6,
  setup: (ctx) => bridgeSetup(ctx, 6),
};

const vde: PathDef = {
  name: 'vde', code: 'vd', label: 'vde_switch (TAP ports)', kind: 'peer',
  async setup(ctx) {
    const { scope, prefix } = ctx;
    if ((await run('which', ['vde_switch'])).code !== 0) throw new Error('vde_switch not installed (Debian package vde2)');
    const sw = await scope.netns(`${prefix}s`);
    const dir = scope.tempDir('vde');
    let proc: Proc | undefined;
    const topology = await tapGuests(ctx, sw, async (taps) => {
      // stdin stays an open pipe: vde_switch reads its console there and would stop at EOF.
      proc = scope.spawn(sw, 'vde_switch', ['-s', join(dir, 'ctl'), '-tap', taps[0], '-tap', taps[1]], { stdin: 'pipe' });
      await waitFor('vde_switch socket', 5000, () => existsSync(join(dir, 'ctl')) || !proc!.running);
      if (!proc.running) throw new Error(`vde_switch exited: ${proc.stderr.trim()}`);
      await sleep(200);
    });
    // Its CPU time per frame, in the cost table beside the vswitch rows (and profiled with --profile).
    return { topology, probe: probeProcess(proc!.child.pid!, [topology.src, topology.dst]) };
  },
};

const ovs: PathDef = {
  name: 'ovs', code: 'ov', label: 'Open vSwitch, userspace datapath', kind: 'peer',
  async setup(ctx) {
    const { scope, prefix } = ctx;
    for (const b of ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl']) {
      if ((await run('which', [b])).code !== 0) throw new Error(`${b} not installed (Debian package openvswitch-switch)`);
    }
    const schema = '/usr/share/openvswitch/vswitch.ovsschema';
    if (!existsSync(schema)) throw new Error(`${schema} missing`);
    const sw = await scope.netns(`${prefix}s`);
    const dir = scope.tempDir('ovs');
    const env = { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
    const db = join(dir, 'conf.db');
    const sock = join(dir, 'db.sock');
    await sh('ovsdb-tool', ['create', db, schema], { env });
    const dbProc = scope.spawn(sw, 'ovsdb-server', [db, `--remote=punix:${sock}`, `--pidfile=${join(dir, 'ovsdb.pid')}`,
      `--unixctl=${join(dir, 'ovsdb.ctl')}`, `--log-file=${join(dir, 'ovsdb.log')}`, '--no-chdir'], { env });
    await waitFor('ovsdb-server socket', 10_000, () => existsSync(sock) || !dbProc.running);
    if (!dbProc.running) throw new Error(`ovsdb-server exited: ${dbProc.stderr.trim()}`);
    const vsctl = (...args: string[]): Promise<string> => sh('ip', ['netns', 'exec', sw, 'ovs-vsctl', `--db=unix:${sock}`, '--timeout=20', ...args], { env });
    await vsctl('--no-wait', 'init');
    const vsd = scope.spawn(sw, 'ovs-vswitchd', [`unix:${sock}`, `--pidfile=${join(dir, 'vswitchd.pid')}`,
      `--unixctl=${join(dir, 'vswitchd.ctl')}`, `--log-file=${join(dir, 'vswitchd.log')}`, '--no-chdir'], { env });
    await waitFor('ovs-vswitchd control socket', 10_000, () => existsSync(join(dir, 'vswitchd.ctl')) || !vsd.running);
    if (!vsd.running) throw new Error(`ovs-vswitchd exited: ${vsd.stderr.trim()}`);
    await vsctl('add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=netdev');
    const topology = await tapGuests(ctx, sw, async (taps) => {
      for (const t of taps) await vsctl('add-port', 'br0', t, '--', 'set', 'interface', t, 'type=tap');
      await sleep(300);
    });
    if (!vsd.running) throw new Error(`ovs-vswitchd exited: ${vsd.stderr.trim()}`);
    return { topology };
  },
};

/** vswitchd's --metrics port, on the loopback of the switch's own namespace. */
const METRICS_PORT = 9464;

/** vswitchd in a namespace of its own, uplink veth to a LAN namespace, two namespace guests. */
async function vswitchTopology(ctx: PathContext, mode: 'IP' | 'ETHERNET', target: 'guest' | 'lan' | 'from-lan', traced = false, guestCount = 2,
  family: 4 | 6 = 4): Promise<PathSetup> {
  const { scope, prefix, net, repoRoot } = ctx;
  const vswitchd = join(repoRoot, 'bin/vswitchd');
  const cli = join(repoRoot, 'bin/vswitch');
  if (!existsSync(vswitchd) || !existsSync(cli)) throw new Error('bin/vswitchd or bin/vswitch does not exist yet');
  if (guestCount < 2 || guestCount > 200) throw new Error(`guestCount ${guestCount}: 2 to 200`);
  const sw = await scope.netns(`${prefix}s`);
  const lan = await scope.netns(`${prefix}l`);
  // Guests G1..GN: namespaces <prefix>a and <prefix>b for the first two (as always), <prefix>gN after.
  const guests: string[] = [];
  for (let i = 1; i <= guestCount; i++) guests.push(await scope.netns(i === 1 ? `${prefix}a` : i === 2 ? `${prefix}b` : `${prefix}g${i.toString(36)}`));
  const up = `${prefix}up`;
  await veth(sw, up, lan, 'lan0');
  await addr(lan, 'lan0', `10.77.${net}.1/24`);
  const dir = scope.tempDir('vsw');
  const config = join(dir, 'system.config');
  const socket = join(dir, 'vswitchd.sock');
  writeFileSync(config, [
    '* vswitch benchmark: written by bench/paths.ts, removed after the run',
    `DEFINE VSWITCH BSW RDEV ${up} ${mode}`,
    ...guests.map((g, i) => `DEFINE GUEST G${i + 1} NETNS ${g}`),
    ...guests.map((_, i) => `DEFINE NIC 0600 TYPE QDIO FOR G${i + 1}`),
    ...guests.map((_, i) => `MODIFY VSWITCH BSW GRANT G${i + 1}`),
    ...guests.map((_, i) => `COUPLE 0600 TO SYSTEM BSW FOR G${i + 1}`),
    '',
  ].join('\n'));
  const d = scope.spawn(sw, vswitchd, ['--config', config, '--socket', socket, '--state-dir', join(dir, 'state'),
    '--metrics', `127.0.0.1:${METRICS_PORT}`], { env: { ...process.env, ...(ctx.env ?? {}) } });
  const q = (...words: string[]) => run(cli, ['--socket', socket, ...words], { timeoutMs: 10_000 });
  const tail = () => (d.stderr.trim().split('\n').slice(-5).join(' | ') || '(no output)');
  try {
    await waitFor('vswitchd command socket', 20_000, async () => !d.running || (existsSync(socket) && (await q('Q', 'VSWITCH', 'ALL')).code === 0));
  } catch {
    throw new Error(`vswitchd did not answer: ${tail()}`);
  }
  if (!d.running) throw new Error(`vswitchd exited (${d.child.exitCode}): ${tail()}`);
  // The uplink's control path (addresses become reachable from the LAN once it registers them).
  scope.spawn(sw, join(repoRoot, 'bin/vswitch-controller'), ['--name', 'BENCHCTL', '--socket', socket]);
  const hasNic = async (ns: string) => (await run('ip', ['-n', ns, 'link', 'show', 'dev', 'enc600'])).code === 0;
  try {
    await waitFor('enc600 in every guest', 10_000 + 500 * guestCount, async () => {
      for (const g of guests) if (!(await hasNic(g))) return false;
      return true;
    });
  } catch {
    const sw = await q('Q', 'VSWITCH', 'BSW');
    throw new Error(`guest NICs did not appear: ${(sw.stdout + sw.stderr).trim().split('\n').slice(0, 3).join(' | ')}; daemon: ${tail()}`);
  }
  const guestEnds = guests.map((g, i) => ({ ns: g, dev: 'enc600', ip: `10.77.${net}.${11 + i}` }));
  for (const e of guestEnds) await addr(e.ns, e.dev, `${e.ip}/24`);
  if (family === 6) {
    if (target !== 'guest') throw new Error('the IPv6 rows are guest to guest');
    // Static ULA addresses with DAD (as a guest would): measured once not tentative and in the
    // switch's IPv6 LAN IP table (local only is enough guest to guest).
    for (const e of guestEnds) {
      e.ip = ula(net, 0x11 + guestEnds.indexOf(e));
      await sh('ip', ['-n', e.ns, 'addr', 'add', `${e.ip}/64`, 'dev', e.dev]);
    }
    const ready = async (): Promise<boolean> => {
      for (const e of guestEnds) {
        const j = JSON.parse(await sh('ip', ['-n', e.ns, '-6', '-j', 'addr', 'show', 'dev', e.dev])) as Array<{ addr_info: Array<{ local: string; tentative?: boolean; dadfailed?: boolean }> }>;
        const a = j[0]?.addr_info.find((x) => x.local === e.ip);
        if (a?.dadfailed) throw new Error(`${e.ns}: ${e.ip} is dadfailed`);
        if (!a || a.tentative) return false;
      }
      const r = await q('--json', 'Q', 'VSWITCH', 'BSW', 'DETAILS');
      if (r.code !== 0) return false;
      const t6 = (JSON.parse(r.stdout) as { switches?: Array<{ ipTable6?: Array<{ ip6: string }> }> }).switches?.[0]?.ipTable6 ?? [];
      return guestEnds.every((e) => t6.some((x) => x.ip6 === e.ip));
    };
    try {
      await waitFor('IPv6 addresses not tentative and registered', 30_000, ready, 250);
    } catch (e) {
      throw new Error(`${(e as Error).message}; daemon: ${tail()}`);
    }
  }
  const src = guestEnds[0]!;
  const lanEnd = { ns: lan, dev: 'lan0', ip: `10.77.${net}.1` };
  const topology = target === 'guest' ? { src, dst: guestEnds[1]! } : target === 'lan' ? { src, dst: lanEnd } : { src: lanEnd, dst: src };
  try {
    await waitPing(topology, 20_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}; daemon: ${tail()}`);
  }
  // A trace of the whole switch, open during every measurement (its summary goes into the JSON).
  const tracer = traced ? scope.spawn(null, cli, ['--socket', socket, 'trace', 'BSW', '-w', '/dev/null']) : null;
  if (tracer !== null) {
    try {
      await waitFor('vswitch trace to start', 10_000, async () => !tracer.running || tracer.stderr.includes('Tracing'));
    } catch { /* reported below */ }
    if (!tracer.running) throw new Error(`vswitch trace did not start: ${tracer.stderr.trim()}`);
  }
  let details: unknown;
  const r = await q('--json', 'Q', 'VSWITCH', 'BSW', 'DETAILS');
  if (r.code === 0) { try { details = JSON.parse(r.stdout); } catch { details = r.stdout; } }
  return {
    topology,
    guests: guestEnds,
    probe: probeDaemon(sw, d.pid, METRICS_PORT),
    extra: { daemonPid: d.pid, detailsBefore: details, env: ctx.env ?? {} },
    after: async () => {
      const r2 = await q('--json', 'Q', 'VSWITCH', 'BSW', 'DETAILS');
      let out: Record<string, unknown>;
      try { out = { detailsAfter: JSON.parse(r2.stdout) }; } catch { out = { detailsAfter: r2.stdout || r2.stderr }; }
      if (tracer !== null) {
        await tracer.stop('SIGINT');
        out.trace = tracer.stderr.trim().split('\n').pop(); // "N frames captured, M lost ..."
      }
      return out;
    },
  };
}

const vswitchIp: PathDef = {
  name: 'vswitch-ip', code: 'vi', label: 'vswitch, IP mode, guest to guest', kind: 'vswitch',
  setup: (ctx) => vswitchTopology(ctx, 'IP', 'guest'),
};

const vswitchIp6: PathDef = {
  name: 'vswitch-ip-ipv6', code: 'v6', label: 'vswitch, IP mode, guest to guest, IPv6', kind: 'vswitch', family: 6,
  setup: (ctx) => vswitchTopology(ctx, 'IP', 'guest', false, 2, 6),
};

const vswitchEth: PathDef = {
  name: 'vswitch-eth', code: 've', label: 'vswitch, ETHERNET mode, guest to guest', kind: 'vswitch',
  setup: (ctx) => vswitchTopology(ctx, 'ETHERNET', 'guest'),
};

const vswitchLan: PathDef = {
  name: 'vswitch-lan', code: 'vl', label: 'vswitch, IP mode, guest to LAN (uplink)', kind: 'vswitch',
  setup: (ctx) => vswitchTopology(ctx, 'IP', 'lan'),
};

const vswitchFromLan: PathDef = {
  name: 'vswitch-from-lan', code: 'vf', label: 'vswitch, IP mode, LAN to guest (uplink)', kind: 'vswitch',
  setup: (ctx) => vswitchTopology(ctx, 'IP', 'from-lan'),
};

const vswitchTrace: PathDef = {
  name: 'vswitch-trace', code: 'vt', label: 'vswitch, IP mode, guest to guest, trace open', kind: 'vswitch',
  setup: (ctx) => vswitchTopology(ctx, 'IP', 'guest', true),
};

const router: PathDef = {
  name: 'router', code: 'rt', label: 'guest -> router namespace -> LAN', kind: 'prior',
  async setup(ctx) {
    const { scope, prefix, net } = ctx;
    const g = await scope.netns(`${prefix}a`);
    const r = await scope.netns(`${prefix}r`);
    const lan = await scope.netns(`${prefix}l`);
    await veth(g, 'eth0', r, 'r0');
    await veth(r, 'r1', lan, 'lan0');
    await addr(g, 'eth0', `10.78.${net}.2/24`);
    await addr(r, 'r0', `10.78.${net}.1/24`);
    await addr(r, 'r1', `10.77.${net}.254/24`);
    await addr(lan, 'lan0', `10.77.${net}.1/24`);
    await sh('ip', ['netns', 'exec', r, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await sh('ip', ['-n', g, 'route', 'add', 'default', 'via', `10.78.${net}.1`]);
    await sh('ip', ['-n', lan, 'route', 'add', `10.78.${net}.0/24`, 'via', `10.77.${net}.254`]);
    const t = { src: { ns: g, dev: 'eth0', ip: `10.78.${net}.2` }, dst: { ns: lan, dev: 'lan0', ip: `10.77.${net}.1` } };
    await waitPing(t);
    return { topology: t };
  },
};

/** vswitchd, IP mode, `n` namespace guests on one switch (bench/grow.ts). */
export function vswitchGuests(ctx: PathContext, n: number): Promise<PathSetup> {
  return vswitchTopology(ctx, 'IP', 'guest', false, n);
}

/** Two ETHERNET-mode switches uplink to uplink (bench/l2-pair.ts), VLAN 10 on the wire or untagged. */
async function l2Pair(ctx: PathContext, vlan: boolean): Promise<PathSetup> {
  const { scope, prefix, net, repoRoot } = ctx;
  const g1 = await scope.netns(`${prefix}a`);
  const g2 = await scope.netns(`${prefix}b`);
  const w1 = await scope.netns(`${prefix}s`);
  const w2 = await scope.netns(`${prefix}t`);
  await veth(w1, 'up1', w2, 'up2');
  const p = scope.spawn(null, process.execPath, [join(repoRoot, 'dist/bench/l2-pair.js'), vlan ? 'vlan' : 'plain', g1, g2, w1, w2]);
  await waitFor('the data plane', 20_000, () => p.stdout.includes('ready') || !p.running);
  if (!p.running) throw new Error(`l2-pair exited: ${p.stderr.trim()}`);
  await addr(g1, 'enc600', `10.77.${net}.11/24`);
  await addr(g2, 'enc600', `10.77.${net}.12/24`);
  const topology = { src: { ns: g1, dev: 'enc600', ip: `10.77.${net}.11` }, dst: { ns: g2, dev: 'enc600', ip: `10.77.${net}.12` } };
  await waitPing(topology, 20_000);
  return { topology };
}

const vswitchEthPair: PathDef = {
  name: 'vswitch-eth-pair', code: 'vp', label: 'vswitch data plane, ETHERNET mode, two switches uplink to uplink', kind: 'vswitch',
  setup: (ctx) => l2Pair(ctx, false),
};

const vswitchEthVlan: PathDef = {
  name: 'vswitch-eth-vlan', code: 'vv', label: 'vswitch data plane, ETHERNET mode, two switches, VLAN 10 tagged between them', kind: 'vswitch',
  setup: (ctx) => l2Pair(ctx, true),
};

export const PATHS: PathDef[] = [bridge, vde, ovs, vswitchIp, vswitchEth, vswitchLan, vswitchFromLan, vswitchTrace, router, vswitchEthPair, vswitchEthVlan,
  bridge6, vswitchIp6];

/** Whether `--only` (null: everything) selects the path: by name, or `ipv6` for every IPv6 row. */
export function selects(only: string[] | null, p: PathDef): boolean {
  return only === null || only.includes(p.name) || (p.family === 6 && only.includes('ipv6'));
}
