/**
 * Issue 9, item 15: what a reconciliation pass looks at. Marks (reconcile/marks.ts) hand a part
 * the keys marked and those whose retry came, everything once after markAll; and, through the
 * reconciler on a ManualClock, a QEMU NIC whose QEMU refuses the connection is retried with a
 * back-off (retryMs doubled up to retryMaxMs), one whose socket file does not exist waits for
 * it to appear (the directory watch) with retryMaxMs only as the safety net, and a command
 * about one NIC makes the pass look at that NIC only.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { controlPlane } from '../helpers/control.js';
import { Marks } from '../../src/control/reconcile/marks.js';
import { Reconciler } from '../../src/control/reconcile.js';
import { State } from '../../src/control/state.js';
import { COUNTER_SLOTS } from '../../src/forward/counters.js';
import type { ToWorker } from '../../src/protocol/dataplane.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/netlab.js';

const tmp = mkdtempSync(join(tmpdir(), 'vswmarks-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('Marks: marked keys, a full pass once, retries when due, the latest retry of a key wins, a visit ends its retry', () => {
  const m = new Marks<string>();
  assert.equal(m.pending, true, 'a new Marks looks at everything first');
  assert.deepEqual([...m.take(0, () => ['a', 'b'])], ['a', 'b']);
  assert.equal(m.pending, false);
  assert.deepEqual([...m.take(0, () => ['a', 'b'])], [], 'nothing marked, nothing due');
  m.mark('c');
  assert.deepEqual([...m.take(0, () => ['a'])], ['c'], 'only what was marked');
  m.retryAt('x', 100);
  m.retryAt('y', 50);
  m.retryAt('x', 30); // replaces 100
  assert.equal(m.nextRetry(), 30);
  assert.deepEqual([...m.take(29, () => [])], []);
  assert.deepEqual([...m.take(30, () => [])], ['x']);
  assert.equal(m.nextRetry(), 50, 'the replaced retry of x is gone');
  m.mark('y');
  assert.deepEqual([...m.take(31, () => [])], ['y'], 'visited before its retry time');
  assert.equal(m.nextRetry(), null, 'a visit ends its retry');
  assert.deepEqual([...m.take(1000, () => [])], []);
  for (let i = 0; i < 1000; i++) m.retryAt(`k${i}`, 1000 - i);
  assert.equal(m.nextRetry(), 1);
  assert.equal(m.take(500, () => []).size, 500);
  assert.equal(m.nextRetry(), 501);
  m.markAll();
  assert.deepEqual([...m.take(500, () => ['u'])], ['u'], 'a full pass: the universe (retries not yet due stay)');
  assert.equal(m.nextRetry(), 501);
});

class FakeDp extends EventEmitter {
  readonly counters = new Float64Array(COUNTER_SLOTS);
  posts: ToWorker[] = [];
  post(m: ToWorker): void { this.posts.push(m); }
}

function setup(dir: string, connect: (path: string) => number) {
  const state = new State();
  const clock = new ManualClock();
  const t0 = clock.now();
  const dev = {
    ensureNetns: () => false, netnsMadeHere: () => false, deleteNetns: () => {}, destroyTap: () => {},
    openTap: (): never => { throw new Error('no TAPs'); },
    openUplink: (): never => { throw new Error('no uplinks'); },
    connectQemuStream: connect,
    bindQemuDgram: (): never => { throw new Error('no dgram'); },
  };
  const w = Object.assign(new EventEmitter(), { watch() {}, unwatch() {} });
  const dp = new FakeDp();
  const rec = new Reconciler({ state, dataPlane: dp, devices: dev, watcher: w, log: pino({ level: 'silent' }), retryMs: 20, retryMaxMs: 160, clock, qemuDir: dir });
  const cp = controlPlane(state, { interfaceExists: () => false }, { effects: rec, runtime: rec });
  const run = (c: string) => { const r = cp.execute(c); assert.ok(r.ok, `${c}: ${r.lines}`); };
  return { clock, t0, rec, run, dp };
}

const refused = (): never => { throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }); };

test('QEMU refusing the connection: retries back off from retryMs to retryMaxMs; a command about another NIC does not retry it', () => {
  const tries: Array<[string, number]> = [];
  let clockRef: ManualClock | null = null;
  let t0 = 0;
  const { clock, t0: start, rec, run } = setup(join(tmp, 'refused'), (path) => { tries.push([path.split('/').pop()!, clockRef!.now() - t0]); return refused(); });
  clockRef = clock;
  t0 = start;
  run('DEFINE VSWITCH SW1');
  run('DEFINE GUEST VM1 QEMU');
  run('DEFINE NIC 600 FOR VM1');
  run('SET VSWITCH SW1 GRANT VM1'); run('COUPLE 600 TO SYSTEM SW1 FOR VM1');
  clock.advance(700);
  assert.deepEqual(tries.map((t) => t[1]), [0, 20, 60, 140, 300, 460, 620], 'waits of 20, 40, 80, 160, 160, 160 ms');
  tries.length = 0;
  run('DEFINE GUEST VM2 QEMU');
  run('DEFINE NIC 600 FOR VM2');
  clock.drain();
  assert.deepEqual(tries, [], 'an uncoupled NIC of another guest: nothing is tried for VM1');
  rec.stop();
});

test('QEMU socket not there yet: no retry but the safety net; the file appearing brings the NIC back at once', async () => {
  const dir = join(tmp, 'watched');
  let there = false;
  const tries: number[] = [];
  let clockRef: ManualClock | null = null;
  const { clock, t0, rec, run, dp } = setup(dir, () => {
    tries.push(clockRef!.now());
    if (!there) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return refused();
  });
  clockRef = clock;
  run('DEFINE VSWITCH SW1');
  run('DEFINE GUEST VM1 QEMU');
  run('DEFINE NIC 600 FOR VM1');
  run('SET VSWITCH SW1 GRANT VM1'); run('COUPLE 600 TO SYSTEM SW1 FOR VM1');
  clock.advance(159);
  assert.deepEqual(tries.map((t) => t - t0), [0], 'waiting for the file, not retrying every retryMs');
  clock.advance(1);
  assert.deepEqual(tries.map((t) => t - t0), [0, 160], 'the safety net: retryMaxMs');
  there = true;
  writeFileSync(join(dir, 'vm1-0600.sock'), ''); // stands in for QEMU's socket
  assert.ok(await waitFor(() => { clock.drain(); return tries.length === 3; }, 2000, 5), 'tried as soon as the file appeared');
  assert.equal(tries[2], tries[1], 'at once, not after a timer');
  assert.equal(dp.posts.filter((m) => m.op === 'port-add').length, 0);
  rec.stop();
});
