/**
 * The 'qemu-stream' port through the data-plane worker, on the real kernel, with the production
 * EthernetSwitch. QEMU's side is a Node unix stream server that behaves as `-netdev stream,
 * server=on` does (StreamPeer: one connection at a time, 4-byte big-endian length framing); the
 * daemon's side connects with devices.connectQemuStream. The other port of the switch is a TAP
 * in a namespace; an AF_PACKET socket on that TAP's interface (inside the namespace) sees what
 * the daemon writes into it and injects what the namespace's stack would send.
 *
 * Why inject the TCP super-frame through AF_PACKET with a virtio-net header: it is exactly what
 * the namespace's stack hands the TAP when it sends TSO (the TAP has TSO on, so the kernel
 * passes the 30 kB frame through whole and the daemon reads it with GSO_TCPV4), and the test
 * knows the payload, so it can check each segment's size, its IP and TCP checksums (with its
 * own checksum code) and the reassembled bytes. qemu-real.test.ts does the same through a real
 * QEMU into a kernel that validates the checksums itself (a TCP transfer).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataPlane } from '../../src/host/dataplane.js';
import { connectQemuStream, openTap } from '../../src/host/devices.js';
import { PortCounter, dropSlot, portSlot } from '../../src/forward/counters.js';
import { DropReason } from '../../src/forward/api.js';
import type { FromWorker } from '../../src/protocol/dataplane.js';
import { AF_UNIX, SOCK_STREAM, bind, close, socket, sockaddrUn } from '../../src/sys/libc.js';
import { addNs, delNs, finished, inNs, ip, spawnInNs, uniq, until, sleep } from '../helpers/netns.js';
import {
  Capture, ETH_IP, StreamPeer, collect, ip4, reassembleTcp, testFrame, testSeq, tsoFrame,
} from './qemu-helpers.js';

const nsA = uniq('vsqa');
const nsB = uniq('vsqb');
const dir = mkdtempSync(join(tmpdir(), 'vsq-'));
const MAC_A = 0x020000001a01;
const MAC_P = 0x020000001b01;
const MAC_B = 0x020000002a01;
const BCAST = 0xffffffffffff;
let dp: DataPlane;
let peer: StreamPeer;
let capA: Capture;
let capAv: Capture;
const extraPeers: StreamPeer[] = [];
const downs: Extract<FromWorker, { ev: 'port-down' }>[] = [];

function ctr(port: number, c: PortCounter): number {
  return dp.counters[portSlot(port, c)];
}

/** ping from a namespace without blocking this process's event loop (the peer answers in it). */
function ping(ns: string, count: number, addr: string): Promise<string> {
  return finished(spawnInNs(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', addr]), 15000);
}

function downFor(port: number): Extract<FromWorker, { ev: 'port-down' }> | undefined {
  return downs.find((m) => m.port === port);
}

/** A namespace without IPv6 (no ND/MLD chatter in the frame counts). */
function guestNs(ns: string): void {
  addNs(ns);
  inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
  inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1');
}

before(async () => {
  guestNs(nsA);
  guestNs(nsB);
  dp = await DataPlane.start();
  dp.on('port-down', (m: Extract<FromWorker, { ev: 'port-down' }>) => downs.push(m));
  const a = openTap({ netns: nsA, name: 'enc600', mac: MAC_A, persist: false });
  dp.post({ op: 'switch-add', sw: 1, mode: 'ETHERNET', queueBytes: 1 << 20 });
  dp.post({ op: 'port-add', port: 1, sw: 1, role: 'nic', kind: 'tap', fd: a.fd, mac: MAC_A, vnet: true, name: 'A' });
  ip('-n', nsA, 'addr', 'add', '10.81.0.1/24', 'dev', 'enc600');
  ip('-n', nsA, 'link', 'set', 'enc600', 'up');
  capA = new Capture(nsA, 'enc600');
  capAv = new Capture(nsA, 'enc600', true);

  peer = await StreamPeer.listen(join(dir, 'vm0.sock'));
  peer.host = { mac: MAC_P, ip: ip4('10.81.0.2') };
  const fd = connectQemuStream(peer.path);
  dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'qemu-stream', fd, mac: MAC_P, vnet: false, name: 'vm0' });
  await peer.connected();
});

after(async () => {
  try {
    capA?.close();
    capAv?.close();
    if (dp) await dp.stop();
    await peer?.close();
    for (const p of extraPeers) await p.close();
  } finally {
    delNs(nsA);
    delNs(nsB);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ping from the namespace is answered by the QEMU-side peer; every frame arrives well framed', async () => {
  const out = await ping(nsA, 3, '10.81.0.2');
  assert.match(out, / 0% packet loss/);
  assert.equal(peer.framingErrors, 0);
  assert.ok(peer.frames.some((f) => f.readUInt16BE(12) === 0x0806), 'the ARP request reached the peer');
  assert.ok(peer.frames.filter((f) => f.readUInt16BE(12) === ETH_IP && f[23] === 1).length >= 3, 'the echo requests reached the peer');
  assert.ok(ctr(2, PortCounter.TxFrames) >= 4 && ctr(2, PortCounter.RxFrames) >= 4);
  assert.equal(ctr(2, PortCounter.RxErrors), 0);
});

test('frames the peer writes reach the TAP in order: 200 in one write (several batches) and one split into pieces', async () => {
  capA.drain();
  const frames = [];
  for (let i = 0; i < 200; i++) frames.push(testFrame(BCAST, MAC_P, i, 60 + ((i * 37) % 1450)));
  peer.sendRaw(StreamPeer.encode(frames));
  // Nothing else is written until all 200 are out: frames held beyond one batch (64) must not
  // wait for more bytes to arrive.
  const seen = (await collect(capA, (all) => all.filter((f) => testSeq(f) >= 0).length >= 200)).filter((f) => testSeq(f) >= 0);
  assert.equal(seen.length, 200);
  for (let i = 0; i < 200; i++) assert.ok(seen[i].equals(frames[i]), `frame ${i} intact and in order`);
  // One more frame, delivered in pieces: prefix split, header split, body in two.
  const last = testFrame(BCAST, MAC_P, 200, 1000);
  const enc = StreamPeer.encode([last]);
  for (const [s, e] of [[0, 1], [1, 3], [3, 10], [10, 400], [400, enc.length]]) {
    await sleep(30);
    peer.sendRaw(enc.subarray(s, e));
  }
  const seen2 = (await collect(capA, (all) => all.some((f) => testSeq(f) === 200))).filter((f) => testSeq(f) >= 0);
  assert.equal(seen2.length, 1);
  assert.ok(seen2[0].equals(last), 'the frame written in pieces was reassembled');
  assert.equal(ctr(2, PortCounter.RxErrors), 0);
});

test('a TCP super-frame from the TAP reaches the peer as MSS-sized segments with valid checksums', async () => {
  const before = peer.frames.length;
  const seq0 = 0x7fff0000;
  const { bytes, payload } = tsoFrame(MAC_P, MAC_A, ip4('10.81.0.1'), ip4('10.81.0.2'), 30000, 1448, seq0);
  assert.equal(capAv.send(bytes), 0);
  const isSeg = (f: Buffer): boolean => f.readUInt16BE(12) === ETH_IP && f[23] === 6 && f.readUInt16BE(36) === 5001;
  assert.ok(await until(() => peer.frames.slice(before).filter(isSeg).length >= 21, 3000), 'segments arrived');
  const segs = peer.frames.slice(before).filter(isSeg);
  assert.equal(segs.length, Math.ceil(30000 / 1448));
  const r = reassembleTcp(segs, seq0);
  assert.equal(r.badSum, 0, 'every segment has a valid IP header and TCP checksum');
  assert.ok(r.maxLen <= 14 + 20 + 20 + 1448, `largest segment ${r.maxLen} bytes`);
  assert.ok(r.payload.equals(payload), 'the payload reassembles to the original bytes');
  assert.equal(peer.framingErrors, 0);
  assert.equal(dp.counters[dropSlot(1, DropReason.BadOffload)], 0);
});

test('a peer that stops reading: the bounded output queue fills, drops are counted, and what was queued arrives whole and in order', async () => {
  // Own switch (QUEUESTORAGE 64K) with a TAP in nsB and a second peer.
  const b = openTap({ netns: nsB, name: 'enc600', mac: MAC_B, persist: false });
  dp.post({ op: 'switch-add', sw: 2, mode: 'ETHERNET', queueBytes: 64 * 1024 });
  dp.post({ op: 'port-add', port: 20, sw: 2, role: 'nic', kind: 'tap', fd: b.fd, mac: MAC_B, vnet: true, name: 'B' });
  ip('-n', nsB, 'link', 'set', 'enc600', 'up');
  const capB = new Capture(nsB, 'enc600');
  const slow = await StreamPeer.listen(join(dir, 'slow.sock'));
  extraPeers.push(slow);
  dp.post({ op: 'port-add', port: 21, sw: 2, role: 'nic', kind: 'qemu-stream', fd: connectQemuStream(slow.path), mac: 0x020000002b01, vnet: false, name: 'slow' });
  const conn = await slow.connected();
  conn.pause();
  await sleep(100);
  const rx0 = ctr(20, PortCounter.RxFrames), drop0 = ctr(21, PortCounter.TxDrops), qf0 = dp.counters[dropSlot(2, DropReason.QueueFull)];
  try {
    for (let i = 0; i < 4000; i++) {
      assert.equal(capB.send(testFrame(0x020000002b01, MAC_B, i, 1000)), 0);
      if (i % 500 === 499) await sleep(5);
    }
    await until(() => ctr(20, PortCounter.RxFrames) - rx0 >= 4000, 2000);
    await sleep(200);
    const rx = ctr(20, PortCounter.RxFrames) - rx0;
    const drops = ctr(21, PortCounter.TxDrops) - drop0;
    assert.ok(drops > 0, 'frames beyond the queue were dropped');
    assert.ok(dp.counters[dropSlot(2, DropReason.QueueFull)] - qf0 > 0, 'and counted as QueueFull');
    conn.resume();
    const got = (): Buffer[] => slow.frames.filter((f) => testSeq(f) >= 0);
    assert.ok(await until(() => got().length >= rx - drops, 5000), `queued frames delivered (${got().length} of ${rx - drops})`);
    await sleep(100);
    const g = got();
    assert.equal(g.length, rx - drops, 'delivered + dropped = read from the TAP');
    assert.equal(slow.framingErrors, 0);
    let last = -1;
    for (const f of g) {
      const s = testSeq(f);
      assert.ok(s > last, 'order kept');
      assert.ok(f.equals(testFrame(0x020000002b01, MAC_B, s, 1000)), 'frame intact');
      last = s;
    }
  } finally {
    capB.close();
  }
});

async function badInput(port: number, name: string, bytes: (good: Buffer) => Buffer, reason: RegExp, goodFirst: boolean,
  thenClose = false): Promise<void> {
  const p = await StreamPeer.listen(join(dir, `${name}.sock`));
  extraPeers.push(p);
  dp.post({ op: 'port-add', port, sw: 1, role: 'nic', kind: 'qemu-stream', fd: connectQemuStream(p.path), mac: 0x020000003000 + port, vnet: false, name });
  await p.connected();
  capA.drain();
  const good = testFrame(BCAST, 0x020000003000 + port, 1000 + port, 100);
  const before = ctr(port, PortCounter.RxErrors);
  if (thenClose) p.conn!.end(bytes(good)); else p.sendRaw(bytes(good));
  assert.ok(await until(() => downFor(port) !== undefined, 3000), `port-down for ${name}`);
  assert.match(downFor(port)!.reason, reason);
  assert.equal(ctr(port, PortCounter.RxErrors) - before, 1, 'one RxError counted');
  assert.ok(await until(() => p.conn === null && p.closedByDaemon === 1, 2000), 'that connection is closed');
  if (goodFirst) {
    const seen = await collect(capA, (all) => all.some((f) => f.equals(good)), 2000);
    assert.ok(seen.some((f) => f.equals(good)), 'the good frame before the bad length was still delivered');
  }
  // Everything else untouched: the first peer still answers pings through port 2.
  assert.equal(downFor(2), undefined);
  assert.match(await ping(nsA, 1, '10.81.0.2'), / 0% packet loss/);
}

test('bad input: a length of 0 closes that connection, counted and reported', async () => {
  await badInput(3, 'zero', (g) => Buffer.concat([StreamPeer.encode([g]), Buffer.from([0, 0, 0, 0]), Buffer.alloc(64)]),
    /^bad frame length 0 from QEMU: EPROTO$/, true);
});

test('bad input: a length of 70000 closes that connection', async () => {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(70000, 0);
  await badInput(4, 'huge', (g) => Buffer.concat([StreamPeer.encode([g]), h, Buffer.alloc(1000)]),
    /^bad frame length 70000 from QEMU: EPROTO$/, true);
});

test('bad input: garbage (text where a length should be) closes that connection', async () => {
  await badInput(5, 'garbage', () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /^bad frame length \d+ from QEMU: EPROTO$/, false);
});

test('bad input: a truncated frame then close is an error and a port-down', async () => {
  await badInput(6, 'trunc', (g) => {
    const enc = StreamPeer.encode([g]);
    return enc.subarray(0, enc.length - 30);
  }, /^QEMU closed the connection in the middle of a frame: EPIPE$/, false, true);
});

test('a runt (length 1..13) is dropped and counted; the connection and the frames after it carry on', async () => {
  const p = await StreamPeer.listen(join(dir, 'runt.sock'));
  extraPeers.push(p);
  dp.post({ op: 'port-add', port: 7, sw: 1, role: 'nic', kind: 'qemu-stream', fd: connectQemuStream(p.path), mac: 0x020000003007, vnet: false, name: 'runt' });
  await p.connected();
  capA.drain();
  const good = testFrame(BCAST, 0x020000003007, 7007, 80);
  p.sendRaw(Buffer.concat([Buffer.from([0, 0, 0, 5, 1, 2, 3, 4, 5]), StreamPeer.encode([good])]));
  const seen = await collect(capA, (all) => all.some((f) => f.equals(good)), 2000);
  assert.ok(seen.some((f) => f.equals(good)));
  assert.equal(ctr(7, PortCounter.RxErrors), 1);
  assert.equal(downFor(7), undefined);
  assert.ok(p.conn !== null);
});

test('the peer closing cleanly reports port-down without an error count; connecting again works (QEMU listens again)', async () => {
  const p = await StreamPeer.listen(join(dir, 'again.sock'));
  extraPeers.push(p);
  const mac = 0x020000003008;
  dp.post({ op: 'port-add', port: 8, sw: 1, role: 'nic', kind: 'qemu-stream', fd: connectQemuStream(p.path), mac, vnet: false, name: 'again' });
  const c = await p.connected();
  c.end();
  assert.ok(await until(() => downFor(8) !== undefined, 3000));
  assert.equal(downFor(8)!.reason, 'QEMU closed the connection: EPIPE');
  assert.equal(ctr(8, PortCounter.RxErrors), 0);
  await until(() => p.conn === null, 2000);
  downs.splice(downs.indexOf(downFor(8)!), 1);
  dp.post({ op: 'port-add', port: 8, sw: 1, role: 'nic', kind: 'qemu-stream', fd: connectQemuStream(p.path), mac, vnet: false, name: 'again' });
  await p.connected();
  assert.equal(p.connections, 2);
  capA.drain();
  const f = testFrame(BCAST, mac, 8008, 90);
  p.send(f);
  const seen = await collect(capA, (all) => all.some((x) => x.equals(f)), 2000);
  assert.ok(seen.some((x) => x.equals(f)), 'frames flow on the new connection');
});

test('connectQemuStream while QEMU is not there throws ENOENT (no file) / ECONNREFUSED (a stale socket file)', () => {
  assert.throws(() => connectQemuStream(join(dir, 'nobody.sock')), (e: Error & { code?: string }) => e.code === 'ENOENT');
  // A socket file left behind by a process that is gone: bind a socket there, close it.
  const stale = join(dir, 'stale.sock');
  const s = socket(AF_UNIX, SOCK_STREAM, 0);
  const sa = sockaddrUn(stale);
  bind(s, sa.addr.subarray(0, sa.len));
  close(s);
  assert.throws(() => connectQemuStream(stale), (e: Error & { code?: string }) => e.code === 'ECONNREFUSED');
  assert.throws(() => connectQemuStream('relative.sock'), (e: Error & { code?: string }) => e.code === 'EINVAL');
});

test('port-add of a qemu-stream port with vnet: true is refused (no virtio-net header on QEMU sockets)', async () => {
  const p = await StreamPeer.listen(join(dir, 'vnet.sock'));
  extraPeers.push(p);
  dp.post({ op: 'port-add', port: 9, sw: 1, role: 'nic', kind: 'qemu-stream', fd: connectQemuStream(p.path), mac: 0x020000003009, vnet: true, name: 'v' });
  assert.ok(await until(() => downFor(9) !== undefined, 2000));
  assert.match(downFor(9)!.reason, /vnet must be false/);
});
