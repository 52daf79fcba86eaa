/**
 * Issue 9, item 15: the reconciler's cost does not grow with the number of NICs. The command
 * engine and the reconciler run in this process as in the daemon's main thread, with the real
 * QEMU socket calls (src/host/devices.ts) in a temp directory where no QEMU ever listens, a fake
 * data plane and the system clock:
 *  - DEFINE NIC (QEMU guest, not coupled) is timed at 10 and at 5,000 coupled QEMU NICs: the
 *    median at 5,000 is within FLAT_FACTOR of the median at 10;
 *  - the 5,000 coupled NICs then wait for their QEMU: the main thread's CPU (process.cpuUsage)
 *    over IDLE_MS stays under IDLE_CPU_GOAL of one core (the retries back off and the socket
 *    directory is watched instead);
 *  - a QEMU that starts listening after all that is connected at once, despite the back-off.
 * The figures are printed with console.log.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { controlPlane } from '../helpers/control.js';
import type { QemuNicView } from '../../src/control/qemu-nics.js';
import { Reconciler } from '../../src/control/reconcile.js';
import { State } from '../../src/control/state.js';
import { COUNTER_SLOTS } from '../../src/forward/counters.js';
import { bindQemuDgram, connectQemuStream } from '../../src/host/devices.js';
import type { ToWorker } from '../../src/protocol/dataplane.js';
import { sleep, waitFor } from '../helpers/netlab.js';

const NICS = 5000;
const SAMPLES = 40;
const FLAT_FACTOR = 2;
const IDLE_MS = 10_000;
/** Share of one core the main thread may use while the NICs wait. */
const IDLE_CPU_GOAL = 0.02;

const tmp = mkdtempSync(join(tmpdir(), 'vswscale-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

class FakeDp extends EventEmitter {
  readonly counters = new Float64Array(COUNTER_SLOTS);
  portsAdded = 0;
  post(m: ToWorker): void {
    if (m.op === 'port-add') { closeSync(m.fd); this.portsAdded++; }
  }
}

const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

test(`DEFINE NIC costs the same at 10 and ${NICS} NICs; ${NICS} NICs waiting for QEMU leave the main thread idle`, async () => {
  const dir = join(tmp, 'qemu');
  const state = new State();
  const dp = new FakeDp();
  const watcher = Object.assign(new EventEmitter(), { watch() {}, unwatch() {} });
  const dev = {
    ensureNetns: () => false, netnsMadeHere: () => false, deleteNetns() {}, destroyTap() {},
    openTap(): never { throw new Error('no TAPs here'); },
    openUplink(): never { throw Object.assign(new Error('no such device'), { code: 'ENODEV' }); },
    connectQemuStream, bindQemuDgram,
  };
  const rec = new Reconciler({ state, dataPlane: dp, devices: dev, watcher, log: pino({ level: 'silent' }), retryMs: 1000, qemuDir: dir });
  const cp = controlPlane(state, { interfaceExists: () => false }, { effects: rec, runtime: rec });
  const run = (c: string): void => { const r = cp.execute(c); assert.ok(r.ok, `${c}: ${r.lines}`); };
  const coupled = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      run(`DEFINE GUEST C${i} QEMU`);
      run(`DEFINE NIC 600 FOR C${i}`);
      run(`SET VSWITCH SW1 GRANT C${i}`);
      run(`COUPLE 600 TO SYSTEM SW1 FOR C${i}`);
    }
  };
  const timed = (c: string): number => { const t0 = performance.now(); run(c); return performance.now() - t0; };
  /** Median ms of DEFINE NIC, and of COUPLE, on fresh guests (`tag` keeps the guest names apart). */
  const defineNicMs = (tag: string): { define: number; couple: number } => {
    for (let i = 0; i < SAMPLES; i++) run(`DEFINE GUEST ${tag}${i} QEMU`);
    for (let i = 0; i < SAMPLES; i++) run(`SET VSWITCH SW1 GRANT ${tag}${i}`);
    const define: number[] = [];
    const couple: number[] = [];
    for (let i = 0; i < SAMPLES; i++) define.push(timed(`DEFINE NIC 600 FOR ${tag}${i}`));
    for (let i = 0; i < SAMPLES; i++) couple.push(timed(`COUPLE 600 TO SYSTEM SW1 FOR ${tag}${i}`));
    return { define: median(define), couple: median(couple) };
  };
  try {
    run('DEFINE VSWITCH SW1');
    defineNicMs('W'); // the code warmed up (JIT) before anything is timed
    coupled(0, 10);
    const { define: at10, couple: couple10 } = defineNicMs('A');
    const t0 = performance.now();
    coupled(10, NICS);
    const buildS = (performance.now() - t0) / 1000;
    const { define: atN, couple: coupleN } = defineNicMs('B');
    await sleep(1500); // the first connect attempts and retries of the new NICs are behind us
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    await sleep(IDLE_MS);
    const cpu = process.cpuUsage(cpu0);
    const share = (cpu.user + cpu.system) / 1000 / (performance.now() - w0);
    const q = rec.qemuNic('C77', 0x600) as QemuNicView;
    console.log(`# FIGURE DEFINE NIC median ${at10.toFixed(3)} ms at 10 NICs, ${atN.toFixed(3)} ms at ${NICS} coupled QEMU NICs (x${(atN / at10).toFixed(2)}); ${NICS * 3} commands in ${buildS.toFixed(1)} s; main thread CPU while ${NICS} NICs wait for QEMU: ${(share * 100).toFixed(2)}% of a core over ${IDLE_MS / 1000} s; COUPLE median ${couple10.toFixed(3)} ms at 10, ${coupleN.toFixed(3)} ms at ${NICS}`);
    assert.ok(atN <= at10 * FLAT_FACTOR || atN < 0.1, `DEFINE NIC ${atN.toFixed(3)} ms at ${NICS} vs ${at10.toFixed(3)} ms at 10`);
    assert.ok(share < IDLE_CPU_GOAL, `main thread ${(share * 100).toFixed(2)}% busy while idle`);
    assert.equal(q.state, `WAITING FOR QEMU at ${q.paths.qemu}`);
    // A QEMU starts listening now: connected at once although its NIC's retries have backed off.
    const conns: Socket[] = [];
    const server = createServer((s) => { conns.push(s); });
    await new Promise<void>((r) => server.listen(q.paths.qemu, r));
    const l0 = performance.now();
    try {
      assert.ok(await waitFor(() => conns.length === 1, 900, 5), 'connected within a second');
      console.log(`# FIGURE a QEMU that appears after ${NICS} NICs backed off is connected ${Math.round(performance.now() - l0)} ms after it listens`);
      assert.equal(rec.qemuNic('C77', 0x600)!.state, `CONNECTED to QEMU at ${q.paths.qemu}`);
      assert.equal(dp.portsAdded, 1);
    } finally {
      for (const c of conns) c.destroy();
      server.close();
    }
  } finally {
    rec.stop();
  }
});
