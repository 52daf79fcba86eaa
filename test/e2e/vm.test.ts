/**
 * End to end with a real VM (issue 4): a Linux VM in QEMU (TCG; test/helpers/vm.ts) whose NIC
 * uses exactly the arguments the daemon printed in QUERY NIC DETAILS, on an IP-mode switch with
 * a namespace guest and a LAN host namespace behind a veth uplink (as in ip-mode.test.ts, with
 * a controller registering the addresses). The VM's address is registered when it first uses
 * it; the VM pings the namespace guest and the LAN host; 10 MB go VM -> namespace guest over
 * TCP with the same sha256; then the daemon is killed (-9) and started again on the same state
 * directory, and the VM's traffic resumes without anything done to the VM (same QEMU process,
 * its uptime goes on): the daemon reconnects to QEMU's listening socket by itself. Last, a
 * second VM on a DGRAM guest (`-netdev dgram`, again with the printed arguments) pings the
 * namespace guest and the first VM, and DETACH NIC takes its address out of the table.
 * Figures (boot, ping, transfer, resume) are printed as test diagnostics.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab, waitFor } from '../helpers/netlab.js';
import type { Daemon } from '../helpers/daemon.js';
import type { Controller } from '../helpers/controller.js';
import { ipModeLab } from '../helpers/ip-lab.js';
import { lanTable } from '../helpers/query.js';
import { Vm } from '../helpers/vm.js';

const lab = new NetLab('vq');
let d: Daemon;
let ctl: Controller;
let vm: Vm | null = null;
let hostNs: string, lanNs: string, g1: string;
const LAN = '10.78.0.1', A = '10.78.0.11', V = '10.78.0.21';
let vmMac = '';

function ok(r: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

function secs(ms: number): string { return `${(ms / 1000).toFixed(2)} s`; }

function vmNic(): any {
  return d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1').nics[0];
}

function vmEntry(): { ip: string; guest: string; localOnly: boolean } | undefined {
  return lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').find((e) => e.ip === V);
}

before(async () => {
  await Vm.image(); // build (or reuse) the kernel and initramfs once, before any timing
  ({ d, ctl, hostNs, lanNs, g1 } = await ipModeLab(lab, { lan: LAN, guest: A }));
  d.commands([
    'DEFINE GUEST VM1 QEMU',
    'DEFINE NIC 0600 TYPE QDIO FOR VM1',
    'SET VSWITCH SW1 GRANT VM1', 'COUPLE 0600 TO SYSTEM SW1 FOR VM1',
  ]);
});

after(async () => {
  try {
    await vm?.shutdown();
    await ctl?.stop();
    await d?.stop();
  } finally {
    lab.cleanup();
  }
});

test('the VM boots with the QEMU arguments QUERY NIC DETAILS printed, and the daemon connects to it', { timeout: 240_000 }, async (t) => {
  const nic = vmNic();
  vmMac = nic.mac;
  assert.equal(nic.transport, 'STREAM');
  assert.match(nic.qemu.state, /^WAITING FOR QEMU at \//, 'no QEMU yet');
  // The text form a user copies: the same words as the JSON form.
  const text = ok(d.cli('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1'), 'Q NIC DETAILS');
  const line = text.split('\n').find((l) => l.startsWith('  QEMU arguments: '));
  assert.ok(line, text);
  const words = line!.slice('  QEMU arguments: '.length).split(' ');
  assert.ok(!line!.includes("'"), 'no shell quoting needed for these paths');
  assert.deepEqual(words, nic.qemu.args);
  assert.deepEqual(words.slice(0, 1), ['-netdev']);
  assert.match(words[3], new RegExp(`mac=${nic.mac},`));
  t.diagnostic(`QEMU arguments: ${words.join(' ')}`);

  vm = await Vm.boot({ name: `vswtest-vm1-${process.pid}`, netdevArgs: [], deviceArgs: [], extraArgs: words, cmdline: `vsw.ip=${V}/24 vsw.hostname=vm1` });
  t.diagnostic(`VM boot to ready: ${secs(vm.bootMs)}`);
  const mac = await vm.run('cat /sys/class/net/eth0/address');
  assert.deepEqual(mac, { code: 0, output: `${nic.mac}\n` }, 'the VM has the NIC\'s MAC');
  const connected = await waitFor(() => vmNic().qemu.state.startsWith('CONNECTED to QEMU at '), 5000);
  assert.ok(connected, `state: ${vmNic().qemu.state}`);
});

test('the VM pings the namespace guest (its address is registered on first use) and the LAN host', { timeout: 120_000 }, async (t) => {
  assert.ok(vm, 'VM booted');
  const t0 = Date.now();
  const p = await vm!.run(`ping -c 3 -W 5 ${A}`, 60_000);
  assert.equal(p.code, 0, p.output);
  const rtt = /min\/avg\/max = ([\d./]+) ms/.exec(p.output)?.[1] ?? '?';
  t.diagnostic(`VM -> namespace guest: ${/(\d+) packets received/.exec(p.output)?.[1]}/3 replies in ${secs(Date.now() - t0)}, rtt min/avg/max ${rtt} ms`);
  const e = vmEntry();
  assert.ok(e, 'the VM address is in the LAN IP table');
  assert.equal(e!.guest, 'VM1');
  assert.deepEqual(vmNic().addresses.map((a: { ip: string }) => a.ip), [V]);
  // The controller registers it with the uplink; then the LAN reaches it.
  assert.ok(await waitFor(() => vmEntry()?.localOnly === false, 10_000), 'registered with the uplink');
  const l = await vm!.run(`ping -c 3 -W 5 ${LAN}`, 60_000);
  assert.equal(l.code, 0, l.output);
  t.diagnostic(`VM -> LAN host: rtt min/avg/max ${/min\/avg\/max = ([\d./]+) ms/.exec(l.output)?.[1]} ms`);
  assert.equal(lab.exec(lanNs, 'ping', ['-c', '2', '-i', '0.3', '-W', '3', V]).code, 0, 'the LAN host pings the VM');
  assert.equal(lab.exec(g1, 'ping', ['-c', '2', '-i', '0.3', '-W', '3', V]).code, 0, 'the namespace guest pings the VM');
});

const RECEIVER = `
const net = require('node:net'); const crypto = require('node:crypto');
const srv = net.createServer((s) => { const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex') }) + '\\n'); s.end(); srv.close(); }); });
srv.listen(Number(process.argv[1]), process.argv[2], () => process.stdout.write('listening\\n'));
setTimeout(() => { process.stderr.write('receiver timeout\\n'); process.exit(3); }, 170000);
`;

test('10 MB over TCP from the VM to the namespace guest arrive with the same sha256', { timeout: 240_000 }, async (t) => {
  assert.ok(vm, 'VM booted');
  const mk = await vm!.run('dd if=/dev/urandom of=/tmp/data bs=1M count=10 2>/dev/null && sha256sum /tmp/data && wc -c < /tmp/data', 120_000);
  assert.equal(mk.code, 0, mk.output);
  const sent = mk.output.split(/\s+/)[0];
  assert.match(sent, /^[0-9a-f]{64}$/);
  const rx = lab.spawn(g1, process.execPath, ['-e', RECEIVER, '5001', A]);
  let out = '';
  rx.stdout!.setEncoding('utf8');
  rx.stdout!.on('data', (s: string) => { out += s; });
  assert.ok(await waitFor(() => out.includes('listening'), 10_000), 'receiver listening');
  const t0 = Date.now();
  const send = await vm!.run(`nc ${A} 5001 < /tmp/data`, 180_000);
  const ms = Date.now() - t0;
  assert.equal(send.code, 0, send.output);
  const line = await waitFor(() => out.split('\n').find((l) => l.startsWith('{')), 10_000);
  assert.ok(line, `receiver: ${out}`);
  const r = JSON.parse(line!);
  assert.equal(r.bytes, 10 << 20, 'received size');
  assert.equal(r.sha256, sent, 'sha256 of what arrived');
  t.diagnostic(`10 MB VM -> namespace guest in ${secs(ms)} (${(((10 << 20) * 8) / (ms / 1000) / 1e6).toFixed(0)} Mbit/s), sha256 ${sent.slice(0, 16)}... matches`);
});

test('kill -9 and restart of the daemon: the VM traffic resumes without touching the VM', { timeout: 180_000 }, async (t) => {
  assert.ok(vm, 'VM booted');
  const pid = vm!.pid;
  const up0 = Number((await vm!.run('cut -d" " -f1 /proc/uptime')).output);
  await d.kill9();
  const down = await vm!.run(`ping -c 1 -W 1 ${A}`, 10_000);
  assert.notEqual(down.code, 0, 'no traffic while the daemon is down');
  const t0 = Date.now();
  await d.start();
  assert.ok(await waitFor(() => vmNic().qemu.state.startsWith('CONNECTED to QEMU at '), 10_000), `state: ${vmNic().qemu.state}`);
  const reconnectMs = Date.now() - t0;
  // The VM knows nothing of the restart: it just sends; its address is registered again on use.
  const p = await vm!.run(`ping -c 5 -i 0.5 -W 5 ${A}`, 60_000);
  assert.equal(p.code, 0, p.output);
  const got = Number(/(\d+) packets received/.exec(p.output)?.[1] ?? 0);
  assert.ok(got >= 4, `at most the first echo is lost while the address is registered again: ${p.output}`);
  assert.equal(vmEntry()?.guest, 'VM1');
  assert.ok(await waitFor(() => vmEntry()?.localOnly === false, 15_000), 'registered with the uplink again (controller reconnected)');
  const l = await vm!.run(`ping -c 3 -W 5 ${LAN}`, 60_000);
  assert.equal(l.code, 0, l.output);
  assert.equal(vm!.pid, pid, 'the same QEMU process');
  const up1 = Number((await vm!.run('cut -d" " -f1 /proc/uptime')).output);
  assert.ok(up1 > up0, 'the VM kept running (no reboot)');
  assert.equal((await vm!.run('cat /sys/class/net/eth0/address')).output, `${vmMac}\n`);
  t.diagnostic(`daemon start to QEMU reconnected: ${secs(reconnectMs)}; VM -> guest after restart: ${got}/5 replies; VM -> LAN ok`);
});

test('a DGRAM guest: a second VM on -netdev dgram with the printed arguments pings the namespace guest and the first VM', { timeout: 180_000 }, async (t) => {
  assert.ok(vm, 'VM booted');
  d.commands(['DEFINE GUEST VM2 QEMU DGRAM', 'DEFINE NIC 0700 FOR VM2', 'SET VSWITCH SW1 GRANT VM2', 'COUPLE 0700 TO SYSTEM SW1 FOR VM2']);
  const nic = d.json('QUERY', 'NIC', '0700', 'DETAILS', 'FOR', 'VM2').nics[0];
  assert.equal(nic.transport, 'DGRAM');
  assert.match(nic.qemu.state, /^READY: datagrams from QEMU at /);
  assert.match(nic.qemu.args[1], /^dgram,id=nic0700,local\.type=unix,local\.path=.*\.qemu\.sock,remote\.type=unix,remote\.path=.*\.vswitch\.sock$/);
  const W = '10.78.0.22';
  const vm2 = await Vm.boot({ name: `vswtest-vm2-${process.pid}`, netdevArgs: [], deviceArgs: [], extraArgs: nic.qemu.args, cmdline: `vsw.ip=${W}/24 vsw.hostname=vm2` });
  try {
    t.diagnostic(`second VM (dgram) boot to ready: ${secs(vm2.bootMs)}`);
    const p = await vm2.run(`ping -c 3 -W 5 ${A}`, 60_000);
    assert.equal(p.code, 0, p.output);
    const q = await vm2.run(`ping -c 3 -W 5 ${V}`, 60_000);
    assert.equal(q.code, 0, q.output);
    t.diagnostic(`dgram VM -> namespace guest rtt ${/min\/avg\/max = ([\d./]+) ms/.exec(p.output)?.[1]} ms; -> stream VM rtt ${/min\/avg\/max = ([\d./]+) ms/.exec(q.output)?.[1]} ms`);
    const e = lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').find((x) => x.ip === W);
    assert.equal(e?.guest, 'VM2');
  } finally {
    await vm2.shutdown();
  }
  ok(d.cli('DETACH', 'NIC', '0700', 'FOR', 'VM2'), 'DETACH NIC');
  assert.ok(await waitFor(() => !lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').some((x) => x.ip === W), 3000), 'its address left the table');
});
