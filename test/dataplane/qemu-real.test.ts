/**
 * The QEMU ports against a real QEMU 7.2 process (no guest: QEMU's network layer runs without
 * booting anything). QEMU runs with `-machine none` inside a namespace nsQ with two hubs:
 *   hub 0: `-netdev stream,server=on` (the daemon connects: 'qemu-stream' port) + a QEMU tap qt0
 *   hub 1: `-netdev dgram` (unix, the daemon's bound socket: 'qemu-dgram' port) + a QEMU tap qt1
 * so a frame the daemon writes to QEMU's socket comes out of qt0/qt1 into nsQ's kernel, and the
 * other way round. The daemon's other ports are TAPs in nsA / nsB (with offloads, so the TCP
 * flows from them arrive as TSO super-frames that the egress must segment and checksum in
 * software: nsQ's kernel checks every checksum, the transfers compare sha256).
 * The netdev options come from devices.qemuArgs (so its forms are the ones tested), and a
 * second QEMU (q35, -S) checks that the full qemuArgs output, -device included, is accepted.
 * Then: removing the stream port and connecting again works (QEMU listens again); QEMU killed
 * and restarted: the stream port goes down and reconnects, the dgram port stays and resumes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataPlane } from '../../src/host/dataplane.js';
import { bindQemuDgram, connectQemuStream, interfaceExists, openTap, qemuArgs } from '../../src/host/devices.js';
import { PortCounter, dropSlot, portSlot } from '../../src/forward/counters.js';
import { DropReason } from '../../src/forward/api.js';
import type { FromWorker } from '../../src/protocol/dataplane.js';
import { addNs, delNs, finished, ip, sleep, spawnInNs, tcpTransfer, uniq, until } from '../helpers/netns.js';
import { CounterSpan } from './counter-span.js';

const QEMU = 'qemu-system-x86_64';
const haveQemu = ((): boolean => {
  try { execFileSync(QEMU, ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
})();
const skip = haveQemu ? false : `${QEMU} is not installed`;

const nsA = uniq('vsra');
const nsB = uniq('vsrb');
const nsQ = uniq('vsrq');
const dir = mkdtempSync(join(tmpdir(), 'vsr-'));
const streamPath = join(dir, 'vm.stream.sock');
const qemuDgramPath = join(dir, 'vm.qemu.sock');
const daemonDgramPath = join(dir, 'vm.vswitch.sock');
const MAC_A = 0x020000005a01, MAC_B = 0x020000005b01, MAC_S = 0x020000005c01, MAC_D = 0x020000005d01;
let dp: DataPlane;
let qemu: ChildProcess | null = null;
const downs: Extract<FromWorker, { ev: 'port-down' }>[] = [];

function ctr(port: number, c: PortCounter): number {
  return dp.counters[portSlot(port, c)];
}

function ping(ns: string, count: number, addr: string): Promise<string> {
  return finished(spawnInNs(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', addr]), 20000);
}

/** Start QEMU in nsQ with the two hubs; resolves when its taps exist and have their addresses. */
async function startQemu(): Promise<void> {
  const s = qemuArgs('qemu-stream', { qemu: streamPath }, MAC_S, 's0');
  const d = qemuArgs('qemu-dgram', { qemu: qemuDgramPath, daemon: daemonDgramPath }, MAC_D, 'd0');
  const args = [
    '-machine', 'none', '-nodefaults', '-display', 'none', '-monitor', 'none', '-serial', 'none',
    '-netdev', s[1], '-netdev', 'tap,id=t0,ifname=qt0,script=no,downscript=no',
    '-netdev', 'hubport,id=h0,hubid=0,netdev=s0', '-netdev', 'hubport,id=h1,hubid=0,netdev=t0',
    '-netdev', d[1], '-netdev', 'tap,id=t1,ifname=qt1,script=no,downscript=no',
    '-netdev', 'hubport,id=h2,hubid=1,netdev=d0', '-netdev', 'hubport,id=h3,hubid=1,netdev=t1',
  ];
  qemu = spawn('ip', ['netns', 'exec', nsQ, QEMU, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  qemu.stderr!.on('data', (x) => { err += String(x); });
  const ok = await until(() => interfaceExists('qt0', nsQ) && interfaceExists('qt1', nsQ) && existsSync(streamPath) && existsSync(qemuDgramPath), 10000, 50);
  if (!ok) throw new Error(`QEMU did not come up: ${err}`);
  // Fixed MACs, so the namespaces' ARP caches stay right across a QEMU restart.
  ip('-n', nsQ, 'link', 'set', 'qt0', 'address', '02:00:00:00:5e:01');
  ip('-n', nsQ, 'link', 'set', 'qt1', 'address', '02:00:00:00:5e:02');
  ip('-n', nsQ, 'addr', 'add', '10.82.0.2/24', 'dev', 'qt0');
  ip('-n', nsQ, 'link', 'set', 'qt0', 'up');
  ip('-n', nsQ, 'addr', 'add', '10.83.0.2/24', 'dev', 'qt1');
  ip('-n', nsQ, 'link', 'set', 'qt1', 'up');
}

async function stopQemu(): Promise<void> {
  const q = qemu;
  qemu = null;
  if (q === null || q.exitCode !== null) return;
  const gone = new Promise<void>((r) => q.once('exit', () => r()));
  q.kill('SIGTERM');
  await Promise.race([gone, sleep(5000)]);
  await until(() => !interfaceExists('qt0', nsQ), 3000);
}

/** What the control plane does: connect until QEMU takes the connection. */
async function connectStream(): Promise<number> {
  const end = Date.now() + 5000;
  for (;;) {
    try {
      return connectQemuStream(streamPath);
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(50);
    }
  }
}

before(async () => {
  if (!haveQemu) return;
  for (const ns of [nsA, nsB, nsQ]) addNs(ns);
  await startQemu();
  dp = await DataPlane.start();
  dp.on('port-down', (m: Extract<FromWorker, { ev: 'port-down' }>) => downs.push(m));
  const a = openTap({ netns: nsA, name: 'enc600', mac: MAC_A, persist: false });
  const b = openTap({ netns: nsB, name: 'enc600', mac: MAC_B, persist: false });
  dp.post({ op: 'switch-add', sw: 1, mode: 'ETHERNET', queueBytes: 8 << 20 });
  dp.post({ op: 'switch-add', sw: 2, mode: 'ETHERNET', queueBytes: 8 << 20 });
  dp.post({ op: 'port-add', port: 1, sw: 1, role: 'nic', kind: 'tap', fd: a.fd, mac: MAC_A, vnet: true, name: 'A' });
  dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'qemu-stream', fd: await connectStream(), mac: MAC_S, vnet: false, name: 's0' });
  dp.post({ op: 'port-add', port: 3, sw: 2, role: 'nic', kind: 'tap', fd: b.fd, mac: MAC_B, vnet: true, name: 'B' });
  dp.post({ op: 'port-add', port: 4, sw: 2, role: 'nic', kind: 'qemu-dgram', fd: bindQemuDgram(daemonDgramPath, qemuDgramPath), mac: MAC_D, vnet: false, name: 'd0', peer: qemuDgramPath });
  ip('-n', nsA, 'addr', 'add', '10.82.0.1/24', 'dev', 'enc600');
  ip('-n', nsA, 'link', 'set', 'enc600', 'up');
  ip('-n', nsB, 'addr', 'add', '10.83.0.1/24', 'dev', 'enc600');
  ip('-n', nsB, 'link', 'set', 'enc600', 'up');
});

after(async () => {
  try {
    await stopQemu();
    if (dp) await dp.stop();
  } finally {
    for (const ns of [nsA, nsB, nsQ]) delNs(ns);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('QEMU accepts the exact arguments qemuArgs prints (with a virtio-net-pci device, q35, not started)', { skip }, async () => {
  const p = join(dir, 'argcheck.sock');
  const args = [
    ...qemuArgs('qemu-stream', { qemu: p }, 0x02aa00000001, 'n0'),
    ...qemuArgs('qemu-dgram', { qemu: join(dir, 'argcheck.q.sock'), daemon: join(dir, 'argcheck.d.sock') }, 0x02aa00000002, 'n1'),
  ];
  const q = spawn(QEMU, ['-machine', 'q35,accel=tcg', '-S', '-nodefaults', '-display', 'none', '-monitor', 'none', '-serial', 'none', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  q.stderr!.on('data', (x) => { err += String(x); });
  try {
    assert.ok(await until(() => existsSync(p) && existsSync(join(dir, 'argcheck.q.sock')), 5000), `QEMU made its sockets (${err})`);
    await sleep(300);
    assert.equal(q.exitCode, null, `QEMU still running: ${err}`);
  } finally {
    q.kill('SIGKILL');
  }
});

test('stream: ping and TCP both ways between a namespace and QEMU\'s network, segmented and checksummed in software', { skip }, async () => {
  assert.match(await ping(nsA, 3, '10.82.0.2'), / 0% packet loss/);
  const upload = new CounterSpan(dp.counters); // frame sizes over the namespace -> QEMU transfer only
  const [got1, sent1] = await tcpTransfer(nsQ, nsA, '10.82.0.2', 4 << 20);
  upload.end();
  assert.equal(got1, sent1, 'namespace -> QEMU');
  const [got2, sent2] = await tcpTransfer(nsA, nsQ, '10.82.0.1', 4 << 20);
  assert.equal(got2, sent2, 'QEMU -> namespace');
  assert.ok(upload.port(1, PortCounter.RxBytes) / upload.port(1, PortCounter.RxFrames) > 1514, 'the TAP side did send super-frames');
  assert.ok(upload.port(2, PortCounter.TxBytes) / upload.port(2, PortCounter.TxFrames) <= 1514, 'QEMU got frames of at most 1514 bytes');
  assert.equal(dp.counters[dropSlot(1, DropReason.BadOffload)], 0);
  assert.equal(ctr(2, PortCounter.RxErrors), 0);
});

test('dgram: ping and TCP both ways between a namespace and QEMU\'s network', { skip }, async () => {
  assert.match(await ping(nsB, 3, '10.83.0.2'), / 0% packet loss/);
  const upload = new CounterSpan(dp.counters);
  const [got1, sent1] = await tcpTransfer(nsQ, nsB, '10.83.0.2', 4 << 20);
  upload.end();
  assert.equal(got1, sent1, 'namespace -> QEMU');
  const [got2, sent2] = await tcpTransfer(nsB, nsQ, '10.83.0.1', 4 << 20);
  assert.equal(got2, sent2, 'QEMU -> namespace');
  assert.ok(upload.port(4, PortCounter.TxBytes) / upload.port(4, PortCounter.TxFrames) <= 1514, 'QEMU got frames of at most 1514 bytes');
  assert.equal(ctr(4, PortCounter.RxErrors), 0);
});

test('stream: after the port is removed, connecting again works (QEMU 7.2 listens again)', { skip }, async () => {
  dp.post({ op: 'port-remove', port: 2 });
  await sleep(200);
  dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'qemu-stream', fd: await connectStream(), mac: MAC_S, vnet: false, name: 's0' });
  assert.match(await ping(nsA, 2, '10.82.0.2'), / 0% packet loss/);
  assert.equal(downs.length, 0);
});

test('QEMU killed and restarted: the stream port goes down and reconnects; the dgram port stays and resumes by itself', { skip }, async () => {
  await stopQemu();
  assert.ok(await until(() => downs.some((m) => m.port === 2), 3000), 'stream port-down');
  assert.equal(downs.find((m) => m.port === 2)!.reason, 'QEMU closed the connection: EPIPE');
  try { await ping(nsB, 1, '10.83.0.2'); } catch { /* QEMU is gone: expected to fail */ }
  await sleep(300);
  assert.ok(!downs.some((m) => m.port === 4), 'no port-down for the dgram port');
  await startQemu();
  dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'qemu-stream', fd: await connectStream(), mac: MAC_S, vnet: false, name: 's0' });
  assert.match(await ping(nsA, 2, '10.82.0.2'), / 0% packet loss/);
  // The dgram port reconnects on its own (tick): a few pings may be lost before that.
  const out = await ping(nsB, 8, '10.83.0.2').catch((e: Error) => e.message);
  assert.match(out, /[1-8] received/);
  assert.match(await ping(nsB, 2, '10.83.0.2'), / 0% packet loss/);
});
