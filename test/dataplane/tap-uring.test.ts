/**
 * TAP ports through io_uring (issue 14, VSWITCH_URING; src/dataplane/fd-port.ts, packet-socket.ts
 * PacketBatchTx, src/sys/uring.ts), the whole worker on the real kernel, with the lever on and,
 * for comparison, off: two guest TAPs on a hub switch (test/dataplane/hub-forwarder.ts), each in
 * a namespace of its own (unique names, removed even on failure).
 *  - 48 frames of 60 to 1,400 bytes (small ones staged and written in one io_uring_enter, large
 *    ones written at once after what is staged) sent out of guest A's interface arrive at guest
 *    B's interface (a packet socket there) in order and byte for byte;
 *  - with guest B's interface down, every frame to it is refused (EIO) and counted as a TxDrop
 *    and an egress-down drop, not as sent;
 *  - with the lever on, each TAP port has its ring (an anon_inode:[io_uring] fd of this process)
 *    and no io-wq worker thread (iou-wrk-*) appeared: the reads and writes completed inline.
 * And one TapPort in this process with the lever on (fd-port.js loaded after the variable is
 * set), so each path is taken for certain: receive() reads a burst queued on the TAP in order,
 * the one after it through io_uring (the first call read more than one frame), a fatal error
 * (the fd's interface deleted) comes back as -errno; send() stages small frames and commit()
 * writes them (one io_uring_enter) with a large one written at once between, all in order;
 * frames refused on commit (the interface down) are left in txRefused with ENETDOWN.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap, openUplink } from '../../src/host/devices.js';
import { DropReason } from '../../src/forward/api.js';
import { PortCounter, portSlot } from '../../src/forward/counters.js';
import { EBADFD, ENETDOWN, close, raw } from '../../src/sys/libc.js';
import { addNs, delNs, inNs, ip, uniq, until } from '../helpers/netns.js';
import { CounterSpan } from './counter-span.js';
import { ioUringFds as rings, iouThreads } from '../helpers/uring.js';

const hubUrl = new URL('./hub-forwarder.js', import.meta.url).href;
const nsA = uniq('vsua');
const nsB = uniq('vsub');
let dp: DataPlane | undefined;
const fds: number[] = [];

before(() => {
  for (const ns of [nsA, nsB]) {
    addNs(ns);
    inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  }
});

after(async () => {
  try {
    for (const fd of fds.splice(0)) close(fd);
    if (dp) await dp.stop();
  } finally {
    for (const ns of [nsA, nsB]) delNs(ns);
  }
});

/** Frame k: broadcast, EtherType 0x88b5, k and `round` in its first payload bytes, `len` bytes. */
function frame(round: number, k: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  b.fill(0xff, 0, 6);
  Buffer.from([0x02, 0, 0, 0, round, k]).copy(b, 6);
  b.writeUInt16BE(0x88b5, 12);
  for (let i = 14; i < len; i++) b[i] = (k * 31 + i + round) & 0xff;
  b[14] = round;
  b[15] = k;
  return b;
}

/** Send one frame of `round` from packet socket `from` until `to` hears one; false if none came in 8 s. */
async function hears(from: number, to: number, round: number, buf: Buffer): Promise<boolean> {
  const got: Buffer[] = [];
  return until(() => {
    const f = frame(round, 0, 60);
    raw.send(from, f, f.length, 0);
    drain(to, round, got, buf);
    return got.length > 0;
  }, 8000, 50);
}

/** Read every 0x88b5 frame of `round` waiting on packet socket fd into `got`. */
function drain(fd: number, round: number, got: Buffer[], buf: Buffer): void {
  for (;;) {
    const r = Number(raw.recv(fd, buf, buf.length, 0));
    if (r < 0) return;
    if (r >= 16 && buf.readUInt16BE(12) === 0x88b5 && buf[14] === round) got.push(Buffer.from(buf.subarray(0, r)));
  }
}

for (const uring of ['1', '0']) {
  test(`VSWITCH_URING=${uring}: a burst from guest A reaches guest B in order and whole; frames to a down TAP count as drops`, async () => {
    if (dp) { await dp.stop(); dp = undefined; }
    for (const fd of fds.splice(0)) close(fd);
    const ringsBefore = rings();
    process.env.VSWITCH_URING = uring;
    try {
      dp = await DataPlane.start({ forwarders: hubUrl });
    } finally {
      delete process.env.VSWITCH_URING;
    }
    const tag = uring === '1' ? 'u' : 'p';
    const a = openTap({ netns: nsA, name: `ga${tag}`, mac: 0x020000007a01, persist: false });
    const b = openTap({ netns: nsB, name: `gb${tag}`, mac: 0x020000007b01, persist: false });
    dp.post({ op: 'switch-add', sw: 1, mode: 'ETHERNET', queueBytes: 0 });
    dp.post({ op: 'port-add', port: 1, sw: 1, role: 'nic', kind: 'tap', fd: a.fd, mac: 0x020000007a01, vnet: true, name: 'A' });
    dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'tap', fd: b.fd, mac: 0x020000007b01, vnet: true, name: 'B' });
    ip('-n', nsA, 'link', 'set', `ga${tag}`, 'up');
    ip('-n', nsB, 'link', 'set', `gb${tag}`, 'up');
    const sa = openUplink(`ga${tag}`, { netns: nsA, vnet: false });
    const sb = openUplink(`gb${tag}`, { netns: nsB, vnet: false });
    fds.push(sa.fd, sb.fd);
    const d = dp;
    const buf = Buffer.alloc(2048);

    // Warm-up until B hears A (the ports are added by the worker asynchronously).
    assert.ok(await hears(sa.fd, sb.fd, 1, buf), 'B hears A');
    assert.equal(rings() - ringsBefore, uring === '1' ? 2 : 0, 'each TAP port has its io_uring (with the lever on)');
    const warm: Buffer[] = [];
    // Let the warm-up frames still on their way through (A's reads and B's writes agree, twice in a row).
    const c = d.counters;
    let last = -1;
    assert.ok(await until(() => {
      drain(sb.fd, 1, warm, buf);
      const rx = c[portSlot(1, PortCounter.RxFrames)]!;
      const settled = rx === c[portSlot(2, PortCounter.TxFrames)] && rx === last;
      last = rx;
      return settled;
    }, 8000, 100), 'the warm-up is through');

    const span = new CounterSpan(d.counters);
    const sent: Buffer[] = [];
    for (let k = 0; k < 48; k++) {
      const len = k % 5 === 4 ? 1000 + k * 8 : 60 + ((k * 37) % 197); // every fifth one larger than the staging slots
      const f = frame(2, k, len);
      sent.push(f);
      assert.equal(Number(raw.send(sa.fd, f, f.length, 0)), f.length);
    }
    const got: Buffer[] = [];
    await until(() => { drain(sb.fd, 2, got, buf); return got.length >= 48; }, 8000);
    span.end();
    assert.equal(got.length, 48, 'every frame arrived');
    for (let k = 0; k < 48; k++) assert.ok(got[k]!.equals(sent[k]!), `frame ${k} (${sent[k]!.length} bytes) arrived in order and whole`);
    assert.equal(span.port(2, PortCounter.TxFrames), 48);
    assert.equal(span.port(2, PortCounter.TxDrops), 0);

    // B down: its TAP refuses the writes (EIO), each counted as a drop and not as sent.
    ip('-n', nsB, 'link', 'set', `gb${tag}`, 'down');
    const down = new CounterSpan(d.counters);
    for (let k = 0; k < 12; k++) {
      const f = frame(3, k, k % 4 === 3 ? 1200 : 80);
      assert.equal(Number(raw.send(sa.fd, f, f.length, 0)), f.length);
    }
    assert.ok(await until(() => down.port(1, PortCounter.RxFrames) >= 12 && down.port(2, PortCounter.TxDrops) >= 12, 8000), 'the frames were read and refused');
    down.end();
    assert.equal(down.port(2, PortCounter.TxDrops), 12);
    assert.equal(down.port(2, PortCounter.TxFrames), 0, 'refused frames are not counted as sent');
    assert.equal(down.drop(1, DropReason.EgressDown), 12, 'counted as egress-down');

    // Up again: frames flow.
    ip('-n', nsB, 'link', 'set', `gb${tag}`, 'up');
    assert.ok(await hears(sa.fd, sb.fd, 4, buf), 'traffic again once B is up');
    assert.deepEqual(iouThreads(), [], 'no io-wq worker thread: the reads and writes completed inline');
  });
}

test('TapPort with VSWITCH_URING=1: receive through io_uring in order, send/commit in order with a large frame between, refusals in txRefused', async () => {
  process.env.VSWITCH_URING = '1';
  const { TapPort } = await import('../../src/dataplane/tap-port.js');
  const { FrameMemory } = await import('../../src/dataplane/port.js');
  delete process.env.VSWITCH_URING;
  const name = uniq('gt');
  const t = openTap({ netns: nsA, name, mac: 0x020000007c01, persist: false });
  ip('-n', nsA, 'link', 'set', name, 'up');
  const ps = openUplink(name, { netns: nsA, vnet: false });
  fds.push(ps.fd);
  const before = rings();
  const port = new TapPort(7, 1, 'T', t.fd, true);
  try {
    assert.equal(rings(), before + 1, 'the port made its io_uring');
    const mem = new FrameMemory();
    const buf = Buffer.alloc(2048);
    // Two bursts queued on the TAP before each receive(): the first read by read() (the port
    // starts there), the second, after a call that took 30, by io_uring rounds.
    for (const round of [5, 6]) {
      const sent: Buffer[] = [];
      for (let k = 0; k < 30; k++) {
        const f = frame(round, k, 60 + k * 40);
        sent.push(f);
        assert.equal(Number(raw.send(ps.fd, f, f.length, 0)), f.length);
      }
      const got: Buffer[] = [];
      await until(() => {
        const n = port.receive(mem, 64);
        assert.ok(n >= 0, `receive: ${n}`);
        for (let j = 0; j < n; j++) {
          assert.equal(mem.rxEth[j], mem.rxHdr[j]! + 10, 'the virtio-net header before the frame');
          const f = Buffer.from(mem.bytes.subarray(mem.rxEth[j], mem.rxEnd[j]));
          if (f.readUInt16BE(12) === 0x88b5 && f[14] === round) got.push(f);
        }
        return got.length >= 30;
      }, 5000);
      assert.equal(got.length, 30, `round ${round}: every frame read`);
      for (let k = 0; k < 30; k++) assert.ok(got[k]!.equals(sent[k]!), `round ${round}: frame ${k} read in order and whole`);
    }
    assert.equal(port.rxErrors, 0);

    // send(): small frames staged, a large one written at once behind them, commit() writes the rest.
    const out: Buffer[] = [];
    const hdr = 16; // where the header goes in the transmit slot
    for (let k = 0; k < 20; k++) {
      const f = frame(8, k, k === 9 ? 1400 : 60 + k);
      out.push(f);
      mem.bytes.fill(0, mem.txSlot + hdr, mem.txSlot + hdr + 10);
      mem.bytes.set(f, mem.txSlot + hdr + 10);
      assert.equal(port.send(mem.bytes, mem.addr, mem.txSlot + hdr, mem.txSlot + hdr + 10 + f.length, true), 0);
      mem.bytes.fill(0xee, mem.txSlot + hdr, mem.txSlot + hdr + 10 + f.length); // the slot is reused: staging copied it
    }
    assert.equal(port.txQueued, 10, 'the ten small frames after the large one are staged');
    port.commit();
    assert.equal(port.txQueued, 0);
    assert.equal(port.txRefused, 0);
    const seen: Buffer[] = [];
    await until(() => { drain(ps.fd, 8, seen, buf); return seen.length >= 20; }, 5000);
    assert.equal(seen.length, 20);
    for (let k = 0; k < 20; k++) assert.ok(seen[k]!.equals(out[k]!), `frame ${k} (${out[k]!.length} bytes) written in order and whole`);

    // A lone frame (stage false, the only one of its batch) is written at once, not staged;
    // behind frames already staged it goes after them.
    const lone: Buffer[] = [];
    for (let k = 0; k < 3; k++) {
      const f = frame(8, 100 + k, 70 + k);
      lone.push(f);
      mem.bytes.fill(0, mem.txSlot + hdr, mem.txSlot + hdr + 10);
      mem.bytes.set(f, mem.txSlot + hdr + 10);
      assert.equal(port.send(mem.bytes, mem.addr, mem.txSlot + hdr, mem.txSlot + hdr + 10 + f.length, k < 2), 0);
    }
    assert.equal(port.txQueued, 0, 'the lone frame wrote the two staged before it, then itself');
    const seenLone: Buffer[] = [];
    await until(() => { drain(ps.fd, 8, seenLone, buf); return seenLone.length >= 3; }, 5000);
    for (let k = 0; k < 3; k++) assert.ok(seenLone[k]!.equals(lone[k]!), `lone test: frame ${k} in order and whole`);

    // The interface down: what commit() writes is refused (EIO, link down: ENETDOWN) and left for the egress.
    ip('-n', nsA, 'link', 'set', name, 'down');
    for (let k = 0; k < 5; k++) {
      const f = frame(9, k, 100);
      mem.bytes.fill(0, mem.txSlot + hdr, mem.txSlot + hdr + 10);
      mem.bytes.set(f, mem.txSlot + hdr + 10);
      assert.equal(port.send(mem.bytes, mem.addr, mem.txSlot + hdr, mem.txSlot + hdr + 10 + f.length, true), 0);
    }
    port.commit();
    assert.equal(port.txRefused, 5);
    assert.equal(port.txRefusedBytes, 5 * 100, 'Ethernet bytes, the header not counted');
    assert.equal(port.txRefusedErrno, ENETDOWN);
    assert.equal(port.failed, 0, 'down is not fatal');

    // The interface deleted: a read is fatal (EBADFD), returned as -errno.
    ip('-n', nsA, 'link', 'del', name);
    assert.equal(port.receive(mem, 64), -EBADFD);
  } finally {
    port.close();
  }
});
