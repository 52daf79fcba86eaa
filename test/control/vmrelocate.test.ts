/**
 * VMRELOCATE's pure parts (issue 15): the check (src/control/commands/vmrelocate.ts) against a
 * State and a cluster view made by hand, and the guest's definitions as the relocation record
 * carries them (src/daemon/cluster/relocation.ts stepsOf): run on another member's control
 * plane with a MAC serial of that member (as the target does), they give the same guest: its
 * NICs with the same vdevs, MACs, interface names, MACIDs, layer-2 settings and couplings.
 * The whole relocation between two daemons is test/cluster/relocate.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { State } from '../../src/control/state.js';
import { check } from '../../src/control/commands/index.js';
import { NO_RUNTIME, type ClusterView, type Env } from '../../src/control/commands/types.js';
import { parse } from '../../src/control/grammar.js';
import { allocHere, readRecord, stepsOf } from '../../src/daemon/cluster/relocation.js';
import { controlPlane } from '../helpers/control.js';

function view(over: Partial<ClusterView> = {}): ClusterView {
  return {
    member: 'M1', endpoints: ['http://127.0.0.1:2379'], store: { ok: true, since: 0, error: null }, joined: true,
    definitions: { committed: 0, applied: 0, notApplied: 0 },
    members: [
      { name: 'M1', state: 'JOINED', macPrefix: '02B101', joined: null },
      { name: 'M2', state: 'JOINED', macPrefix: '02B102', joined: null },
      { name: 'M3', state: 'DOWN', macPrefix: '02B103', joined: null },
    ],
    users: { held: [], refused: [] }, addresses: { held: 0, refused: [] }, leaseTtlS: 10,
    ...over,
  };
}

function member(prefix: number, cluster: ClusterView | null = view()) {
  const state = new State();
  state.macPrefix = prefix;
  const env: Env = { interfaceExists: () => true, cluster: () => cluster };
  return { state, env, cp: controlPlane(state, env) };
}

function run(cp: ReturnType<typeof controlPlane>, cmds: string[]): void {
  for (const c of cmds) {
    const r = cp.execute(c);
    assert.ok(r.ok, `${c}: ${r.lines.join(' ')}`);
  }
}

function answer(state: State, env: Env, text: string): string {
  const p = parse(text);
  assert.ok(p.ok, text);
  const o = check(state, p.cmd, { env, runtime: NO_RUNTIME });
  return o.ok ? o.lines.join('\n') : o.error;
}

test('the check: eligible, or why not (no cluster, not joined, the target, the user)', () => {
  const { state, env, cp } = member(0x02b101);
  run(cp, ['DEFINE VSWITCH SW1 RDEV eth1 IP', 'SET VSWITCH SW1 GRANT LINUX1', 'DEFINE GUEST LINUX1 NETNS n1', 'DEFINE NIC 600 FOR LINUX1']);
  assert.match(answer(state, env, 'VMRELOCATE TEST USER LINUX1 TO M2'), /^VSW0064E user LINUX1 is not active on this member/);
  run(cp, ['COUPLE 600 TO SYSTEM SW1 FOR LINUX1']);
  assert.equal(answer(state, env, 'VMRELOCATE TEST USER LINUX1 TO M2'), 'VSW0066I user LINUX1 is eligible for relocation to M2');
  assert.equal(answer(state, env, 'VMRELOCATE MOVE LINUX1 M2'), 'VSW0066I user LINUX1 is eligible for relocation to M2');
  assert.match(answer(state, env, 'VMRELOCATE MOVE LINUX1 TO M1'), /^VSW0063E user LINUX1 is already on member M1/);
  assert.match(answer(state, env, 'VMRELOCATE MOVE LINUX1 TO M3'), /^VSW0063E member M3 is down/);
  assert.match(answer(state, env, 'VMRELOCATE MOVE LINUX1 TO M4'), /^VSW0063E M4 is not a member of the cluster/);
  assert.match(answer(state, env, 'VMRELOCATE MOVE LINUX2 TO M2'), /^VSW0064E user LINUX2 is not a guest on this member \(M1\)/);
  const away = member(0x02b101, view({ joined: false, store: { ok: false, since: 0, error: 'no quorum' } }));
  assert.match(answer(state, away.env, 'VMRELOCATE MOVE LINUX1 TO M2'), /^VSW0060E the cluster's store is not available \(no quorum\)/);
  const alone = member(0x02b101, null);
  assert.match(answer(state, alone.env, 'VMRELOCATE MOVE LINUX1 TO M2'), /^VSW0062E this system is not a member of a cluster/);
  assert.match(answer(state, alone.env, 'VMRELOCATE STATUS'), /^VSW0062E/);
  assert.equal(answer(state, env, 'VMRELOCATE STATUS'), 'VSW0066I no relocations');
  const busy = member(0x02b101, view({ relocations: [{ userid: 'LINUX1', from: 'M1', to: 'M2', state: 'DONE', reason: null, at: '2026-12-01T16:00:00.000Z', ms: 140 }] }));
  assert.equal(answer(state, busy.env, 'VMREL STAT'), 'VSW0066I user LINUX1 from M1 to M2: DONE 2026-12-01T16:00:00.000Z in 140 ms');
});

test('the record\'s steps make the same guest on another member: vdevs, MACs, names, MACIDs, settings, couplings', () => {
  const src = member(0x02b101);
  const shared = ['DEFINE VSWITCH SW1 RDEV eth1 IP', 'DEFINE VSWITCH SW2 RDEV eth2 ETHERNET', 'SET VSWITCH SW1 GRANT LINUX1', 'SET VSWITCH SW2 GRANT LINUX1 PROMISCUOUS'];
  run(src.cp, [...shared, 'DEFINE GUEST OTHER NETNS o1', 'DEFINE NIC 600 FOR OTHER',
    'DEFINE GUEST LINUX1 NETNS PATH /proc/1/ns/net OWNER alice', 'DEFINE NIC 700 NAME eth1 FOR LINUX1', 'DEFINE NIC 600 FOR LINUX1',
    'DEFINE NIC 800 MACID 00A1B2 FOR LINUX1', 'COUPLE 600 TO SYSTEM SW1 FOR LINUX1', 'COUPLE 700 TO SYSTEM SW2 FOR LINUX1',
    'SET NIC 700 PROMISCUOUS FOR LINUX1', 'SET NIC 600 MACPROTECT OFF FOR LINUX1']);
  const g = src.state.guests.get('LINUX1')!;
  const steps = stepsOf(g);
  assert.deepEqual(steps.map((s) => s.cmd), [
    'DEFINE GUEST LINUX1 NETNS PATH /proc/1/ns/net OWNER alice',
    'DEFINE NIC 0600 TYPE QDIO FOR LINUX1',
    'SET NIC 0600 MACPROTECT OFF FOR LINUX1',
    'DEFINE NIC 0700 TYPE QDIO NAME eth1 FOR LINUX1',
    'DEFINE NIC 0800 TYPE QDIO MACID 00A1B2 FOR LINUX1',
    'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1',
    'COUPLE 0700 TO SYSTEM SW2 FOR LINUX1',
    'SET NIC 0700 PROMISCUOUS FOR LINUX1',
  ]);
  // The target: its own prefix, a NIC of its own holding the serial the source's NIC 600 has.
  const dst = member(0x02b102);
  run(dst.cp, [...shared, 'DEFINE GUEST MINE NETNS m1', 'DEFINE NIC 600 FOR MINE', 'DEFINE NIC 610 FOR MINE']);
  for (const s of steps) {
    const alloc = allocHere(s, dst.state);
    const r = dst.cp.execute(s.cmd, undefined, false, alloc ? { replay: { alloc } } : undefined);
    assert.ok(r.ok, `${s.cmd}: ${r.lines.join(' ')}`);
  }
  const moved = dst.state.guests.get('LINUX1')!;
  const shape = (x: typeof g) => [...x.nics.values()].sort((a, b) => a.vdev - b.vdev)
    .map((n) => ({ vdev: n.vdev, mac: n.mac, tap: n.tap, macId: n.macId, promiscuous: n.promiscuous, macProtect: n.macProtect, coupled: n.coupled }));
  assert.deepEqual(shape(moved), shape(g));
  assert.equal(moved.owner, 'alice');
  assert.equal(moved.netns, '/proc/1/ns/net');
  // The target's own MACs stay unique: the moved NICs took serials of the target's that were free.
  const serials = [...dst.state.guests.values()].flatMap((x) => [...x.nics.values()].map((n) => n.macSerial));
  assert.equal(new Set(serials).size, serials.length);
});

test('a relocation record from the store is read only when its steps are the guest\'s own definitions', () => {
  const src = member(0x02b101);
  run(src.cp, ['DEFINE VSWITCH SW1 RDEV eth1 IP', 'SET VSWITCH SW1 GRANT LINUX1', 'DEFINE GUEST LINUX1 QEMU', 'DEFINE NIC 600 FOR LINUX1', 'COUPLE 600 TO SYSTEM SW1 FOR LINUX1']);
  const rec = { id: 'a1', userid: 'LINUX1', from: 'M1', to: 'M2', state: 'prepare', steps: stepsOf(src.state.guests.get('LINUX1')!), macs: [], addresses: [], at: '' };
  const ok = readRecord(JSON.stringify(rec));
  assert.notEqual(typeof ok, 'string', String(ok));
  const bad = (steps: unknown, over: object = {}) => readRecord(JSON.stringify({ ...rec, steps, ...over }));
  assert.equal(bad([{ cmd: 'DETACH VSWITCH SW1' }]), 'step "DETACH VSWITCH SW1" is not a definition of user LINUX1');
  assert.equal(bad([{ cmd: 'DEFINE NIC 0600 TYPE QDIO FOR OTHER' }]), 'step "DEFINE NIC 0600 TYPE QDIO FOR OTHER" is not a definition of user LINUX1');
  assert.equal(bad([{ cmd: 'SET VSWITCH SW1 GRANT LINUX1' }]), 'step "SET VSWITCH SW1 GRANT LINUX1" is not a definition of user LINUX1');
  assert.match(String(bad([{ nope: 1 }])), /is not a definition of user LINUX1/);
  assert.equal(bad(rec.steps, { state: 'whatever' }), 'not a relocation record');
  assert.equal(bad('DEFINE GUEST LINUX1 QEMU'), 'not a relocation record');
  assert.match(String(readRecord('{"id":')), /^not JSON: /);
  assert.equal(readRecord('null'), 'not a relocation record');
});
