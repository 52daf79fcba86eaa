/**
 * The daemon side of issue 13 in the control plane, with fake devices, data plane and watcher
 * and a ManualClock: the grammar of `DEFINE GUEST u NETNS PATH p`, `QEMU TAP [OWNER uid]
 * [GROUP gid]` and `DEFINE NIC ... NAME ifname` (parse and canonical form, refusals); what
 * DEFINE checks (a NIC name unique where it lives, NAME refused for socket NICs); a path
 * guest's NICs made exclusively in its namespace; the QEMU TAP backend (the TAP made at DEFINE
 * NIC with its owner, a 'host-tap' port when coupled, QUERY NIC DETAILS with the QEMU arguments
 * and the libvirt element, the carrier poll: connected, disconnected with the announced
 * addresses forgotten, the TAP gone under the port or without one: counted and made again, a
 * 'port-down' counted the same way); and the namespace watch (a path guest whose namespace file
 * disappears or changes identity is detached through the command engine; named guests and
 * unchanged paths are left alone; a refused cleanup is retried).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPEN_PORT_POLICY } from '../../src/protocol/dataplane.js';
import { EventEmitter } from 'node:events';
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { controlPlane } from '../helpers/control.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { format, parse } from '../../src/control/grammar.js';
import { Reconciler } from '../../src/control/reconcile.js';
import { NetnsWatch, type FileIdentity } from '../../src/control/netns-watch.js';
import { POLL_MS } from '../../src/control/host-tap-nics.js';
import { State } from '../../src/control/state.js';
import { COUNTER_SLOTS } from '../../src/forward/counters.js';
import type { ToWorker } from '../../src/protocol/dataplane.js';
import type { HostTapOptions } from '../../src/host/host-tap.js';

const quiet = pino({ level: 'silent' });

class FakeDp extends EventEmitter {
  readonly counters = new Float64Array(COUNTER_SLOTS);
  posts: ToWorker[] = [];
  post(m: ToWorker): void { this.posts.push(m); }
  take(): ToWorker[] { const p = this.posts; this.posts = []; return p.map((m) => ('fd' in m ? { ...m, fd: -1 } : m)); }
}

class FakeWatcher extends EventEmitter {
  watch(): void {}
  unwatch(): void {}
}

function setup() {
  const taps = new Map<string, { carrier: boolean; opts: HostTapOptions }>();
  const opened: Array<{ netns: string | null; name: string; exclusive?: boolean }> = [];
  const dev = {
    ensureNetns: () => false,
    netnsMadeHere: () => false,
    deleteNetns: () => {},
    openTap: (o: { netns: string | null; name: string; exclusive?: boolean }) => { opened.push(o); return { fd: openSync('/dev/null', 'r'), ifindex: 5 }; },
    destroyTap: (_netns: string | null, name: string) => { taps.delete(name); },
    openUplink: (name: string) => {
      if (!taps.has(name)) throw Object.assign(new Error(`${name}: no such device`), { code: 'ENODEV' });
      return { fd: openSync('/dev/null', 'r'), ifindex: 9, mac: 0x0a0000000009, mtu: 1500 };
    },
    interfaceExists: () => false,
    ensureHostTap: (o: HostTapOptions) => {
      const t = taps.get(o.name);
      if (t && o.exclusive) throw Object.assign(new Error(`interface ${o.name} exists already`), { code: 'EEXIST' });
      if (t) return t.carrier ? 'in-use' as const : 'existing' as const;
      taps.set(o.name, { carrier: false, opts: o });
      return 'created' as const;
    },
    hostTapLink: (name: string) => {
      const t = taps.get(name);
      return { exists: t !== undefined, up: t !== undefined, carrier: t?.carrier ?? false };
    },
  };
  const state = new State();
  const dp = new FakeDp();
  const clock = new ManualClock();
  const rec = new Reconciler({ state, dataPlane: dp, devices: dev, watcher: new FakeWatcher(), log: quiet, retryMs: 20, clock });
  const cp = controlPlane(state, dev, { effects: rec, runtime: rec });
  const run = (c: string): string[] => { const r = cp.execute(c); assert.ok(r.ok, `${c}: ${r.lines}`); return r.lines; };
  const refused = (c: string, re: RegExp): void => { const r = cp.execute(c); assert.ok(!r.ok, `${c} should be refused`); assert.match(r.lines[0], re); };
  const nic = (vdev: string, user: string): any => (cp.execute(`Q NIC ${vdev} DETAILS FOR ${user}`).data as any).nics[0];
  return { taps, opened, dp, rec, cp, run, refused, nic, state, clock };
}

test('grammar: NETNS PATH, QEMU TAP with OWNER and GROUP, DEFINE NIC NAME; canonical forms parse back', () => {
  const cases: Array<[string, unknown, string]> = [
    ['def guest c1 netns path /proc/123/ns/net', { kind: 'define-guest', userid: 'C1', netns: '/proc/123/ns/net', qemu: null }, 'DEFINE GUEST C1 NETNS PATH /proc/123/ns/net'],
    ['DEFINE GUEST C2 NETNS PATH /run/netns/cni-1a2b', { kind: 'define-guest', userid: 'C2', netns: '/run/netns/cni-1a2b', qemu: null }, 'DEFINE GUEST C2 NETNS PATH /run/netns/cni-1a2b'],
    ['DEFINE GUEST N NETNS path', { kind: 'define-guest', userid: 'N', netns: 'path', qemu: null }, 'DEFINE GUEST N NETNS path'],
    ['def gue vm1 qemu tap', { kind: 'define-guest', userid: 'VM1', netns: null, qemu: 'TAP' }, 'DEFINE GUEST VM1 QEMU TAP'],
    ['def gue vm1 qemu tap group 64 owner 1000', { kind: 'define-guest', userid: 'VM1', netns: null, qemu: 'TAP', tapOwner: { uid: 1000, gid: 64 } }, 'DEFINE GUEST VM1 QEMU TAP OWNER 1000 GROUP 64'],
    ['def gue vm1 qemu tap owner 0', { kind: 'define-guest', userid: 'VM1', netns: null, qemu: 'TAP', tapOwner: { uid: 0, gid: null } }, 'DEFINE GUEST VM1 QEMU TAP OWNER 0'],
    ['def nic 600 name eth0 for c1', { kind: 'define-nic', vdev: 0x600, userid: 'C1', name: 'eth0' }, 'DEFINE NIC 0600 TYPE QDIO NAME eth0 FOR C1'],
    ['def nic 600 type qdio name Eth-1 for c1', { kind: 'define-nic', vdev: 0x600, userid: 'C1', name: 'Eth-1' }, 'DEFINE NIC 0600 TYPE QDIO NAME Eth-1 FOR C1'],
  ];
  for (const [text, cmd, canonical] of cases) {
    const r = parse(text);
    assert.ok(r.ok, `${text}: ${r.ok ? '' : r.error.message}`);
    assert.deepEqual(r.cmd, cmd, text);
    assert.equal(format(r.cmd), canonical);
    assert.deepEqual(parse(canonical), r);
  }
  const err = (text: string): string => { const r = parse(text); assert.ok(!r.ok, text); return r.error.message; };
  assert.match(err('DEFINE GUEST C1 NETNS /proc/1/ns/net'), /a namespace given by path is NETNS PATH \/proc\/1\/ns\/net/);
  assert.match(err('DEFINE GUEST C1 NETNS PATH proc/1'), /bad namespace path 'proc\/1'/);
  assert.match(err('DEFINE GUEST C1 NETNS PATH /run/netns/../x'), /bad namespace path/);
  assert.match(err('DEFINE GUEST V QEMU TAP OWNER'), /missing word: expected a numeric user id/);
  assert.match(err('DEFINE GUEST V QEMU TAP OWNER -1'), /bad user id \(uid\) '-1'/);
  assert.match(err('DEFINE GUEST V QEMU TAP OWNER 1 OWNER 2'), /option OWNER given twice/);
  // A socket guest's OWNER is who may command it (a user name or uid), not a TAP's owner: no GROUP (issue 10).
  assert.match(err('DEFINE GUEST V QEMU STREAM OWNER 1 GROUP 2'), /expected end of command/);
  assert.match(err('DEFINE NIC 600 NAME for/x FOR C1'), /bad interface name 'for\/x'/);
  assert.match(err('DEFINE NIC 600 NAME FOR C1'), /bad interface name 'FOR'|expected (NAME, MACID, )?FOR/);
});

test('DEFINE checks: NIC names unique where they live; NAME refused for socket NICs; QUERY GUEST says NETNS PATH', () => {
  const { run, refused, cp, opened } = setup();
  assert.deepEqual(run('DEFINE GUEST C1 NETNS PATH /proc/1/ns/net'), ['GUEST C1 is defined (NETNS PATH /proc/1/ns/net)']);
  refused('DEFINE GUEST C2 NETNS PATH /proc/1/ns/net', /VSW0023E namespace \/proc\/1\/ns\/net already belongs to GUEST C1/);
  run('DEFINE NIC 600 NAME eth0 FOR C1');
  const first = (netns: string, name: string) => opened.find((o) => o.netns === netns && o.name === name);
  assert.deepEqual(first('/proc/1/ns/net', 'eth0'), { netns: '/proc/1/ns/net', name: 'eth0', mac: 0x020000000001, persist: true, exclusive: true }, 'made exclusively in a runtime\'s namespace');
  refused('DEFINE NIC 700 NAME eth0 FOR C1', /VSW0030E interface name eth0 is taken by NIC 0600 of GUEST C1/);
  run('DEFINE NIC 700 FOR C1');
  assert.equal(first('/proc/1/ns/net', 'enc700')?.exclusive, true);
  run('DEFINE GUEST N1 NETNS n1');
  run('DEFINE NIC 600 NAME eth0 FOR N1');
  assert.equal(first('n1', 'eth0')?.exclusive, false, 'a named namespace\'s TAP is re-attached as before');
  run('DEFINE GUEST S1 QEMU');
  refused('DEFINE NIC 600 NAME eth0 FOR S1', /VSW0032E NAME eth0: the NICs of QEMU STREAM GUEST S1 are sockets/);
  run('DEFINE GUEST T1 QEMU TAP');
  run('DEFINE GUEST T2 QEMU TAP');
  run('DEFINE NIC 600 FOR T1');
  run('DEFINE NIC 600 NAME vmtap0 FOR T2');
  refused('DEFINE NIC 700 NAME vmtap0 FOR T1', /VSW0030E TAP name vmtap0 is taken by NIC 0600 of GUEST T2/);
  refused('DEFINE NIC 700 NAME t1-0600 FOR T2', /TAP name t1-0600 is taken by NIC 0600 of GUEST T1/);
  assert.deepEqual(cp.execute('Q GUEST C1').lines, ['GUEST C1        NETNS PATH /proc/1/ns/net  NICs: 0600 0700']);
  assert.deepEqual(cp.execute('Q GUEST T1').lines, ['GUEST T1        QEMU TAP  NICs: 0600']);
});

test('QEMU TAP: the TAP made at DEFINE NIC with its owner, a host-tap port when coupled, QUERY NIC DETAILS', () => {
  const { run, refused, taps, dp, nic, cp, rec } = setup();
  run('DEFINE VSWITCH SW1');
  run('DEFINE GUEST VM1 QEMU TAP OWNER 1000 GROUP 64');
  run('DEFINE NIC 600 FOR VM1');
  assert.deepEqual(taps.get('vm1-0600')?.opts, { name: 'vm1-0600', uid: 1000, gid: 64, exclusive: true });
  taps.set('busy0', { carrier: false, opts: { name: 'busy0', uid: null, gid: null, exclusive: false } });
  refused('DEFINE NIC 700 NAME busy0 FOR VM1', /VSW0034E interface busy0 exists already/);
  assert.equal(nic('600', 'VM1').qemu.state, 'NOT COUPLED; DISCONNECTED: no QEMU has TAP vm1-0600 open');
  dp.take();
  run('SET VSWITCH SW1 GRANT VM1'); run('COUPLE 600 TO SYSTEM SW1 FOR VM1');
  const adds = dp.take().filter((m) => m.op === 'port-add');
  assert.deepEqual(adds, [{ op: 'port-add', port: 0, sw: 0, role: 'nic', kind: 'host-tap', fd: -1, mac: 0x020000000001, vnet: true, name: 'vm1-0600@host', policy: OPEN_PORT_POLICY }]);
  const args = '-netdev tap,id=nic0600,ifname=vm1-0600,script=no,downscript=no -device virtio-net-pci,mac=02:00:00:00:00:01,netdev=nic0600';
  const xml = "<interface type='ethernet'><mac address='02:00:00:00:00:01'/><target dev='vm1-0600' managed='no'/><model type='virtio'/><driver name='qemu'/></interface>";
  assert.deepEqual(cp.execute('QUERY NIC 600 DETAILS FOR VM1').lines, [
    'Adapter 0600.P00 Type: QDIO      Name: UNASSIGNED  Devices: 3',
    '  MAC: 02-00-00-00-00-01         VSWITCH: SYSTEM SW1',
    '  RDR: 0600  Subchannel: 0000',
    '  WRT: 0601  Subchannel: 0001',
    '  DATA: 0602  Subchannel: 0002',
    '  CHPID: 00',
    '  Promiscuous: NO  MACprotect: UNSPECIFIED',
    '  Porttype: ACCESS  VLAN: UNAWARE',
    '  TAP: vm1-0600  On the host',
    '  QEMU: TAP  State: DISCONNECTED: no QEMU has TAP vm1-0600 open',
    `  QEMU arguments: ${args}`,
    `  libvirt: ${xml}`,
    '  Port: RX Frames: 0  RX Bytes: 0  TX Frames: 0  TX Bytes: 0  TX Drops: 0  RX Errors: 0',
    '  Addresses: none',
  ]);
  assert.equal(nic('600', 'VM1').qemu.vhost, false);
  run('DETACH NIC 600 FOR VM1');
  assert.deepEqual(dp.take().filter((m) => m.op === 'port-remove'), [{ op: 'port-remove', port: 0 }]);
  assert.ok(!taps.has('vm1-0600'), 'DETACH NIC destroys the TAP');
  rec.stop();
});

test('QEMU TAP: the carrier poll (connected, disconnected forgets addresses), the TAP deleted under the port or without one, a port-down', () => {
  const { run, taps, dp, nic, state, clock, rec } = setup();
  run('DEFINE VSWITCH SW1');
  run('DEFINE GUEST VM1 QEMU TAP');
  run('DEFINE NIC 600 FOR VM1');
  run('SET VSWITCH SW1 GRANT VM1'); run('COUPLE 600 TO SYSTEM SW1 FOR VM1');
  dp.take();
  taps.get('vm1-0600')!.carrier = true; // QEMU opens it
  clock.advance(POLL_MS);
  assert.equal(nic('600', 'VM1').qemu.state, 'CONNECTED: QEMU has TAP vm1-0600 open');
  dp.emit('saw-address', { ev: 'saw-address', sw: 0, port: 0, ip: 0x0a000015 });
  clock.drain();
  assert.deepEqual(state.switches.get('SW1')!.lanIp.get(0x0a000015)?.userid, 'VM1', 'the VM\'s announced address is registered');
  taps.get('vm1-0600')!.carrier = false; // QEMU gone
  clock.advance(POLL_MS);
  assert.equal(nic('600', 'VM1').qemu.state, 'DISCONNECTED: no QEMU has TAP vm1-0600 open');
  assert.equal(state.switches.get('SW1')!.lanIp.size, 0, 'its address is forgotten');
  assert.deepEqual(dp.take().filter((m) => m.op.startsWith('port')), [], 'the port stays for the next QEMU');

  taps.delete('vm1-0600'); // deleted under the port, which did not notice
  clock.advance(POLL_MS);
  assert.deepEqual(dp.take().filter((m) => m.op.startsWith('port')).map((m) => m.op), ['port-remove']);
  assert.equal(nic('600', 'VM1').qemu.tapDowns, 1);
  assert.equal(nic('600', 'VM1').qemu.state, 'TAP vm1-0600 lost (TAP deleted); making it again');
  clock.advance(20);
  assert.ok(taps.has('vm1-0600'), 'made again after retryMs');
  assert.deepEqual(dp.take().filter((m) => m.op === 'port-add').map((m) => (m as { kind: string }).kind), ['host-tap']);

  const port = nic('600', 'VM1').port as number;
  dp.emit('port-down', { ev: 'port-down', port, errno: 100, reason: 'TAP deleted: ENETDOWN' });
  assert.equal(nic('600', 'VM1').qemu.tapDowns, 2);
  assert.equal(nic('600', 'VM1').qemu.lastDown, 'TAP deleted: ENETDOWN');
  assert.match(run('QUERY NIC 600 DETAILS FOR VM1').join('\n'), /TAP lost: 2 times, last: TAP deleted: ENETDOWN/);
  clock.advance(20);
  assert.equal(nic('600', 'VM1').port !== null, true, 'a port again');

  run('UNCOUPLE 600 FOR VM1');
  taps.delete('vm1-0600'); // deleted while uncoupled: found by the poll
  clock.advance(POLL_MS);
  clock.advance(20);
  assert.ok(taps.has('vm1-0600'), 'made again while uncoupled too');
  assert.equal(nic('600', 'VM1').qemu.tapDowns, 3);
  rec.stop();
  assert.equal(clock.timersPending, 0, 'stop ends the poll');
});

test('the namespace watch: a path guest whose namespace file goes or changes is detached and logged; others stay', () => {
  const state = new State();
  const clock = new ManualClock();
  const files = new Map<string, FileIdentity>([['/proc/10/ns/net', { dev: 4, ino: 100 }], ['/proc/11/ns/net', { dev: 4, ino: 101 }]]);
  const cp = controlPlane(state, { interfaceExists: () => false });
  const executed: string[] = [];
  let refuse = false;
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(s); } });
  const watch = new NetnsWatch({
    state, clock, log, intervalMs: 1000,
    execute: (c) => { executed.push(c); return refuse && c.startsWith('DETACH GUEST') ? { ok: false, lines: ['VSW0099E no'] } : cp.execute(c); },
    identify: (p) => { if (!files.has(p)) return null; return files.get(p)!; },
  });
  for (const c of ['DEFINE VSWITCH SW1', 'DEFINE GUEST A NETNS PATH /proc/10/ns/net', 'DEFINE NIC 600 NAME eth0 FOR A', 'DEFINE NIC 700 FOR A',
    'SET VSWITCH SW1 GRANT A', 'COUPLE 600 TO SYSTEM SW1 FOR A', 'DEFINE GUEST B NETNS PATH /proc/11/ns/net', 'DEFINE GUEST N NETNS named1', 'DEFINE GUEST G NETNS PATH /gone/ns']) {
    assert.ok(cp.execute(c).ok, c);
  }
  watch.start();
  assert.deepEqual(executed, ['DETACH GUEST G'], 'a path already gone at the first look');
  executed.length = 0;
  clock.advance(3000);
  assert.deepEqual(executed, [], 'unchanged paths: nothing');
  files.delete('/proc/10/ns/net');
  clock.advance(1000);
  assert.deepEqual(executed, ['DETACH NIC 0600 FOR A', 'DETACH NIC 0700 FOR A', 'DETACH GUEST A']);
  assert.deepEqual([...state.guests.keys()].sort(), ['B', 'N']);
  assert.equal(state.coupledTo('SW1').length, 0, 'not left coupled');
  const logged = lines.map((l) => JSON.parse(l)).find((l) => l.guest === 'A');
  assert.deepEqual({ msg: logged.msg, why: logged.why, nics: logged.nics }, {
    msg: 'guest namespace disappeared without its runtime removing the guest; guest and NICs removed', why: 'the path is gone',
    nics: [{ vdev: '0600', vswitch: 'SW1', interface: 'eth0' }, { vdev: '0700', vswitch: null, interface: 'enc700' }],
  });
  executed.length = 0;
  refuse = true;
  files.set('/proc/11/ns/net', { dev: 4, ino: 999 }); // the PID now names another namespace
  clock.advance(1000);
  assert.deepEqual(executed, ['DETACH GUEST B']);
  assert.ok(state.guests.has('B'), 'refused: kept');
  refuse = false;
  clock.advance(1000);
  assert.ok(!state.guests.has('B'), 'tried again and removed');
  watch.stop();
  assert.equal(clock.timersPending, 0);
  assert.ok(state.guests.has('N'), 'a named guest is never touched');
});
