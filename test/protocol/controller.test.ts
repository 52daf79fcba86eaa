/**
 * The controller protocol's validation (untrusted lines both ways), the controller's logic
 * against fake rtnetlink links (ControlSwitch, RegisterAddress, link events), and the
 * SET VSWITCH / QUERY CONTROLLER grammar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { LineSplitter, MAX_MESSAGE, decodeToController, decodeToDaemon, encode, looksLikeRegister, type ToController, type ToDaemon } from '../../src/protocol/controller.js';
import { ControllerLogic } from '../../src/controller/controller.js';
import type { LinkState } from '../../src/controller/rtnl.js';
import { isDynamic } from '../../src/control/commands/index.js';
import { format, parse } from '../../src/control/grammar.js';

const quiet = pino({ level: 'silent' });

test('messages round-trip through encode/decode', () => {
  const msgs: ToDaemon[] = [
    { t: 'register', name: 'DTCVSW1', pid: 77, version: 1 },
    { t: 'initialization-complete', switch: 'SW1', rdevs: [{ rdev: 'eth1', ok: false, reason: 'no carrier', exists: true, up: true, carrier: false, mtu: 1500, mac: '02:00:00:00:00:01', ifindex: 4 }] },
    { t: 'address-registered', kind: 'ipv4', switch: 'SW1', rdev: 'eth1', address: '10.0.0.1', ok: true },
    { t: 'link-event', switch: 'SW1', status: { rdev: 'eth2', ok: true, exists: true, up: true, carrier: true, mtu: 9000, mac: '', ifindex: 5 } },
  ];
  msgs.push({ t: 'pong', seq: 7 });
  for (const m of msgs) assert.deepEqual(decodeToDaemon(encode(m).trimEnd()), { ok: true, msg: m });
  const down: ToController[] = [{ t: 'ping', seq: 7 }, { t: 'refused', reason: 'name taken', retryMs: 1000 }, { t: 'refused', reason: 'bad version' }];
  for (const m of down) assert.deepEqual(decodeToController(encode(m).trimEnd()), { ok: true, msg: m });
  for (const bad of ['{"t":"ping","seq":-1}', '{"t":"ping"}', '{"t":"refused","reason":"x","retryMs":0}', '{"t":"refused","reason":"x","retryMs":"soon"}']) {
    assert.equal(decodeToController(bad).ok, false, bad);
  }
  assert.equal(decodeToDaemon('{"t":"pong","seq":1.5}').ok, false);
  assert.equal(decodeToDaemon('{"t":"link-event","switch":"SW1","status":{"rdev":"eth2","ok":true,"exists":true,"up":true,"carrier":true,"mtu":9000,"mac":""}}').ok, false, 'a status without its ifindex');
  const c = { t: 'register-address', kind: 'ipv4', switch: 'SW1', rdev: 'eth1', address: '192.168.1.255' } as const;
  assert.deepEqual(decodeToController(encode(c).trimEnd()), { ok: true, msg: c });
});

test('bad lines are refused with a reason, never thrown', () => {
  const bad: Array<[string, RegExp]> = [
    ['not json', /not JSON/],
    ['[1]', /must be a JSON object/],
    ['{"name":"X"}', /no "t"/],
    ['{"t":"nope"}', /unknown message type/],
    ['{"t":"register","name":"bad name","pid":1,"version":1}', /not a valid controller name/],
    ['{"t":"register","name":"TOOLONGNAME","pid":1,"version":1}', /not a valid controller name/],
    ['{"t":"register","name":"A","pid":0,"version":1}', /"pid" must be an integer/],
    ['{"t":"register","name":"A","pid":1.5,"version":1}', /"pid"/],
    ['{"t":"address-registered","kind":"ipv4","switch":"SW1","rdev":"eth1","address":"10.0.0.256","ok":true}', /IPv4/],
    ['{"t":"address-registered","kind":"ipv4","switch":"SW1","rdev":"eth1","address":"10.0.0.1","ok":"yes"}', /"ok" must be true or false/],
    ['{"t":"address-registered","switch":"SW1","rdev":"eth1","address":"10.0.0.1","ok":true}', /"kind" must be a string/],
    ['{"t":"address-registered","kind":"ipv9","switch":"SW1","rdev":"eth1","address":"10.0.0.1","ok":true}', /"kind" must be one of ipv4, ipv4-group/],
    ['{"t":"address-registered","kind":"__proto__","switch":"SW1","rdev":"eth1","address":"10.0.0.1","ok":true}', /"kind" must be one of/],
    ['{"t":"address-registered","kind":"ipv4","switch":"SW1","rdev":"eth1","ip":"10.0.0.1","ok":true}', /"address" must be a string/],
    ['{"t":"initialization-complete","switch":"SW1","rdevs":[1,2,3,4]}', /at most 3/],
    ['{"t":"initialization-complete","switch":"SW1","rdevs":[{"rdev":"../x"}]}', /interface name/],
    ['{"t":"link-event","switch":"SW1"}', /RDEV status must be a JSON object/],
    ['{"t":"register","__proto__":{"name":"A"},"pid":1,"version":1}', /"name" must be a string/],
    [`{"t":"register","name":"${'A'.repeat(MAX_MESSAGE)}"}`, /longer than/],
  ];
  for (const [line, re] of bad) {
    const d = decodeToDaemon(line);
    assert.equal(d.ok, false, line.slice(0, 80));
    if (!d.ok) assert.match(d.error, re, line.slice(0, 80));
  }
  assert.equal(decodeToController('{"t":"control-switch","switch":"SW1","rdevs":["a","b","c","d"]}').ok, false);
  assert.equal(decodeToController('{"t":"register-address","kind":"mac","switch":"SW1","rdev":"eth1","address":"10.0.0.1"}').ok, false);
  assert.equal(decodeToController('{"t":"deregister-address","kind":"ipv4","switch":"SW1","rdev":"eth1","address":"10.0.0"}').ok, false);
  assert.equal(looksLikeRegister('{"t":"register"}'), true);
  assert.equal(looksLikeRegister('{"command":"Q VSW"}'), false);
  assert.equal(looksLikeRegister('garbage'), false);
});

test('line splitter: partial lines, blank lines, overflow', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('{"a":1}\n{"b"'), ['{"a":1}']);
  assert.deepEqual(s.push(':2}\n\n'), ['{"b":2}']);
  assert.equal(s.overflow, false);
  s.push('x'.repeat(MAX_MESSAGE + 1));
  assert.equal(s.overflow, true);
});

function fakeLinks(init: Record<string, Partial<LinkState>>) {
  const links = new Map<string, LinkState>();
  for (const [name, l] of Object.entries(init)) links.set(name, { index: links.size + 2, name, type: 1, up: false, carrier: false, mtu: 1500, mac: '02:00:00:00:00:0a', ...l });
  const ups: string[] = [];
  return {
    links, ups,
    get: (n: string) => (links.has(n) ? { ...links.get(n)! } : null),
    setUp: (n: string) => { ups.push(n); const l = links.get(n)!; l.up = true; },
    mcast: [] as string[],
    addMulticast(n: string, mac: number) { if (!links.has(n)) throw new Error('ENODEV'); this.mcast.push(`+${n} ${mac.toString(16)}`); },
    delMulticast(n: string, mac: number) { this.mcast.push(`-${n} ${mac.toString(16)}`); },
  };
}

test('controller logic: ControlSwitch sets links up and reports them; registrations follow the RDEV state', () => {
  const f = fakeLinks({ eth1: { carrier: true }, eth2: { up: true, carrier: false }, tun0: { type: 65534, mac: '' } });
  const sent: ToDaemon[] = [];
  const c = new ControllerLogic(f, (m) => sent.push(m), quiet);
  c.handle({ t: 'control-switch', switch: 'SW1', rdevs: ['eth1', 'eth2', 'nope'] });
  assert.deepEqual(f.ups, ['eth1'], 'the down Ethernet RDEV was set up');
  const init = sent.shift()!;
  assert.equal(init.t, 'initialization-complete');
  if (init.t !== 'initialization-complete') return;
  assert.deepEqual(init.rdevs.map((r) => [r.rdev, r.ok, r.reason ?? null, r.up, r.carrier]), [
    ['eth1', true, null, true, true], ['eth2', false, 'no carrier', true, false], ['nope', false, 'no such interface', false, false],
  ]);
  c.handle({ t: 'register-address', kind: 'ipv4', switch: 'SW1', rdev: 'eth1', address: '10.0.0.1' });
  c.handle({ t: 'register-address', kind: 'ipv4', switch: 'SW1', rdev: 'eth2', address: '10.0.0.2' });
  c.handle({ t: 'register-address', kind: 'ipv4', switch: 'SW9', rdev: 'eth1', address: '10.0.0.3' });
  assert.deepEqual(sent.splice(0).map((m) => (m.t === 'address-registered' ? [m.address, m.ok, m.reason ?? null] : m.t)), [
    ['10.0.0.1', true, null], ['10.0.0.2', false, 'eth2: no carrier'], ['10.0.0.3', false, 'switch SW9 is not controlled by this controller'],
  ]);
  // Carrier comes to eth2, goes from eth1: two LinkEvents; an unrelated link: none.
  f.links.get('eth2')!.carrier = true;
  c.linkChanged({ added: true, link: f.get('eth2')! });
  f.links.get('eth1')!.carrier = false;
  c.linkChanged({ added: true, link: f.get('eth1')! });
  c.linkChanged({ added: true, link: f.get('tun0')! });
  assert.deepEqual(sent.splice(0).map((m) => (m.t === 'link-event' ? [m.status.rdev, m.status.ok] : m.t)), [['eth2', true], ['eth1', false]]);
  // An RDEV that appears is set up and reported.
  f.links.set('nope', { index: 9, name: 'nope', type: 1, up: false, carrier: true, mtu: 9000, mac: '02:00:00:00:00:0b' });
  c.linkChanged({ added: true, link: f.get('nope')! });
  assert.deepEqual(f.ups, ['eth1', 'nope']);
  assert.deepEqual(sent.splice(0).map((m) => (m.t === 'link-event' ? [m.status.rdev, m.status.ok, m.status.mtu] : m.t)), [['nope', true, 9000]]);
  // The carrier poll (no link message: the kernel's may come a second late) sees a carrier loss at once.
  f.links.get('eth2')!.carrier = false;
  c.pollLosses();
  assert.deepEqual(sent.splice(0).map((m) => (m.t === 'link-event' ? [m.status.rdev, m.status.ok, m.status.reason] : m.t)), [['eth2', false, 'no carrier']]);
  c.pollLosses();
  assert.equal(sent.length, 0, 'nothing changed, nothing reported');
  f.links.get('eth2')!.carrier = true;
  c.pollLosses();
  assert.equal(sent.length, 0, 'a carrier coming back waits for the kernel\'s notification');
  c.linkChanged({ added: true, link: f.get('eth2')! });
  assert.deepEqual(sent.splice(0).map((m) => (m.t === 'link-event' ? [m.status.rdev, m.status.ok] : m.t)), [['eth2', true]]);
  // eth1 deleted and made again (a new index, down): a resync sees it, sets it up, reports the new index.
  f.links.delete('eth1');
  c.linkChanged({ added: false, index: 2, name: 'eth1' });
  f.links.set('eth1', { index: 12, name: 'eth1', type: 1, up: false, carrier: true, mtu: 1500, mac: '02:00:00:00:00:0c' });
  c.linkChanged(null);
  assert.deepEqual(f.ups, ['eth1', 'nope', 'eth1']);
  assert.deepEqual(sent.splice(0).map((m) => (m.t === 'link-event' ? [m.status.rdev, m.status.exists, m.status.ok, m.status.ifindex] : m.t)), [
    ['eth1', false, false, 0], ['eth1', true, true, 12],
  ]);
  c.handle({ t: 'release-switch', switch: 'SW1' });
  assert.deepEqual(c.controlled(), []);
});

test('grammar: SET VSWITCH and QUERY CONTROLLER', () => {
  const ok = (t: string) => { const p = parse(t); assert.ok(p.ok, `${t}: ${!p.ok ? p.error.message : ''}`); return p.ok ? p.cmd : null!; };
  assert.deepEqual(ok('set vsw sw1 switchover'), { kind: 'set-vswitch', name: 'SW1', op: { t: 'switchover' } });
  assert.deepEqual(ok('SET VSWITCH SW1 UPLINK DISC'), { kind: 'set-vswitch', name: 'SW1', op: { t: 'uplink', connect: false } });
  assert.deepEqual(ok('SET VSWITCH SW1 UPLINK CONNECT'), { kind: 'set-vswitch', name: 'SW1', op: { t: 'uplink', connect: true } });
  assert.deepEqual(ok('SET VSWITCH SW1 CONTR dtcvsw2'), { kind: 'set-vswitch', name: 'SW1', op: { t: 'controller', controller: 'DTCVSW2' } });
  assert.deepEqual(ok('SET VSWITCH SW1 CONTROLLER *'), { kind: 'set-vswitch', name: 'SW1', op: { t: 'controller', controller: '*' } });
  assert.deepEqual(ok('q controller'), { kind: 'query-controller', name: null });
  assert.deepEqual(ok('q contr *'), { kind: 'query-controller', name: null });
  assert.deepEqual(ok('Q CONTROLLER dtcvsw1'), { kind: 'query-controller', name: 'DTCVSW1' });
  for (const t of ['SET VSWITCH SW1 SWITCHOVER', 'SET VSWITCH SW1 UPLINK DISCONNECT', 'SET VSWITCH SW1 CONTROLLER *', 'QUERY CONTROLLER ALL']) {
    assert.equal(format(ok(t)), t);
  }
  assert.equal(isDynamic(ok('SET VSWITCH SW1 CONTROLLER X')), true, 'journaled');
  assert.equal(isDynamic(ok('SET VSWITCH SW1 SWITCHOVER')), false, 'an operation');
  for (const t of ['SET VSWITCH SW1', 'SET VSWITCH SW1 UPLINK', 'SET VSWITCH SW1 UPLINK SIDEWAYS', 'SET NIC 600', 'SET VSWITCH SW1 SWITCHOVER NOW']) {
    assert.equal(parse(t).ok, false, t);
  }
});

test('multicast groups: messages validate, and the controller programs the RDEV multicast filter', () => {
  const m: ToDaemon = { t: 'address-registered', kind: 'ipv4-group', switch: 'SW1', rdev: 'eth1', address: '239.1.2.3', ok: false, reason: 'x' };
  assert.deepEqual(decodeToDaemon(encode(m).trimEnd()), { ok: true, msg: m });
  for (const t of ['register-address', 'deregister-address'] as const) {
    const c = { t, kind: 'ipv4-group', switch: 'SW1', rdev: 'eth1', address: '224.0.1.1' } as const;
    assert.deepEqual(decodeToController(encode(c).trimEnd()), { ok: true, msg: c });
  }
  for (const g of ['10.0.0.1', '240.0.0.1', '239.1.2.256', '239.1.2']) {
    const d = decodeToController(JSON.stringify({ t: 'register-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'eth1', address: g }));
    assert.equal(d.ok, false, g);
    if (!d.ok) assert.match(d.error, /IPv4 multicast group/);
    assert.equal(decodeToDaemon(JSON.stringify({ t: 'address-registered', kind: 'ipv4-group', switch: 'SW1', rdev: 'eth1', address: g, ok: true })).ok, false, g);
  }
  const f = fakeLinks({ eth1: { up: true, carrier: true }, eth2: { up: true, carrier: false } });
  const sent: ToDaemon[] = [];
  const c = new ControllerLogic(f, (x) => sent.push(x), quiet);
  c.handle({ t: 'control-switch', switch: 'SW1', rdevs: ['eth1', 'eth2'] });
  sent.length = 0;
  c.handle({ t: 'register-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'eth1', address: '239.1.2.3' });
  c.handle({ t: 'register-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'eth1', address: '239.129.2.3' }); // same MAC
  c.handle({ t: 'register-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'eth2', address: '239.1.2.3' });
  c.handle({ t: 'register-address', kind: 'ipv4-group', switch: 'SW2', rdev: 'eth1', address: '239.1.2.3' });
  assert.deepEqual(sent.map((x) => (x.t === 'address-registered' ? [x.rdev, x.address, x.ok, x.reason ?? null] : x.t)), [
    ['eth1', '239.1.2.3', true, null], ['eth1', '239.129.2.3', true, null], ['eth2', '239.1.2.3', false, 'eth2: no carrier'],
    ['eth1', '239.1.2.3', false, 'switch SW2 is not controlled by this controller'],
  ]);
  c.handle({ t: 'deregister-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'eth1', address: '239.1.2.3' });
  assert.deepEqual(f.mcast, ['+eth1 1005e010203', '+eth1 1005e010203'], 'the MAC stays while 239.129.2.3 needs it');
  c.handle({ t: 'deregister-address', kind: 'ipv4-group', switch: 'SW1', rdev: 'eth1', address: '239.129.2.3' });
  c.handle({ t: 'deregister-address', kind: 'ipv4-group', switch: 'SW9', rdev: 'eth1', address: '239.1.2.3' });
  assert.deepEqual(f.mcast.slice(2), ['-eth1 1005e010203']);
});
