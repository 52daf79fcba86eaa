/**
 * End to end with libvirt (issue 13): a QEMU TAP guest's NIC is a persistent TAP on the
 * daemon's host, and a domain that libvirt starts from XML holding exactly the `<interface>`
 * element QUERY NIC DETAILS printed runs on it. libvirtd (Debian's 9.0, started by the test:
 * no systemd here) runs in the daemon's network namespace and in a private mount namespace
 * whose /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt
 * are the test's own directories (qemu.conf: user and group root, no cgroup controllers, no
 * namespaces, stdio_handler "file", no security driver), so the host's libvirt is untouched;
 * virsh speaks to it as qemu:///system through that socket. The domain is type 'qemu' (TCG)
 * with the test VM image (test/helpers/vm.ts; kernel, initramfs and serial command protocol,
 * the serial port a unix socket plus a log file).
 *
 * On an IP-mode switch with a namespace guest and a LAN host behind a veth uplink (a controller
 * registers the addresses): the VM pings the namespace guest and the LAN host and sends 10 MB
 * over TCP whose sha256 the receiver checks, and the VM NIC's receive counters show TCP
 * super-frames (more than 1514 bytes a frame: TSO from the guest's virtio-net through the TAP
 * and the AF_PACKET side, unsegmented); the daemon's kill -9 and restart touch neither the TAP
 * nor the VM (same QEMU, same TAP, traffic resumes); `virsh destroy` shows the NIC
 * DISCONNECTED and its address forgotten, a new domain on the TAP connects again; the TAP
 * deleted by someone else while a VM runs takes the port down (counted, logged), the daemon
 * makes the TAP again and the next domain works. Figures are printed as test diagnostics.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab, run, waitFor } from '../helpers/netlab.js';
import type { Daemon } from '../helpers/daemon.js';
import type { Controller } from '../helpers/controller.js';
import { ipModeLab } from '../helpers/ip-lab.js';
import { lanTable } from '../helpers/query.js';
import { receiver } from '../helpers/tcp.js';
import { Vm } from '../helpers/vm.js';

const lab = new NetLab('lv');
const dir = mkdtempSync(join(tmpdir(), 'vswlv-'));
let d: Daemon;
let ctl: Controller;
let libvirtd: ChildProcess | null = null;
let libvirtdLog = '';
let vm: Vm | null = null;
let hostNs: string, g1: string;
const LAN = '10.79.0.1', A = '10.79.0.11', V = '10.79.0.21';
const URI = `qemu:///system?socket=${join(dir, 'run', 'libvirt-sock')}`;
const DOMAIN = `vswtest-lv-${process.pid}`;
let domains = 0;

/** The directories libvirtd gets as its own, mounted over the system ones in its mount namespace. */
const LIBVIRT_DIRS: Array<[string, string]> = [
  ['etc', '/etc/libvirt'], ['run', '/run/libvirt'], ['lib', '/var/lib/libvirt'], ['log', '/var/log/libvirt'], ['cache', '/var/cache/libvirt'],
];

function ok(r: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

function virsh(...args: string[]): { code: number; stdout: string; stderr: string } {
  return run('virsh', ['-c', URI, ...args], { timeoutMs: 60_000 });
}

function secs(ms: number): string { return `${(ms / 1000).toFixed(2)} s`; }

function vmNic(): any {
  return d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1').nics[0];
}

function vmEntry(): { ip: string; guest: string; localOnly: boolean } | undefined {
  return lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').find((e) => e.ip === V);
}

function tapIndex(): number {
  const r = run('ip', ['-n', hostNs, '-j', 'link', 'show', 'dev', 'vm1-0600']);
  return r.code === 0 ? (JSON.parse(r.stdout)[0].ifindex as number) : -1;
}

async function startLibvirtd(): Promise<void> {
  if (run('id', ['libvirt-qemu']).code !== 0) ok(run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'libvirt-qemu']), 'useradd libvirt-qemu');
  const mounts: string[] = [];
  for (const [own, system] of LIBVIRT_DIRS) {
    mkdirSync(join(dir, own), { recursive: true });
    mkdirSync(system, { recursive: true }); // the mount point (empty on the host)
    mounts.push(`mount --bind ${join(dir, own)} ${system}`);
  }
  writeFileSync(join(dir, 'etc', 'qemu.conf'), [
    'user = "root"', 'group = "root"', 'cgroup_controllers = [ ]', 'namespaces = [ ]', 'stdio_handler = "file"',
    'security_driver = "none"', 'remember_owner = 0', '',
  ].join('\n'));
  writeFileSync(join(dir, 'etc', 'libvirtd.conf'), [
    'unix_sock_group = "root"', 'unix_sock_rw_perms = "0770"', 'auth_unix_rw = "none"', 'auth_unix_ro = "none"', 'log_outputs = "3:stderr"', '',
  ].join('\n'));
  const script = `set -e\n${mounts.join('\n')}\nexec libvirtd -f /etc/libvirt/libvirtd.conf\n`;
  libvirtd = spawn('nsenter', [`--net=/run/netns/${hostNs}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  libvirtd.stderr!.setEncoding('utf8').on('data', (s: string) => { libvirtdLog = (libvirtdLog + s).slice(-20_000); });
  const up = await waitFor(() => libvirtd!.exitCode === null && virsh('version').code === 0, 30_000, 200);
  assert.ok(up, `libvirtd did not answer: ${libvirtdLog.slice(-3000)}`);
}

/** A domain from XML with `iface` as its NIC; returns the handle on its serial console. */
async function createDomain(iface: string, ip: string): Promise<Vm> {
  const img = await Vm.image();
  const n = ++domains;
  const serial = join(dir, `serial${n}.sock`);
  const consoleLog = join(dir, `console${n}.log`);
  const xml = `<domain type='qemu'>
  <name>${DOMAIN}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>${img.kernel}</kernel><initrd>${img.initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 vsw.ip=${ip}/24 vsw.hostname=lv${n}</cmdline></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    ${iface}
    <serial type='unix'><source mode='bind' path='${serial}'/><log file='${consoleLog}' append='off'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
`;
  const file = join(dir, `domain${n}.xml`);
  writeFileSync(file, xml);
  ok(virsh('create', file), 'virsh create');
  return Vm.attach({ name: `${DOMAIN}#${n}`, socket: serial, consoleLog, kill: () => { spawnSync('virsh', ['-c', URI, 'destroy', DOMAIN]); } });
}

before(async () => {
  await Vm.image();
  ({ d, ctl, hostNs, g1 } = await ipModeLab(lab, { lan: LAN, guest: A }));
  d.commands(['DEFINE GUEST VM1 QEMU TAP', 'DEFINE NIC 0600 FOR VM1', 'SET VSWITCH SW1 GRANT VM1', 'COUPLE 0600 TO SYSTEM SW1 FOR VM1']);
  await startLibvirtd();
});

after(async () => {
  try {
    await vm?.shutdown();
    virsh('destroy', DOMAIN);
    if (libvirtd && libvirtd.exitCode === null) {
      const gone = new Promise((r) => libvirtd!.once('exit', r));
      libvirtd.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      libvirtd.kill('SIGKILL');
    }
    await ctl?.stop();
    await d?.stop();
  } finally {
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('QUERY NIC DETAILS prints the QEMU arguments and the libvirt <interface> element of the host TAP', () => {
  const nic = vmNic();
  assert.equal(nic.transport, 'TAP');
  assert.deepEqual(nic.tap, { name: 'vm1-0600', netns: null });
  assert.equal(nic.qemu.vhost, false, 'no /dev/vhost-net on these machines');
  assert.deepEqual(nic.qemu.args, ['-netdev', 'tap,id=nic0600,ifname=vm1-0600,script=no,downscript=no', '-device', `virtio-net-pci,mac=${nic.mac},netdev=nic0600`]);
  assert.equal(nic.qemu.libvirt, `<interface type='ethernet'><mac address='${nic.mac}'/><target dev='vm1-0600' managed='no'/><model type='virtio'/><driver name='qemu'/></interface>`);
  assert.equal(nic.qemu.state, 'DISCONNECTED: no QEMU has TAP vm1-0600 open');
  const text = ok(d.cli('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1'), 'Q NIC DETAILS');
  assert.ok(text.includes(`  libvirt: ${nic.qemu.libvirt}\n`), text);
  assert.ok(text.includes(`  QEMU arguments: ${nic.qemu.args.join(' ')}\n`), text);
  const link = ok(run('ip', ['-n', hostNs, '-d', 'link', 'show', 'dev', 'vm1-0600']), 'ip link');
  assert.match(link, /NOARP,UP/);
  assert.match(link, /tun type tap pi off vnet_hdr on persist on/);
});

test('libvirt starts a domain with the printed element; the VM pings the guest and the LAN host and sends 10 MB in TCP super-frames', { timeout: 300_000 }, async (t) => {
  const nic = vmNic();
  const t0 = Date.now();
  vm = await createDomain(nic.qemu.libvirt, V);
  t.diagnostic(`virsh create to VM ready: ${secs(Date.now() - t0)}`);
  assert.equal((await vm.run('cat /sys/class/net/eth0/address')).output, `${nic.mac}\n`, 'the VM has the NIC\'s MAC');
  assert.ok(await waitFor(() => vmNic().qemu.state === 'CONNECTED: QEMU has TAP vm1-0600 open', 5000), vmNic().qemu.state);
  const p = await vm.run(`ping -c 3 -W 5 ${A}`, 60_000);
  assert.equal(p.code, 0, p.output);
  assert.equal(vmEntry()?.guest, 'VM1', 'the VM\'s address is registered on first use');
  assert.ok(await waitFor(() => vmEntry()?.localOnly === false, 10_000), 'registered with the uplink');
  const l = await vm.run(`ping -c 3 -W 5 ${LAN}`, 60_000);
  assert.equal(l.code, 0, l.output);
  t.diagnostic(`VM -> guest rtt ${/min\/avg\/max = ([\d./]+) ms/.exec(p.output)?.[1]} ms; VM -> LAN rtt ${/min\/avg\/max = ([\d./]+) ms/.exec(l.output)?.[1]} ms`);

  const mk = await vm.run('dd if=/dev/urandom of=/tmp/data bs=1M count=10 2>/dev/null && sha256sum /tmp/data', 120_000);
  assert.equal(mk.code, 0, mk.output);
  const sent = mk.output.split(/\s+/)[0];
  const before = vmNic().counters;
  const rx = await receiver(lab, g1, A, 5001);
  const t1 = Date.now();
  const send = await vm.run(`nc ${A} 5001 < /tmp/data`, 180_000);
  assert.equal(send.code, 0, send.output);
  const got = await rx.received;
  const ms = Date.now() - t1;
  assert.deepEqual(got, { bytes: 10 << 20, sha256: sent }, 'what arrived, and its sha256');
  const after = vmNic().counters;
  const frames = after.rxFrames - before.rxFrames;
  const perFrame = (after.rxBytes - before.rxBytes) / frames;
  assert.ok(perFrame > 1514, `TSO super-frames from the guest reach the switch whole: ${perFrame.toFixed(0)} bytes a frame over ${frames} frames`);
  t.diagnostic(`10 MB VM -> guest in ${secs(ms)} (${(((10 << 20) * 8) / (ms / 1000) / 1e6).toFixed(0)} Mbit/s), ${frames} frames of ${perFrame.toFixed(0)} bytes on average, sha256 matches`);
});

test('kill -9 and restart of the daemon touch neither the TAP nor the VM', { timeout: 120_000 }, async (t) => {
  assert.ok(vm, 'VM running');
  const index = tapIndex();
  const pid = Number(ok(virsh('domid', DOMAIN), 'domid').trim());
  const up0 = Number((await vm!.run('cut -d" " -f1 /proc/uptime')).output);
  await d.kill9();
  assert.equal(tapIndex(), index, 'the TAP stays while the daemon is down');
  const t0 = Date.now();
  await d.start();
  assert.ok(await waitFor(() => vmNic().qemu.state === 'CONNECTED: QEMU has TAP vm1-0600 open' && vmNic().port !== null, 10_000), vmNic().qemu.state);
  const p = await vm!.run(`ping -c 5 -i 0.5 -W 5 ${A}`, 60_000);
  assert.equal(p.code, 0, p.output);
  t.diagnostic(`daemon start to the first echo: ${secs(Date.now() - t0)}; ${/(\d+) packets received/.exec(p.output)?.[1]}/5 replies`);
  assert.equal(tapIndex(), index, 'the same TAP');
  assert.equal(Number(ok(virsh('domid', DOMAIN), 'domid').trim()), pid, 'the same domain');
  const up1 = Number((await vm!.run('cut -d" " -f1 /proc/uptime')).output);
  assert.ok(up1 > up0, 'the VM kept running');
});

test('QEMU gone: the NIC shows DISCONNECTED and forgets the address; a new domain on the TAP connects again', { timeout: 180_000 }, async () => {
  assert.ok(vm, 'VM running');
  await vm!.shutdown(); // virsh destroy
  vm = null;
  assert.ok(await waitFor(() => vmNic().qemu.state === 'DISCONNECTED: no QEMU has TAP vm1-0600 open', 5000), vmNic().qemu.state);
  assert.ok(await waitFor(() => vmEntry() === undefined, 5000), 'the address left the LAN IP table');
  assert.ok(await waitFor(() => d.stderr.includes('QEMU closed the host TAP: NIC disconnected'), 3000), 'logged');
  vm = await createDomain(vmNic().qemu.libvirt, V);
  assert.ok(await waitFor(() => vmNic().qemu.state === 'CONNECTED: QEMU has TAP vm1-0600 open', 5000), vmNic().qemu.state);
  const p = await vm.run(`ping -c 3 -W 5 ${A}`, 60_000);
  assert.equal(p.code, 0, p.output);
});

test('the TAP deleted under a running VM: port down, counted and logged; the TAP is made again and the next domain works', { timeout: 180_000 }, async () => {
  assert.ok(vm, 'VM running');
  const index = tapIndex();
  ok(run('ip', ['-n', hostNs, 'link', 'del', 'vm1-0600']), 'ip link del');
  assert.ok(await waitFor(() => vmNic().qemu.tapDowns === 1, 5000), JSON.stringify(vmNic().qemu));
  assert.match(vmNic().qemu.lastDown, /^TAP deleted/);
  assert.ok(await waitFor(() => /"reason":"TAP deleted[^"]*","downs":1,"msg":"host TAP NIC port down; making the TAP again"/.test(d.stderr), 3000), 'logged');
  assert.ok(await waitFor(() => tapIndex() > 0 && tapIndex() !== index && vmNic().port !== null, 5000), 'a new TAP and port');
  assert.match(ok(d.cli('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1'), 'Q NIC'), /TAP lost: 1 times, last: TAP deleted/);
  const dead = await vm!.run(`ping -c 1 -W 2 ${A}`, 20_000);
  assert.notEqual(dead.code, 0, 'the old QEMU\'s TAP is gone with its traffic');
  await vm!.shutdown();
  vm = await createDomain(vmNic().qemu.libvirt, V);
  assert.ok(await waitFor(() => vmNic().qemu.state === 'CONNECTED: QEMU has TAP vm1-0600 open', 5000), vmNic().qemu.state);
  const p = await vm.run(`ping -c 3 -W 5 ${A}`, 60_000);
  assert.equal(p.code, 0, p.output);
});
