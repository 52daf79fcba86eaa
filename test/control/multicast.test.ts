/**
 * Multicast groups in the control plane (issue 3) against a fake data plane and fake controller
 * links: the data plane's 'group-join' / 'group-leave' become the group's registration /
 * deregistration on the active RDEV through the switch's controller, answers show in QUERY
 * VSWITCH DETAILS, and the groups follow failover, a lost controller (deregistered when one
 * comes back), UPLINK DISCONNECT and DETACH VSWITCH. Group registrations are the controller protocol's
 * RegisterAddress / DeregisterAddress / AddressRegistered of kind 'ipv4-group'. Time is a
 * ManualClock: the coalesced passes run only when a test drains it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { controlPlane } from '../helpers/control.js';
import { Reconciler } from '../../src/control/reconcile.js';
import { State } from '../../src/control/state.js';
import { COUNTER_SLOTS } from '../../src/forward/counters.js';
import type { ToWorker } from '../../src/protocol/dataplane.js';
import type { RdevStatus, ToController } from '../../src/protocol/controller.js';
import { ManualClock } from '../helpers/manual-clock.js';

const quiet = pino({ level: 'silent' });
const G = 0xef010203; // 239.1.2.3

class FakeDp extends EventEmitter {
  readonly counters = new Float64Array(COUNTER_SLOTS);
  posts: ToWorker[] = [];
  post(m: ToWorker): void { this.posts.push(m); }
}

class FakeWatcher extends EventEmitter {
  watch(): void {}
  unwatch(): void {}
}

class FakeLink {
  sent: ToController[] = [];
  send(m: ToController): void { this.sent.push(m); }
  close(): void {}
  take(): ToController[] { const s = this.sent; this.sent = []; return s; }
}

/** A group (de)registration, as the controller gets it. */
const isGroup = (m: ToController): boolean => 'kind' in m && m.kind === 'ipv4-group';
/** A message's type, with its kind where it has one. */
const label = (m: ToController): string => ('kind' in m ? `${m.t} ${m.kind}` : m.t);

const st = (rdev: string, ok: boolean): RdevStatus => ({ rdev, ok, exists: true, up: true, carrier: ok, mtu: 1500, mac: '0a:00:00:00:00:01', ifindex: 2 });

function setup() {
  const dev = {
    ensureNetns: () => false,
    netnsMadeHere: () => false,
    deleteNetns: () => {},
    openTap: () => ({ fd: openSync('/dev/null', 'r'), ifindex: 5 }),
    destroyTap: () => {},
    openUplink: () => ({ fd: openSync('/dev/null', 'r'), ifindex: 2, mac: 0x0a0000000001, mtu: 1500 }),
    interfaceExists: () => true,
  };
  const state = new State();
  const dp = new FakeDp();
  const clock = new ManualClock();
  const rec = new Reconciler({ state, dataPlane: dp, devices: dev, watcher: new FakeWatcher(), log: quiet, retryMs: 20, clock });
  const cp = controlPlane(state, dev, { effects: rec, runtime: rec });
  const run = (c: string) => { const r = cp.execute(c); assert.ok(r.ok, `${c}: ${r.lines}`); };
  for (const c of ['DEFINE VSWITCH SW1 RDEV up0 up1', 'DEFINE GUEST A NETNS na', 'DEFINE GUEST B NETNS nb', 'DEFINE NIC 600 FOR A',
    'DEFINE NIC 600 FOR B', 'SET VSWITCH SW1 GRANT A', 'COUPLE 600 TO SYSTEM SW1 FOR A', 'SET VSWITCH SW1 GRANT B', 'COUPLE 600 TO SYSTEM SW1 FOR B']) run(c);
  const portOf = (g: string) => (dp.posts.find((m) => m.op === 'port-add' && m.name === `enc600@${g}`) as { port: number }).port;
  const groups = () => (cp.execute('Q VSW SW1 DET').data as any).switches[0].groups;
  const join = (port: number, group = G) => dp.emit('group-join', { ev: 'group-join', sw: 0, port, group });
  const leave = (port: number, group = G) => dp.emit('group-leave', { ev: 'group-leave', sw: 0, port, group });
  return { dp, rec, cp, run, pa: portOf('na'), pb: portOf('nb'), groups, join, leave, clock };
}

test('groups: registered through the controller, shown with members, re-registered on failover, deregistered when the last member leaves', () => {
  const { rec, cp, run, pa, pb, groups, join, leave, clock } = setup();
  join(pa);
  clock.drain();
  assert.deepEqual(groups(), [{ group: '239.1.2.3', members: [{ guest: 'A', vdev: '0600' }], registered: false, reason: 'no controller' }]);
  const link = new FakeLink();
  rec.controllers.register(link, 'C1', 42);
  clock.drain();
  rec.controllers.received(link, { t: 'initialization-complete', switch: 'SW1', rdevs: [st('up0', true), st('up1', true)] });
  clock.drain();
  assert.deepEqual(link.take().filter(isGroup), [{ t: 'register-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3' }]);
  assert.equal(groups()[0].reason, 'registration pending');
  rec.controllers.received(link, { t: 'address-registered', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3', ok: true });
  join(pb);
  clock.drain();
  assert.deepEqual(link.take(), [], 'a second member needs no second registration');
  assert.deepEqual(groups(), [{ group: '239.1.2.3', members: [{ guest: 'A', vdev: '0600' }, { guest: 'B', vdev: '0600' }], registered: true, reason: null }]);
  const lines = cp.execute('Q VSW SW1 DET').lines;
  assert.ok(lines.includes('    239.1.2.3        REGISTERED  Members: A 0600, B 0600'), lines.join('\n'));
  // Failover to up1: the old RDEV's entry is taken out, the group registered on up1.
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up0', false) });
  clock.drain();
  assert.deepEqual(link.take().filter(isGroup), [
    { t: 'deregister-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3' },
    { t: 'register-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'up1', address: '239.1.2.3' },
  ]);
  rec.controllers.received(link, { t: 'address-registered', kind: 'ipv4-group', switch: 'SW1', rdev: 'up1', address: '239.1.2.3', ok: false, reason: 'up1: cannot add it' });
  assert.deepEqual(groups()[0].reason, 'up1: cannot add it');
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up0', true) });
  run('SET VSWITCH SW1 SWITCHOVER');
  clock.drain();
  assert.deepEqual(link.take().filter(isGroup), [{ t: 'register-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3' }],
    'nothing to deregister on up1: it refused');
  rec.controllers.received(link, { t: 'address-registered', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3', ok: true });
  leave(pa);
  clock.drain();
  assert.deepEqual(link.take(), [], 'B is still a member');
  leave(pb);
  clock.drain();
  assert.deepEqual(link.take(), [{ t: 'deregister-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3' }]);
  assert.deepEqual(groups(), []);
  rec.stop();
});

test('groups: a leave while no controller is deregistered when one comes; a new controller registers again; DISCONNECT and DETACH deregister', () => {
  const { rec, run, pa, groups, join, leave, clock } = setup();
  const c1 = new FakeLink();
  rec.controllers.register(c1, 'C1', 1);
  clock.drain();
  rec.controllers.received(c1, { t: 'initialization-complete', switch: 'SW1', rdevs: [st('up0', true), st('up1', true)] });
  join(pa);
  join(pa, 0xe8090909);
  clock.drain();
  assert.deepEqual(c1.take().filter((m) => m.t === 'register-address' && isGroup(m)).map((m) => (m as { address: string }).address), ['239.1.2.3', '232.9.9.9']);
  rec.controllers.received(c1, { t: 'address-registered', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3', ok: true });
  rec.controllers.received(c1, { t: 'address-registered', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '232.9.9.9', ok: true });
  rec.controllers.closed(c1, 'killed');
  leave(pa, 0xe8090909);
  clock.drain();
  assert.deepEqual(groups().map((g: any) => [g.group, g.registered]), [['239.1.2.3', true]], 'the adapter keeps it while no controller is there');
  const c2 = new FakeLink();
  rec.controllers.register(c2, 'C2', 2);
  clock.drain();
  assert.deepEqual(c2.take().map(label), ['registered', 'control-switch', 'deregister-address ipv4-group']);
  rec.controllers.received(c2, { t: 'initialization-complete', switch: 'SW1', rdevs: [st('up0', true), st('up1', true)] });
  clock.drain();
  assert.deepEqual(c2.take().filter(isGroup), [{ t: 'register-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3' }]);
  rec.controllers.received(c2, { t: 'address-registered', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3', ok: true });
  run('SET VSWITCH SW1 UPLINK DISCONNECT');
  clock.drain();
  assert.deepEqual(c2.take().filter(isGroup), [{ t: 'deregister-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3' }]);
  assert.equal(groups()[0].reason, 'uplink disconnected');
  run('SET VSWITCH SW1 UPLINK CONNECT');
  clock.drain();
  assert.deepEqual(c2.take().filter(isGroup), [{ t: 'register-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3' }]);
  rec.controllers.received(c2, { t: 'address-registered', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3', ok: true });
  run('UNCOUPLE 600 FOR A');
  run('UNCOUPLE 600 FOR B');
  run('DETACH VSWITCH SW1');
  clock.drain();
  assert.deepEqual(c2.take().filter((m) => label(m) !== 'register-address ipv4'), [
    { t: 'deregister-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'up0', address: '239.1.2.3' },
    { t: 'release-switch', switch: 'SW1' },
  ]);
  rec.stop();
});
