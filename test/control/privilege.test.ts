/**
 * The privilege check (src/control/privilege.ts) and its enforcement by the table of verbs
 * (src/control/commands/index.ts check), pure: a State built through the command engine, the
 * principals made by hand. For each command of every kind the table has: who may issue it
 * (the system; the guest's OWNER by name, by uid; a stranger), and that a refusal is
 * VSW0003E and changes nothing. Also the GROUP/uid rules of isSystem and the OWNER operand's
 * grammar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { State } from '../../src/control/state.js';
import { VERBS, check, verbOf } from '../../src/control/commands/index.js';
import { NO_RUNTIME } from '../../src/control/commands/types.js';
import { format, parse, type Command } from '../../src/control/grammar.js';
import { SYSTEM, authorize, isSystem, switchGrantedTo, type Principal } from '../../src/control/privilege.js';
import { controlPlane } from '../helpers/control.js';

const ALICE: Principal = { uid: 1001, user: 'alice', system: false };
const ALICE_UID_ONLY: Principal = { uid: 1001, user: null, system: false };
const BOB: Principal = { uid: 1002, user: 'bob', system: false };
const CAROL_TAP: Principal = { uid: 1003, user: 'carol', system: false };
const ADMIN: Principal = { uid: 1004, user: 'admin', system: true };

function setup() {
  const cp = controlPlane(new State(), { interfaceExists: () => true });
  for (const c of [
    'DEFINE VSWITCH SW1 RDEV eth1', 'DEFINE VSWITCH SW2 RDEV eth2',
    'DEFINE GUEST A1 NETNS a1 OWNER alice', 'DEFINE GUEST A2 QEMU OWNER 1001',
    'DEFINE GUEST B1 NETNS b1 OWNER bob', 'DEFINE GUEST S1 NETNS s1', 'DEFINE GUEST T1 QEMU TAP OWNER 1003',
    'SET VSWITCH SW1 GRANT A1', 'SET VSWITCH SW2 GRANT A1', 'SET VSWITCH SW1 GRANT B1',
    'DEFINE NIC 600 FOR A1', 'DEFINE NIC 700 FOR A1', 'COUPLE 600 TO SYSTEM SW1 FOR A1', 'DEFINE NIC 600 FOR B1',
  ]) {
    const r = cp.execute(c);
    assert.ok(r.ok, `${c}: ${r.lines.join(' ')}`);
  }
  return cp;
}

/**
 * Commands of every kind, each with who of ALICE, ALICE_UID_ONLY, BOB may issue it
 * ('A': alice by name and by uid; 'B': bob; '-': no one but the system).
 */
const CASES: Array<[string, 'A' | 'B' | 'AB' | '-']> = [
  ['DEFINE VSWITCH SW9 RDEV NONE', '-'],
  ['DETACH VSWITCH SW2', '-'],
  ['DEFINE GUEST X1 NETNS x1 OWNER alice', '-'],
  ['DETACH GUEST A1', '-'],
  ['DEFINE NIC 800 FOR A1', 'A'],
  ['DEFINE NIC 800 FOR A2', 'A'],
  ['DEFINE NIC 800 FOR B1', 'B'],
  ['DEFINE NIC 800 FOR S1', '-'],
  ['DEFINE NIC 800 FOR NOSUCH', '-'],
  ['DETACH NIC 700 FOR A1', 'A'],
  ['DETACH NIC 600 FOR B1', 'B'],
  ['COUPLE 700 TO SYSTEM SW2 FOR A1', 'A'],
  ['COUPLE 600 TO SYSTEM SW1 FOR B1', 'B'],
  ['UNCOUPLE 600 FOR A1', 'A'],
  ['QUERY NIC ALL FOR A1', 'A'],
  ['QUERY NIC 600 DETAILS FOR B1', 'B'],
  ['QUERY GUEST A1', 'A'],
  ['QUERY GUEST S1', '-'],
  ['QUERY GUEST ALL', '-'],
  ['QUERY VSWITCH SW1', 'AB'],
  ['QUERY VSWITCH SW2', 'A'],
  ['QUERY VSWITCH SW1 ACCESSLIST', 'AB'],
  ['QUERY VSWITCH ALL DETAILS', '-'],
  ['QUERY VMLAN', 'AB'],
  ['QUERY CONTROLLER ALL', '-'],
  ['SET VSWITCH SW1 CONTROLLER *', '-'],
  ['SET VSWITCH SW1 SWITCHOVER', '-'],
  ['SET VSWITCH SW1 UPLINK DISCONNECT', '-'],
  ['VMLAN MACPREFIX 020001', '-'],
  ['VMLAN USERPREFIX 020002', '-'],
  ['MODIFY VSWITCH SW1 GRANT B1', '-'],
  ['SET VSWITCH SW1 GRANT B1', '-'],
  ['SET VSWITCH SW1 REVOKE A1', '-'],
  ['SET NIC 600 MACPROTECT ON FOR A1', 'A'],
  ['SET NIC 600 MACPROTECT ON FOR B1', 'B'],
  ['QUERY LAN', 'AB'],
  ['QUERY SSI', 'AB'],
  // VMRELOCATE (issue 15): the system's alone, even for a guest its OWNER issues it for.
  ['VMRELOCATE MOVE USER A1 TO M2', '-'],
  ['VMRELOCATE TEST A1 M2', '-'],
  ['VMRELOCATE STATUS', '-'],
];

function cmdOf(text: string): Command {
  const p = parse(text);
  assert.ok(p.ok, text);
  return p.cmd;
}

test('every kind of command in the table has a case here', () => {
  const kinds = new Set(CASES.map(([t]) => cmdOf(t).kind));
  for (const kind of Object.keys(VERBS)) assert.ok(kinds.has(kind as Command['kind']), `no privilege case for ${kind}: add one to CASES`);
});

test('who may issue what: the system anything, an OWNER (by name or uid) its guests\' NICs and granted switches, a stranger nothing', () => {
  const cp = setup();
  for (const [text, allowedTo] of CASES) {
    const cmd = cmdOf(text);
    const verb = verbOf(cmd);
    const denied = (p: Principal): boolean => {
      const o = check(cp.state, cmd, { env: { interfaceExists: () => true }, runtime: NO_RUNTIME, who: p });
      return !o.ok && o.error.startsWith('VSW0003E not authorized: ');
    };
    assert.equal(denied(SYSTEM), false, `${text}: the system`);
    assert.equal(denied(ADMIN), false, `${text}: a member of the administrators' group`);
    assert.equal(denied(ALICE), !allowedTo.includes('A'), `${text}: alice`);
    assert.equal(denied(ALICE_UID_ONLY), !allowedTo.includes('A') || text.endsWith('FOR A1') || text === 'QUERY GUEST A1' || text.startsWith('QUERY VSWITCH SW'),
      `${text}: uid 1001 without a name owns only A2 (OWNER 1001)`);
    assert.equal(denied(BOB), !allowedTo.includes('B'), `${text}: bob`);
    if (verb.privilege === 'B') assert.equal(allowedTo, '-', `${text}: class B is the system's alone`);
  }
});

test('a QEMU TAP guest\'s OWNER uid owns it', () => {
  const cp = setup();
  assert.equal(authorize(cp.state, cmdOf('DEFINE NIC 600 FOR T1'), 'G', 'DEFINE NIC', CAROL_TAP), null);
  assert.match(authorize(cp.state, cmdOf('DEFINE NIC 600 FOR T1'), 'G', 'DEFINE NIC', ALICE) ?? '', /uid 1001 \(alice\) is not the OWNER of GUEST T1/);
});

test('a refusal is one VSW0003E line through the engine and changes nothing; the same words whether the guest exists or not', () => {
  const cp = setup();
  const before = JSON.stringify([cp.execute('Q VSWITCH ALL DETAILS'), cp.execute('Q GUEST'), cp.execute('Q NIC DETAILS FOR A1'), cp.execute('Q NIC DETAILS FOR B1')]);
  for (const [text, allowedTo] of CASES) {
    if (allowedTo.includes('B')) continue;
    const r = cp.execute(text, BOB);
    assert.equal(r.ok, false, text);
    assert.equal(r.lines.length, 1);
    assert.match(r.lines[0], /^VSW000[23]E /, text); // VSW0002E: a SYSTEM CONFIG statement (VMLAN), refused to everyone at run time
  }
  assert.equal(JSON.stringify([cp.execute('Q VSWITCH ALL DETAILS'), cp.execute('Q GUEST'), cp.execute('Q NIC DETAILS FOR A1'), cp.execute('Q NIC DETAILS FOR B1')]), before);
  const exists = cp.execute('DEFINE NIC 800 FOR S1', BOB).lines[0];
  const missing = cp.execute('DEFINE NIC 800 FOR NOSUCH', BOB).lines[0];
  assert.equal(exists.replace('S1', 'X'), missing.replace('NOSUCH', 'X'));
});

test('a switch is granted to a guest by the switch\'s access list', () => {
  const cp = setup();
  assert.equal(switchGrantedTo(cp.state, 'A1', 'SW1'), true);
  assert.equal(switchGrantedTo(cp.state, 'B1', 'SW2'), false);
  assert.equal(switchGrantedTo(cp.state, 'NOSUCH', 'SW1'), false);
  assert.ok(cp.execute('SET VSWITCH SW1 REVOKE B1').ok);
  assert.equal(switchGrantedTo(cp.state, 'B1', 'SW1'), false);
});

test('the system: root, or a member of the administrators\' group (when it exists)', () => {
  assert.equal(isSystem(0, [0], null), true);
  assert.equal(isSystem(1001, [100, 1000], 1000), true);
  assert.equal(isSystem(1001, [100], 1000), false);
  assert.equal(isSystem(1001, [100], null), false);
});

test('OWNER: a user name or uid for container and QEMU socket guests, kept as typed; canonical forms parse back', () => {
  const cases: Array<[string, string]> = [
    ['def guest g1 netns ns1 owner Alice.B', 'DEFINE GUEST G1 NETNS ns1 OWNER Alice.B'],
    ['def guest g1 netns path /run/netns/x owner 1001', 'DEFINE GUEST G1 NETNS PATH /run/netns/x OWNER 1001'],
    ['def guest g1 qemu owner bob', 'DEFINE GUEST G1 QEMU STREAM OWNER bob'],
    ['def guest g1 netns path owner bob', 'DEFINE GUEST G1 NETNS path OWNER bob'],
    ['def guest g1 qemu dgram owner bob$', 'DEFINE GUEST G1 QEMU DGRAM OWNER bob$'],
    ['def guest g1 qemu tap owner 1003 group 5', 'DEFINE GUEST G1 QEMU TAP OWNER 1003 GROUP 5'],
  ];
  for (const [text, canonical] of cases) {
    const p = parse(text);
    assert.ok(p.ok, `${text}: ${p.ok ? '' : p.error.message}`);
    assert.equal(format(p.cmd), canonical);
    assert.deepEqual(parse(canonical), p);
  }
  for (const bad of ['DEFINE GUEST G1 NETNS ns1 OWNER', 'DEFINE GUEST G1 NETNS ns1 OWNER -x', 'DEFINE GUEST G1 NETNS ns1 OWNER a/b',
    'DEFINE GUEST G1 QEMU OWNER 4294967295', 'DEFINE GUEST G1 NETNS ns1 OWNER bob OWNER carol', 'DEFINE GUEST G1 QEMU TAP OWNER bob']) {
    assert.equal(parse(bad).ok, false, bad);
  }
});

test('OWNER is in QUERY GUEST (lines and JSON) and in the snapshot of the state', async () => {
  const cp = setup();
  const q = cp.execute('QUERY GUEST A1');
  assert.deepEqual(q.lines, ['GUEST A1        NETNS a1  OWNER alice  NICs: 0600 0700']);
  assert.equal((q.data as { guests: Array<{ owner?: string }> }).guests[0].owner, 'alice');
  assert.equal((cp.execute('QUERY GUEST S1').data as { guests: Array<{ owner?: string }> }).guests[0].owner, undefined);
  const { snapshotCommands } = await import('../../src/control/snapshot.js');
  const cmds = snapshotCommands(new State(), cp.state).map((r) => r.cmd);
  assert.ok(cmds.includes('DEFINE GUEST A1 NETNS a1 OWNER alice'), cmds.join('\n'));
  assert.ok(cmds.includes('DEFINE GUEST T1 QEMU TAP OWNER 1003'), cmds.join('\n'));
});
