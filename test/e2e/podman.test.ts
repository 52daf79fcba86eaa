/**
 * End to end with podman (issue 13): Debian's podman 4.3 runs containers on a network whose
 * only plugin is bin/vswitch-cni (installed as `vswitch` in a plugin directory of the test's,
 * a symbolic link) with host-local IPAM from /usr/lib/cni, through an IP-mode switch whose
 * uplink reaches a LAN host namespace (a controller registers the addresses with the uplink).
 *
 * Podman runs as these machines need it (ARCHITECTURE.md section 11): `--runtime runc
 * --cgroup-manager cgroupfs`, a private containers.conf (CNI network backend, the test's plugin
 * and network directories, `default_ulimits = []`, file events) and storage.conf (vfs, in the
 * test's directory) through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF, so the host's podman
 * configuration is untouched; containers run from a busybox root filesystem (`--rootfs`, no
 * image pulls) that is built once and cached in /var/cache/vswitch-podman.
 *
 * Two containers get addresses and routes from the plugin, each is a guest of the switch named
 * after its container id; one pings the other and the LAN host, the LAN host pings it; `podman
 * rm` runs DEL, and the NIC is gone from QUERY VSWITCH (and its address from the LAN IP table).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab, run, waitFor } from '../helpers/netlab.js';
import { ROOT, type Daemon } from '../helpers/daemon.js';
import type { Controller } from '../helpers/controller.js';
import { ipModeLab } from '../helpers/ip-lab.js';
import { lanTable } from '../helpers/query.js';
import { candidateUserid } from '../../src/cni/attachments.js';

const lab = new NetLab('pm');
const dir = mkdtempSync(join(tmpdir(), 'vswpod-'));
const ROOTFS_CACHE = '/var/cache/vswitch-podman';
const LAN = '10.96.0.1';
let d: Daemon;
let ctl: Controller;
let rootfs: string;
const env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };

function podman(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = run('env', [`CONTAINERS_CONF=${env.CONTAINERS_CONF}`, `CONTAINERS_STORAGE_CONF=${env.CONTAINERS_STORAGE_CONF}`,
    'podman', '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', ...args], { timeoutMs: 120_000 });
  return r;
}

function ok(r: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A busybox root filesystem: the static binary and a link per applet; built once per busybox. */
function busyboxRootfs(): string {
  const bin = readFileSync('/bin/busybox');
  const stamp = createHash('sha256').update(bin).digest('hex').slice(0, 16);
  const root = join(ROOTFS_CACHE, `rootfs-${stamp}`);
  if (existsSync(join(root, 'bin', 'sh'))) return root;
  mkdirSync(ROOTFS_CACHE, { recursive: true });
  const tmp = mkdtempSync(join(ROOTFS_CACHE, '.build-'));
  for (const sub of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'run']) mkdirSync(join(tmp, sub));
  writeFileSync(join(tmp, 'bin', 'busybox'), bin, { mode: 0o755 });
  for (const applet of ok(run('/bin/busybox', ['--list']), 'busybox --list').split('\n').filter((a) => a !== '' && a !== 'busybox')) {
    symlinkSync('busybox', join(tmp, 'bin', applet));
  }
  writeFileSync(join(tmp, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(join(tmp, 'etc', 'group'), 'root:x:0:\n');
  try {
    renameSync(tmp, root);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // built concurrently by someone else
  }
  return root;
}

/** The container's IPv4 address on eth0, as it sees it. */
function containerIp(name: string): string {
  const out = ok(podman('exec', name, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'), `ip addr in ${name}`);
  const m = /inet (\d+\.\d+\.\d+\.\d+)\/24/.exec(out);
  assert.ok(m, out);
  return m![1];
}

function containerId(name: string): string {
  return ok(podman('inspect', '--format', '{{.Id}}', name), 'podman inspect').trim();
}

function coupled(): string[] {
  return (d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].nics as Array<{ guest: string }>).map((n) => n.guest);
}

before(async () => {
  rootfs = busyboxRootfs();
  ({ d, ctl } = await ipModeLab(lab, { lan: LAN }));
  for (const sub of ['cni-bin', 'net.d', 'storage', 'run', 'tmp']) mkdirSync(join(dir, sub));
  symlinkSync(join(ROOT, 'bin', 'vswitch-cni'), join(dir, 'cni-bin', 'vswitch'));
  writeFileSync(env.CONTAINERS_CONF, [
    '[containers]', 'default_ulimits = []',
    '[network]', 'network_backend = "cni"', `cni_plugin_dirs = ["${join(dir, 'cni-bin')}", "/usr/lib/cni"]`, `network_config_dir = "${join(dir, 'net.d')}"`,
    '[engine]', 'runtime = "runc"', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"', `events_logfile_path = "${join(dir, 'events.log')}"`, `tmp_dir = "${join(dir, 'tmp')}"`, '',
  ].join('\n'));
  writeFileSync(env.CONTAINERS_STORAGE_CONF, ['[storage]', 'driver = "vfs"', `runroot = "${join(dir, 'run')}"`, `graphroot = "${join(dir, 'storage')}"`, ''].join('\n'));
  writeFileSync(join(dir, 'net.d', 'vswnet.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: 'vswnet',
    plugins: [{
      type: 'vswitch', vswitch: 'SW1', socket: d.socket, dataDir: join(dir, 'cni-data'),
      ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.96.0.0/24', gateway: LAN, rangeStart: '10.96.0.100' }]], routes: [{ dst: '0.0.0.0/0' }] },
    }],
  }));
});

after(async () => {
  try {
    podman('rm', '-f', '-a');
    await ctl?.stop();
    await d?.stop();
  } finally {
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('podman lists the network; two containers on it ping each other and the LAN host; podman rm runs DEL', { timeout: 240_000 }, async (t) => {
  assert.match(ok(podman('network', 'ls', '--format', '{{.Name}} {{.Driver}}'), 'network ls'), /^vswnet vswitch$/m);
  const t0 = Date.now();
  for (const name of ['c1', 'c2']) ok(podman('run', '-d', '--name', name, '--network', 'vswnet', '--rootfs', rootfs, 'sleep', '600'), `podman run ${name}`);
  t.diagnostic(`two containers started in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
  const ip1 = containerIp('c1');
  const ip2 = containerIp('c2');
  const g1 = candidateUserid(containerId('c1'), 0);
  const g2 = candidateUserid(containerId('c2'), 0);
  assert.deepEqual(coupled().sort(), [g1, g2].sort(), 'both containers are guests coupled to SW1');
  assert.match(ok(podman('exec', 'c1', 'ip', 'route'), 'ip route'), new RegExp(`^default via ${LAN} dev eth0`, 'm'));
  assert.ok(await waitFor(() => {
    const table = lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1');
    return [ip1, ip2].every((ip) => table.some((e) => e.ip === ip && !e.localOnly));
  }, 10_000), 'both addresses registered with the uplink');
  const p = podman('exec', 'c1', 'ping', '-c', '3', '-W', '3', ip2);
  assert.equal(p.code, 0, `c1 -> c2: ${p.stdout}${p.stderr}`);
  const l = podman('exec', 'c1', 'ping', '-c', '3', '-W', '3', LAN);
  assert.equal(l.code, 0, `c1 -> LAN: ${l.stdout}${l.stderr}`);
  assert.equal(lab.exec(lab.name('l'), 'ping', ['-c', '2', '-i', '0.3', '-W', '3', ip2]).code, 0, 'the LAN host reaches c2');
  t.diagnostic(`c1 ${ip1} (${g1}) -> c2 ${ip2} (${g2}): ${/min\/avg\/max = ([\d./]+) ms/.exec(p.stdout)?.[1]} ms; -> LAN ${/min\/avg\/max = ([\d./]+) ms/.exec(l.stdout)?.[1]} ms`);

  ok(podman('rm', '-f', 'c1'), 'podman rm c1');
  assert.ok(await waitFor(() => !coupled().includes(g1), 5000), 'the NIC of c1 is gone from QUERY VSWITCH');
  assert.ok(!lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').some((e) => e.ip === ip1), 'and its address from the LAN IP table');
  assert.ok(!(d.json('QUERY', 'GUEST', 'ALL').guests as Array<{ userid: string }>).some((g) => g.userid === g1), 'the guest is gone');
  assert.deepEqual(coupled(), [g2], 'c2 stays');
  ok(podman('stop', '-t', '0', 'c2'), 'podman stop c2');
  ok(podman('rm', 'c2'), 'podman rm c2');
  assert.ok(await waitFor(() => coupled().length === 0, 5000), `no NIC left: ${coupled()}`);
});
