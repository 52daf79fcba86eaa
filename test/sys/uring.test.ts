/**
 * The raw io_uring (src/sys/uring.ts) on a real TAP (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
 * non-blocking, opened by devices.openTap) in a namespace this test makes and removes:
 *  - four IORING_OP_WRITE SQEs in one submit: each completes with its length, inline (the ring
 *    never waited, no iou-* kernel thread in this process), and the frames reach the TAP's
 *    kernel side (a packet socket on it) in order and whole;
 *  - a read with nothing queued completes -EAGAIN inline (RWF_NOWAIT: not armed for poll);
 *  - frames sent out of the TAP are read by a batch of reads in order, the read after the last
 *    one -EAGAIN; a zero-length read before them completes 0 and takes none;
 *  - a write the kernel refuses (the interface down: EIO) completes with that errno and the
 *    ring goes on.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openTap, openUplink } from '../../src/host/devices.js';
import { EAGAIN, EIO, allocBytes, close, raw } from '../../src/sys/libc.js';
import { IORING_OP_READ, IORING_OP_WRITE, RWF_NOWAIT, Uring } from '../../src/sys/uring.js';
import { addNs, delNs, inNs, ip, uniq, until } from '../helpers/netns.js';
import { iouThreads } from '../helpers/uring.js';

const ns = uniq('vsur');
const tap = uniq('urt');
const fds: number[] = [];
const rings: Uring[] = [];

before(() => {
  addNs(ns);
  inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
});

after(() => {
  try {
    for (const r of rings) r.close();
    for (const fd of fds) close(fd);
  } finally {
    delNs(ns);
  }
});

/** Frame k: broadcast, EtherType 0x88b5, k in its first payload byte, `len` bytes. */
function frame(k: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  b.fill(0xff, 0, 6);
  Buffer.from([0x02, 0, 0, 0, 0x77, k]).copy(b, 6);
  b.writeUInt16BE(0x88b5, 12);
  for (let i = 14; i < len; i++) b[i] = (k * 13 + i) & 0xff;
  b[14] = k;
  return b;
}

test('io_uring on a TAP: batched writes and reads complete inline; nothing queued reads -EAGAIN; a refused write reports its errno', async () => {
  const t = openTap({ netns: ns, name: tap, mac: 0x020000007701, persist: false });
  fds.push(t.fd);
  ip('-n', ns, 'link', 'set', tap, 'up');
  const ps = openUplink(tap, { netns: ns, vnet: false });
  fds.push(ps.fd);
  const ring = new Uring(16);
  rings.push(ring);
  const SLOT = 2048;
  const mem = allocBytes(16 * SLOT);

  // Four writes, one submit.
  const sent: Buffer[] = [];
  for (let k = 0; k < 4; k++) {
    const f = frame(k, 60 + k * 30);
    sent.push(f);
    mem.bytes.fill(0, k * SLOT, k * SLOT + 10); // virtio-net header: nothing offloaded
    mem.bytes.set(f, k * SLOT + 10);
    ring.prep(k, IORING_OP_WRITE, t.fd, mem.addr + k * SLOT, 10 + f.length, RWF_NOWAIT);
    ring.queue(k);
  }
  assert.equal(ring.submit(), 4);
  for (let k = 0; k < 4; k++) assert.equal(ring.result(k), 10 + sent[k]!.length, `write ${k} took the whole frame`);
  assert.equal(ring.waits, 0, 'the writes completed inside io_uring_enter');
  assert.deepEqual(iouThreads(), [], 'no io-wq worker');
  const rbuf = Buffer.alloc(2048);
  const got: Buffer[] = [];
  await until(() => {
    for (;;) {
      const r = Number(raw.recv(ps.fd, rbuf, rbuf.length, 0));
      if (r < 0) break;
      if (r >= 14 && rbuf.readUInt16BE(12) === 0x88b5) got.push(Buffer.from(rbuf.subarray(0, r)));
    }
    return got.length >= 4;
  }, 5000);
  assert.equal(got.length, 4, 'every frame reached the kernel side');
  for (let k = 0; k < 4; k++) assert.ok(got[k]!.equals(sent[k]!), `frame ${k} arrived in order and whole`);

  // A read with nothing queued: -EAGAIN, inline.
  for (let k = 0; k < 8; k++) ring.prep(8 + k, IORING_OP_READ, t.fd, mem.addr + (8 + k) * SLOT, SLOT, RWF_NOWAIT);
  ring.queue(8);
  assert.equal(ring.submit(), 1);
  assert.equal(ring.result(8), -EAGAIN);
  assert.equal(ring.waits, 0, 'the empty read completed inside io_uring_enter (not armed for poll)');

  // Three frames out of the TAP, read by batches of four reads.
  const out: Buffer[] = [];
  for (let k = 0; k < 3; k++) {
    const f = frame(20 + k, 60 + k);
    out.push(f);
    assert.equal(Number(raw.send(ps.fd, f, f.length, 0)), f.length);
  }
  // A zero-length read (the probe fd-port.ts makes: RWF_NOWAIT accepted) completes 0 and takes no frame.
  ring.prep(7, IORING_OP_READ, t.fd, 0, 0, RWF_NOWAIT);
  ring.queue(7);
  assert.equal(ring.submit(), 1);
  assert.equal(ring.result(7), 0);
  const read: Buffer[] = [];
  let sawEagain = false;
  await until(() => {
    for (let k = 0; k < 4; k++) ring.queue(8 + k);
    assert.equal(ring.submit(), 4);
    for (let k = 0; k < 4; k++) {
      const r = ring.result(8 + k);
      if (r === -EAGAIN) { sawEagain = read.length >= 3; continue; }
      assert.ok(r > 10, `read ${k}: a frame (${r})`);
      const f = Buffer.from(mem.bytes.subarray((8 + k) * SLOT + 10, (8 + k) * SLOT + r));
      if (f.readUInt16BE(12) === 0x88b5) read.push(f);
    }
    return sawEagain;
  }, 5000);
  assert.equal(read.length, 3);
  for (let k = 0; k < 3; k++) assert.ok(read[k]!.equals(out[k]!), `frame ${k} read in order and whole`);
  assert.equal(ring.waits, 0);
  assert.deepEqual(iouThreads(), []);

  // The interface down: a write is refused with EIO, and the next one after it is up goes through.
  ip('-n', ns, 'link', 'set', tap, 'down');
  ring.queue(0);
  assert.equal(ring.submit(), 1);
  assert.equal(ring.result(0), -EIO);
  ip('-n', ns, 'link', 'set', tap, 'up');
  ring.queue(0);
  assert.equal(ring.submit(), 1);
  assert.equal(ring.result(0), 10 + sent[0]!.length);
  assert.equal(ring.waits, 0);
});

test('Uring refuses a size that is not a power of two', () => {
  assert.throws(() => new Uring(3), RangeError);
  assert.throws(() => new Uring(0), RangeError);
});
