/**
 * The 'qemu-dgram' port through the data-plane worker, on the real kernel, with the production
 * EthernetSwitch. QEMU's side is a unix datagram socket bound to "QEMU's" path and sending to the
 * daemon's (DgramPeer, what `-netdev dgram,local.type=unix,...,remote.type=unix,...` does); the
 * daemon's side is devices.bindQemuDgram plus port-add with `peer`. The other port is a TAP in a
 * namespace, watched and fed through AF_PACKET inside the namespace (Capture).
 * Checked: both directions, one frame per datagram; a TSO super-frame from the TAP arrives as
 * MSS-sized datagrams with valid checksums; datagrams from another socket, runts and oversized
 * datagrams are dropped and counted; QEMU gone (its socket closed, then its file removed): sends
 * are dropped and counted, the port stays; QEMU back at the same path: traffic resumes without
 * touching the daemon; bindQemuDgram replaces a stale socket file and refuses a regular file.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataPlane } from '../../src/host/dataplane.js';
import { bindQemuDgram, openTap } from '../../src/host/devices.js';
import { PortCounter, dropSlot, portSlot } from '../../src/forward/counters.js';
import { DropReason } from '../../src/forward/api.js';
import type { FromWorker } from '../../src/protocol/dataplane.js';
import { close } from '../../src/sys/libc.js';
import { addNs, delNs, inNs, ip, uniq, until, sleep } from '../helpers/netns.js';
import { Capture, DgramPeer, ETH_IP, collect, ip4, reassembleTcp, testFrame, testSeq, tsoFrame } from './qemu-helpers.js';

const ns = uniq('vsqd');
const dir = mkdtempSync(join(tmpdir(), 'vsqd-'));
const qemuPath = join(dir, 'vm0.qemu.sock');
const daemonPath = join(dir, 'vm0.vswitch.sock');
const MAC_A = 0x020000004a01;
const MAC_Q = 0x020000004b01;
const BCAST = 0xffffffffffff;
let dp: DataPlane;
let peer: DgramPeer;
let cap: Capture;
let capV: Capture;
const downs: Extract<FromWorker, { ev: 'port-down' }>[] = [];

function ctr(port: number, c: PortCounter): number {
  return dp.counters[portSlot(port, c)];
}

/** Send as QEMU does: wait and retry while the daemon's socket is full (EAGAIN) or refuses (EPERM). */
async function sendWait(p: DgramPeer, f: Buffer, timeoutMs = 3000): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const e = p.send(f);
    if ((e !== 11 && e !== 1) || Date.now() > end) return e;
    await sleep(e === 11 ? 1 : 50);
  }
}

/** Datagrams at the peer until `n` satisfy `pred` or timeout. */
async function peerGets(pred: (f: Buffer) => boolean, n: number, timeoutMs = 3000): Promise<Buffer[]> {
  const got: Buffer[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (const f of peer.drain()) if (pred(f)) got.push(f);
    if (got.length >= n || Date.now() > end) return got;
    await sleep(10);
  }
}

before(async () => {
  addNs(ns);
  inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
  dp = await DataPlane.start();
  dp.on('port-down', (m: Extract<FromWorker, { ev: 'port-down' }>) => downs.push(m));
  const a = openTap({ netns: ns, name: 'enc600', mac: MAC_A, persist: false });
  dp.post({ op: 'switch-add', sw: 1, mode: 'ETHERNET', queueBytes: 1 << 20 });
  dp.post({ op: 'port-add', port: 1, sw: 1, role: 'nic', kind: 'tap', fd: a.fd, mac: MAC_A, vnet: true, name: 'A' });
  ip('-n', ns, 'link', 'set', 'enc600', 'up');
  cap = new Capture(ns, 'enc600');
  capV = new Capture(ns, 'enc600', true);
  // "QEMU" first (as when the VM runs before its NIC is coupled); the port connects to it at once.
  peer = new DgramPeer(qemuPath, daemonPath);
  const fd = bindQemuDgram(daemonPath, qemuPath);
  dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'qemu-dgram', fd, mac: MAC_Q, vnet: false, name: 'vm0', peer: qemuPath });
});

after(async () => {
  try {
    cap?.close();
    capV?.close();
    peer?.close();
    if (dp) await dp.stop();
  } finally {
    delNs(ns);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('frames from QEMU\'s socket reach the TAP, one per datagram, and frames from the TAP reach QEMU\'s socket', async () => {
  await sleep(50);
  cap.drain();
  peer.drain();
  const sent: Buffer[] = [];
  for (let i = 0; i < 150; i++) {
    const f = testFrame(BCAST, MAC_Q, i, 60 + ((i * 53) % 1450));
    sent.push(f);
    assert.equal(await sendWait(peer, f), 0);
  }
  const seen = (await collect(cap, (all) => all.filter((f) => testSeq(f) >= 0).length >= 150)).filter((f) => testSeq(f) >= 0);
  assert.equal(seen.length, 150);
  for (let i = 0; i < 150; i++) assert.ok(seen[i].equals(sent[i]), `frame ${i}`);
  const back = testFrame(MAC_Q, MAC_A, 9000, 700);
  assert.equal(cap.send(back), 0);
  const got = await peerGets((f) => testSeq(f) === 9000, 1);
  assert.equal(got.length, 1);
  assert.ok(got[0].equals(back));
  assert.equal(ctr(2, PortCounter.RxErrors), 0);
});

test('a TCP super-frame from the TAP reaches QEMU\'s socket as MSS-sized datagrams with valid checksums', async () => {
  const seq0 = 12345;
  const { bytes, payload } = tsoFrame(MAC_Q, MAC_A, ip4('10.82.0.1'), ip4('10.82.0.2'), 20000, 1400, seq0);
  assert.equal(capV.send(bytes), 0);
  const segs = await peerGets((f) => f.readUInt16BE(12) === ETH_IP && f[23] === 6, Math.ceil(20000 / 1400));
  assert.equal(segs.length, Math.ceil(20000 / 1400));
  const r = reassembleTcp(segs, seq0);
  assert.equal(r.badSum, 0);
  assert.ok(r.maxLen <= 14 + 40 + 1400);
  assert.ok(r.payload.equals(payload));
  assert.equal(dp.counters[dropSlot(1, DropReason.BadOffload)], 0);
});

test('a burst beyond QEMU\'s short socket queue is queued, not lost: 300 frames to a peer that reads late all arrive in order', async () => {
  peer.drain();
  const d0 = ctr(2, PortCounter.TxDrops);
  for (let i = 0; i < 300; i++) assert.equal(cap.send(testFrame(MAC_Q, MAC_A, 20000 + i, 800)), 0);
  await sleep(300); // the peer is not reading: its queue (max_dgram_qlen) is full, the port queues
  const got = await peerGets((f) => testSeq(f) >= 20000, 300, 5000);
  assert.equal(got.length, 300);
  got.forEach((f, i) => assert.equal(testSeq(f), 20000 + i));
  assert.equal(ctr(2, PortCounter.TxDrops) - d0, 0);
});

test('runts and oversized datagrams are dropped and counted; another socket\'s datagrams are refused by the kernel; the port carries on', async () => {
  const stranger = new DgramPeer(join(dir, 'stranger.sock'), daemonPath);
  try {
    cap.drain();
    const e0 = ctr(2, PortCounter.RxErrors);
    assert.equal(stranger.send(testFrame(BCAST, 0x020000004c01, 5001, 100)), 1 /* EPERM: connected to QEMU only */);
    assert.equal(await sendWait(peer, Buffer.alloc(10)), 0); // runt
    assert.equal(await sendWait(peer, Buffer.alloc(65535 + 14 + 100)), 0); // over QEMU_MAX_FRAME
    const ok = testFrame(BCAST, MAC_Q, 5002, 100);
    assert.equal(await sendWait(peer, ok), 0);
    const seen = await collect(cap, (all) => all.some((f) => testSeq(f) === 5002), 2000);
    assert.ok(seen.some((f) => f.equals(ok)));
    assert.equal(ctr(2, PortCounter.RxErrors) - e0, 2);
    assert.equal(downs.length, 0);
  } finally {
    stranger.close();
  }
});

/** Send frames toward the peer from the TAP until one arrives (the port reconnects on its tick). */
async function reachPeer(seq: number, timeoutMs = 4000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    cap.send(testFrame(MAC_Q, MAC_A, seq, 100));
    if ((await peerGets((x) => testSeq(x) === seq, 1, 100)).length === 1) return true;
  }
  return false;
}

test('QEMU gone: sends are dropped and counted, the port stays; QEMU back at the same path: traffic resumes', async () => {
  peer.close(); // socket file stays: ECONNREFUSED, and the daemon's socket is disconnected
  const d0 = ctr(2, PortCounter.TxDrops);
  for (let i = 0; i < 3; i++) cap.send(testFrame(MAC_Q, MAC_A, 6000 + i, 100));
  assert.ok(await until(() => ctr(2, PortCounter.TxDrops) - d0 >= 3, 2000), 'dropped while the socket file is stale');
  unlinkSync(qemuPath); // no file: ENOENT
  for (let i = 0; i < 3; i++) cap.send(testFrame(MAC_Q, MAC_A, 6100 + i, 100));
  assert.ok(await until(() => ctr(2, PortCounter.TxDrops) - d0 >= 6, 2000), 'dropped while there is no file');
  // Not connected now: the daemon's own check refuses a datagram from a socket that is not QEMU's.
  const e0 = ctr(2, PortCounter.RxErrors);
  const stranger = new DgramPeer(join(dir, 'stranger2.sock'), daemonPath);
  assert.equal(stranger.send(testFrame(BCAST, 0x020000004c02, 6150, 100)), 0);
  stranger.close();
  assert.ok(await until(() => ctr(2, PortCounter.RxErrors) - e0 === 1, 2000), 'the stranger\'s datagram was dropped and counted');
  await sleep(50);
  assert.equal(downs.length, 0, 'no port-down: QEMU may come back');
  peer = new DgramPeer(qemuPath, daemonPath); // "QEMU restarted"
  assert.ok(await reachPeer(6200), 'the daemon reaches the new QEMU socket without being told');
  cap.drain();
  const g = testFrame(BCAST, MAC_Q, 6201, 100);
  assert.equal(await sendWait(peer, g), 0);
  const seen = await collect(cap, (all) => all.some((x) => x.equals(g)), 2000);
  assert.ok(seen.some((x) => x.equals(g)), 'and takes its frames');
});

test('QEMU restarted while the daemon sent nothing: its sends are refused (EPERM) until the port reconnects (about a second: printed)', async () => {
  peer.close();
  peer = new DgramPeer(qemuPath, daemonPath); // a new socket at the same path
  cap.drain();
  const g = testFrame(BCAST, MAC_Q, 6300, 100);
  const t0 = Date.now();
  assert.equal(peer.send(g), 1, 'EPERM: the daemon\'s socket is still connected to the old socket');
  assert.equal(await sendWait(peer, g, 10_000), 0, 'accepted after the reconnect');
  console.log(`# the new socket's sends accepted ${Date.now() - t0} ms after it was made`);
  const seen = await collect(cap, (all) => all.some((x) => x.equals(g)), 2000);
  assert.ok(seen.some((x) => x.equals(g)));
  assert.ok(await reachPeer(6301), 'and the other direction works');
});

test('bindQemuDgram replaces a stale socket file, refuses a regular file and relative paths', () => {
  const p = join(dir, 'stale.sock');
  close(bindQemuDgram(p, join(dir, 'q.sock'))); // leaves a stale socket file
  assert.ok(statSync(p).isSocket());
  const fd = bindQemuDgram(p, join(dir, 'q.sock'));
  close(fd);
  const reg = join(dir, 'regular');
  writeFileSync(reg, 'x');
  assert.throws(() => bindQemuDgram(reg, join(dir, 'q.sock')), (e: Error & { code?: string }) => e.code === 'EEXIST');
  assert.throws(() => bindQemuDgram('rel.sock', join(dir, 'q.sock')), (e: Error & { code?: string }) => e.code === 'EINVAL');
});

test('port-add of a qemu-dgram port without peer is refused and the fd closed', async () => {
  const fd = bindQemuDgram(join(dir, 'nopeer.sock'), join(dir, 'nopeer.qemu.sock'));
  dp.post({ op: 'port-add', port: 3, sw: 1, role: 'nic', kind: 'qemu-dgram', fd, mac: 0x020000004d01, vnet: false, name: 'x' });
  assert.ok(await until(() => downs.some((m) => m.port === 3), 2000));
  assert.match(downs.find((m) => m.port === 3)!.reason, /needs peer/);
});
