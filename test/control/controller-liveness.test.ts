/**
 * Issue 9, item 8, in the control plane with a ManualClock: controllers that register and do
 * not answer. A squatter that never answers ControlSwitch loses the switch after
 * CONTROL_SWITCH_DEADLINE_MS to the next eligible controller and is marked NOT RESPONDING;
 * a controller registering under its name then takes the name over. A connection that leaves
 * a Ping unanswered is dropped; a responsive holder keeps its name and a contender is told to
 * try again. QUERY's texts and address reasons say what is true at each step. The links are
 * fakes that record what the daemon sends; time moves only when the test says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { controlPlane } from '../helpers/control.js';
import { CONTROL_SWITCH_DEADLINE_MS, NAME_RETRY_MS, PING_DEADLINE_MS, PING_INTERVAL_MS } from '../../src/control/controllers.js';
import { Reconciler } from '../../src/control/reconcile.js';
import { State } from '../../src/control/state.js';
import { COUNTER_SLOTS } from '../../src/forward/counters.js';
import type { RdevStatus, ToController } from '../../src/protocol/controller.js';
import type { ToWorker } from '../../src/protocol/dataplane.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { PROBE_WINDOW_MS } from '../../src/control/reconcile/lan-ip.js';

class FakeDp extends EventEmitter {
  readonly counters = new Float64Array(COUNTER_SLOTS);
  post(_m: ToWorker): void {}
}

/** A controller connection: what the daemon sent it (pings apart), and whether the daemon closed it. */
class FakeLink {
  private sent: ToController[] = [];
  private pinged: number[] = [];
  closedWith: string | null = null;
  send(m: ToController): void { if (m.t === 'ping') this.pinged.push(m.seq); else this.sent.push(m); }
  close(reason: string): void { this.closedWith = reason; }
  take(): string[] { const s = this.sent; this.sent = []; return s.map((m) => ('switch' in m ? `${m.t} ${m.switch}` : m.t)); }
  /** The pings sent since the last call. */
  pings(): number[] { const p = this.pinged; this.pinged = []; return p; }
}

const ok: RdevStatus = { rdev: 'up0', ok: true, exists: true, up: true, carrier: true, mtu: 1500, mac: '0a:00:00:00:00:01', ifindex: 2 };

function setup(controller = '*') {
  const state = new State();
  const clock = new ManualClock();
  const dev = {
    ensureNetns: () => false, netnsMadeHere: () => false, deleteNetns: () => {}, destroyTap: () => {},
    openTap: () => ({ fd: openSync('/dev/null', 'r'), ifindex: 5 }),
    openUplink: () => ({ fd: openSync('/dev/null', 'r'), ifindex: 2, mac: 0x0a0000000001, mtu: 1500 }),
    interfaceExists: () => true,
  };
  const w = Object.assign(new EventEmitter(), { watch() {}, unwatch() {} });
  const rec = new Reconciler({ state, dataPlane: new FakeDp(), devices: dev, watcher: w, log: pino({ level: 'silent' }), retryMs: 20, clock });
  const cp = controlPlane(state, dev, { effects: rec, runtime: rec });
  const run = (c: string) => { const r = cp.execute(c); assert.ok(r.ok, `${c}: ${r.lines}`); return r; };
  run(`DEFINE VSWITCH SW1 RDEV up0 CONTROLLER ${controller}`);
  run('DEFINE GUEST A NETNS na');
  run('DEFINE NIC 600 FOR A');
  run('COUPLE 600 TO SYSTEM SW1 FOR A');
  w.emit('address', 'A/0600', 0x0a000001, 24, true);
  clock.drain();
  const ctl = () => (cp.execute('QUERY CONTROLLER').data as any).controllers.map((c: any) => [c.name, c.pid, c.state]);
  const sw = () => (cp.execute('QUERY VSWITCH SW1 DETAILS').data as any).switches[0];
  return { rec, run, clock, ctl, sw };
}

test('a squatter that never answers ControlSwitch loses the switch to the next eligible controller, is marked, and loses its name to a contender', () => {
  const { rec, run, clock, ctl, sw } = setup();
  const fake = new FakeLink();
  assert.equal(rec.controllers.register(fake, 'DTCVSW1', 666), null);
  clock.drain();
  assert.deepEqual(fake.take(), ['registered', 'control-switch SW1']);
  const real2 = new FakeLink();
  assert.equal(rec.controllers.register(real2, 'DTCVSW2', 2), null);
  clock.drain();
  assert.deepEqual(real2.take(), ['registered'], 'connected but not chosen: the switch waits for the squatter');
  assert.equal(sw().uplink.state, 'INITIALIZING (CONTROLLER DTCVSW1)');
  assert.deepEqual(sw().ipTable.map((e: any) => e.reason), ['controller DTCVSW1 has not initialised the uplink yet'], 'not "uplink not ready"');
  // The real DTCVSW1 comes while the squatter holds the name and is not yet found out: try again later.
  const real1 = new FakeLink();
  assert.deepEqual(rec.controllers.register(real1, 'DTCVSW1', 1)?.retryMs, NAME_RETRY_MS);
  clock.advance(CONTROL_SWITCH_DEADLINE_MS - 1);
  assert.equal(sw().control.controller, 'DTCVSW1', 'not before the deadline');
  // The squatter answers pings: it stays connected, but the deadline passes.
  for (const seq of fake.pings()) rec.controllers.received(fake, { t: 'pong', seq });
  clock.advance(1);
  assert.deepEqual(fake.take(), ['release-switch SW1']);
  assert.deepEqual(real2.take(), ['control-switch SW1'], 'the next eligible controller');
  assert.deepEqual(ctl(), [
    ['DTCVSW1', 666, `NOT RESPONDING (no InitializationComplete for VSWITCH SW1 within ${CONTROL_SWITCH_DEADLINE_MS / 1000} s)`],
    ['DTCVSW2', 2, 'AVAILABLE'],
  ]);
  assert.match(run('QUERY CONTROLLER').lines.join('\n'), /Controller DTCVSW1 +Available: NO +PID: 666  State: NOT RESPONDING/);
  assert.match(run('QUERY CONTROLLER').lines.join('\n'), /Controller DTCVSW2 +Available: YES  PID: 2/);
  assert.ok(sw().control.events.some((e: any) => e.kind === 'controller-not-responding' && e.from === 'DTCVSW1'));
  rec.controllers.received(real2, { t: 'initialization-complete', switch: 'SW1', rdevs: [ok] });
  clock.drain();
  assert.equal(sw().uplink.state, 'READY');
  assert.deepEqual(real2.take(), [], 'not registered before the LAN probe passed');
  clock.advance(PROBE_WINDOW_MS);
  assert.deepEqual(real2.take(), ['register-address SW1']);
  rec.controllers.received(real2, { t: 'address-registered', kind: 'ipv4', switch: 'SW1', rdev: 'up0', address: '10.0.0.1', ok: true });
  clock.drain();
  assert.deepEqual(sw().ipTable.map((e: any) => [e.localOnly, e.reason]), [[false, null]]);
  // The real DTCVSW1 tries again: the name held by a controller not responding is its now.
  assert.equal(rec.controllers.register(real1, 'DTCVSW1', 1), null);
  assert.match(fake.closedWith ?? '', /pid 1 registered under its name while it was not responding/);
  assert.deepEqual(ctl(), [['DTCVSW1', 1, 'AVAILABLE'], ['DTCVSW2', 2, 'AVAILABLE']]);
  assert.equal(sw().control.controller, 'DTCVSW2', 'CONTROLLER * keeps the controller that answers');
  rec.stop();
});

test('a connection that does not answer pings loses its name; one that answers keeps it, and a contender is told to try again', () => {
  const { rec, clock, ctl } = setup();
  const silent = new FakeLink();
  const live = new FakeLink();
  rec.controllers.register(live, 'DTCVSW1', 1);
  rec.controllers.register(silent, 'DTCVSW3', 3);
  clock.drain();
  const answer = () => { for (const seq of live.pings()) rec.controllers.received(live, { t: 'pong', seq }); };
  clock.advance(PING_INTERVAL_MS);
  assert.equal(silent.pings().length, 1, 'pinged');
  answer();
  // A contender for DTCVSW1: refused for now, and the holder is pinged at once.
  clock.advance(PING_INTERVAL_MS / 2);
  const contender = new FakeLink();
  const r = rec.controllers.register(contender, 'DTCVSW1', 9);
  assert.match(r?.reason ?? '', /already connected \(pid 1\); try again in/);
  assert.equal(r?.retryMs, NAME_RETRY_MS);
  const probe = live.pings();
  assert.equal(probe.length, 1, 'the holder is pinged when its name is contested');
  rec.controllers.received(live, { t: 'pong', seq: probe[0] });
  for (let t = 0; t < PING_DEADLINE_MS + PING_INTERVAL_MS; t += PING_INTERVAL_MS / 2) {
    clock.advance(PING_INTERVAL_MS / 2);
    answer();
  }
  assert.match(silent.closedWith ?? '', new RegExp(`did not answer a ping within ${PING_DEADLINE_MS / 1000} s`));
  assert.equal(live.closedWith, null);
  assert.deepEqual(ctl().map((c: any) => c[0]), ['DTCVSW1'], 'the silent one is gone; the one answering stays');
  assert.equal(live.closedWith, null);
  assert.equal(rec.controllers.register(new FakeLink(), 'DTCVSW3', 4), null, 'its name is free');
  rec.stop();
});

test('CONTROLLER named: a named controller not responding leaves the switch waiting, with the reason; a late answer makes it eligible again', () => {
  const { rec, clock, sw } = setup('DTCVSW1');
  const slow = new FakeLink();
  rec.controllers.register(slow, 'DTCVSW1', 5);
  clock.drain();
  assert.deepEqual(slow.take(), ['registered', 'control-switch SW1']);
  clock.advance(CONTROL_SWITCH_DEADLINE_MS);
  for (const seq of slow.pings()) rec.controllers.received(slow, { t: 'pong', seq });
  assert.deepEqual(slow.take(), ['release-switch SW1']);
  const why = `DTCVSW1 NOT RESPONDING: no InitializationComplete for VSWITCH SW1 within ${CONTROL_SWITCH_DEADLINE_MS / 1000} s`;
  assert.equal(sw().uplink.state, `WAITING FOR CONTROLLER (${why})`);
  assert.equal(sw().control.state, `NONE (waiting for a controller; ${why})`);
  assert.deepEqual(sw().ipTable.map((e: any) => e.reason), [`no controller (${why})`]);
  // It answers after all (the ControlSwitch it was sent): chosen again, and this time it answers.
  rec.controllers.received(slow, { t: 'initialization-complete', switch: 'SW1', rdevs: [ok] });
  clock.drain();
  assert.deepEqual(slow.take(), ['control-switch SW1']);
  rec.controllers.received(slow, { t: 'initialization-complete', switch: 'SW1', rdevs: [ok] });
  clock.drain();
  assert.equal(sw().uplink.state, 'READY');
  assert.equal(sw().control.state, 'READY');
  rec.stop();
});
