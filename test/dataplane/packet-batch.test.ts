/**
 * Batched syscalls on packet sockets (issue 14; src/dataplane/packet-socket.ts, fd-port.ts), on
 * the real kernel:
 *  - PacketBatchTx / PacketBatchRx over a veth pair: 40 frames of 60 to 256 bytes, a third of
 *    them 802.1Q-tagged, staged, written by sendmmsg and read back by recvmmsg in order, byte
 *    for byte, tags put back; the staging copies (the caller's bytes changed after push change
 *    nothing sent); frames refused while the interface is down are each reported with ENETDOWN;
 *  - PacketRingRx (a TPACKET_V2 ring of 16 slots) takes 4 x 10 frames (tagged ones restored)
 *    as sent: a slot handed back is used again;
 *  - PacketRingTx (a TPACKET_V2 transmit ring of 15 slots), with and without the virtio-net
 *    header: 40 frames (a third tagged) and a malformed one go through in three commits (the
 *    ring takes 15, then says no), arrive in order byte for byte, the malformed one (over the
 *    MTU: EMSGSIZE; a bad header: EINVAL) refused alone and the frames behind it still sent;
 *    frames refused while the interface is down each reported with ENETDOWN, and all 15 slots
 *    serve again once it is up;
 *  - the whole worker (hub forwarder) with the levers other than the defaults (forwarding.test.ts
 *    runs the defaults, recvmmsg and sendmmsg on): one syscall per frame (VSWITCH_RECVMMSG=0,
 *    VSWITCH_SENDMMSG=0), the TPACKET_V2 rings (VSWITCH_RX_RING=1, VSWITCH_TX_RING=1, and both
 *    at once, which share one mapping): a guest TAP and an AF_PACKET
 *    uplink, ping and TCP both ways, and frames to an uplink that is down counted as TxDrops /
 *    egress-down and not as sent (the uplink's interface down stays transient with the ring);
 *  - with VSWITCH_LONE_DIRECT=1, a lone frame (the only one of its batch: a ping) is written to
 *    the uplink at once by write(), not staged for a sendmmsg of one (the default), while a
 *    flood's frames are staged either way: counted by the kernel (the worker thread's `syscw`,
 *    which counts write() and not sendmmsg).
 * Everything lives in namespaces this test makes (unique names) and removes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/host/dataplane.js';
import { openUplink } from '../../src/host/devices.js';
import { PacketBatchRx, PacketBatchTx, PacketRingRx, PacketRingTx, TX_RING_BLOCK_FRAMES } from '../../src/dataplane/packet-socket.js';
import { DropReason } from '../../src/forward/api.js';
import { PortCounter } from '../../src/forward/counters.js';
import { EAGAIN, EINVAL, EMSGSIZE, ENETDOWN, SOL_SOCKET, SO_ERROR, allocBytes, close, errno, raw } from '../../src/sys/libc.js';
import { addNs, delNs, inNs, ip, tcpTransfer, uniq, until } from '../helpers/netns.js';
import { CounterSpan } from './counter-span.js';
import { guestAndUplink } from './uplink-lab.js';
import { workerSyscalls } from './worker-io.js';

const hubUrl = new URL('./hub-forwarder.js', import.meta.url).href;
const nsV = uniq('vspv');
const nsU = uniq('vspu');
const nsL = uniq('vspl');
const nsG = uniq('vspg');
const all = [nsV, nsU, nsL, nsG];
let dp: DataPlane | undefined;
const fds: number[] = [];

before(() => {
  for (const ns of all) addNs(ns);
  inNs(nsV, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  ip('-n', nsV, 'link', 'add', 'x0', 'type', 'veth', 'peer', 'name', 'x1');
  ip('-n', nsV, 'link', 'set', 'x0', 'up');
  ip('-n', nsV, 'link', 'set', 'x1', 'up');
});

after(async () => {
  try {
    for (const fd of fds) close(fd);
    if (dp) await dp.stop();
  } finally {
    for (const ns of all) delNs(ns);
  }
});

/** Frame k: broadcast, a marker EtherType (0x88b5), tagged (VLAN 100 + k) when k % 3 === 0, `len` bytes on the wire. */
function frame(k: number, len: number): Buffer {
  const tagged = k % 3 === 0;
  const b = Buffer.alloc(len);
  b.fill(0xff, 0, 6);
  Buffer.from([0x02, 0, 0, 0, 0x99, k]).copy(b, 6);
  let o = 12;
  if (tagged) { b.writeUInt16BE(0x8100, 12); b.writeUInt16BE(100 + k, 14); o = 16; }
  b.writeUInt16BE(0x88b5, o);
  for (let i = o + 2; i < len; i++) b[i] = (k * 7 + i) & 0xff;
  return b;
}

/** Read back (recvmmsg, tags restored) the marker frames arriving on `brx` until `want` are in `got`. */
async function readMarked(brx: PacketBatchRx, got: Buffer[], want: number): Promise<void> {
  const STRIDE = 2048;
  const mem = allocBytes(64 * STRIDE);
  await until(() => {
    for (;;) {
      const n = brx.read(mem.addr + 16, STRIDE, STRIDE - 16, 64);
      if (n < 0) { assert.equal(errno(), EAGAIN); break; }
      for (let i = 0; i < n; i++) {
        const off = 16 + i * STRIDE;
        const end = off + brx.len(i);
        const start = off - brx.tag(i, mem.bytes, off, off);
        const f = Buffer.from(mem.bytes.subarray(start, end));
        if (f.readUInt16BE(12) === 0x88b5 || (f.readUInt16BE(12) === 0x8100 && f.readUInt16BE(16) === 0x88b5)) got.push(f);
      }
    }
    return got.length >= want;
  }, 5000);
}

test('PacketBatchTx and PacketBatchRx: 40 frames staged, one sendmmsg, read back by recvmmsg in order with their tags', async () => {
  const tx = openUplink('x0', { netns: nsV, vnet: false });
  const rx = openUplink('x1', { netns: nsV, vnet: false });
  fds.push(tx.fd, rx.fd);
  const btx = new PacketBatchTx(tx.fd, 64, 256);
  const brx = new PacketBatchRx(rx.fd, 64);
  const sent: Buffer[] = [];
  const src = allocBytes(256);
  for (let k = 0; k < 40; k++) {
    const f = frame(k, 60 + Math.floor((k * 196) / 39));
    sent.push(f);
    src.bytes.set(f, 0);
    btx.push(src.bytes, 0, f.length);
    src.bytes.fill(0xa5); // what the caller does with its bytes afterwards is not what was staged
  }
  assert.equal(btx.queued, 40);
  const refused: number[] = [];
  btx.flush((e) => { refused.push(e); return false; });
  assert.deepEqual(refused, []);
  assert.equal(btx.queued, 0);

  const got: Buffer[] = [];
  await readMarked(brx, got, 40);
  assert.equal(got.length, 40, 'every frame arrived');
  for (let k = 0; k < 40; k++) assert.ok(got[k]!.equals(sent[k]!), `frame ${k} (${sent[k]!.length} bytes${k % 3 === 0 ? ', tagged' : ''}) arrived as sent`);

  // Refusals: the sending interface down, every staged frame refused with ENETDOWN, each on its own.
  ip('-n', nsV, 'link', 'set', 'x0', 'down');
  try {
    for (let k = 0; k < 3; k++) btx.push(sent[k]!, 0, sent[k]!.length);
    const seen: Array<[number, number]> = [];
    btx.flush((e, i) => { seen.push([e, i]); return false; });
    assert.deepEqual(seen, [[ENETDOWN, 0], [ENETDOWN, 1], [ENETDOWN, 2]]);
    for (let k = 0; k < 3; k++) btx.push(sent[k]!, 0, sent[k]!.length);
    const gaveUp: Array<[number, number]> = [];
    btx.flush((e, i) => { gaveUp.push([e, i]); return true; }); // "the fd is dead": the rest refused with it at once
    assert.deepEqual(gaveUp, [[ENETDOWN, 0], [ENETDOWN, 1], [ENETDOWN, 2]]);
  } finally {
    ip('-n', nsV, 'link', 'set', 'x0', 'up');
  }
});

test('PacketRingRx (TPACKET_V2): 40 frames, tagged ones among them, taken from the ring as sent, the slots handed back', async () => {
  const tx = openUplink('x0', { netns: nsV, vnet: false });
  const rx = openUplink('x1', { netns: nsV, vnet: false });
  fds.push(tx.fd, rx.fd);
  const ring = new PacketRingRx(rx.fd, 16); // fewer slots than frames: each must be handed back for the rest to arrive
  const btx = new PacketBatchTx(tx.fd, 64, 256);
  const out = allocBytes(2048);
  for (let round = 0; round < 4; round++) {
    const sent: Buffer[] = [];
    for (let k = 0; k < 10; k++) {
      const f = frame(round * 10 + k, 60 + round * 50 + k);
      sent.push(f);
      btx.push(f, 0, f.length);
    }
    btx.flush(() => false);
    const got: Buffer[] = [];
    await until(() => {
      for (;;) {
        const n = ring.take(out.bytes, out.addr, 16, 2000, 0);
        if (n === 0) break;
        assert.ok(n > 0, 'no frame dropped');
        const f = Buffer.from(out.bytes.subarray(16 - ring.moved, 16 + n));
        if (f.readUInt16BE(12) === 0x88b5 || (f.readUInt16BE(12) === 0x8100 && f.readUInt16BE(16) === 0x88b5)) got.push(f);
      }
      return got.length >= 10;
    }, 5000);
    assert.equal(got.length, 10, `round ${round}: every frame arrived`);
    for (let k = 0; k < 10; k++) assert.ok(got[k]!.equals(sent[k]!), `round ${round}, frame ${k} arrived as sent`);
  }
  ring.close();
});

for (const vnet of [false, true]) {
  test(`PacketRingTx (TPACKET_V2 transmit ring${vnet ? ', virtio-net header' : ''}): 40 frames through a 15-slot ring in order, a malformed one refused, refusals while down, slots reused`, async () => {
    const tx = openUplink('x0', { netns: nsV, vnet });
    const rx = openUplink('x1', { netns: nsV, vnet: false });
    fds.push(tx.fd, rx.fd);
    const ring = new PacketRingTx(tx.fd, TX_RING_BLOCK_FRAMES);
    const brx = new PacketBatchRx(rx.fd, 64);
    const hl = vnet ? 10 : 0;
    const src = allocBytes(2048);
    /** Stage frame f (behind a zero virtio-net header when vnet), `hdr` its header's bytes 2-3 (hdr_len). */
    const push = (f: Buffer, hdrLen = 0): boolean => {
      src.bytes.fill(0, 0, hl);
      if (vnet) src.view.setUint16(2, hdrLen, true);
      src.bytes.set(f, hl);
      const ok = ring.push(src.bytes, src.addr, 0, hl + f.length);
      src.bytes.fill(0xa5); // what the caller does with its bytes afterwards is not what was staged
      return ok;
    };
    // 40 frames, and a 41st that the kernel refuses (frame 20: without a virtio-net header one
    // over the MTU, EMSGSIZE; with one, a header whose hdr_len is past the frame's end, EINVAL).
    const frames: Buffer[] = [];
    for (let k = 0; k < 40; k++) frames.push(frame(k, 60 + Math.floor((k * 196) / 39)));
    const bad = vnet ? frame(99, 100) : frame(99, 1600);
    const badErr = vnet ? EINVAL : EMSGSIZE;
    const queue: Array<Buffer | null> = [...frames.slice(0, 20), null, ...frames.slice(20)]; // null: the bad one
    const refused: Array<[number, number]> = [];
    let commits = 0;
    let k = 0;
    while (k < queue.length) {
      // A slot is free again once the kernel is done with its frame (at once on a veth, unless
      // the receiving softirq was put off): wait for it rather than assume it.
      const want = Math.min(TX_RING_BLOCK_FRAMES, queue.length - k);
      let badAt = -1;
      for (let j = 0; j < want; j++, k++) {
        const f = queue[k];
        assert.ok(await until(() => (f === null ? push(bad, vnet ? 2000 : 0) : push(f)), 5000), `frame ${k} staged`);
        if (f === null) badAt = j;
      }
      assert.equal(ring.queued, want);
      if (k < queue.length) assert.equal(push(frames[0]!), false, 'every slot staged: the ring says no');
      const seen: Array<[number, number]> = [];
      ring.flush((e, i) => { seen.push([e, i]); return false; });
      if (badAt >= 0) refused.push(...seen.map(([e, i]): [number, number] => [e, i === badAt ? -1 : i]));
      else assert.deepEqual(seen, [], `commit ${commits}: nothing refused`);
      assert.equal(ring.queued, 0);
      commits++;
    }
    assert.equal(commits, 3);
    assert.deepEqual(refused, [[badErr, -1]], 'the malformed frame, and only it, refused with the kernel\'s errno');
    const got: Buffer[] = [];
    await readMarked(brx, got, 40);
    assert.equal(got.length, 40, 'every frame arrived, the malformed one not');
    for (let j = 0; j < 40; j++) assert.ok(got[j]!.equals(frames[j]!), `frame ${j} (${frames[j]!.length} bytes${j % 3 === 0 ? ', tagged' : ''}) arrived as sent, in order`);

    // The interface down: every staged frame refused with ENETDOWN, each once; the slots taken back.
    ip('-n', nsV, 'link', 'set', 'x0', 'down');
    try {
      for (let j = 0; j < 3; j++) assert.ok(push(frames[j]!));
      const seen: Array<[number, number]> = [];
      ring.flush((e, i) => { seen.push([e, i]); return false; });
      assert.deepEqual(seen, [[ENETDOWN, 0], [ENETDOWN, 1], [ENETDOWN, 2]]);
      for (let j = 0; j < 3; j++) assert.ok(push(frames[j]!));
      const gaveUp: Array<[number, number]> = [];
      ring.flush((e, i) => { gaveUp.push([e, i]); return true; }); // "the fd is dead": the rest refused with it at once
      assert.deepEqual(gaveUp, [[ENETDOWN, 0], [ENETDOWN, 1], [ENETDOWN, 2]]);
    } finally {
      ip('-n', nsV, 'link', 'set', 'x0', 'up');
    }
    // Up again: the socket's pending error (ENETDOWN, which the kernel set when the link went
    // down) is read as the port's receive path would, then the slots serve again, in full.
    const eb = Buffer.alloc(4);
    const lb = Buffer.alloc(4);
    lb.writeUInt32LE(4, 0);
    raw.getsockopt(tx.fd, SOL_SOCKET, SO_ERROR, eb, lb);
    await until(() => !inNs(nsV, 'ip', 'link', 'show', 'x1').includes('NO-CARRIER'), 5000);
    const again: Buffer[] = [];
    for (let j = 0; j < TX_RING_BLOCK_FRAMES; j++) {
      again.push(frame(40 + j, 64 + j));
      assert.ok(await until(() => push(again[j]!), 5000), `slot ${j} free again`);
    }
    assert.equal(push(frame(60, 64)), false, 'no slot left');
    const after: Array<[number, number]> = [];
    ring.flush((e, i) => { after.push([e, i]); return false; });
    assert.deepEqual(after, []);
    const got2: Buffer[] = [];
    await readMarked(brx, got2, again.length);
    assert.equal(got2.length, again.length);
    for (let j = 0; j < again.length; j++) assert.ok(got2[j]!.equals(again[j]!), `after the link came back, frame ${j} arrived as sent`);
    ring.close();
  });
}

for (const [label, env] of [
  ['recvmmsg and sendmmsg off (one syscall per frame)', { VSWITCH_RECVMMSG: '0', VSWITCH_SENDMMSG: '0' }],
  ['the TPACKET_V2 ring on the uplink', { VSWITCH_RX_RING: '1' }],
  ['the TPACKET_V2 transmit ring on the uplink', { VSWITCH_TX_RING: '1' }],
  ['both TPACKET_V2 rings on the uplink (one mapping)', { VSWITCH_RX_RING: '1', VSWITCH_TX_RING: '1' }],
] as const) {
  // The defaults (recvmmsg and sendmmsg on) are what test/dataplane/forwarding.test.ts runs.
  test(`the worker with ${label}: ping and TCP both ways through the uplink; a down uplink counts drops, not frames sent`, async () => {
    if (dp) { await dp.stop(); dp = undefined; for (const ns of [nsU, nsL, nsG]) { delNs(ns); addNs(ns); } }
    for (const [k, v] of Object.entries(env)) process.env[k] = v;
    try {
      dp = await DataPlane.start({ forwarders: hubUrl });
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
    guestAndUplink(dp, { sw: 1, guestPort: 1, uplinkPort: 2, nsU, nsL, nsG, guestMac: 0x020000000e01, lanIp: '10.79.0.1', guestIp: '10.79.0.2' });
    await uplinkChecks(dp);
    if ('VSWITCH_TX_RING' in env) {
      // The ring is what sends: a lone frame to the uplink goes by send() from the ring, not by
      // write() (which the worker's syscw counts), so a sparse ping costs one write(), the reply's.
      const w0 = workerSyscalls().writes;
      assert.match(inNs(nsG, 'ping', '-q', '-c', '20', '-i', '0.05', '-W', '2', '10.79.0.1'), / 0% packet loss/);
      const perPing = (workerSyscalls().writes - w0) / 20;
      assert.ok(perPing < 1.5, `${perPing.toFixed(2)} write() per ping: the uplink's frames went by write(), not the ring`);
    }
  });
}

for (const [label, env, sparseWanted] of [
  ['VSWITCH_LONE_DIRECT=1: a lone frame goes to the uplink by write() at once', '1', (x: number) => x >= 1.9],
  ['the defaults: a lone frame is staged and goes by a sendmmsg of one', undefined, (x: number) => x < 1.5],
] as const) {
  test(`the worker with ${label}, a flood\'s frames by sendmmsg`, async () => {
    if (dp) { await dp.stop(); dp = undefined; for (const ns of [nsU, nsL, nsG]) { delNs(ns); addNs(ns); } }
    if (env !== undefined) process.env.VSWITCH_LONE_DIRECT = env;
    try {
      dp = await DataPlane.start({ forwarders: hubUrl });
    } finally {
      delete process.env.VSWITCH_LONE_DIRECT;
    }
    guestAndUplink(dp, { sw: 1, guestPort: 1, uplinkPort: 2, nsU, nsL, nsG, guestMac: 0x020000000e02, lanIp: '10.79.0.1', guestIp: '10.79.0.2' });
    assert.match(inNs(nsG, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.79.0.1'), / 0% packet loss/); // neighbours known
    // Sparse: each request is alone in its batch, each reply too (one write() to the TAP).
    let w0 = workerSyscalls().writes;
    assert.match(inNs(nsG, 'ping', '-q', '-c', '30', '-i', '0.05', '-W', '2', '10.79.0.1'), / 0% packet loss/);
    const sparse = (workerSyscalls().writes - w0) / 30;
    // A flood: requests come in batches, staged and written by sendmmsg (not in syscw); the replies
    // to the TAP are one write() each.
    w0 = workerSyscalls().writes;
    assert.match(inNs(nsG, 'ping', '-q', '-f', '-l', '32', '-c', '3000', '-W', '2', '10.79.0.1'), / 0% packet loss/);
    const flood = (workerSyscalls().writes - w0) / 3000;
    console.log(`# write() per ping: sparse ${sparse.toFixed(2)}, flood ${flood.toFixed(2)}`);
    assert.ok(sparseWanted(sparse), `sparse: ${sparse.toFixed(2)} write() per ping`);
    assert.ok(flood < 1.5, `flood: ${flood.toFixed(2)} write() per ping (requests staged for sendmmsg)`);
  });
}

async function uplinkChecks(d: DataPlane): Promise<void> {
  const pinging = new CounterSpan(d.counters);
  assert.match(inNs(nsG, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.79.0.1'), / 0% packet loss/);
  assert.match(inNs(nsL, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.79.0.2'), / 0% packet loss/);
  pinging.end();
  assert.ok(pinging.port(2, PortCounter.RxFrames) >= 6 && pinging.port(2, PortCounter.TxFrames) >= 6, 'the pings crossed the uplink');

  const transfers = new CounterSpan(d.counters);
  const [got1, sent1] = await tcpTransfer(nsL, nsG, '10.79.0.1', 4 << 20);
  assert.equal(got1, sent1, 'guest -> LAN');
  const [got2, sent2] = await tcpTransfer(nsG, nsL, '10.79.0.2', 4 << 20);
  assert.equal(got2, sent2, 'LAN -> guest');
  transfers.end();
  assert.ok(transfers.port(2, PortCounter.RxBytes) > 4 << 20 && transfers.port(2, PortCounter.TxBytes) > 4 << 20);
  assert.equal(transfers.port(2, PortCounter.TxDrops), 0, 'nothing refused on the way');

  ip('-n', nsU, 'link', 'set', 'up0', 'down');
  try {
    const span = new CounterSpan(d.counters);
    try { inNs(nsG, 'ping', '-c', '2', '-i', '0.2', '-W', '1', '10.79.0.1'); assert.fail('a reply across a down uplink'); } catch (e) {
      if ((e as Error).name === 'AssertionError') throw e;
    }
    span.end();
    assert.ok(span.port(2, PortCounter.TxDrops) > 0, 'the staged frames were refused');
    assert.equal(span.port(2, PortCounter.TxFrames), 0, 'and are not counted as sent');
    assert.equal(span.drop(1, DropReason.EgressDown), span.port(2, PortCounter.TxDrops) + span.port(1, PortCounter.TxDrops), 'counted as egress-down');
    assert.equal(span.drop(1, DropReason.QueueFull), 0);
  } finally {
    ip('-n', nsU, 'link', 'set', 'up0', 'up');
  }
  assert.ok(await until(() => {
    try { inNs(nsG, 'ping', '-c', '1', '-W', '1', '10.79.0.1'); return true; } catch { return false; }
  }, 8000, 100), 'traffic again once the uplink is up');
}
