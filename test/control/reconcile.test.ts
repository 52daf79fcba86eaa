/**
 * The reconciler against fake devices, data plane and address watcher: what it posts to the
 * worker for each change and event (uplink waiting/ready/down, NIC ports, LAN IP registration,
 * conflicts counted once), and that unchanged ports are left alone. Time is a ManualClock: the
 * coalesced passes and retry timers run only when a test drains or advances it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPEN_SWITCH_POLICY, OPEN_PORT_POLICY } from '../../src/protocol/dataplane.js';
import { EventEmitter } from 'node:events';
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { controlPlane } from '../helpers/control.js';
import { Reconciler } from '../../src/control/reconcile.js';
import { lanIp6Key, State } from '../../src/control/state.js';
import { COUNTER_SLOTS, dropSlot } from '../../src/forward/counters.js';
import type { ToWorker } from '../../src/protocol/dataplane.js';
import type { RdevStatus, ToController } from '../../src/protocol/controller.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { PROBE_INTERVAL_MS, PROBE_WINDOW_MS, type AddressClaims } from '../../src/control/reconcile/lan-ip.js';

const quiet = pino({ level: 'silent' });
const ADDR_CONFLICT = 10;

class FakeDp extends EventEmitter {
  readonly counters = new Float64Array(COUNTER_SLOTS);
  posts: ToWorker[] = [];
  post(m: ToWorker): void { this.posts.push(m); }
  take(): ToWorker[] { const p = this.posts; this.posts = []; return p.map((m) => ('fd' in m ? { ...m, fd: -1 } : m)); }
}

class FakeWatcher extends EventEmitter {
  watched = new Map<string, string>();
  watch(key: string, netns: string, ifname: string): void { this.watched.set(key, `${netns}/${ifname}`); }
  unwatch(key: string): void { this.watched.delete(key); }
}

function setup(addressClaims?: AddressClaims) {
  const ifaces = new Set<string>();
  /** Interface indexes openUplink binds to (default 2). */
  const ifindexes = new Map<string, number>();
  const taps = new Set<string>();
  /** Namespaces that exist, and which of them the daemon made (the mark a real one carries). */
  const namespaces = new Set<string>();
  const made = new Set<string>();
  const dev = {
    ensureNetns: (n: string) => { if (namespaces.has(n)) return false; namespaces.add(n); made.add(n); return true; },
    netnsMadeHere: (n: string) => made.has(n),
    deleteNetns: (n: string) => { namespaces.delete(n); made.delete(n); },
    openTap: (o: { netns: string | null; name: string }) => { taps.add(`${o.netns}/${o.name}`); return { fd: openSync('/dev/null', 'r'), ifindex: 5 }; },
    destroyTap: (netns: string | null, name: string) => { taps.delete(`${netns}/${name}`); },
    openUplink: (name: string) => {
      if (!ifaces.has(name)) throw Object.assign(new Error('no such device'), { code: 'ENODEV' });
      return { fd: openSync('/dev/null', 'r'), ifindex: ifindexes.get(name) ?? 2, mac: 0x0a0000000001, mtu: 1500 };
    },
    interfaceExists: (n: string) => ifaces.has(n),
  };
  const state = new State();
  const dp = new FakeDp();
  const w = new FakeWatcher();
  const clock = new ManualClock();
  const rec = new Reconciler({ state, dataPlane: dp, devices: dev, watcher: w, log: quiet, retryMs: 20, clock, ...(addressClaims ? { addressClaims } : {}) });
  const cp = controlPlane(state, dev, { effects: rec, runtime: rec });
  const run = (c: string) => { const r = cp.execute(c); assert.ok(r.ok, `${c}: ${r.lines}`); };
  return { ifaces, ifindexes, taps, namespaces, dp, w, rec, cp, run, state, clock };
}

class FakeLink {
  sent: ToController[] = [];
  send(m: ToController): void { this.sent.push(m); }
  close(): void {}
  take(): ToController[] { const s = this.sent; this.sent = []; return s; }
}

const st = (rdev: string, ok: boolean, reason?: string, ifindex = 2): RdevStatus => ({
  rdev, ok, ...(reason ? { reason } : {}), exists: ok || reason !== 'no such interface', up: true, carrier: ok, mtu: 1500, mac: '0a:00:00:00:00:01',
  ifindex: ok || reason !== 'no such interface' ? ifindex : 0,
});

test('uplink: waits for a controller, opens after InitializationComplete, registers addresses, fails over; a lost controller changes no port', () => {
  const { ifaces, taps, dp, w, rec, cp, run, clock } = setup();
  run('DEFINE VSWITCH SW1 RDEV up0 up1');
  assert.deepEqual(dp.take(), [{ op: 'switch-add', sw: 0, mode: 'IP', queueBytes: 8 << 20, policy: OPEN_SWITCH_POLICY }]);
  assert.equal(rec.uplink('SW1').state, 'WAITING FOR CONTROLLER');
  run('DEFINE GUEST A NETNS na');
  run('DEFINE NIC 600 FOR A');
  assert.ok(taps.has('na/enc600'), 'TAP made by DEFINE NIC');
  assert.deepEqual(dp.take(), [], 'an uncoupled NIC has no port');
  assert.equal(w.watched.get('A/0600'), 'na/enc600');
  run('SET VSWITCH SW1 GRANT A'); run('COUPLE 600 TO SYSTEM SW1 FOR A');
  assert.deepEqual(dp.take(), [{ op: 'port-add', port: 0, sw: 0, role: 'nic', kind: 'tap', fd: -1, mac: 0x020000000001, vnet: true, name: 'enc600@na', policy: OPEN_PORT_POLICY }]);
  w.emit('address', 'A/0600', 0x0a000001, 24, true);
  clock.drain(); // address events are coalesced into one pass
  assert.deepEqual(dp.take(), [{ op: 'ip-set', sw: 0, vid: 0, ip: 0x0a000001, port: 0, localOnly: true }], 'local only without a controller');
  // A controller registers: ControlSwitch; nothing is opened before InitializationComplete.
  const link = new FakeLink();
  ifaces.add('up1');
  assert.equal(rec.controllers.register(link, 'C1', 42), null);
  clock.drain();
  assert.deepEqual(link.take(), [{ t: 'registered', name: 'C1' }, { t: 'control-switch', switch: 'SW1', rdevs: ['up0', 'up1'] }]);
  assert.deepEqual(dp.take(), []);
  assert.equal(rec.uplink('SW1').state, 'INITIALIZING (CONTROLLER C1)');
  rec.controllers.received(link, { t: 'initialization-complete', switch: 'SW1', rdevs: [st('up0', false, 'no such interface'), st('up1', true)] });
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'port-add', port: 1, sw: 0, role: 'uplink', kind: 'afpacket', fd: -1, mac: 0x0a0000000001, vnet: true, name: 'up1' },
    { op: 'probe', sw: 0, vid: 0, ip: 0x0a000001 }], 'the LAN is probed for the address first');
  assert.deepEqual(link.take(), [], 'not registered while the probe runs');
  assert.equal(rec.addressReason('SW1', 0x0a000001), 'probing the LAN');
  clock.advance(PROBE_INTERVAL_MS);
  assert.deepEqual(dp.take(), [{ op: 'probe', sw: 0, vid: 0, ip: 0x0a000001 }], 'the second probe');
  clock.advance(PROBE_WINDOW_MS - PROBE_INTERVAL_MS);
  clock.drain();
  assert.deepEqual(link.take(), [{ t: 'register-address', kind: 'ipv4', switch: 'SW1', rdev: 'up1', address: '10.0.0.1' }]);
  assert.equal(cp.state.switches.get('SW1')!.lanIp.get(0x0a000001)!.localOnly, true, 'local only until the answer');
  rec.controllers.received(link, { t: 'address-registered', kind: 'ipv4', switch: 'SW1', rdev: 'up1', address: '10.0.0.1', ok: true });
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'ip-set', sw: 0, vid: 0, ip: 0x0a000001, port: 0, localOnly: false }, { op: 'announce', sw: 0, vid: 0, ip: 0x0a000001 }]);
  assert.deepEqual(rec.uplink('SW1'), { state: 'READY', active: 'up1', mac: 0x0a0000000001, mtu: 1500, port: 1 });
  // Carrier loss on up1 with up0 ready: failover, re-registration on up0, announced there.
  ifaces.add('up0');
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up0', true) });
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up1', false, 'no carrier') });
  clock.drain();
  assert.deepEqual(dp.take().map((m) => m.op), ['port-remove', 'port-add', 'announce'], 'announced on up0 at once, not after the controller answers');
  assert.deepEqual(link.take(), [{ t: 'register-address', kind: 'ipv4', switch: 'SW1', rdev: 'up0', address: '10.0.0.1' }]);
  assert.equal(cp.state.switches.get('SW1')!.lanIp.get(0x0a000001)!.localOnly, false, 'stays registered meanwhile');
  rec.controllers.received(link, { t: 'address-registered', kind: 'ipv4', switch: 'SW1', rdev: 'up0', address: '10.0.0.1', ok: true });
  clock.drain();
  assert.deepEqual(dp.take(), [], 'the answer changes nothing in the data plane');
  const ev = rec.controllers.view('SW1')!.events.find((e) => e.kind === 'failover')!;
  assert.equal(ev.from, 'up1');
  assert.equal(ev.to, 'up0');
  assert.equal(typeof ev.durationMs, 'number');
  // A refused registration leaves the address local only with the reason.
  w.emit('address', 'A/0600', 0x0a000003, 24, true);
  clock.drain();
  clock.advance(PROBE_WINDOW_MS);
  clock.drain();
  dp.take();
  assert.deepEqual(link.take(), [{ t: 'register-address', kind: 'ipv4', switch: 'SW1', rdev: 'up0', address: '10.0.0.3' }]);
  rec.controllers.received(link, { t: 'address-registered', kind: 'ipv4', switch: 'SW1', rdev: 'up0', address: '10.0.0.3', ok: false, reason: 'up0: no carrier' });
  assert.equal(rec.addressReason('SW1', 0x0a000003), 'up0: no carrier');
  // The controller dies: no port changes, addresses keep their flags.
  rec.controllers.closed(link, 'closed its connection');
  clock.drain();
  assert.deepEqual(dp.take(), []);
  assert.equal(rec.uplink('SW1').state, 'READY');
  assert.equal(rec.controllers.view('SW1')!.controller, null);
  // Unchanged ports are left alone by later commands.
  run('DEFINE VSWITCH SW2');
  assert.deepEqual(dp.take(), [{ op: 'switch-add', sw: 1, mode: 'IP', queueBytes: 8 << 20, policy: OPEN_SWITCH_POLICY }]);
  // Address removed, NIC uncoupled, NIC detached.
  w.emit('address', 'A/0600', 0x0a000001, 24, false);
  clock.drain(); // address events are coalesced into one pass
  assert.deepEqual(dp.take(), [{ op: 'ip-clear', sw: 0, vid: 0, ip: 0x0a000001 }]);
  run('UNCOUPLE 600 FOR A');
  assert.deepEqual(dp.take(), [{ op: 'port-remove', port: 0 }, { op: 'ip-clear', sw: 0, vid: 0, ip: 0x0a000003 }]);
  assert.ok(taps.has('na/enc600'), 'TAP stays when uncoupled');
  run('DETACH NIC 600 FOR A');
  assert.ok(!taps.has('na/enc600'), 'TAP destroyed by DETACH NIC');
  assert.equal(w.watched.size, 0);
  run('DETACH VSWITCH SW1');
  assert.deepEqual(dp.take(), [{ op: 'port-remove', port: 2 }, { op: 'switch-remove', sw: 0 }]);
  assert.equal(cp.execute('Q VSW SW2').ok, true);
  rec.stop();
});

test('a second claim on an address is refused and counted once; the holder keeps it, also when it drops and adds it again', () => {
  const { dp, w, rec, run, cp, state, clock } = setup();
  run('DEFINE VSWITCH SW1');
  for (const g of ['A', 'B']) {
    run(`DEFINE GUEST ${g} NETNS n${g}`);
    run(`DEFINE NIC 600 FOR ${g}`);
    run(`SET VSWITCH SW1 GRANT ${g}`); run(`COUPLE 600 TO SYSTEM SW1 FOR ${g}`);
  }
  dp.take();
  w.emit('address', 'B/0600', 0x0a000009, 24, true);
  w.emit('address', 'A/0600', 0x0a000009, 24, true);
  w.emit('address', 'A/0600', 0x0a00000a, 24, true);
  clock.drain(); // address events are coalesced into one pass
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 1);
  assert.equal(state.switches.get('SW1')!.lanIp.get(0x0a000009)!.userid, 'B');
  assert.deepEqual(dp.take().filter((m) => m.op === 'ip-set').map((m) => (m as { ip: number }).ip), [0x0a000009, 0x0a00000a]);
  // The holder drops it and adds it again (a DHCP renewal, an interface bounce): the refused claimant does not get it meanwhile.
  w.emit('address', 'B/0600', 0x0a000009, 24, false);
  clock.drain(); // address events are coalesced into one pass
  assert.deepEqual(dp.take(), [{ op: 'ip-clear', sw: 0, vid: 0, ip: 0x0a000009 }]);
  assert.equal(state.switches.get('SW1')!.lanIp.get(0x0a000009), undefined, 'no one holds it');
  w.emit('address', 'B/0600', 0x0a000009, 24, true);
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'ip-set', sw: 0, vid: 0, ip: 0x0a000009, port: 1, localOnly: true }]);
  assert.equal(state.switches.get('SW1')!.lanIp.get(0x0a000009)!.userid, 'B', 'the first holder has it back');
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 1, 'the standing refusal is counted once');
  assert.match(cp.execute('Q NIC 600 DET FOR A').lines.join('\n'), /10\.0\.0\.9\s+CONFLICT \(held by B 0600\)/);
  // The claimant gives it up; claimed again while B holds it: refused again (a new refusal).
  w.emit('address', 'A/0600', 0x0a000009, 24, false);
  w.emit('address', 'A/0600', 0x0a000009, 24, true);
  clock.drain();
  assert.equal(state.switches.get('SW1')!.lanIp.get(0x0a000009)!.userid, 'B');
  rec.stop();
});

test('a failed uplink open and a port-down are retried retryMs later, not before, on the injected clock', () => {
  const { ifaces, dp, rec, run, clock } = setup();
  run('DEFINE VSWITCH SW1 RDEV up0');
  const link = new FakeLink();
  rec.controllers.register(link, 'C1', 7);
  clock.drain();
  rec.controllers.received(link, { t: 'initialization-complete', switch: 'SW1', rdevs: [st('up0', true)] });
  clock.drain();
  assert.equal(rec.uplink('SW1').state, 'ERROR ON DEVICE up0: no such device; retrying');
  assert.equal(clock.timersPending, 2, 'one retry timer, and the controller pings');
  dp.take();
  ifaces.add('up0');
  clock.advance(19);
  assert.deepEqual(dp.take(), [], 'not before retryMs');
  clock.advance(1);
  assert.deepEqual(dp.take(), [{ op: 'port-add', port: 0, sw: 0, role: 'uplink', kind: 'afpacket', fd: -1, mac: 0x0a0000000001, vnet: true, name: 'up0' }]);
  assert.equal(rec.uplink('SW1').state, 'READY');
  assert.equal(clock.timersPending, 1, 'nothing left to retry: only the controller pings');
  // The data plane loses the port: DOWN, then reopened one retry later.
  dp.emit('port-down', { ev: 'port-down', port: 0, errno: 100, reason: 'ENETDOWN' });
  assert.equal(rec.uplink('SW1').state, 'DOWN (ENETDOWN); retrying');
  assert.deepEqual(rec.controllers.view('SW1')!.rdevs.map((r) => [r.rdev, r.ok, r.reason]), [['up0', false, 'data device failed: ENETDOWN']]);
  clock.drain();
  assert.deepEqual(dp.take(), []);
  clock.advance(20);
  assert.deepEqual(dp.take().map((m) => [m.op, (m as { port?: number }).port]), [['port-add', 1]]);
  assert.equal(rec.uplink('SW1').state, 'READY', 'open again on the only RDEV: nothing is wrong with it any more');
  assert.deepEqual(rec.controllers.view('SW1')!.rdevs.map((r) => [r.rdev, r.ok]), [['up0', true]]);
  assert.deepEqual(rec.controllers.view('SW1')!.events.map((e) => e.kind).slice(-2), ['failover-impossible', 'uplink-recovered']);
  rec.stop();
});

test('DETACH GUEST deletes the namespace the daemon made for it, not one that was there before', () => {
  const { namespaces, run, rec } = setup();
  namespaces.add('users');
  run('DEFINE GUEST MADE NETNS fresh');
  run('DEFINE GUEST OWN NETNS users');
  assert.deepEqual([...namespaces].sort(), ['fresh', 'users']);
  run('DEFINE NIC 600 FOR MADE');
  run('DETACH NIC 600 FOR MADE');
  assert.ok(namespaces.has('fresh'), 'a guest keeps its namespace while it exists');
  run('DETACH GUEST MADE');
  run('DETACH GUEST OWN');
  assert.deepEqual([...namespaces], ['users'], 'the made one is gone, the user\'s stays');
  rec.stop();
});

test('an RDEV deleted and made again: the data device closes, reopens on the new interface, re-announces; QUERY says what is true at each step', () => {
  const { ifaces, ifindexes, dp, w, rec, run, clock } = setup();
  ifaces.add('up0');
  run('DEFINE VSWITCH SW1 RDEV up0');
  run('DEFINE GUEST A NETNS na');
  run('DEFINE NIC 600 FOR A');
  run('SET VSWITCH SW1 GRANT A'); run('COUPLE 600 TO SYSTEM SW1 FOR A');
  w.emit('address', 'A/0600', 0x0a000001, 24, true);
  const link = new FakeLink();
  rec.controllers.register(link, 'C1', 7);
  clock.drain();
  rec.controllers.received(link, { t: 'initialization-complete', switch: 'SW1', rdevs: [st('up0', true)] });
  clock.drain();
  clock.advance(PROBE_WINDOW_MS); // the LAN probe passes: the address is sent for registration
  assert.deepEqual(link.take().filter((m) => m.t === 'register-address'), [{ t: 'register-address', kind: 'ipv4', switch: 'SW1', rdev: 'up0', address: '10.0.0.1' }]);
  rec.controllers.received(link, { t: 'address-registered', kind: 'ipv4', switch: 'SW1', rdev: 'up0', address: '10.0.0.1', ok: true });
  clock.drain();
  dp.take();
  const state = (): string => rec.uplink('SW1').state;
  const reason = (): string | null => rec.addressReason('SW1', 0x0a000001);
  // Carrier loss with no backup: the text says so, and goes when the carrier is back.
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up0', false, 'no carrier') });
  clock.drain();
  assert.equal(state(), 'READY, NO CARRIER ON ACTIVE RDEV, NO BACKUP READY (up0: no carrier)');
  assert.deepEqual(dp.take(), [], 'the data device stays open through a carrier loss');
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up0', true) });
  clock.drain();
  assert.equal(state(), 'READY', 'not left from the last event');
  assert.deepEqual(dp.take(), [{ op: 'announce', sw: 0, vid: 0, ip: 0x0a000001 }], 'announced again now that the LAN can hear it');
  // The interface is deleted: nothing to hold open.
  ifaces.delete('up0');
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up0', false, 'no such interface') });
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'port-remove', port: 1 }]);
  assert.equal(state(), 'WAITING FOR DEVICE up0');
  assert.deepEqual(rec.controllers.view('SW1')!.rdevs.map((r) => [r.rdev, r.ok, r.reason]), [['up0', false, 'no such interface']]);
  assert.equal(reason(), null, 'the address stays registered: the LAN gets it back with the RDEV');
  // Made again under a new index, its carrier not yet there: reopened there at once;
  // announcements and registrations wait for the carrier (a GARP would be lost, a
  // registration refused).
  ifaces.add('up0');
  ifindexes.set('up0', 9);
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up0', false, 'no carrier', 9) });
  clock.drain();
  assert.deepEqual(dp.take(), [
    { op: 'port-add', port: 2, sw: 0, role: 'uplink', kind: 'afpacket', fd: -1, mac: 0x0a0000000001, vnet: true, name: 'up0' },
  ]);
  assert.deepEqual(link.take(), []);
  assert.equal(state(), 'READY, NO CARRIER ON ACTIVE RDEV, NO BACKUP READY (up0: no carrier)');
  w.emit('address', 'A/0600', 0x0a000002, 24, true);
  clock.drain();
  dp.take();
  assert.equal(rec.addressReason('SW1', 0x0a000002), 'up0: no carrier', 'a new address says why it waits');
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up0', true, undefined, 9) });
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'announce', sw: 0, vid: 0, ip: 0x0a000001 }, { op: 'probe', sw: 0, vid: 0, ip: 0x0a000002 }],
    'the data device is already on the new interface; the LAN hears of it now, and the new address is probed there');
  assert.deepEqual(link.take().map((m) => (m as { address?: string }).address), ['10.0.0.1']);
  assert.equal(state(), 'READY');
  clock.advance(PROBE_WINDOW_MS);
  assert.deepEqual(dp.take().filter((m) => m.op === 'probe'), [{ op: 'probe', sw: 0, vid: 0, ip: 0x0a000002 }], 'the second probe');
  assert.deepEqual(link.take().map((m) => (m as { address?: string }).address), ['10.0.0.2'], 'registered once no one on the LAN answered');
  rec.controllers.received(link, { t: 'address-registered', kind: 'ipv4', switch: 'SW1', rdev: 'up0', address: '10.0.0.2', ok: true });
  rec.controllers.received(link, { t: 'address-registered', kind: 'ipv4', switch: 'SW1', rdev: 'up0', address: '10.0.0.1', ok: true });
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'ip-set', sw: 0, vid: 0, ip: 0x0a000002, port: 0, localOnly: false }, { op: 'announce', sw: 0, vid: 0, ip: 0x0a000002 }]);
  const ev = rec.controllers.view('SW1')!.events.at(-1)!;
  assert.equal(ev.kind, 'uplink-recovered');
  assert.equal(typeof ev.durationMs, 'number');
  // Made again without the controller seeing it gone (a new index only): the old socket is closed, a new one opened.
  ifindexes.set('up0', 11);
  rec.controllers.received(link, { t: 'link-event', switch: 'SW1', status: st('up0', true, undefined, 11) });
  clock.drain();
  assert.deepEqual(dp.take().map((m) => [m.op, (m as { port?: number }).port]), [['port-remove', 2], ['port-add', 3], ['announce', undefined], ['announce', undefined]]);
  assert.equal(state(), 'READY');
  // Announced again for a LAN switch port that forwards only some time after the link is up.
  const at: number[] = [];
  for (let t = 0; t < 2500; t += 50) {
    clock.advance(50);
    for (const m of dp.take()) if (m.op === 'announce') at.push(t + 50);
  }
  assert.deepEqual(at, [250, 250, 500, 500, 1000, 1000, 2000, 2000], 'each address at 250, 500, 1000 and 2000 ms');
  rec.stop();
});

/** SW1's uplink up1 made ready: controller C1 connected and its InitializationComplete answered; the link, its messages taken. */
function uplinkReady(ifaces: Set<string>, rec: Reconciler, clock: ManualClock): FakeLink {
  const link = new FakeLink();
  ifaces.add('up1');
  rec.controllers.register(link, 'C1', 42);
  clock.drain();
  rec.controllers.received(link, { t: 'initialization-complete', switch: 'SW1', rdevs: [st('up1', true)] });
  clock.drain();
  link.take();
  return link;
}

test('an address the LAN holds is refused: the probe answered, or in use on the LAN during the window; counted once, reason in QUERY, out of the data plane', () => {
  const { ifaces, dp, w, rec, run, clock } = setup();
  run('DEFINE VSWITCH SW1 RDEV up1');
  run('DEFINE GUEST A NETNS na');
  run('DEFINE NIC 600 FOR A');
  run('SET VSWITCH SW1 GRANT A'); run('COUPLE 600 TO SYSTEM SW1 FOR A');
  const link = uplinkReady(ifaces, rec, clock);
  dp.take();
  const GW = 0x0a000001, OWN = 0x0a000005;
  w.emit('address', 'A/0600', GW, 24, true);
  w.emit('address', 'A/0600', OWN, 24, true);
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'probe', sw: 0, vid: 0, ip: GW }, { op: 'probe', sw: 0, vid: 0, ip: OWN }],
    'probed, and not in the data plane while the probe runs (no ARP answered for it, no frames from it)');
  dp.emit('lan-holder', { ev: 'lan-holder', sw: 0, ip: GW, mac: 0x00aa00000001 });
  dp.emit('lan-holder', { ev: 'lan-holder', sw: 0, ip: GW, mac: 0x00aa00000001 });
  clock.drain();
  assert.deepEqual(dp.take(), [], 'the refused address never reaches the data plane: its frames are dropped');
  assert.equal(rec.addressReason('SW1', GW), 'in use on the LAN by MAC 00:aa:00:00:00:01');
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 1);
  clock.advance(PROBE_WINDOW_MS);
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'probe', sw: 0, vid: 0, ip: OWN }, { op: 'ip-set', sw: 0, vid: 0, ip: OWN, port: 0, localOnly: true }],
    'the second probe for the free address only; in the data plane once the window passed');
  assert.deepEqual(link.take(), [{ t: 'register-address', kind: 'ipv4', switch: 'SW1', rdev: 'up1', address: '10.0.0.5' }], 'only the free address');
  assert.equal(rec.addressReason('SW1', GW), 'in use on the LAN by MAC 00:aa:00:00:00:01');
  // A registered address that turns up on the LAN later: a conflict, counted once per LAN MAC.
  dp.emit('lan-holder', { ev: 'lan-holder', sw: 0, ip: OWN, mac: 0x00aa00000002 });
  dp.emit('lan-holder', { ev: 'lan-holder', sw: 0, ip: OWN, mac: 0x00aa00000002 });
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 2);
  // The guest drops the address and configures it again: probed again.
  w.emit('address', 'A/0600', GW, 24, false);
  clock.drain();
  w.emit('address', 'A/0600', GW, 24, true);
  clock.drain();
  assert.deepEqual(dp.take().filter((m) => m.op === 'probe'), [{ op: 'probe', sw: 0, vid: 0, ip: GW }]);
  assert.equal(rec.addressReason('SW1', GW), 'probing the LAN');
});

test('an address belongs to a VLAN on the LAN too: two guests probe one address in VLANs 10 and 20; a LAN holder in VLAN 20 refuses only the VLAN-20 claim, which stays local only though the address is registered for VLAN 10', () => {
  const { ifaces, dp, w, rec, run, clock, cp } = setup();
  run('DEFINE VSWITCH SW1 RDEV up1 VLAN 10');
  for (const [g, v] of [['A', 10], ['B', 20]] as const) {
    run(`DEFINE GUEST ${g} NETNS n${g}`);
    run(`DEFINE NIC 600 FOR ${g}`);
    run(`SET VSWITCH SW1 GRANT ${g} VLAN ${v}`); run(`COUPLE 600 TO SYSTEM SW1 FOR ${g}`);
  }
  const link = uplinkReady(ifaces, rec, clock);
  dp.take();
  const X = 0x0a000005;
  w.emit('address', 'A/0600', X, 24, true);
  w.emit('address', 'B/0600', X, 24, true);
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'probe', sw: 0, vid: 10, ip: X }, { op: 'probe', sw: 0, vid: 20, ip: X }], 'probed in each VLAN');
  dp.emit('lan-holder', { ev: 'lan-holder', sw: 0, ip: X, mac: 0x00aa00000001, vid: 20 });
  clock.advance(PROBE_WINDOW_MS);
  clock.drain();
  assert.deepEqual(dp.take().filter((m) => m.op === 'ip-set'), [{ op: 'ip-set', sw: 0, vid: 10, ip: X, port: 0, localOnly: true }], 'only VLAN 10\'s claim reaches the data plane');
  assert.deepEqual(link.take(), [{ t: 'register-address', kind: 'ipv4', switch: 'SW1', rdev: 'up1', address: '10.0.0.5' }], 'registered once');
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 1);
  assert.equal(rec.addressReason('SW1', X, 20), 'in use on the LAN by MAC 00:aa:00:00:00:01');
  assert.equal(rec.addressReason('SW1', X, 10), 'registration pending', 'VLAN 10\'s waits only for the controller');
  rec.controllers.received(link, { t: 'address-registered', switch: 'SW1', rdev: 'up1', kind: 'ipv4', address: '10.0.0.5', ok: true });
  clock.drain();
  const t = (cp.execute('Q VSWITCH SW1 DETAILS').data as any).switches[0].ipTable;
  assert.deepEqual(t.map((e: { vlan: number; guest: string; localOnly: boolean; reason: string | null }) => [e.vlan, e.guest, e.localOnly, e.reason]), [
    [10, 'A', false, null], [20, 'B', true, 'in use on the LAN by MAC 00:aa:00:00:00:01'],
  ]);
});

/** On a VLAN-aware SW1: guest A (the default VLAN, ACCESS) and guest T (TRUNK of 1, 20 and 30), granted, not coupled. */
function guestsAT(run: (c: string) => void): void {
  for (const c of ['DEFINE GUEST A NETNS na', 'DEFINE NIC 600 FOR A', 'DEFINE GUEST T NETNS nt', 'DEFINE NIC 600 FOR T',
    'SET VSWITCH SW1 GRANT A', 'SET VSWITCH SW1 GRANT T PORTTYPE TRUNK VLAN 1 20 30']) run(c);
}

test('layer-2 policies reach the worker: switch-add and port-add carry them, GRANT / SET VSWITCH / SET NIC post only what changed, REVOKE removes the port; ip-set in each address\'s VLAN', () => {
  const { dp, w, run, cp, clock, state } = setup();
  run('DEFINE VSWITCH SW1 RDEV NONE VLAN 10 NATIVE 1');
  assert.deepEqual(dp.take(), [{ op: 'switch-add', sw: 0, mode: 'IP', queueBytes: 8 << 20, policy: { vlanAware: true, nativeVid: 1, isolation: false } }]);
  guestsAT(run);
  assert.deepEqual(dp.take(), [], 'a grant of an uncoupled user posts nothing');
  run('COUPLE 600 TO SYSTEM SW1 FOR A');
  run('COUPLE 600 TO SYSTEM SW1 FOR T');
  const adds = dp.take();
  assert.deepEqual(adds.map((m) => m.op === 'port-add' && [m.port, m.policy]), [
    [0, { portType: 'ACCESS', pvid: 10, vlans: [], promiscuous: false, macProtect: false }],
    [1, { portType: 'TRUNK', pvid: 1, vlans: [20, 30], promiscuous: false, macProtect: false }],
  ], 'ACCESS in the default VLAN; TRUNK with the native VLAN untagged (granted) and the rest tagged');
  // Addresses: A's on its interface (VLAN 10); T's on enc600 (native 1), on enc600.20 (20), on enc600.99 (not granted: none).
  w.emit('address', 'A/0600', 0x0a0a0001, 24, true, 0);
  w.emit('address', 'T/0600', 0x0a010002, 24, true, 0);
  w.emit('address', 'T/0600', 0x0a140002, 24, true, 20);
  w.emit('address', 'T/0600', 0x0a630002, 24, true, 99);
  clock.drain();
  assert.deepEqual(dp.take().filter((m) => m.op === 'ip-set').map((m) => m.op === 'ip-set' && [m.ip, m.vid, m.port]).sort(), [
    [0x0a010002, 1, 1], [0x0a0a0001, 10, 0], [0x0a140002, 20, 1],
  ]);
  assert.equal(state.switches.get('SW1')!.lanIp.has(0x0a630002), false, 'an address in a VLAN the port does not carry is not in the table');
  // A grant changed: the port's policy follows, the address moves to its new VLAN.
  run('SET VSWITCH SW1 GRANT A VLAN 40');
  clock.drain();
  assert.deepEqual(dp.take(), [
    { op: 'port-policy', port: 0, policy: { portType: 'ACCESS', pvid: 40, vlans: [], promiscuous: false, macProtect: false } },
    { op: 'ip-clear', sw: 0, vid: 10, ip: 0x0a0a0001 },
    { op: 'ip-set', sw: 0, vid: 40, ip: 0x0a0a0001, port: 0, localOnly: true },
  ]);
  run('SET VSWITCH SW1 ISOLATION ON');
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'switch-policy', sw: 0, policy: { vlanAware: true, nativeVid: 1, isolation: true } }]);
  run('SET VSWITCH SW1 MACPROTECT ON');
  clock.drain();
  assert.deepEqual(dp.take().map((m) => m.op === 'port-policy' && [m.port, m.policy.macProtect]), [[0, true], [1, true]], 'every NIC whose MACPROTECT is UNSPECIFIED');
  run('SET NIC 600 MACPROTECT OFF FOR T');
  clock.drain();
  assert.deepEqual(dp.take().map((m) => m.op === 'port-policy' && [m.port, m.policy.macProtect]), [[1, false]]);
  // PROMISCUOUS needs the grant.
  const r = cp.execute('SET NIC 600 PROMISCUOUS FOR A');
  assert.ok(!r.ok && /VSW0042E .*not authorized for promiscuous mode/.test(r.lines[0]), r.lines[0]);
  run('SET VSWITCH SW1 GRANT A PROMISCUOUS');
  clock.drain();
  assert.deepEqual(dp.take(), [], 'the grant alone changes no port');
  run('SET NIC 600 PROMISCUOUS FOR A');
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'port-policy', port: 0, policy: { portType: 'ACCESS', pvid: 40, vlans: [], promiscuous: true, macProtect: true } }]);
  run('SET VSWITCH SW1 GRANT A NOPROMISCUOUS');
  clock.drain();
  assert.deepEqual(dp.take().map((m) => m.op === 'port-policy' && m.policy.promiscuous), [false], 'NOPROMISCUOUS takes it off the NIC');
  assert.equal(state.nic('A', 0x600)!.promiscuous, false);
  // REVOKE: the port goes (the guest sees NO-CARRIER), its addresses leave the table.
  run('SET VSWITCH SW1 REVOKE T');
  clock.drain();
  const gone = dp.take();
  assert.deepEqual(gone.filter((m) => m.op === 'port-remove'), [{ op: 'port-remove', port: 1 }]);
  assert.deepEqual(gone.filter((m) => m.op === 'ip-clear').map((m) => m.op === 'ip-clear' && [m.ip, m.vid]).sort(), [[0x0a010002, 1], [0x0a140002, 20]]);
  assert.equal(state.nic('T', 0x600)!.coupled, null);
});

test('ETHERNET switches: the MAC table is asked of the worker every second and QUERY shows the last answer in bridge -j fdb names', () => {
  const { dp, run, cp, clock } = setup();
  run('DEFINE VSWITCH E1 RDEV NONE ETHERNET');
  run('DEFINE GUEST A NETNS na');
  run('DEFINE NIC 600 FOR A');
  run('SET VSWITCH E1 GRANT A');
  run('COUPLE 600 TO SYSTEM E1 FOR A');
  const asked = dp.take().filter((m) => m.op === 'fdb-query');
  assert.equal(asked.length, 1, 'asked at once');
  let q = cp.execute('Q VSW E1 DET');
  assert.ok(q.lines.includes('  MAC table: not read yet (the data plane answers within a second)'), q.lines.join('\n'));
  const req = asked[0].op === 'fdb-query' ? asked[0].req : -1;
  dp.emit('fdb', { ev: 'fdb', sw: 0, req: req + 100, entries: [{ mac: 0x02aa00000001, vid: 0, port: 0, ageMs: 10 }] });
  assert.equal((cp.execute('Q VSW E1 DET').data as any).switches[0].macTable.entries, null, 'an answer to another request is dropped');
  dp.emit('fdb', { ev: 'fdb', sw: 0, req, entries: [{ mac: 0x020000000001, vid: 0, port: 0, ageMs: 2500 }, { mac: 0x0a0000000009, vid: 0, port: 7, ageMs: 0 }] });
  q = cp.execute('Q VSW E1 DET');
  const t = (q.data as any).switches[0].macTable;
  assert.equal(t.readAt, new Date(clock.now()).toISOString());
  assert.deepEqual(t.entries[0], { mac: '02:00:00:00:00:01', ifname: 'A 0600', master: 'E1', updated: 2, ageMs: 2500, port: 0, uplink: false, guest: 'A', vdev: '0600' });
  assert.equal(t.entries[1].ifname, 'port 7');
  assert.ok(q.lines.includes('    02-00-00-00-00-01  VLAN: NONE  Port: A 0600  Age: 2 s'), q.lines.join('\n'));
  clock.advance(1000);
  assert.equal(dp.take().filter((m) => m.op === 'fdb-query').length, 1, 'asked again a second later');
  run('UNCOUPLE 600 FOR A');
  run('DETACH NIC 600 FOR A');
  run('DETACH VSWITCH E1');
  clock.advance(1000);
  clock.advance(1000);
  assert.deepEqual(dp.take().filter((m) => m.op === 'fdb-query'), [], 'no ETHERNET switch, no asking');
});

test('IPv6 LAN IP table per VLAN: ip6-set in each address\'s VLAN (a trunk\'s sub-devices too), a grant moves it; the same address in two VLANs is two entries, a second claim in one VLAN a conflict', () => {
  const { dp, w, run, clock, state } = setup();
  run('DEFINE VSWITCH SW1 RDEV NONE VLAN 10 NATIVE 1');
  guestsAT(run);
  run('COUPLE 600 TO SYSTEM SW1 FOR A');
  run('COUPLE 600 TO SYSTEM SW1 FOR T');
  clock.drain();
  dp.take();
  const hex = (a: string) => a.replace(/:/g, '');
  const A10 = '20010db8000a00000000000000000001', T1 = '20010db8000100000000000000000002';
  const T20 = '20010db8001400000000000000000002', T99 = '20010db8006300000000000000000002';
  w.emit('address6', 'A/0600', A10, 64, true, 0);
  w.emit('address6', 'T/0600', T1, 64, true, 0);
  w.emit('address6', 'T/0600', T20, 64, true, 20);
  w.emit('address6', 'T/0600', T99, 64, true, 99);
  clock.drain();
  assert.deepEqual(dp.take().filter((m) => m.op === 'ip6-set').map((m) => m.op === 'ip6-set' && [m.ip6, m.vid, m.port]).sort(), [
    [hex(T1), 1, 1], [hex(A10), 10, 0], [hex(T20), 20, 1],
  ]);
  const t6 = state.switches.get('SW1')!.lanIp6;
  assert.equal(t6.has('2001:db8:63::2'), false, 'an address in a VLAN the port does not carry is not in the table');
  assert.equal(t6.get(lanIp6Key(20, '2001:db8:14::2'))?.vid, 20);
  // The address is on the NIC's own interface too (the native VLAN): an entry there as well, a claim of its own.
  w.emit('address6', 'T/0600', T20, 64, true, 0);
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'ip6-set', sw: 0, vid: 1, ip6: T20, port: 1, localOnly: true }]);
  // It leaves the sub-device: its VLAN 20 entry goes, the native VLAN's stays.
  w.emit('address6', 'T/0600', T20, 64, false, 20);
  clock.drain();
  assert.deepEqual(dp.take(), [{ op: 'ip6-clear', sw: 0, vid: 20, ip6: T20 }]);
  assert.deepEqual([...t6.values()].filter((e) => e.ip6 === '2001:db8:14::2').map((e) => e.vid), [1]);
  // A grant changed: the address moves to A's new VLAN.
  run('SET VSWITCH SW1 GRANT A VLAN 40');
  clock.drain();
  assert.deepEqual(dp.take().filter((m) => m.op.startsWith('ip6')), [
    { op: 'ip6-clear', sw: 0, vid: 10, ip6: A10 },
    { op: 'ip6-set', sw: 0, vid: 40, ip6: A10, port: 0, localOnly: true },
  ]);
  // An address belongs to a VLAN: T's claim on A's address in VLAN 30 is an entry of its own, no conflict.
  w.emit('address6', 'T/0600', A10, 64, true, 30);
  clock.drain();
  assert.equal(t6.get(lanIp6Key(40, '2001:db8:a::1'))?.userid, 'A');
  assert.equal(t6.get(lanIp6Key(30, '2001:db8:a::1'))?.userid, 'T');
  assert.deepEqual(dp.take().filter((m) => m.op.startsWith('ip6')), [{ op: 'ip6-set', sw: 0, vid: 30, ip6: A10, port: 1, localOnly: true }]);
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 0);
  // In one VLAN it is one NIC: U's later claim on it in VLAN 30 is refused and counted once.
  for (const c of ['DEFINE GUEST U NETNS nu', 'DEFINE NIC 600 FOR U', 'SET VSWITCH SW1 GRANT U VLAN 30', 'COUPLE 600 TO SYSTEM SW1 FOR U']) run(c);
  clock.drain();
  dp.take();
  w.emit('address6', 'U/0600', A10, 64, true, 0);
  clock.drain();
  assert.equal(t6.get(lanIp6Key(30, '2001:db8:a::1'))?.userid, 'T');
  assert.deepEqual(dp.take().filter((m) => m.op.startsWith('ip6')), []);
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 1);
  w.emit('address6', 'T/0600', T99, 64, false, 99);
  clock.drain();
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 1, 'counted once while it stands');
});

test('cluster claims of IPv6 addresses: local only until the claim is this member\'s; another member\'s is out of the data plane, counted once, with its reason; released when gone', () => {
  const answers = new Map<number | string, 'mine' | 'wait' | { member: string }>();
  const inUse6: string[][] = [];
  let listener: (sw: string) => void = () => {};
  const claims: AddressClaims = {
    claim: (_sw, ip) => answers.get(ip) ?? 'wait',
    inUse: () => {},
    inUse6: (_sw, ips) => { inUse6.push([...ips]); },
    listen: (fn) => { listener = fn; },
    isMemberMac: () => false,
  };
  const { dp, w, run, clock, rec } = setup(claims);
  run('DEFINE VSWITCH SW1 RDEV NONE');
  run('DEFINE GUEST A NETNS na');
  run('DEFINE NIC 600 FOR A');
  run('SET VSWITCH SW1 GRANT A');
  run('COUPLE 600 TO SYSTEM SW1 FOR A');
  clock.drain();
  dp.take();
  const X = '2001:db8::7', XHEX = '20010db8000000000000000000000007';
  w.emit('address6', 'A/0600', XHEX, 64, true, 0);
  clock.drain();
  assert.deepEqual(dp.take().filter((m) => m.op.startsWith('ip6')), [{ op: 'ip6-set', sw: 0, vid: 0, ip6: XHEX, port: 0, localOnly: true }]);
  assert.equal(rec.addressReason('SW1', X), "waiting for the cluster's store");
  assert.deepEqual(inUse6.at(-1), [X]);
  answers.set(X, { member: 'M2' });
  listener('SW1');
  clock.drain();
  assert.deepEqual(dp.take().filter((m) => m.op.startsWith('ip6')), [{ op: 'ip6-clear', sw: 0, vid: 0, ip6: XHEX }]);
  assert.equal(rec.addressReason('SW1', X), 'held by member M2 of the cluster');
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 1);
  listener('SW1');
  clock.drain();
  assert.equal(dp.counters[dropSlot(0, ADDR_CONFLICT)], 1, 'counted once per holder');
  answers.set(X, 'mine');
  listener('SW1');
  clock.drain();
  assert.deepEqual(dp.take().filter((m) => m.op.startsWith('ip6')), [{ op: 'ip6-set', sw: 0, vid: 0, ip6: XHEX, port: 0, localOnly: true }]);
  assert.notEqual(rec.addressReason('SW1', X), 'held by member M2 of the cluster');
  assert.notEqual(rec.addressReason('SW1', X), "waiting for the cluster's store");
  w.emit('address6', 'A/0600', XHEX, 64, false, 0);
  clock.drain();
  assert.deepEqual(inUse6.at(-1), [], 'released once no NIC has it');
});
