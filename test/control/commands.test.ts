/**
 * The state model and the verb modules through the command engine, without devices: replies,
 * errors (nothing changes after one), allocations, the LAN IP table rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ControlPlane } from '../../src/control/controlplane.js';
import { lanIpKey, State } from '../../src/control/state.js';
import { vidOfOn } from '../../src/control/policy.js';
import { isConfigStatement, isDynamic, verbOf, VERBS } from '../../src/control/commands/index.js';
import type { Operation } from '../../src/control/commands/types.js';
import { parse, type Command } from '../../src/control/grammar.js';
import { controlPlane, NO_EFFECTS } from '../helpers/control.js';
import { DROP_REASON_NAMES } from '../../src/forward/api.js';

function setup(existing: string[] = ['eth1', 'eth2']): ControlPlane {
  return controlPlane(new State(), { interfaceExists: (n) => existing.includes(n) });
}

function run(cp: ControlPlane, text: string): string[] {
  const r = cp.execute(text);
  assert.ok(r.ok, `${text}: ${r.lines.join(' | ')}`);
  return r.lines;
}

function refused(cp: ControlPlane, text: string, re: RegExp): void {
  const before = snapshot(cp);
  const r = cp.execute(text);
  assert.ok(!r.ok, `${text} should be refused`);
  assert.equal(r.lines.length, 1, 'one error line');
  assert.match(r.lines[0], /^VSW\d{4}E /, 'message id first');
  assert.match(r.lines[0], re);
  assert.deepEqual(snapshot(cp), before, `${text}: nothing changed`);
}

function snapshot(cp: ControlPlane): unknown {
  return ['Q VSWITCH ALL DETAILS', 'Q GUEST', ...[...cp.state.guests.keys()].map((g) => `Q NIC DETAILS FOR ${g}`)]
    .map((q) => cp.execute(q));
}

test('the replies read like z/VM', () => {
  const cp = setup();
  assert.deepEqual(run(cp, 'DEFINE VSWITCH SW1 RDEV eth1'), ['VSWITCH SYSTEM SW1 is created']);
  assert.deepEqual(run(cp, 'DEF VSW SW2 RDEV eth7 eth2'), [
    'VSW0013W RDEV eth7 does not exist; the uplink of VSWITCH SYSTEM SW2 waits for it',
    'VSWITCH SYSTEM SW2 is created',
  ]);
  assert.deepEqual(run(cp, 'DEFINE GUEST LINUX1 NETNS ns1'), ['GUEST LINUX1 is defined (NETNS ns1)']);
  assert.deepEqual(run(cp, 'DEFINE GUEST VM1 QEMU'), ['GUEST VM1 is defined (QEMU STREAM)']);
  assert.deepEqual(run(cp, 'DEF GUEST VM2 QEMU DGRAM'), ['GUEST VM2 is defined (QEMU DGRAM)']);
  assert.deepEqual(run(cp, 'DEFINE NIC 600 FOR VM1'), ['NIC 0600 is created; devices 0600-0602 defined']);
  assert.deepEqual(run(cp, 'DEFINE NIC 600 TYPE QDIO FOR LINUX1'), ['NIC 0600 is created; devices 0600-0602 defined']);
  assert.deepEqual(run(cp, 'SET VSWITCH SW1 GRANT LINUX1'), ['LINUX1 granted for VSWITCH SYSTEM SW1: PORTTYPE ACCESS NOPROMISCUOUS']);
  assert.deepEqual(run(cp, 'COUPLE 600 TO SYSTEM SW1 FOR LINUX1'), ['NIC 0600 is connected to VSWITCH SYSTEM SW1']);
  assert.deepEqual(run(cp, 'UNCOUPLE 600 FOR LINUX1'), ['NIC 0600 is disconnected from VSWITCH SYSTEM SW1']);
  run(cp, 'SET VSWITCH SW2 GRANT LINUX1');
  run(cp, 'COUPLE 600 SYSTEM SW2 FOR LINUX1');
  assert.deepEqual(run(cp, 'DETACH NIC 600 FOR LINUX1'), [
    'NIC 0600 is disconnected from VSWITCH SYSTEM SW2',
    'NIC 0600 is destroyed; devices 0600-0602 detached',
  ]);
  assert.deepEqual(run(cp, 'DETACH GUEST LINUX1'), ['GUEST LINUX1 is removed']);
  assert.deepEqual(run(cp, 'DETACH VSWITCH SW2'), ['VSWITCH SYSTEM SW2 is destroyed']);
});

test('errors change nothing', () => {
  const cp = setup();
  run(cp, 'DEFINE VSWITCH SW1');
  run(cp, 'DEFINE GUEST LINUX1 NETNS ns1');
  run(cp, 'DEFINE GUEST VM1 QEMU');
  run(cp, 'DEFINE NIC 600 FOR LINUX1');
  refused(cp, 'COUPLE 600 TO SYSTEM SW1 FOR LINUX1', /^VSW0042E NIC 0600 not coupled: GUEST LINUX1 is not authorized for VSWITCH SYSTEM SW1 \(SET VSWITCH SW1 GRANT LINUX1 first\)$/);
  run(cp, 'SET VSWITCH SW1 GRANT LINUX1');
  run(cp, 'COUPLE 600 TO SYSTEM SW1 FOR LINUX1');
  refused(cp, 'DEFINE VSWITCH SW1 RDEV eth1', /VSW0010E VSWITCH SYSTEM SW1 already exists/);
  run(cp, 'DEFINE VSWITCH SW2 RDEV eth1 eth2');
  refused(cp, 'DEFINE VSWITCH SW3 RDEV eth1', /^VSW0015E RDEV eth1 already belongs to VSWITCH SYSTEM SW2$/);
  refused(cp, 'DEFINE VSWITCH SW3 RDEV eth9 eth2', /^VSW0015E RDEV eth2 already belongs to VSWITCH SYSTEM SW2$/);
  assert.deepEqual(run(cp, 'DEFINE VSWITCH SW3 RDEV ETH1'), ['VSW0013W RDEV ETH1 does not exist; the uplink of VSWITCH SYSTEM SW3 waits for it', 'VSWITCH SYSTEM SW3 is created'],
    'interface names are compared as Linux does (case matters)');
  refused(cp, 'DEFINE GUEST LINUX1 QEMU', /GUEST LINUX1 already exists/);
  refused(cp, 'DEFINE GUEST LINUX2 NETNS ns1', /namespace ns1 already belongs to GUEST LINUX1/);
  refused(cp, 'DEFINE NIC 700 FOR NOBODY', /GUEST NOBODY does not exist/);
  refused(cp, 'DEFINE NIC 601 FOR LINUX1', /devices 0601-0603 overlap NIC 0600 \(devices 0600-0602\) of GUEST LINUX1/);
  refused(cp, 'DEFINE NIC 5FE FOR LINUX1', /overlap NIC 0600/);
  refused(cp, 'DEFINE NIC 600 FOR LINUX1', /overlap NIC 0600/);
  run(cp, 'DEFINE NIC 600 FOR VM1');
  refused(cp, 'DEFINE NIC 602 FOR VM1', /VSW0030E devices 0602-0604 overlap NIC 0600 \(devices 0600-0602\) of GUEST VM1/);
  refused(cp, 'DEFINE GUEST VM2 QEMU TUN', /VSW0001E unexpected word 'TUN': expected STREAM \(STR\), DGRAM \(DG\), TAP/);
  refused(cp, 'COUPLE 600 TO SYSTEM NOSUCH FOR LINUX1', /VSWITCH SYSTEM NOSUCH does not exist/);
  refused(cp, 'COUPLE 600 TO SYSTEM SW1 FOR LINUX1', /already coupled to VSWITCH SYSTEM SW1/);
  refused(cp, 'COUPLE 700 TO SYSTEM SW1 FOR LINUX1', /NIC 0700 does not exist for GUEST LINUX1/);
  refused(cp, 'UNCOUPLE 700 FOR LINUX1', /NIC 0700 does not exist/);
  refused(cp, 'DETACH VSWITCH SW1', /VSW0012E VSWITCH SYSTEM SW1 not detached: 1 NIC is coupled \(LINUX1 0600\); UNCOUPLE first/);
  refused(cp, 'DETACH VSWITCH SW9', /does not exist/);
  refused(cp, 'DETACH GUEST LINUX1', /has NICs \(0600\)/);
  refused(cp, 'DETACH NIC 700 FOR LINUX1', /NIC 0700 does not exist/);
  refused(cp, 'DEFINE VSWITCH', /VSW0001E missing word: expected switch name/);
  refused(cp, 'FROB VSWITCH SW1', /VSW0001E unexpected word 'FROB'/);
  refused(cp, 'VMLAN MACPREFIX 020001', /VSW0002E VMLAN MACPREFIX is a SYSTEM CONFIG statement/);
  refused(cp, 'Q VSWITCH NOSUCH', /does not exist/);
  refused(cp, 'Q NIC 700 FOR LINUX1', /does not exist/);
  run(cp, 'UNCOUPLE 600 FOR LINUX1');
  refused(cp, 'UNCOUPLE 600 FOR LINUX1', /VSW0041E NIC 0600 is not coupled/);
});

test('allocations: unique MACs never reused while the NIC exists, per-guest subchannels and CHPIDs', () => {
  const cp = setup();
  run(cp, 'DEFINE GUEST A NETNS na');
  run(cp, 'DEFINE GUEST B NETNS nb');
  run(cp, 'DEFINE NIC 600 FOR A');
  run(cp, 'DEFINE NIC 700 FOR A');
  run(cp, 'DEFINE NIC 600 FOR B');
  const a600 = cp.state.nic('A', 0x600)!, a700 = cp.state.nic('A', 0x700)!, b600 = cp.state.nic('B', 0x600)!;
  assert.equal(a600.mac, 0x020000000001);
  assert.equal(a700.mac, 0x020000000002);
  assert.equal(b600.mac, 0x020000000003);
  assert.deepEqual([a600.subchannels, a600.chpid], [[0, 1, 2], 0]);
  assert.deepEqual([a700.subchannels, a700.chpid], [[3, 4, 5], 1]);
  assert.deepEqual([b600.subchannels, b600.chpid], [[0, 1, 2], 0], 'each guest has its own spaces');
  assert.equal(a600.tap, 'enc600');
  run(cp, 'DETACH NIC 600 FOR A');
  run(cp, 'DEFINE NIC 800 FOR A');
  const a800 = cp.state.nic('A', 0x800)!;
  assert.equal(a800.mac, 0x020000000004, 'serials go on; no MAC of an existing NIC is reused');
  assert.deepEqual([a800.subchannels, a800.chpid], [[0, 1, 2], 0], 'freed subchannels and CHPID are reused');
  assert.equal(a800.tap, 'enc800');
  run(cp, 'DEFINE NIC 0 FOR B');
  assert.equal(cp.state.nic('B', 0)!.tap, 'enc0');
  run(cp, 'DEFINE NIC ABC FOR B');
  assert.equal(cp.state.nic('B', 0xabc)!.tap, 'encabc');
  // Wrap-around skips serials in use.
  cp.state.nextMacSerial = 0xffffff;
  run(cp, 'DEFINE NIC 900 FOR A');
  assert.equal(cp.state.nic('A', 0x900)!.macSerial, 0xffffff);
  run(cp, 'DEFINE NIC A00 FOR A');
  assert.equal(cp.state.nic('A', 0xa00)!.macSerial, 1, 'serial 1 was freed by DETACH NIC 600');
  run(cp, 'DEFINE NIC B00 FOR A');
  assert.equal(cp.state.nic('A', 0xb00)!.macSerial, 7, 'serials 2-6 are in use');
});

test('QUERY answers in lines and JSON', () => {
  const cp = setup();
  run(cp, 'DEFINE VSWITCH SW1 RDEV eth1 QUEUESTORAGE 2M');
  run(cp, 'DEFINE GUEST LINUX1 NETNS ns1');
  run(cp, 'DEFINE NIC 600 FOR LINUX1');
  run(cp, 'SET VSWITCH SW1 GRANT LINUX1');
  run(cp, 'COUPLE 600 TO SYSTEM SW1 FOR LINUX1');
  cp.state.addressEvent('LINUX1', 0x600, 0x0a01000b, true);
  cp.state.recomputeLanIp('SW1', false);
  const q = cp.execute('Q VSW SW1 DET');
  assert.ok(q.ok);
  assert.deepEqual(q.lines.slice(0, 4), [
    'VSWITCH SYSTEM SW1       Type: QDIO    Connected: 1    Mode: IP',
    '  QueueStorage: 2M    Controller: * (not started)',
    '  RDEV: eth1    Active: NONE    State: NOT STARTED',
    '  VLAN: UNAWARE    Isolation: OFF    MACprotect: OFF',
  ]);
  assert.ok(q.lines.includes('    Porttype: ACCESS  VLAN: UNAWARE  Promiscuous: NO  MACprotect: OFF'), q.lines.join('\n'));
  assert.ok(q.lines.includes('    LINUX1    PORTTYPE ACCESS NOPROMISCUOUS'), q.lines.join('\n'));
  assert.ok(q.lines.includes('    10.1.0.11        LINUX1    0600  LOCAL ONLY (uplink not ready)'), q.lines.join('\n'));
  const doc = q.data as { switches: Array<Record<string, unknown>> };
  assert.equal(doc.switches.length, 1);
  const sw = doc.switches[0] as any;
  assert.equal(sw.name, 'SW1');
  assert.equal(sw.mode, 'IP');
  assert.equal(sw.queueStorage, 2 << 20);
  assert.deepEqual(sw.uplink.rdevs, ['eth1']);
  assert.deepEqual(sw.nics, [{
    guest: 'LINUX1', vdev: '0600', mac: '02:00:00:00:00:01', port: null, counters: null,
    portType: 'ACCESS', vlans: [], pvid: 0, promiscuous: false, macProtect: false,
  }]);
  assert.deepEqual(sw.vlan, { aware: false, defaultVid: null, nativeVid: null, portType: 'ACCESS' });
  assert.deepEqual(sw.accessList, [{ userid: 'LINUX1', portType: 'ACCESS', vlans: [], promiscuous: false, text: 'PORTTYPE ACCESS NOPROMISCUOUS' }]);
  assert.equal(sw.macTable, null, 'IP mode has no MAC table');
  assert.deepEqual(sw.ipTable, [{ ip: '10.1.0.11', vlan: 0, guest: 'LINUX1', vdev: '0600', localOnly: true, reason: 'uplink not ready' }]);
  assert.equal(sw.drops['unknown-destination'], 0);
  assert.equal(Object.keys(sw.drops).length, DROP_REASON_NAMES.length, 'every drop reason, by name');
  assert.equal(sw.drops['egress-down'], 0);
  assert.equal(sw.drops['no-group-member'], 0);
  assert.deepEqual(sw.groups, [], 'no multicast group joined');
  assert.ok(q.lines.includes('  Multicast groups: none'), q.lines.join('\n'));
  const n = cp.execute('Q NIC 600 DETAILS FOR LINUX1');
  assert.ok(n.ok);
  assert.deepEqual(n.lines, [
    'Adapter 0600.P00 Type: QDIO      Name: UNASSIGNED  Devices: 3',
    '  MAC: 02-00-00-00-00-01         VSWITCH: SYSTEM SW1',
    '  RDR: 0600  Subchannel: 0000',
    '  WRT: 0601  Subchannel: 0001',
    '  DATA: 0602  Subchannel: 0002',
    '  CHPID: 00',
    '  Promiscuous: NO  MACprotect: UNSPECIFIED',
    '  Porttype: ACCESS  VLAN: UNAWARE',
    '  TAP: enc600  Namespace: ns1',
    '  Port: no port',
    '  Address: 10.1.0.11  LOCAL ONLY',
  ]);
  const nd = (n.data as any).nics[0];
  assert.deepEqual(nd.devices, { read: '0600', write: '0601', data: '0602' });
  assert.deepEqual(nd.tap, { name: 'enc600', netns: 'ns1' });
  assert.deepEqual(nd.addresses, [{ ip: '10.1.0.11', vlan: 0, state: 'LOCAL ONLY' }]);
  const g = cp.execute('Q GUEST');
  assert.deepEqual(g.lines, ['GUEST LINUX1    NETNS ns1  NICs: 0600']);
  assert.deepEqual(g.data, { guests: [{ userid: 'LINUX1', type: 'NETNS', netns: 'ns1', transport: null, nics: ['0600'] }] });
  assert.deepEqual(cp.execute('Q VSWITCH').data, cp.execute('Q VSW ALL').data);
  assert.deepEqual(setup().execute('Q VSW').lines, ['No VSWITCHes are defined']);
});

test('LAN IP table per VLAN: the same address in two VLANs is two entries; a second claim in one VLAN is refused; a trunk\'s address on two sub-devices is one claim in each VLAN', () => {
  const cp = setup();
  run(cp, 'DEFINE VSWITCH SW1 VLAN 10');
  for (const [g, grant] of [['A', 'VLAN 10'], ['B', 'VLAN 20'], ['C', 'VLAN 10'], ['T', 'PORTTYPE TRUNK VLAN 30 40']]) {
    run(cp, `DEFINE GUEST ${g} NETNS n${g}`);
    run(cp, `DEFINE NIC 600 FOR ${g}`);
    run(cp, `SET VSWITCH SW1 GRANT ${g} ${grant}`);
    run(cp, `COUPLE 600 TO SYSTEM SW1 FOR ${g}`);
  }
  const s = cp.state;
  const sw = s.switches.get('SW1')!;
  const recompute = () => s.recomputeLanIp('SW1', false, vidOfOn(sw));
  const ip = 0x0a000005;
  s.addressEvent('A', 0x600, ip, true);
  s.addressEvent('B', 0x600, ip, true);
  assert.deepEqual(recompute(), [], 'two tenants, one address each in its VLAN: no conflict');
  assert.deepEqual([...sw.lanIp.values()].map((e) => [e.ip, e.vid, e.userid]), [[ip, 10, 'A'], [ip, 20, 'B']]);
  assert.equal(sw.lanIp.get(lanIpKey(20, ip))!.userid, 'B');
  s.addressEvent('C', 0x600, ip, true);
  assert.deepEqual(recompute(), [{ ip, vid: 10, userid: 'C', vdev: 0x600, holder: { userid: 'A', vdev: 0x600 } }], 'the same address twice in one VLAN: the later claim is refused');
  assert.equal(sw.lanIp.get(lanIpKey(10, ip))!.userid, 'A');
  assert.equal(s.nic('C', 0x600)!.addresses.get(ip)!.refused, true, 'held in no VLAN');
  assert.equal(s.nic('B', 0x600)!.addresses.get(ip)!.refused, false);
  // A trunk guest's address on its sub-devices 30 and 40 (and 99, a VLAN it is not granted: none).
  for (const on of [30, 40, 99]) s.addressEvent('T', 0x600, ip, true, on);
  assert.deepEqual(recompute().map((c) => c.userid), ['C']);
  assert.deepEqual([...sw.lanIp.values()].map((e) => [e.vid, e.userid]), [[10, 'A'], [20, 'B'], [30, 'T'], [40, 'T']]);
  assert.deepEqual(s.claimRecords().filter((r) => r.userid === 'T').map((r) => r.on), [30, 40, 99], 'each interface is a claim of its own');
  s.addressEvent('T', 0x600, ip, false, 30);
  recompute();
  assert.deepEqual([...sw.lanIp.values()].filter((e) => e.userid === 'T').map((e) => e.vid), [40], 'gone from the sub-device it left, kept on the other');
  assert.ok(s.nic('T', 0x600)!.addresses.has(ip));
  for (const on of [40, 99]) s.addressEvent('T', 0x600, ip, false, on);
  assert.equal(s.nic('T', 0x600)!.addresses.has(ip), false, 'on none of its interfaces: the NIC holds it no more');
  // The holder in VLAN 10 leaves: C's claim, refused while A held it, stays refused; B in VLAN 20 is not touched.
  s.addressEvent('A', 0x600, ip, false);
  assert.deepEqual(recompute(), [{ ip, vid: 10, userid: 'C', vdev: 0x600, holder: null }]);
  assert.deepEqual([...sw.lanIp.values()].map((e) => [e.vid, e.userid]), [[20, 'B']]);
});

test('LAN IP table: one address one NIC, claims survive in order, local only until the uplink is ready', () => {
  const cp = setup();
  run(cp, 'DEFINE VSWITCH SW1');
  run(cp, 'DEFINE VSWITCH SW2');
  for (const g of ['A', 'B', 'C']) {
    run(cp, `DEFINE GUEST ${g} NETNS n${g}`);
    run(cp, `DEFINE NIC 600 FOR ${g}`);
  }
  for (const [sw, g] of [['SW1', 'B'], ['SW1', 'A'], ['SW2', 'C']]) {
    run(cp, `SET VSWITCH ${sw} GRANT ${g}`);
    run(cp, `COUPLE 600 TO SYSTEM ${sw} FOR ${g}`);
  }
  const s = cp.state;
  const ip = 0x0a000001;
  s.addressEvent('B', 0x600, ip, true);
  assert.deepEqual(s.recomputeLanIp('SW1', false), []);
  s.addressEvent('A', 0x600, ip, true);
  const c = s.recomputeLanIp('SW1', false);
  assert.deepEqual(c, [{ ip, vid: 0, userid: 'A', vdev: 0x600, holder: { userid: 'B', vdev: 0x600 } }], 'the second claim is refused');
  assert.equal(s.switches.get('SW1')!.lanIp.get(ip)!.userid, 'B', 'the first holder keeps it (even though A sorts first)');
  s.addressEvent('C', 0x600, ip, true);
  assert.deepEqual(s.recomputeLanIp('SW2', true), [], 'another switch has its own table');
  assert.equal(s.switches.get('SW2')!.lanIp.get(ip)!.localOnly, false);
  s.recomputeLanIp('SW1', true);
  assert.equal(s.switches.get('SW1')!.lanIp.get(ip)!.localOnly, false, 'registered once the uplink is ready');
  s.recomputeLanIp('SW1', false);
  assert.equal(s.switches.get('SW1')!.lanIp.get(ip)!.localOnly, true, 'back to local only when it goes down');
  run(cp, 'UNCOUPLE 600 FOR B');
  assert.deepEqual(s.recomputeLanIp('SW1', false), [{ ip, vid: 0, userid: 'A', vdev: 0x600, holder: null }],
    'the holder left: a claim refused while it held the address stays refused');
  assert.equal(s.switches.get('SW1')!.lanIp.get(ip), undefined);
  s.addressEvent('A', 0x600, ip, false);
  s.addressEvent('A', 0x600, ip, true);
  assert.deepEqual(s.recomputeLanIp('SW1', false), [], 'claimed again now that it is free: held');
  assert.equal(s.switches.get('SW1')!.lanIp.get(ip)!.userid, 'A');
  s.addressEvent('A', 0x600, ip, false);
  s.recomputeLanIp('SW1', false);
  assert.equal(s.switches.get('SW1')!.lanIp.size, 0, 'removed address leaves the table');
  assert.deepEqual([...s.nic('B', 0x600)!.addresses.keys()], [ip], 'an uncoupled NIC keeps what its guest configured');
});

test('ETHERNET switches keep no LAN IP table', () => {
  const cp = setup();
  run(cp, 'DEFINE VSWITCH E1 ETHERNET');
  run(cp, 'DEFINE GUEST A NETNS na');
  run(cp, 'DEFINE NIC 600 FOR A');
  run(cp, 'SET VSWITCH E1 GRANT A');
  run(cp, 'COUPLE 600 TO SYSTEM E1 FOR A');
  cp.state.addressEvent('A', 0x600, 0x0a000001, true);
  cp.state.recomputeLanIp('E1', true);
  assert.equal(cp.state.switches.get('E1')!.lanIp.size, 0);
  assert.ok(cp.execute('Q VSW E1 DET').lines.includes('  LAN IP table: not used in ETHERNET mode'));
});

/** One command of every kind: [text, journaled when issued, accepted in SYSTEM CONFIG]. */
const VERB_SAMPLES: Array<[string, boolean, boolean]> = [
  ['DEFINE VSWITCH SW1', true, true],
  ['DETACH VSWITCH SW1', true, false],
  ['DEFINE GUEST A NETNS na', true, true],
  ['DETACH GUEST A', true, false],
  ['DEFINE NIC 600 FOR A', true, true],
  ['DETACH NIC 600 FOR A', true, false],
  ['COUPLE 600 TO SYSTEM SW1 FOR A', true, true],
  ['UNCOUPLE 600 FOR A', true, false],
  ['QUERY VSWITCH', false, false],
  ['QUERY NIC FOR A', false, false],
  ['QUERY GUEST', false, false],
  ['QUERY VMLAN', false, false],
  ['QUERY SSI', false, false],
  ['VMLAN MACPREFIX 020000', false, true],
  ['SET VSWITCH SW1 CONTROLLER *', true, false],
  ['SET VSWITCH SW1 SWITCHOVER', false, false],
  ['SET VSWITCH SW1 UPLINK DISCONNECT', false, false],
  ['QUERY CONTROLLER', false, false],
  ['SET VSWITCH SW1 GRANT A VLAN 10', true, false],
  ['SET VSWITCH SW1 REVOKE A', true, false],
  ['SET VSWITCH SW1 ISOLATION ON', true, false],
  ['SET VSWITCH SW1 MACPROTECT ON', true, false],
  ['MODIFY VSWITCH SW1 GRANT A', false, true],
  ['SET NIC 600 PROMISCUOUS FOR A', true, false],
  ['VMLAN USERPREFIX 020000', false, true],
  ['QUERY LAN', false, false],
  ['VMRELOCATE MOVE USER A TO M2', false, false],
  ['VMRELOCATE STATUS', false, false],
];

function parsed(text: string): Command {
  const p = parse(text);
  assert.ok(p.ok, text);
  return p.cmd;
}

test('what each verb is: journaled or not, SYSTEM CONFIG statement or not', () => {
  assert.deepEqual(new Set(VERB_SAMPLES.map(([t]) => parsed(t).kind)), new Set(Object.keys(VERBS)), 'a sample of every kind');
  for (const [text, journaled, config] of VERB_SAMPLES) {
    assert.equal(isDynamic(parsed(text)), journaled, `${text}: journaled`);
    assert.equal(isConfigStatement(parsed(text)), config, `${text}: SYSTEM CONFIG`);
  }
});

test('start-up can apply what it is given: SYSTEM CONFIG statements need nothing at run time, no journaled command needs the data plane', () => {
  for (const [text] of VERB_SAMPLES) {
    const v = verbOf(parsed(text));
    if (isConfigStatement(parsed(text))) assert.equal(v.runtime, 'none', text);
    if (v.journaled) assert.notEqual(v.runtime, 'requires', text);
    if (v.effect === 'operation') assert.equal(v.runtime, 'requires', `${text}: an operation acts on the running uplink`);
  }
});

test('an operation goes to the running uplink and is not journaled; without a data plane it is refused', () => {
  const appended: string[] = [];
  const operated: Operation[] = [];
  const cp = controlPlane(new State(), { interfaceExists: () => true }, {
    journal: { append: (cmd) => { appended.push(cmd); return { v: 1, seq: appended.length, at: '', cmd }; } },
    effects: { ...NO_EFFECTS, operate: (op) => { operated.push(op); return op.t === 'uplink' ? 'already disconnected' : null; } },
  });
  run(cp, 'DEFINE VSWITCH SW1 RDEV eth1 eth2');
  assert.deepEqual(run(cp, 'SET VSWITCH SW1 SWITCHOVER'), ['VSWITCH SYSTEM SW1 switchover started']);
  const r = cp.execute('SET VSWITCH SW1 UPLINK DISCONNECT');
  assert.deepEqual(r, { ok: false, lines: ['VSW0053E VSWITCH SYSTEM SW1: already disconnected'] });
  assert.deepEqual(operated, [{ t: 'switchover', sw: 'SW1' }, { t: 'uplink', sw: 'SW1', connect: false }]);
  run(cp, 'SET VSWITCH SW1 CONTROLLER *');
  run(cp, 'Q VSWITCH SW1');
  assert.deepEqual(appended, ['DEFINE VSWITCH SW1 RDEV eth1 eth2 IP CONTROLLER * QUEUESTORAGE 8M VLAN UNAWARE PORTTYPE ACCESS', 'SET VSWITCH SW1 CONTROLLER *'], 'definitions only');
  const bare = setup();
  run(bare, 'DEFINE VSWITCH SW1 RDEV eth1');
  refused(bare, 'SET VSWITCH SW1 SWITCHOVER', /^VSW0053E VSWITCH SYSTEM SW1: no uplink is running$/);
});

test('issue 10: the access list, its refusals, and what QUERY says of it', () => {
  const cp = setup();
  run(cp, 'DEFINE VSWITCH U1');
  run(cp, 'DEFINE VSWITCH V1 VLAN 100 NATIVE 5 PORTTYPE ACCESS');
  run(cp, 'DEFINE GUEST A NETNS na');
  run(cp, 'DEFINE NIC 600 FOR A');
  refused(cp, 'SET VSWITCH U1 GRANT A VLAN 10', /^VSW0043E GRANT A refused: VSWITCH SYSTEM U1 is VLAN UNAWARE: it takes no VLAN$/);
  refused(cp, 'SET VSWITCH U1 GRANT A PORTTYPE TRUNK', /VLAN UNAWARE: it has no trunk ports/);
  refused(cp, 'SET VSWITCH V1 GRANT A VLAN 10 20', /an ACCESS port carries one VLAN, not 2/);
  refused(cp, 'SET VSWITCH NOSUCH GRANT A', /VSW0011E VSWITCH SYSTEM NOSUCH does not exist/);
  refused(cp, 'SET VSWITCH V1 REVOKE A', /VSW0042E A is not authorized for VSWITCH SYSTEM V1/);
  refused(cp, 'COUPLE 600 SYSTEM V1 FOR A', /VSW0042E NIC 0600 not coupled: GUEST A is not authorized for VSWITCH SYSTEM V1/);
  assert.deepEqual(run(cp, 'SET VSWITCH V1 GRANT A'), ['A granted for VSWITCH SYSTEM V1: PORTTYPE ACCESS VLAN 100 NOPROMISCUOUS']);
  assert.deepEqual(run(cp, 'SET VSWITCH V1 GRANT A PORTTYPE TRUNK VLAN 5 20-21 PROMISCUOUS'), ['A grant changed for VSWITCH SYSTEM V1: PORTTYPE TRUNK VLAN 5 20 21 PROMISCUOUS']);
  assert.deepEqual(run(cp, 'SET VSWITCH V1 GRANT A NOPROMISCUOUS'), ['A grant changed for VSWITCH SYSTEM V1: PORTTYPE TRUNK VLAN 5 20 21 NOPROMISCUOUS'], 'what a GRANT does not say stays');
  run(cp, 'SET VSWITCH V1 GRANT B');
  run(cp, 'SET VSWITCH V1 GRANT A PROMISCUOUS');
  refused(cp, 'SET NIC 600 PROMISCUOUS FOR A', /VSW0041E NIC 0600 is not coupled; PROMISCUOUS needs a switch/);
  run(cp, 'COUPLE 600 TO SYSTEM V1 FOR A');
  assert.deepEqual(run(cp, 'SET NIC 600 PROMISCUOUS FOR A'), ['NIC 0600 PROMISCUOUS']);
  assert.deepEqual(run(cp, 'SET NIC 600 MACPROTECT ON FOR A'), ['NIC 0600 MACPROTECT ON']);
  assert.deepEqual(run(cp, 'Q VSWITCH V1 ACCESSLIST'), [
    'VSWITCH SYSTEM V1        Type: QDIO    Connected: 1    Mode: IP',
    '  QueueStorage: 8M    Controller: * (no uplink)',
    '  RDEV: NONE    State: NOT STARTED',
    '  VLAN: AWARE    Default VLAN: 100    Native VLAN: 5    Default Porttype: ACCESS    Isolation: OFF    MACprotect: OFF',
    '  Authorized userids:',
    '    A         PORTTYPE TRUNK VLAN 5 20 21 PROMISCUOUS',
    '    B         PORTTYPE ACCESS VLAN 100 NOPROMISCUOUS',
  ]);
  assert.deepEqual(run(cp, 'Q VSWITCH V1 PROMISCUOUS').slice(-2), ['  Authorized for promiscuous mode: A', '  Promiscuous NICs: A 0600']);
  const det = run(cp, 'Q VSW V1 DET');
  assert.ok(det.includes('    Porttype: TRUNK  VLANs: 20 21  Native: 5  Promiscuous: YES  MACprotect: ON'), det.join('\n'));
  assert.deepEqual(run(cp, 'Q LAN V1').slice(0, 1), ['VSWITCH SYSTEM V1        Type: QDIO    Connected: 1    Mode: IP']);
  assert.deepEqual((cp.execute('Q LAN').data as any).lans.map((l: any) => [l.type, l.name]), [['VSWITCH', 'U1'], ['VSWITCH', 'V1']]);
  assert.deepEqual(cp.execute('Q VIRTUAL NIC 600 FOR A').lines, cp.execute('Q NIC 600 FOR A').lines);
  // UNCOUPLE ends PROMISCUOUS; REVOKE uncouples.
  run(cp, 'UNCOUPLE 600 FOR A');
  assert.equal(cp.state.nic('A', 0x600)!.promiscuous, false);
  assert.equal(cp.state.nic('A', 0x600)!.macProtect, 'ON', 'MACPROTECT stays with the NIC');
  run(cp, 'COUPLE 600 TO SYSTEM V1 FOR A');
  assert.deepEqual(run(cp, 'SET VSWITCH V1 REVOKE A'), ['NIC 0600 of GUEST A is disconnected from VSWITCH SYSTEM V1', 'A revoked for VSWITCH SYSTEM V1']);
  assert.equal(cp.state.nic('A', 0x600)!.coupled, null);
  assert.deepEqual(run(cp, 'SET VSWITCH V1 ISOLATION ON'), ['VSWITCH SYSTEM V1 ISOLATION ON']);
  assert.equal(cp.state.switches.get('V1')!.isolation, true);
  // The uplink of a VLAN-aware switch is a trunk of its NICs' VLANs.
  run(cp, 'DEFINE VSWITCH V2 RDEV eth1 VLAN 7 NATIVE 7');
  run(cp, 'SET VSWITCH V2 GRANT A PORTTYPE TRUNK VLAN 7 30');
  run(cp, 'COUPLE 600 TO SYSTEM V2 FOR A');
  const v2 = (cp.execute('Q VSW V2 DET').data as any).switches[0];
  assert.deepEqual([v2.uplink.vlans, v2.nics[0].pvid, v2.nics[0].vlans], [[7, 30], 7, [30]]);
  assert.ok(cp.execute('Q VSW V2 DET').lines.includes('    Porttype: TRUNK  VLANs: 7 30  Native: 7'));
});

test('issue 10: MACID pins the low three bytes under VMLAN USERPREFIX; a duplicate is refused; QUERY VMLAN shows them', () => {
  const cp = setup();
  cp.state.applyChange({ t: 'userprefix', prefix: 0x02bb00 });
  run(cp, 'DEFINE GUEST A NETNS na');
  run(cp, 'DEFINE GUEST B QEMU');
  run(cp, 'DEFINE NIC 600 MACID 00A1B2 FOR A');
  assert.equal(cp.state.nic('A', 0x600)!.mac, 0x02bb0000a1b2);
  refused(cp, 'DEFINE NIC 600 MACID 00a1b2 FOR B', /^VSW0035E MACID 00A1B2 is taken: NIC 0600 of GUEST A has it$/);
  run(cp, 'DEFINE NIC 700 FOR A');
  assert.equal(cp.state.nic('A', 0x700)!.mac, 0x020000000001, 'system MACs go on from their own counter');
  refused(cp, 'DEFINE NIC 900 MACID 000001 FOR B', /MACID 000001 is taken: NIC 0700 of GUEST A/);
  assert.deepEqual(run(cp, 'Q VMLAN'), ['VMLAN MACPREFIX: 020000  USERPREFIX: 02BB00', '  MACIDs: 00A1B2 (A 0600)']);
  assert.deepEqual(cp.execute('Q VMLAN').data, { macPrefix: '020000', userPrefix: '02BB00', macIds: [{ guest: 'A', vdev: '0600', macId: '00A1B2', mac: '02:bb:00:00:a1:b2' }] });
  refused(cp, 'VMLAN USERPREFIX 02CC00', /VSW0002E VMLAN USERPREFIX is a SYSTEM CONFIG statement/);
  refused(cp, 'MODIFY VSWITCH X GRANT A', /VSW0002E MODIFY VSWITCH is a SYSTEM CONFIG statement/);
});

test('QUERY SSI: refused on a host that is not a member of a cluster', () => {
  refused(setup(), 'QUERY SSI', /^VSW0062E this system is not a member of a cluster/);
});
