/**
 * The VXLAN rows of `npm run bench` (issue 15), measured in the same run as the others
 * (bench/run.ts adds them to its paths):
 *
 *   kernel-vxlan   two namespaces, each with the kernel's own vxlan device (VNI 42, nolearning,
 *                  the peer's VTEP as the flood entry) on a veth underlay: the kernel's VXLAN path
 *   vswitch-vxlan  guest to guest across two cluster members over VXLAN: member namespaces M1
 *                  and M2, each a vswitchd (--cluster, --vtep) with an IP-mode switch defined
 *                  `RDEV NONE IP VXLAN 4242` and one namespace guest, VTEPs on a veth underlay,
 *                  a one-member etcd on M1's underlay address (the store is not in the data
 *                  path; one member is enough for the figures)
 *
 * Both underlays have MTU 1600 (the overlays keep MTU 1500). Each setup builds everything in
 * the scope it is given (closing it removes all) and returns the two endpoints; a path that
 * cannot run here throws the reason (the row is n/a).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sh, sleep, waitFor, type Proc } from './lib.js';
import { pingOnce, type Topology } from './measure.js';
import { probeDaemon } from './cost.js';
import type { PathContext, PathDef, PathSetup } from './paths.js';

const METRICS_PORT = 9464;

async function veth(nsA: string, a: string, nsB: string, b: string, mtu: number): Promise<void> {
  await sh('ip', ['-n', nsA, 'link', 'add', a, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', b, 'mtu', String(mtu), 'netns', nsB]);
  await sh('ip', ['-n', nsA, 'link', 'set', a, 'up']);
  await sh('ip', ['-n', nsB, 'link', 'set', b, 'up']);
}

async function waitPing(t: Topology, timeoutMs: number, why: () => string = () => ''): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pingOnce(t.src, t.dst.ip)) return;
    await sleep(300);
  }
  throw new Error(`no ping from ${t.src.ns} (${t.src.ip}) to ${t.dst.ip} within ${timeoutMs} ms${why()}`);
}

/** The kernel's VXLAN between two namespaces. */
async function kernelVxlan(ctx: PathContext): Promise<PathSetup> {
  const { scope, prefix, net } = ctx;
  const a = await scope.netns(`${prefix}a`);
  const b = await scope.netns(`${prefix}b`);
  await veth(a, 'ul0', b, 'ul0', 1600);
  const ends = [{ ns: a, vtep: `10.79.${net}.1`, peer: `10.79.${net}.2`, ip: `10.77.${net}.1` },
    { ns: b, vtep: `10.79.${net}.2`, peer: `10.79.${net}.1`, ip: `10.77.${net}.2` }];
  for (const e of ends) {
    await sh('ip', ['-n', e.ns, 'addr', 'add', `${e.vtep}/24`, 'dev', 'ul0']);
    await sh('ip', ['-n', e.ns, 'link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', 'dstport', '4789', 'nolearning', 'local', e.vtep]);
    await sh('ip', ['netns', 'exec', e.ns, 'bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vx0', 'dst', e.peer]);
    await sh('ip', ['-n', e.ns, 'addr', 'add', `${e.ip}/24`, 'dev', 'vx0']);
    await sh('ip', ['-n', e.ns, 'link', 'set', 'vx0', 'up']);
  }
  const t = { src: { ns: a, dev: 'vx0', ip: ends[0]!.ip }, dst: { ns: b, dev: 'vx0', ip: ends[1]!.ip } };
  await waitPing(t, 15_000);
  return { topology: t };
}

/** Two vswitchd members over VXLAN, a guest on each. */
async function vswitchVxlan(ctx: PathContext): Promise<PathSetup> {
  const { scope, prefix, net, repoRoot } = ctx;
  const vswitchd = join(repoRoot, 'bin/vswitchd');
  const cli = join(repoRoot, 'bin/vswitch');
  if (!existsSync(vswitchd) || !existsSync(cli)) throw new Error('bin/vswitchd or bin/vswitch does not exist yet');
  if (!existsSync('/usr/bin/etcd')) throw new Error('no /usr/bin/etcd (Debian etcd-server; scripts/setup.sh installs it)');
  const h = [await scope.netns(`${prefix}s`), await scope.netns(`${prefix}t`)];
  const g = [await scope.netns(`${prefix}a`), await scope.netns(`${prefix}b`)];
  await veth(h[0]!, 'ul0', h[1]!, 'ul0', 1600);
  const vtep = [`10.79.${net}.1`, `10.79.${net}.2`];
  for (let i = 0; i < 2; i++) await sh('ip', ['-n', h[i]!, 'addr', 'add', `${vtep[i]}/24`, 'dev', 'ul0']);
  const dir = scope.tempDir('vxl');
  const url = `http://${vtep[0]}:2379`;
  const etcd = scope.spawn(h[0]!, '/usr/bin/etcd', ['--name', 'b', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', `http://${vtep[0]}:2380`, '--initial-advertise-peer-urls', `http://${vtep[0]}:2380`,
    '--initial-cluster', `b=http://${vtep[0]}:2380`, '--initial-cluster-state', 'new', '--log-level', 'warn', '--logger', 'zap']);
  await waitFor('etcd healthy', 30_000, async () => {
    if (!etcd.running) throw new Error(`etcd exited: ${etcd.stderr.trim().slice(-300)}`);
    const r = await run('ip', ['netns', 'exec', h[0]!, 'env', 'ETCDCTL_API=3', '/usr/bin/etcdctl', `--endpoints=${url}`, 'endpoint', 'health'], { timeoutMs: 10_000 });
    return r.code === 0;
  }, 300);
  const daemons: Proc[] = [];
  const sockets: string[] = [];
  for (let i = 0; i < 2; i++) {
    const member = `M${i + 1}`;
    const config = join(dir, `${member}.config`);
    const socket = join(dir, `${member}.sock`);
    sockets.push(socket);
    writeFileSync(config, [
      '* vswitch benchmark (bench/vxlan.ts): one member of two, removed after the run',
      `VMLAN MACPREFIX 02C00${i + 1}`,
      'DEFINE VSWITCH BSW RDEV NONE IP VXLAN 4242',
      `DEFINE GUEST G${i + 1} NETNS ${g[i]}`,
      `DEFINE NIC 0600 TYPE QDIO FOR G${i + 1}`,
      `MODIFY VSWITCH BSW GRANT G${i + 1}`,
      `COUPLE 0600 TO SYSTEM BSW FOR G${i + 1}`,
      '',
    ].join('\n'));
    daemons.push(scope.spawn(h[i]!, vswitchd, ['--config', config, '--socket', socket, '--state-dir', join(dir, `${member}-state`),
      '--cluster', url, '--member', member, '--vtep', vtep[i]!, '--metrics', `127.0.0.1:${METRICS_PORT}`], { env: { ...process.env, ...(ctx.env ?? {}) } }));
  }
  const tail = () => `; M1: ${daemons[0]!.stderr.trim().split('\n').slice(-3).join(' | ')}; M2: ${daemons[1]!.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  const q = (i: number, ...words: string[]) => run(cli, ['--socket', sockets[i]!, ...words], { timeoutMs: 10_000 });
  try {
    await waitFor('both members answer with their guest NIC', 30_000, async () => {
      for (let i = 0; i < 2; i++) {
        if (!daemons[i]!.running) throw new Error(`vswitchd M${i + 1} exited`);
        if ((await q(i, 'Q', 'VSWITCH', 'ALL')).code !== 0) return false;
        if ((await run('ip', ['-n', g[i]!, 'link', 'show', 'dev', 'enc600'])).code !== 0) return false;
      }
      return true;
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}${tail()}`);
  }
  const ends = g.map((ns, i) => ({ ns, dev: 'enc600', ip: `10.77.${net}.${11 + i}` }));
  for (const e of ends) {
    await sh('ip', ['-n', e.ns, 'addr', 'add', `${e.ip}/24`, 'dev', e.dev]);
    await sh('ip', ['-n', e.ns, 'link', 'set', e.dev, 'up']);
  }
  const topology = { src: ends[0]!, dst: ends[1]! };
  await waitPing(topology, 45_000, tail);
  let details: unknown;
  const r = await q(0, '--json', 'Q', 'VSWITCH', 'BSW', 'DETAILS');
  if (r.code === 0) { try { details = JSON.parse(r.stdout); } catch { details = r.stdout; } }
  return {
    topology,
    guests: ends,
    probe: probeDaemon(h[0]!, daemons[0]!.pid, METRICS_PORT),
    extra: { daemonPids: daemons.map((d) => d.pid), detailsBefore: details, env: ctx.env ?? {} },
    after: async () => {
      const r2 = await q(0, '--json', 'Q', 'VSWITCH', 'BSW', 'DETAILS');
      try { return { detailsAfter: JSON.parse(r2.stdout) }; } catch { return { detailsAfter: r2.stdout || r2.stderr }; }
    },
  };
}

export const VXLAN_PATHS: PathDef[] = [
  { name: 'kernel-vxlan', code: 'kx', label: 'Linux VXLAN between two namespaces (kernel, veth underlay)', kind: 'kernel', setup: kernelVxlan },
  { name: 'vswitch-vxlan', code: 'vx', label: 'vswitch, IP mode, guest to guest across two members over VXLAN', kind: 'vswitch', setup: vswitchVxlan },
];
