/**
 * The live page's events and the event counters of /metrics (src/daemon/http/events.ts), on a
 * real State and a RuntimeView whose control events the test writes: each event counted once
 * however often it is polled, refusals taken as they come, the last MAX_RECENT kept in time
 * order, a removed switch's counts gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventLog, MAX_RECENT } from '../../src/daemon/http/events.js';
import { NO_RUNTIME } from '../../src/control/commands/types.js';
import type { SwitchControlView, SwitchEvent } from '../../src/control/controllers.js';
import { State } from '../../src/control/state.js';

function setUp() {
  const state = new State();
  for (const name of ['SW1', 'SW2']) state.applyChange({ t: 'switch-add', sw: { name, mode: 'IP', rdevs: ['eth1'], controller: '*', queueBytes: 1 << 20, vlan: null, nativeVid: 0, portType: 'ACCESS', isolation: false } });
  const events = new Map<string, SwitchEvent[]>([['SW1', []], ['SW2', []]]);
  const runtime = {
    ...NO_RUNTIME,
    switchControl: (name: string): SwitchControlView | null => ({
      controller: 'C1', controllerState: 'READY', active: 'eth1', rdevs: [], events: [...(events.get(name) ?? [])], disconnected: false,
    }),
  };
  return { state, events, src: { state, runtime } };
}

test('each switch event is counted and listed once, in time order', () => {
  const { events, src } = setUp();
  const log = new EventLog();
  events.get('SW1')!.push({ at: 1000, kind: 'controller-assigned', reason: 'controller C1 selected (fewest switches)', durationMs: null, to: 'C1' });
  log.poll(src);
  log.poll(src);
  events.get('SW2')!.push({ at: 1500, kind: 'failover', reason: 'eth1: no carrier', durationMs: 12, from: 'eth1', to: 'eth2' });
  events.get('SW1')!.push({ at: 2000, kind: 'failover', reason: 'eth1: no carrier', durationMs: 3, from: 'eth1', to: 'eth2' });
  log.poll(src);
  assert.deepEqual(log.recent(), [
    { at: new Date(1000).toISOString(), vswitch: 'SW1', kind: 'controller-assigned', text: 'CONTROLLER-ASSIGNED: controller C1 selected (fewest switches) (- -> C1)' },
    { at: new Date(1500).toISOString(), vswitch: 'SW2', kind: 'failover', text: 'FAILOVER in 12 ms: eth1: no carrier (eth1 -> eth2)' },
    { at: new Date(2000).toISOString(), vswitch: 'SW1', kind: 'failover', text: 'FAILOVER in 3 ms: eth1: no carrier (eth1 -> eth2)' },
  ]);
  assert.deepEqual([...log.counts().get('SW1')!], [['controller-assigned', 1], ['failover', 1]]);
  // The manager keeps only its last events: one rolling out is not an event undone.
  events.get('SW1')!.shift();
  log.poll(src);
  assert.equal(log.counts().get('SW1')!.get('controller-assigned'), 1);
});

test('refusals: counted per switch and kind, a controller\'s without a switch', () => {
  const { src } = setUp();
  const log = new EventLog();
  log.refused({ at: 5, kind: 'address', vswitch: 'SW1', subject: '10.0.0.5', rdev: 'eth1', reason: 'eth1: no carrier' });
  log.refused({ at: 6, kind: 'controller', vswitch: null, subject: 'C1', rdev: null, reason: 'a controller named C1 is already connected (pid 7)' });
  log.poll(src);
  assert.equal(log.counts().get('SW1')!.get('address-refused'), 1);
  assert.equal(log.controllerRefusals, 1);
  assert.deepEqual(log.recent().map((e) => [e.vswitch, e.kind, e.text]), [
    ['SW1', 'address-refused', 'address 10.0.0.5 on eth1: registration refused: eth1: no carrier'],
    [null, 'controller-refused', 'controller C1: Register refused: a controller named C1 is already connected (pid 7)'],
  ]);
});

test('the last MAX_RECENT are kept; a removed switch\'s counts go', () => {
  const { state, events, src } = setUp();
  const log = new EventLog();
  for (let i = 0; i < MAX_RECENT + 10; i++) events.get('SW2')!.push({ at: i, kind: 'switchover', reason: `n${i}`, durationMs: 1 });
  log.poll(src);
  const recent = log.recent();
  assert.equal(recent.length, MAX_RECENT);
  assert.match(recent[0].text, /: n10$/);
  assert.equal(log.counts().get('SW2')!.get('switchover'), MAX_RECENT + 10);
  state.applyChange({ t: 'switch-remove', name: 'SW2' });
  log.poll(src);
  assert.equal(log.counts().has('SW2'), false);
});
