/**
 * QEMU guests' NICs in the control plane (src/control/qemu-nics.ts through the reconciler):
 * command transcripts for DEFINE GUEST ... QEMU [STREAM | DGRAM] and QUERY NIC DETAILS (the
 * QEMU arguments), the connection state while QEMU is away, reconnection after 'port-down',
 * address registration from the data plane's 'saw-address' (the same rules as a namespace
 * guest's address: one address one NIC, conflicts counted), and what uncouple / detach undo.
 * The data plane is a fake that records what it is told; the sockets are real unix sockets in a
 * temp dir (a Node server stands in for QEMU's `-netdev stream,server=on`).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { OPEN_SWITCH_POLICY, OPEN_PORT_POLICY } from '../../src/protocol/dataplane.js';
import { EventEmitter } from 'node:events';
import { closeSync, lstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { controlPlane } from '../helpers/control.js';
import { Reconciler } from '../../src/control/reconcile.js';
import { MAX_QEMU_ADDRESSES } from '../../src/control/qemu-nics.js';
import { State } from '../../src/control/state.js';
import { COUNTER_SLOTS, dropSlot } from '../../src/forward/counters.js';
import { DropReason } from '../../src/forward/api.js';
import { bindQemuDgram, connectQemuStream, qemuArgs } from '../../src/host/devices.js';
import type { ToWorker } from '../../src/protocol/dataplane.js';
import { sleep, waitFor } from '../helpers/netlab.js';

/** Let the reconciler's coalesced sync (setImmediate) run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

const quiet = pino({ level: 'silent' });
const tmp = mkdtempSync(join(tmpdir(), 'vswqn-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

class FakeDp extends EventEmitter {
  readonly counters = new Float64Array(COUNTER_SLOTS);
  posts: ToWorker[] = [];
  post(m: ToWorker): void {
    // The worker would own the fd: close it here, record the message without it.
    if (m.op === 'port-add') { closeSync(m.fd); this.posts.push({ ...m, fd: -1 }); } else this.posts.push(m);
  }
  take(): ToWorker[] { const p = this.posts; this.posts = []; return p; }
}

class FakeWatcher extends EventEmitter {
  watch(): void {}
  unwatch(): void {}
}

function setup(name: string) {
  const dir = join(tmp, name, 'qemu');
  const state = new State();
  const dp = new FakeDp();
  const w = new FakeWatcher();
  const dev = {
    ensureNetns: () => false,
    netnsMadeHere: () => false,
    deleteNetns: () => {},
    openTap: () => ({ fd: openSync('/dev/null', 'r'), ifindex: 5 }),
    destroyTap: () => {},
    openUplink: () => { throw Object.assign(new Error('no such device'), { code: 'ENODEV' }); },
    interfaceExists: () => false,
    connectQemuStream,
    bindQemuDgram,
  };
  const rec = new Reconciler({ state, dataPlane: dp, devices: dev, watcher: w, log: quiet, retryMs: 20, qemuDir: dir });
  const cp = controlPlane(state, dev, { effects: rec, runtime: rec });
  const run = (c: string): string[] => { const r = cp.execute(c); assert.ok(r.ok, `${c}: ${r.lines}`); return r.lines; };
  const nicDoc = (vdev: string, user: string): any => (cp.execute(`Q NIC ${vdev} DETAILS FOR ${user}`).data as any).nics[0];
  return { dir, state, dp, w, rec, cp, run, nicDoc };
}

function listen(path: string): Promise<{ server: Server; conns: Socket[] }> {
  const conns: Socket[] = [];
  const server = createServer((s) => { conns.push(s); s.on('error', () => {}); });
  return new Promise((resolve) => server.listen(path, () => resolve({ server, conns })));
}

test('STREAM: QUERY NIC DETAILS prints the QEMU arguments; WAITING FOR QEMU until it listens; saw-address registers; port-down reconnects', async () => {
  const { dir, state, dp, w, rec, cp, run, nicDoc } = setup('s');
  run('DEFINE VSWITCH SW1');
  assert.deepEqual(run('DEFINE GUEST VM1 QEMU'), ['GUEST VM1 is defined (QEMU STREAM)']);
  assert.deepEqual(run('DEFINE NIC 600 FOR VM1'), ['NIC 0600 is created; devices 0600-0602 defined']);
  run('DEFINE GUEST A NETNS na');
  run('DEFINE NIC 600 FOR A');
  run('SET VSWITCH SW1 GRANT A'); run('COUPLE 600 TO SYSTEM SW1 FOR A');
  dp.take();
  const sock = join(dir, 'vm1-0600.sock');
  const args = `-netdev stream,id=nic0600,server=on,addr.type=unix,addr.path=${sock} -device virtio-net-pci,mac=02:00:00:00:00:01,netdev=nic0600`;
  assert.deepEqual(cp.execute('QUERY NIC 600 DETAILS FOR VM1').lines, [
    'Adapter 0600.P00 Type: QDIO      Name: UNASSIGNED  Devices: 3',
    '  MAC: 02-00-00-00-00-01         VSWITCH: (not coupled)',
    '  RDR: 0600  Subchannel: 0000',
    '  WRT: 0601  Subchannel: 0001',
    '  DATA: 0602  Subchannel: 0002',
    '  CHPID: 00',
    '  Promiscuous: NO  MACprotect: UNSPECIFIED',
    '  QEMU: STREAM  State: NOT COUPLED',
    `  QEMU arguments: ${args}`,
    '  Addresses: none',
  ]);
  const st = lstatSync(dir);
  assert.ok(st.isDirectory());
  assert.equal(st.mode & 0o7777, 0o3770, 'socket directory: owner and group, set-group-id, sticky');
  const doc = nicDoc('600', 'VM1');
  assert.equal(doc.tap, null);
  assert.equal(doc.transport, 'STREAM');
  assert.deepEqual(doc.qemu, {
    transport: 'STREAM', netdevId: 'nic0600', paths: { qemu: sock, daemon: null },
    args: ['-netdev', `stream,id=nic0600,server=on,addr.type=unix,addr.path=${sock}`, '-device', 'virtio-net-pci,mac=02:00:00:00:00:01,netdev=nic0600'],
    argsText: args, state: 'NOT COUPLED',
  });

  // Coupled, QEMU not there: waiting, retried.
  run('SET VSWITCH SW1 GRANT VM1'); run('COUPLE 600 TO SYSTEM SW1 FOR VM1');
  assert.deepEqual(dp.take(), []);
  assert.equal(nicDoc('600', 'VM1').qemu.state, `WAITING FOR QEMU at ${sock}`);
  assert.match(cp.execute('Q NIC 600 DET FOR VM1').lines.join('\n'), new RegExp(`QEMU: STREAM  State: WAITING FOR QEMU at ${sock}\\n`));
  // QEMU starts listening: the daemon connects within a retry.
  const q = await listen(sock);
  try {
    assert.ok(await waitFor(() => q.conns.length === 1, 2000), 'the daemon connected');
    assert.deepEqual(dp.take(), [{ op: 'port-add', port: 1, sw: 0, role: 'nic', kind: 'qemu-stream', fd: -1, mac: 0x020000000001, vnet: false, name: 'VM1/0600@qemu', policy: OPEN_PORT_POLICY }]);
    assert.equal(nicDoc('600', 'VM1').qemu.state, `CONNECTED to QEMU at ${sock}`);
    assert.equal(rec.nicPort('VM1', 0x600), 1);

    // The guest announces an address: registered like a configured one (local only: no uplink).
    dp.emit('saw-address', { ev: 'saw-address', sw: 0, port: 1, ip: 0x0a000005 });
    await settle(); // address events are coalesced into one sync per turn
    assert.deepEqual(dp.take(), [{ op: 'ip-set', sw: 0, vid: 0, ip: 0x0a000005, port: 1, localOnly: true }]);
    assert.deepEqual(nicDoc('600', 'VM1').addresses, [{ ip: '10.0.0.5', vlan: 0, state: 'LOCAL ONLY' }]);
    // Not addresses: multicast, loopback, 0/8; and a namespace NIC's port takes its addresses from the watcher only.
    for (const ip of [0xe0000001, 0x7f000001, 0x00000005]) dp.emit('saw-address', { ev: 'saw-address', sw: 0, port: 1, ip });
    dp.emit('saw-address', { ev: 'saw-address', sw: 0, port: 0, ip: 0x0a000007 });
    await settle(); // address events are coalesced into one sync per turn
    assert.deepEqual(dp.take(), []);
    // One address, one NIC: the namespace guest holds 10.0.0.6; the VM's claim is refused and counted.
    w.emit('address', 'A/0600', 0x0a000006, 24, true);
    await settle(); // address events are coalesced into one sync per turn
    dp.take();
    dp.emit('saw-address', { ev: 'saw-address', sw: 0, port: 1, ip: 0x0a000006 });
    await settle(); // address events are coalesced into one sync per turn
    assert.deepEqual(dp.take(), []);
    assert.equal(dp.counters[dropSlot(0, DropReason.AddressConflict)], 1);
    assert.equal(state.switches.get('SW1')!.lanIp.get(0x0a000006)!.userid, 'A');
    assert.match(cp.execute('Q NIC 600 DET FOR VM1').lines.join('\n'), /Address: 10\.0\.0\.6  CONFLICT \(held by A 0600\)/);
    // A guest spraying source addresses holds at most MAX_QEMU_ADDRESSES.
    for (let i = 0; i < 40; i++) dp.emit('saw-address', { ev: 'saw-address', sw: 0, port: 1, ip: 0x0a010000 + i });
    await settle(); // address events are coalesced into one sync per turn
    assert.equal(state.nic('VM1', 0x600)!.addresses.size, MAX_QEMU_ADDRESSES);
    dp.take();

    // QEMU closed the connection (or sent garbage): addresses forgotten, reconnected after a retry.
    dp.emit('port-down', { ev: 'port-down', port: 1, errno: 0, reason: 'QEMU closed the connection' });
    const cleared = dp.take();
    assert.equal(cleared.filter((m) => m.op === 'ip-clear').length, MAX_QEMU_ADDRESSES - 1, 'every entry it held is cleared');
    assert.equal(state.nic('VM1', 0x600)!.addresses.size, 0);
    assert.equal(state.switches.get('SW1')!.lanIp.size, 1, 'the namespace guest keeps its entry');
    assert.equal(nicDoc('600', 'VM1').qemu.state, `WAITING FOR QEMU at ${sock} (connection closed: QEMU closed the connection)`);
    assert.ok(await waitFor(() => q.conns.length === 2, 2000), 'reconnected');
    assert.deepEqual(dp.take().map((m) => [m.op, (m as { port?: number }).port, (m as { kind?: string }).kind]), [['port-add', 2, 'qemu-stream']]);
    dp.emit('saw-address', { ev: 'saw-address', sw: 0, port: 1, ip: 0x0a000008 });
    await settle(); // address events are coalesced into one sync per turn
    assert.deepEqual(dp.take(), [], 'a late event for the old port is ignored');
    dp.emit('saw-address', { ev: 'saw-address', sw: 0, port: 2, ip: 0x0a000005 });
    await settle(); // address events are coalesced into one sync per turn
    assert.deepEqual(dp.take(), [{ op: 'ip-set', sw: 0, vid: 0, ip: 0x0a000005, port: 2, localOnly: true }]);

    // UNCOUPLE: port removed, address deregistered; DETACH NIC.
    run('UNCOUPLE 600 FOR VM1');
    assert.deepEqual(dp.take(), [{ op: 'port-remove', port: 2 }, { op: 'ip-clear', sw: 0, vid: 0, ip: 0x0a000005 }]);
    assert.equal(nicDoc('600', 'VM1').qemu.state, 'NOT COUPLED');
    assert.deepEqual(nicDoc('600', 'VM1').addresses, []);
    run('DETACH NIC 600 FOR VM1');
    assert.deepEqual(dp.take(), []);
    await sleep(60);
    assert.equal(q.conns.length, 2, 'no connection attempt after DETACH');
  } finally {
    for (const c of q.conns) c.destroy();
    q.server.close();
    rec.stop();
  }
});

test('a QEMU trunk guest\'s address is in the VLAN of the frames it used it in (saw-address and saw-address6 carry the VID): one address in VLANs 10 and 20 is two entries', async () => {
  const { dir, state, dp, rec, run, nicDoc } = setup('v');
  run('DEFINE VSWITCH SW1 VLAN 10 NATIVE 10');
  run('DEFINE GUEST VM1 QEMU');
  run('DEFINE NIC 600 FOR VM1');
  run('SET VSWITCH SW1 GRANT VM1 PORTTYPE TRUNK VLAN 10 20');
  run('COUPLE 600 TO SYSTEM SW1 FOR VM1');
  const q = await listen(join(dir, 'vm1-0600.sock'));
  try {
    assert.ok(await waitFor(() => rec.nicPort('VM1', 0x600) !== null, 2000), 'the daemon connected');
    const port = rec.nicPort('VM1', 0x600)!;
    dp.take();
    const X = 0x0a000005, X6 = '2001:db8::5', X6HEX = '20010db8000000000000000000000005';
    dp.emit('saw-address', { ev: 'saw-address', sw: 0, port, ip: X, vid: 10 }); // untagged: the native VLAN
    dp.emit('saw-address', { ev: 'saw-address', sw: 0, port, ip: X, vid: 20 }); // tagged 20
    dp.emit('saw-address6', { ev: 'saw-address6', sw: 0, port, ip6: X6HEX, vid: 20 });
    await settle(); // address events are coalesced into one sync per turn
    assert.deepEqual(dp.take().filter((m) => m.op === 'ip-set' || m.op === 'ip6-set').map((m) => [m.op, m.vid]).sort(),
      [['ip-set', 10], ['ip-set', 20], ['ip6-set', 20]]);
    assert.deepEqual([...state.switches.get('SW1')!.lanIp.values()].map((e) => [e.ip, e.vid, e.userid]), [[X, 10, 'VM1'], [X, 20, 'VM1']]);
    assert.deepEqual([...state.switches.get('SW1')!.lanIp6.values()].map((e) => [e.ip6, e.vid]), [[X6, 20]]);
    assert.deepEqual([...state.nic('VM1', 0x600)!.addresses.get(X)!.on.keys()], [0, 20], 'on its untagged VLAN (0) and tagged 20');
    assert.deepEqual(nicDoc('600', 'VM1').addresses.map((a: { ip: string; vlan: number }) => [a.ip, a.vlan]), [['10.0.0.5', 10], ['10.0.0.5', 20]]);
  } finally {
    for (const c of q.conns) c.destroy();
    q.server.close();
    rec.stop();
  }
});

test('DGRAM: the daemon binds its socket (0600: root or the guest OWNER) and adds the port with QEMU as peer; UNCOUPLE and DETACH remove the socket', async () => {
  const { dir, dp, rec, cp, run, nicDoc } = setup('d');
  run('DEFINE VSWITCH SW1');
  assert.deepEqual(dp.take(), [{ op: 'switch-add', sw: 0, mode: 'IP', queueBytes: 8 << 20, policy: OPEN_SWITCH_POLICY }]);
  assert.deepEqual(run('DEF GUEST VM2 QEMU DG'), ['GUEST VM2 is defined (QEMU DGRAM)']);
  run('DEFINE NIC 0700 FOR VM2');
  assert.deepEqual(cp.execute('Q GUEST VM2').lines, ['GUEST VM2       QEMU DGRAM  NICs: 0700']);
  const qemuPath = join(dir, 'vm2-0700.qemu.sock');
  const daemonPath = join(dir, 'vm2-0700.vswitch.sock');
  const d = nicDoc('700', 'VM2');
  assert.deepEqual(d.qemu.args, qemuArgs('qemu-dgram', { qemu: qemuPath, daemon: daemonPath }, 0x020000000001, 'nic0700'));
  assert.equal(d.qemu.argsText,
    `-netdev dgram,id=nic0700,local.type=unix,local.path=${qemuPath},remote.type=unix,remote.path=${daemonPath} -device virtio-net-pci,mac=02:00:00:00:00:01,netdev=nic0700`);
  assert.deepEqual(d.qemu.paths, { qemu: qemuPath, daemon: daemonPath });
  run('SET VSWITCH SW1 GRANT VM2'); run('COUPLE 700 TO SYSTEM SW1 FOR VM2');
  assert.deepEqual(dp.take(), [{ op: 'port-add', port: 0, sw: 0, role: 'nic', kind: 'qemu-dgram', fd: -1, mac: 0x020000000001, vnet: false, name: 'VM2/0700@qemu', peer: qemuPath, policy: OPEN_PORT_POLICY }]);
  assert.equal(nicDoc('700', 'VM2').qemu.state, `READY: datagrams from QEMU at ${qemuPath} to ${daemonPath}`);
  const st = lstatSync(daemonPath);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600, 'only the guest\'s QEMU (its OWNER, or root) may send to it');
  run('UNCOUPLE 700 FOR VM2');
  assert.deepEqual(dp.take(), [{ op: 'port-remove', port: 0 }]);
  assert.throws(() => lstatSync(daemonPath), /ENOENT/, 'the daemon socket is unlinked');
  run('SET VSWITCH SW1 GRANT VM2'); run('COUPLE 700 TO SYSTEM SW1 FOR VM2');
  assert.deepEqual(dp.take().map((m) => [m.op, (m as { port?: number }).port]), [['port-add', 1]]);
  // A failed port is bound again after a retry.
  dp.emit('port-down', { ev: 'port-down', port: 1, errno: 9, reason: 'EBADF' });
  assert.equal(nicDoc('700', 'VM2').qemu.state, 'DOWN (EBADF); retrying');
  assert.ok(await waitFor(() => dp.posts.some((m) => m.op === 'port-add'), 2000));
  assert.deepEqual(dp.take().map((m) => [m.op, (m as { port?: number }).port]), [['port-add', 2]]);
  assert.ok(lstatSync(daemonPath).isSocket());
  run('UNCOUPLE 700 FOR VM2');
  run('DETACH NIC 700 FOR VM2');
  assert.throws(() => lstatSync(daemonPath), /ENOENT/);
  assert.deepEqual(run('DETACH GUEST VM2'), ['GUEST VM2 is removed']);
  rec.stop();
});

test('without a daemon the QEMU NIC is defined and its state says so', () => {
  const cp = controlPlane(new State(), { interfaceExists: () => false });
  assert.ok(cp.execute('DEFINE GUEST VM1 QEMU STREAM').ok);
  assert.ok(cp.execute('DEFINE NIC 600 FOR VM1').ok);
  const r = cp.execute('Q NIC 600 DETAILS FOR VM1');
  assert.ok(r.lines.includes('  QEMU: STREAM  State: NOT STARTED (no daemon)'), r.lines.join('\n'));
  assert.equal((r.data as any).nics[0].qemu, null);
  assert.equal(cp.execute('Q NIC 600 FOR VM1').lines.length, 2, 'the short form has no QEMU lines');
});
