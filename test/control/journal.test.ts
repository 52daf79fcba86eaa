/**
 * The journal: records are durable lines with a checksum; a torn tail is ignored and cut off;
 * damage before it stops the reading at its line; replay through the engine rebuilds the same
 * state (same MACs), and skips records that no longer apply. Journals of the previous version
 * (v1, no checksum) still replay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ControlPlane, StartUp } from '../../src/control/controlplane.js';
import { encodeLine, JOURNAL_FILE, parseJournal } from '../../src/control/journal.js';
import { History } from '../../src/control/history.js';
import { State } from '../../src/control/state.js';
import { NO_EFFECTS } from '../helpers/control.js';
import { NO_RUNTIME } from '../../src/control/commands/types.js';

const quiet = pino({ level: 'silent' });
const env = { interfaceExists: () => true };

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'vswjournal-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

function open(dir: string): { cp: ControlPlane; problems: { line: number; reason: string }[]; journal: History } {
  const startUp = new StartUp(new State(), env, quiet);
  const { history, report } = History.open(dir, startUp, quiet, { compactAfter: 1_000_000 });
  const cp = new ControlPlane(startUp.state, env, quiet, { journal: history, effects: NO_EFFECTS, runtime: NO_RUNTIME });
  return { cp, problems: report.torn ? [report.torn] : [], journal: history };
}

test('parseJournal: good records, torn tail, damage stops the reading at its line', () => {
  const good = '{"v":1,"seq":1,"at":"t","cmd":"DEFINE VSWITCH SW1"}\n';
  assert.equal(parseJournal(good).records.length, 1);
  const torn = parseJournal(`${good}{"v":1,"seq":2,"at":"t","cmd":"DEF`);
  assert.equal(torn.records.length, 1);
  assert.equal(torn.validBytes, Buffer.byteLength(good));
  assert.match(torn.torn!.reason, /torn last record/);
  assert.equal(torn.damage, null);
  // A complete JSON object without its newline is torn too (the write did not finish).
  const noNl = parseJournal(`${good}{"v":1,"seq":2,"at":"t","cmd":"DEFINE VSWITCH SW2"}`);
  assert.equal(noNl.records.length, 1);
  assert.ok(noNl.torn);
  const second = '{"v":1,"seq":2,"at":"t","cmd":"DEFINE VSWITCH SW2"}\n';
  for (const [bad, reason] of [
    ['garbage\n', /not JSON/],
    ['{"v":3,"cmd":"x","seq":2}\n', /not a journal record \(version 3\)/],
    ['{"v":1,"seq":2,"cmd":"DEFINE NIC 600 FOR A","alloc":{"mac":"x"}}\n', /bad allocation/],
    ['\n', /empty line/],
    ['{"v":1,"seq":3,"at":"t","cmd":"DEFINE VSWITCH SW3"}\n', /record 3 follows record 1: records are missing/],
    ['{"v":2,"seq":2,"at":"t","cmd":"DEFINE VSWITCH SW3"}\n', /v2 record without a checksum/],
  ] as const) {
    const r = parseJournal(`${good}${bad}${second}`);
    assert.equal(r.records.length, 1, bad);
    assert.equal(r.damage!.line, 2, bad);
    assert.match(r.damage!.reason, reason);
    assert.equal(r.validBytes, Buffer.byteLength(good), 'the valid prefix ends before the damage');
  }
});

test('commands are journaled before the reply and come back with the same identity', () => {
  withDir((dir) => {
    const { cp, journal } = open(dir);
    for (const c of ['DEFINE VSWITCH SW1 RDEV eth1', 'DEFINE GUEST A NETNS na', 'DEFINE NIC 600 FOR A', 'DEFINE NIC 700 FOR A',
      'SET VSWITCH SW1 GRANT A', 'COUPLE 600 TO SYSTEM SW1 FOR A', 'DETACH NIC 600 FOR A', 'DEFINE NIC 800 FOR A', 'COUPLE 800 TO SYSTEM SW1 FOR A']) {
      assert.ok(cp.execute(c).ok, c);
    }
    assert.ok(!cp.execute('DEFINE VSWITCH SW1').ok);
    assert.ok(cp.execute('Q VSW').ok);
    const lines = readFileSync(join(dir, JOURNAL_FILE), 'utf8').trim().split('\n');
    assert.equal(lines.length, 9, 'refused commands and queries are not journaled');
    assert.deepEqual(JSON.parse(lines[2]).alloc, { macSerial: 1, mac: 0x020000000001, subchannels: [0, 1, 2], chpid: 0 });
    assert.deepEqual(lines.map((l) => JSON.parse(l).v), Array(9).fill(2), 'records of this version');
    assert.ok(lines.every((l) => /,"crc":"[0-9a-f]{8}"}$/.test(l)), 'each with its checksum');
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
    appendFileSync(join(dir, JOURNAL_FILE), encodeLine({ v: 2, seq: 2, at: '', cmd: 'SET VSWITCH SW1 CONTROLLER DTCVSW2' }));
    const again = open(dir);
    assert.deepEqual(again.problems, []);
    assert.equal(again.cp.state.switches.get('SW1')!.controller, 'DTCVSW2', 'the named controller is kept across the restart');
    again.journal.close();
  });
});
