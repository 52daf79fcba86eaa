/**
 * The journal: records are durable lines; a torn tail is ignored and cut off; replay through
 * the engine rebuilds the same state (same MACs), and skips records that no longer apply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControlPlane, StartUp } from '../../src/control/controlplane.js';
import { Journal, JOURNAL_FILE, parseJournal } from '../../src/control/journal.js';
import { State } from '../../src/control/state.js';
import { NO_EFFECTS } from '../helpers/control.js';
import { NO_RUNTIME } from '../../src/control/commands/types.js';

const quiet = pino({ level: 'silent' });
const env = { interfaceExists: () => true };

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'vswjournal-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

function open(dir: string): { cp: ControlPlane; problems: { line: number; reason: string }[]; journal: Journal } {
  const startUp = new StartUp(new State(), env, quiet);
  const { journal, read } = Journal.open(dir);
  for (const r of read.records) startUp.replay(r);
  const cp = new ControlPlane(startUp.state, env, quiet, { journal, effects: NO_EFFECTS, runtime: NO_RUNTIME });
  return { cp, problems: read.problems, journal };
}

test('parseJournal: good records, torn tail, garbage lines', () => {
  const good = '{"v":1,"seq":1,"at":"t","cmd":"DEFINE VSWITCH SW1"}\n';
  assert.equal(parseJournal(good).records.length, 1);
  const torn = parseJournal(`${good}{"v":1,"seq":2,"at":"t","cmd":"DEF`);
  assert.equal(torn.records.length, 1);
  assert.equal(torn.validBytes, Buffer.byteLength(good));
  assert.match(torn.problems[0].reason, /torn last record/);
  // A complete JSON object without its newline is torn too (the write did not finish).
  const noNl = parseJournal(`${good}{"v":1,"seq":2,"at":"t","cmd":"DEFINE VSWITCH SW2"}`);
  assert.equal(noNl.records.length, 1);
  const junk = parseJournal(`${good}garbage\n{"v":2,"cmd":"x","seq":1}\n{"v":1,"seq":3,"cmd":"DEFINE NIC 600 FOR A","alloc":{"mac":"x"}}\n\n${good}`);
  assert.equal(junk.records.length, 2);
  assert.deepEqual(junk.problems.map((p) => p.line), [2, 3, 4]);
});

test('commands are journaled before the reply and come back with the same identity', () => {
  withDir((dir) => {
    const { cp, journal } = open(dir);
    for (const c of ['DEFINE VSWITCH SW1 RDEV eth1', 'DEFINE GUEST A NETNS na', 'DEFINE NIC 600 FOR A', 'DEFINE NIC 700 FOR A',
      'COUPLE 600 TO SYSTEM SW1 FOR A', 'DETACH NIC 600 FOR A', 'DEFINE NIC 800 FOR A', 'COUPLE 800 TO SYSTEM SW1 FOR A']) {
      assert.ok(cp.execute(c).ok, c);
    }
    assert.ok(!cp.execute('DEFINE VSWITCH SW1').ok);
    assert.ok(cp.execute('Q VSW').ok);
    const lines = readFileSync(join(dir, JOURNAL_FILE), 'utf8').trim().split('\n');
    assert.equal(lines.length, 8, 'refused commands and queries are not journaled');
    assert.deepEqual(JSON.parse(lines[2]).alloc, { macSerial: 1, mac: 0x020000000001, subchannels: [0, 1, 2], chpid: 0 });
    const before = ['Q VSW ALL DET', 'Q NIC DET FOR A', 'Q GUEST'].map((q) => cp.execute(q));
    journal.close();
    const again = open(dir);
    assert.deepEqual(['Q VSW ALL DET', 'Q NIC DET FOR A', 'Q GUEST'].map((q) => again.cp.execute(q)), before);
    assert.equal(again.cp.state.nic('A', 0x800)!.mac, 0x020000000003);
    // Serials go on after a replay: the next NIC does not take a serial a detached NIC had.
    assert.ok(again.cp.execute('DEFINE NIC 900 FOR A').ok);
    assert.equal(again.cp.state.nic('A', 0x900)!.macSerial, 4);
    again.journal.close();
  });
});

test('a torn last record is ignored, logged and cut off; later records start on their own line', () => {
  withDir((dir) => {
    const { cp, journal } = open(dir);
    assert.ok(cp.execute('DEFINE VSWITCH SW1').ok);
    journal.close();
    appendFileSync(join(dir, JOURNAL_FILE), '{"v":1,"seq":2,"at":"x","cmd":"DEFINE VSW');
    const b = open(dir);
    assert.equal(b.problems.length, 1);
    assert.match(b.problems[0].reason, /torn/);
    assert.deepEqual([...b.cp.state.switches.keys()], ['SW1']);
    assert.ok(b.cp.execute('DEFINE VSWITCH SW2').ok);
    b.journal.close();
    const c = open(dir);
    assert.deepEqual(c.problems, []);
    assert.deepEqual([...c.cp.state.switches.keys()], ['SW1', 'SW2']);
    c.journal.close();
  });
});

test('a record that no longer applies is skipped; a taken allocation gets a new one', () => {
  withDir((dir) => {
    writeFileSync(join(dir, JOURNAL_FILE), [
      { v: 1, seq: 1, at: '', cmd: 'DEFINE GUEST A NETNS na' },
      { v: 1, seq: 2, at: '', cmd: 'COUPLE 0600 TO SYSTEM SW1 FOR A' },
      { v: 1, seq: 3, at: '', cmd: 'DEFINE NIC 0600 TYPE QDIO FOR A', alloc: { macSerial: 7, mac: 0x020000000007, subchannels: [0, 1, 2], chpid: 0 } },
      { v: 1, seq: 4, at: '', cmd: 'DEFINE NIC 0700 TYPE QDIO FOR A', alloc: { macSerial: 7, mac: 0x020000000007, subchannels: [0, 1, 2], chpid: 0 } },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const { cp, journal } = open(dir);
    assert.equal(cp.state.nic('A', 0x600)!.mac, 0x020000000007, 'journaled MAC kept');
    const n7 = cp.state.nic('A', 0x700)!;
    assert.notEqual(n7.mac, 0x020000000007);
    assert.deepEqual([n7.subchannels, n7.chpid], [[3, 4, 5], 1]);
    assert.equal(cp.state.nic('A', 0x600)!.coupled, null, 'COUPLE to a missing switch skipped');
    journal.close();
  });
});

test('replay takes only what is journaled: queries, operations and SYSTEM CONFIG statements are skipped', () => {
  withDir((dir) => {
    writeFileSync(join(dir, JOURNAL_FILE), [
      { v: 1, seq: 1, at: '', cmd: 'DEFINE VSWITCH SW1 RDEV eth1' },
      { v: 1, seq: 2, at: '', cmd: 'VMLAN MACPREFIX 02AA00' },
      { v: 1, seq: 3, at: '', cmd: 'QUERY VSWITCH' },
      { v: 1, seq: 4, at: '', cmd: 'SET VSWITCH SW1 SWITCHOVER' },
      { v: 1, seq: 5, at: '', cmd: 'SET VSWITCH SW1 CONTROLLER *' },
      { v: 1, seq: 6, at: '', cmd: 'DEFINE GUEST A NETNS na' },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const { cp, journal } = open(dir);
    assert.equal(cp.state.macPrefix, 0x020000, 'VMLAN MACPREFIX is not taken from the journal');
    assert.deepEqual([...cp.state.switches.keys()], ['SW1']);
    assert.deepEqual([...cp.state.guests.keys()], ['A'], 'records after the skipped ones still apply');
    journal.close();
  });
});

test('a journaled SET VSWITCH CONTROLLER name is replayed though no controller is connected at start (the switch waits for it)', () => {
  withDir((dir) => {
    const running = open(dir);
    assert.ok(running.cp.execute('DEFINE VSWITCH SW1 RDEV eth1').ok);
    // While running, a named controller must be connected.
    const refusedNow = running.cp.execute('SET VSWITCH SW1 CONTROLLER DTCVSW2');
    assert.match(refusedNow.lines[0], /VSW0051E controller DTCVSW2 is not connected/);
    running.journal.close();
    // It was connected when the command was acknowledged; the journal holds the record.
    appendFileSync(join(dir, JOURNAL_FILE), `${JSON.stringify({ v: 1, seq: 2, at: '', cmd: 'SET VSWITCH SW1 CONTROLLER DTCVSW2' })}\n`);
    const again = open(dir);
    assert.deepEqual(again.problems, []);
    assert.equal(again.cp.state.switches.get('SW1')!.controller, 'DTCVSW2', 'the named controller is kept across the restart');
    again.journal.close();
  });
});
