/**
 * The 'ipv6' registration kind: its messages validate, the controller puts the address's
 * solicited-node group MAC and all nodes' MAC in the RDEV's multicast filter and takes each
 * out once no registered address needs it; the daemon side's kind keeps canonical text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { decodeToController, decodeToDaemon, type ToDaemon } from '../../src/protocol/controller.js';
import { ControllerLogic } from '../../src/controller/controller.js';
import type { LinkState } from '../../src/controller/rtnl.js';
import { IPV6_ADDRESSES } from '../../src/control/controllers/registrations.js';

const quiet = pino({ level: 'silent' });

function links(): { mcast: string[]; get(n: string): LinkState | null; setUp(): void; addMulticast(n: string, m: number): void; delMulticast(n: string, m: number): void } {
  return {
    mcast: [],
    get: (n) => (n === 'eth1' ? { index: 2, name: n, type: 1, up: true, carrier: true, mtu: 1500, mac: '02:00:00:00:00:0a' } : null),
    setUp() {},
    addMulticast(n, m) { this.mcast.push(`+${n} ${m.toString(16)}`); },
    delMulticast(n, m) { this.mcast.push(`-${n} ${m.toString(16)}`); },
  };
}

test('ipv6 kind: messages validate; the daemon side keeps canonical text', () => {
  for (const a of ['2001:db8::1', 'fe80::200:ff:fe00:1', 'fd00::1']) {
    assert.equal(decodeToController(JSON.stringify({ t: 'register-address', kind: 'ipv6', switch: 'SW1', rdev: 'eth1', address: a })).ok, true, a);
  }
  for (const a of ['10.0.0.1', '2001:DB8::1', 'fe80::1%eth0', 'x'.repeat(50)]) {
    assert.equal(decodeToDaemon(JSON.stringify({ t: 'address-registered', kind: 'ipv6', switch: 'SW1', rdev: 'eth1', address: a, ok: true })).ok, false, a);
  }
  assert.equal(IPV6_ADDRESSES.parse('2001:0db8:0:0::1'), '2001:db8::1');
  assert.equal(IPV6_ADDRESSES.parse('2001:db8:::1'), null);
});

test('ipv6 kind: the controller programs solicited-node and all-nodes MACs and takes each out when no address needs it', () => {
  const f = links();
  const sent: ToDaemon[] = [];
  const c = new ControllerLogic(f, (x) => sent.push(x), quiet);
  c.handle({ t: 'control-switch', switch: 'SW1', rdevs: ['eth1'] });
  sent.length = 0;
  c.handle({ t: 'register-address', kind: 'ipv6', switch: 'SW1', rdev: 'eth1', address: '2001:db8::12:3456' });
  c.handle({ t: 'register-address', kind: 'ipv6', switch: 'SW1', rdev: 'eth1', address: 'fe80::12:3456' }); // same solicited-node group
  c.handle({ t: 'register-address', kind: 'ipv6', switch: 'SW1', rdev: 'eth1', address: 'fd00::1' });
  c.handle({ t: 'register-address', kind: 'ipv6', switch: 'SW1', rdev: 'eth1', address: '1:2' });
  assert.deepEqual(sent.map((x) => (x.t === 'address-registered' ? [x.address, x.ok, x.reason ?? null] : x.t)), [
    ['2001:db8::12:3456', true, null], ['fe80::12:3456', true, null], ['fd00::1', true, null], ['1:2', false, '1:2 is not a valid IPv6 address'],
  ]);
  assert.deepEqual(f.mcast, ['+eth1 3333ff123456', '+eth1 333300000001', '+eth1 3333ff123456', '+eth1 333300000001', '+eth1 3333ff000001', '+eth1 333300000001']);
  f.mcast.length = 0;
  c.handle({ t: 'deregister-address', kind: 'ipv6', switch: 'SW1', rdev: 'eth1', address: '2001:db8::12:3456' });
  assert.deepEqual(f.mcast, [], 'fe80::12:3456 needs both');
  c.handle({ t: 'deregister-address', kind: 'ipv6', switch: 'SW1', rdev: 'eth1', address: 'fe80::12:3456' });
  assert.deepEqual(f.mcast, ['-eth1 3333ff123456']);
  c.handle({ t: 'deregister-address', kind: 'ipv6', switch: 'SW1', rdev: 'eth1', address: 'fd00::1' });
  assert.deepEqual(f.mcast, ['-eth1 3333ff123456', '-eth1 3333ff000001', '-eth1 333300000001']);
});

test('ipv6-group kind: validates ff00::/8 text; the controller puts the group\'s MAC (33:33 + its last 32 bits) in the filter', () => {
  assert.equal(decodeToController(JSON.stringify({ t: 'register-address', kind: 'ipv6-group', switch: 'SW1', rdev: 'eth1', address: 'ff05::1:3' })).ok, true);
  assert.equal(decodeToController(JSON.stringify({ t: 'register-address', kind: 'ipv6-group', switch: 'SW1', rdev: 'eth1', address: '2001:db8::1' })).ok, false);
  const f = links();
  const sent: ToDaemon[] = [];
  const c = new ControllerLogic(f, (x) => sent.push(x), quiet);
  c.handle({ t: 'control-switch', switch: 'SW1', rdevs: ['eth1'] });
  c.handle({ t: 'register-address', kind: 'ipv6-group', switch: 'SW1', rdev: 'eth1', address: 'ff05::1:3' });
  c.handle({ t: 'register-address', kind: 'ipv6-group', switch: 'SW1', rdev: 'eth1', address: 'ff0e::1:3' }); // same MAC
  c.handle({ t: 'deregister-address', kind: 'ipv6-group', switch: 'SW1', rdev: 'eth1', address: 'ff05::1:3' });
  c.handle({ t: 'deregister-address', kind: 'ipv6-group', switch: 'SW1', rdev: 'eth1', address: 'ff0e::1:3' });
  assert.deepEqual(f.mcast, ['+eth1 333300010003', '+eth1 333300010003', '-eth1 333300010003']);
});
