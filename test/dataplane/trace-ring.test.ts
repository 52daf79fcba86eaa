/**
 * The trace ring between the worker's TraceTap (src/dataplane/trace-tap.ts) and the main
 * thread's TraceReader (src/host/dataplane.ts), without threads: records come out in order with
 * their fields, a received frame's record waits for its outcome (and the sends it caused stay
 * behind it), the ring wraps with padding, a full ring loses frames and counts them (never
 * overwrites), and the filters (port, uplink, VLAN, snaplen) hold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TraceTap } from '../../src/dataplane/trace-tap.js';
import { TraceReader, type DataPlane, type TraceRecord } from '../../src/host/dataplane.js';
import { allocBytes } from '../../src/sys/libc.js';
import { TRACE_CTL_BYTES, TRACE_IN, TRACE_OUT } from '../../src/protocol/dataplane.js';

const RING = 1 << 16;

function session(filter: { port?: number; uplink?: boolean; vlan?: number; snaplen?: number } = {}) {
  const tap = new TraceTap();
  const ring = allocBytes(RING);
  const ctl = new SharedArrayBuffer(TRACE_CTL_BYTES);
  const posted: unknown[] = [];
  const fakeDp = { post: (m: unknown) => posted.push(m) } as unknown as DataPlane;
  let stop!: (r: string | undefined) => void;
  const stopped = new Promise<string | undefined>((r) => { stop = r; });
  const reader = new TraceReader(fakeDp, 1, ring, RING, ctl, stopped);
  const refused = tap.start({ op: 'trace-start', trace: 1, sw: 3, port: filter.port ?? -1, uplink: filter.uplink ?? false,
    vlan: filter.vlan ?? -1, snaplen: filter.snaplen ?? 100000, ring: ring.addr, ringBytes: RING, ctl });
  assert.equal(refused, null);
  const frames = allocBytes(4096);
  const all = (): TraceRecord[] => {
    const out: TraceRecord[] = [];
    reader.drain((r) => { out.push({ ...r, data: r.data.slice() }); return true; });
    return out;
  };
  return { tap, reader, frames, all, stop, posted };
}

/** A frame of `len` bytes in `m` at offset `at`, its first byte `tag` (an 802.1Q tag of `vlan` if given). */
function frame(m: { bytes: Uint8Array }, at: number, len: number, tag: number, vlan = -1): void {
  m.bytes.fill(tag, at, at + len);
  if (vlan >= 0) { m.bytes[at + 12] = 0x81; m.bytes[at + 13] = 0; m.bytes[at + 14] = vlan >> 8; m.bytes[at + 15] = vlan & 0xff; }
}

test('trace ring: records in order with their fields; a received frame waits for its outcome', () => {
  const { tap, frames, all } = session();
  assert.equal(tap.active, 1);
  const mask = tap.watch(3, 7, false);
  assert.notEqual(mask, 0);
  assert.equal(tap.watch(4, 7, false), 0, 'another switch is not watched');
  frame(frames, 0, 60, 0x11);
  frame(frames, 100, 70, 0x22);
  const t0 = Date.now() * 1000;
  tap.recordIn(mask, 7, frames.bytes, frames.addr, 0, 60);
  tap.recordOut(3, 8, false, 0, frames.bytes, frames.addr, 100, 170);
  assert.deepEqual(all(), [], 'nothing published before the received frame\'s outcome');
  tap.finishIn(mask, 5);
  const r = all();
  assert.equal(r.length, 2);
  assert.deepEqual([r[0].port, r[0].direction, r[0].drop, r[0].origLen, r[0].data.length, r[0].data[0]], [7, TRACE_IN, 5, 60, 60, 0x11]);
  assert.deepEqual([r[1].port, r[1].direction, r[1].drop, r[1].origLen, r[1].data[69]], [8, TRACE_OUT, 0, 70, 0x22]);
  assert.ok(r[0].micros >= t0 - 1000 && r[1].micros >= r[0].micros && r[1].micros < t0 + 60e6, 'wall-clock microseconds, in order');
  // An outbound record with no received frame pending (a tick's frame) is published at once.
  tap.recordOut(3, 9, true, 0, frames.bytes, frames.addr, 0, 60);
  assert.equal(all().length, 1);
});

test('trace ring: wraps with padding, and a full ring counts lost frames instead of overwriting', () => {
  const { tap, reader, frames, all } = session();
  const mask = tap.watch(3, 1, false);
  let seq = 0;
  const put = (len: number): void => {
    frame(frames, 0, len, seq++ & 0xff);
    tap.recordIn(mask, 1, frames.bytes, frames.addr, 0, len);
    tap.finishIn(mask, 0);
  };
  // 1000-byte frames (1032-byte records): 63 fit in 64 KiB; the 64th is lost.
  for (let i = 0; i < 64; i++) put(1000);
  assert.equal(reader.written, 63);
  assert.equal(reader.lost, 1);
  let got = all();
  assert.deepEqual(got.map((r) => r.data[0]), Array.from({ length: 63 }, (_, i) => i));
  // Room again: the next records wrap around the end of the ring (a padding record in between).
  for (let i = 0; i < 40; i++) put(1500);
  got = all();
  assert.equal(got.length, 40);
  assert.deepEqual(got.map((r) => r.data[0]), Array.from({ length: 40 }, (_, i) => (64 + i) & 0xff));
  assert.ok(got.every((r) => r.data.length === 1500 && r.data.every((v) => v === r.data[0])), 'no record torn by the wrap');
  assert.equal(reader.lost, 1);
});

test('trace ring: filters by port, uplink and VLAN; snaplen cuts the copy, not the original length', () => {
  const one = session({ port: 5, snaplen: 20 });
  frame(one.frames, 0, 100, 1);
  assert.equal(one.tap.watch(3, 6, false), 0);
  const m = one.tap.watch(3, 5, false);
  one.tap.recordIn(m, 5, one.frames.bytes, one.frames.addr, 0, 100);
  one.tap.finishIn(m, 0);
  one.tap.recordOut(3, 6, false, 0, one.frames.bytes, one.frames.addr, 0, 100);
  const r = one.all();
  assert.equal(r.length, 1);
  assert.deepEqual([r[0].port, r[0].origLen, r[0].data.length], [5, 100, 20]);

  const up = session({ uplink: true });
  assert.equal(up.tap.watch(3, 5, false), 0);
  assert.notEqual(up.tap.watch(3, 9, true), 0);

  const v = session({ vlan: 100 });
  frame(v.frames, 0, 64, 2, 100);
  frame(v.frames, 100, 64, 3, 200);
  frame(v.frames, 200, 64, 4);
  for (const at of [0, 100, 200]) v.tap.recordOut(3, 1, false, 0, v.frames.bytes, v.frames.addr, at, at + 64);
  assert.deepEqual(v.all().map((x) => x.data[0]), [2], 'only VLAN 100');
});

test('trace ring: stop and close', async () => {
  const { tap, reader, posted, stop } = session();
  assert.equal(tap.stop(2), false);
  assert.equal(tap.stop(1), true);
  assert.equal(tap.active, 0);
  assert.equal(tap.watch(3, 1, false), 0);
  const closed = reader.close();
  assert.deepEqual(posted, [{ op: 'trace-stop', trace: 1 }]);
  stop(undefined);
  await closed;
  assert.equal(reader.drain(() => true), 0, 'a closed reader reads nothing');
});
