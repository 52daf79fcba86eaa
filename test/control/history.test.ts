/**
 * The history (snapshot + journal) as faults meet it, in-process on real files:
 * - a flipped digit in an acknowledged record (0600 -> 0700) is caught by its checksum and
 *   stops the start naming the line, in the middle and at the end; recovery keeps what precedes
 *   it and sets the damaged file aside;
 * - a journal of the previous version (v1, no checksums) replays, and compaction rewrites it;
 * - the snapshot is the journal's effect (property: config + snapshot = config + journal);
 * - a compaction with commands going on keeps every record; a kill -9 at each of its steps
 *   (forced in a child process) leaves the old history or the new one, never a mix;
 * - a damaged snapshot, or a journal that does not follow it, stops the start likewise;
 * - replay time is linear in the history's length.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { pino } from 'pino';
import { ControlPlane, StartUp } from '../../src/control/controlplane.js';
import { NO_RUNTIME } from '../../src/control/commands/types.js';
import { History, HistoryDamaged, recoverHistory } from '../../src/control/history.js';
import { encodeLine, JOURNAL_FILE } from '../../src/control/journal.js';
import { SNAPSHOT_FILE, snapshotCommands } from '../../src/control/snapshot.js';
import { State } from '../../src/control/state.js';
import { format, parse } from '../../src/control/grammar.js';
import { NO_EFFECTS, controlPlane, definitions } from '../helpers/control.js';
import { churnHistory, journalOf } from '../helpers/history.js';
import { DURING, ENV, FIRST } from './compaction-child.js';

const quiet = pino({ level: 'silent' });

function withDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vswhistory-'));
  return Promise.resolve(fn(dir)).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function open(dir: string, config: string[] = []): { cp: ControlPlane; history: History; startUp: StartUp } {
  const startUp = new StartUp(new State(), ENV, quiet);
  for (const c of config) {
    const p = parse(c);
    assert.ok(p.ok && startUp.configure(p.cmd) === null, c);
  }
  const { history } = History.open(dir, startUp, quiet, { compactAfter: 1_000_000 });
  return { cp: new ControlPlane(startUp.state, ENV, quiet, { journal: history, effects: NO_EFFECTS, runtime: NO_RUNTIME }), history, startUp };
}

const dump = definitions;

function canonical(text: string): string {
  const p = parse(text);
  assert.ok(p.ok, text);
  return format(p.cmd);
}

function run(cp: ControlPlane, cmds: string[]): void {
  for (const c of cmds) assert.ok(cp.execute(c).ok, c);
}

/** Replace the first `from` in line `line` (1-based) of a file. */
function flip(path: string, line: number, from: string, to: string): void {
  const lines = readFileSync(path, 'utf8').split('\n');
  assert.ok(lines[line - 1].includes(from), `line ${line}: ${lines[line - 1]}`);
  lines[line - 1] = lines[line - 1].replace(from, to);
  writeFileSync(path, lines.join('\n'));
}

const CMDS = ['DEFINE VSWITCH SW1 RDEV eth1', 'DEFINE GUEST A NETNS na', 'DEFINE NIC 0600 FOR A', 'SET VSWITCH SW1 GRANT A', 'COUPLE 0600 TO SYSTEM SW1 FOR A', 'DEFINE NIC 0800 FOR A'];

test('a flipped digit in an acknowledged record stops the start naming its line, in the middle and at the end', () => withDir((dir) => {
  const a = open(dir);
  run(a.cp, CMDS);
  a.history.close();
  const path = join(dir, JOURNAL_FILE);
  const good = readFileSync(path);
  for (const [line, from, to] of [[3, '0600', '0700'], [6, '0800', '0900'], [2, 'NETNS na', 'NETNS nb']] as const) {
    writeFileSync(path, good);
    flip(path, line, from, to);
    assert.throws(() => open(dir), (e: unknown) => {
      assert.ok(e instanceof HistoryDamaged);
      assert.equal(e.damage.line, line);
      assert.match(e.message, new RegExp(`journal\\.jsonl line ${line}: checksum mismatch \\(the record says [0-9a-f]{8}, its content gives [0-9a-f]{8}\\)`));
      assert.match(e.message, /vswitchd --recover-journal --state-dir /);
      return true;
    });
    assert.deepEqual(readFileSync(path).length, good.length, 'a damaged journal is left as it is');
  }
}));

test('recovery keeps the records before the damage, sets the file aside, and the journal goes on from there', () => withDir((dir) => {
  const a = open(dir);
  run(a.cp, CMDS);
  const before = dump(a.startUp.state);
  a.history.close();
  const path = join(dir, JOURNAL_FILE);
  flip(path, 4, 'SW1', 'SW2');
  const damaged = readFileSync(path);
  const report = recoverHistory(dir);
  assert.equal(report.length, 1);
  assert.match(report[0], /^journal\.jsonl line 4: checksum mismatch .*; kept the 3 records before it, the file is set aside as journal\.jsonl\.damaged-\S+$/);
  const aside = readdirSync(dir).find((f) => f.startsWith('journal.jsonl.damaged-'))!;
  assert.deepEqual(readFileSync(join(dir, aside)), damaged, 'the damaged file is kept whole');
  const b = open(dir);
  assert.deepEqual([...b.startUp.state.guests.get('A')!.nics.keys()], [0x600], 'the records before line 4 are back');
  assert.equal(b.startUp.state.nic('A', 0x600)!.coupled, null);
  run(b.cp, ['SET VSWITCH SW1 GRANT A', 'COUPLE 0600 TO SYSTEM SW1 FOR A', 'DEFINE NIC 0800 FOR A']);
  b.history.close();
  const c = open(dir);
  assert.deepEqual(dump(c.startUp.state), before, 'the same commands again give the same state');
  assert.deepEqual(readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l).seq), [1, 2, 3, 4, 5, 6], 'sequence numbers go on');
  assert.match(recoverHistory(dir)[0], /^nothing to recover: snapshot absent, journal 6 records intact$/);
  c.history.close();
}));

test('a journal of the previous version (v1, no checksums) replays; compaction rewrites it with checksums', () => withDir(async (dir) => {
  // What the previous version wrote: {"v":1,"seq","at","cmd","alloc"?}.
  writeFileSync(join(dir, JOURNAL_FILE), [
    { v: 1, seq: 1, at: 'x', cmd: 'DEFINE VSWITCH SW1 RDEV eth1 IP CONTROLLER * QUEUESTORAGE 8M' },
    { v: 1, seq: 2, at: 'x', cmd: 'DEFINE GUEST A NETNS na' },
    { v: 1, seq: 3, at: 'x', cmd: 'DEFINE NIC 0600 TYPE QDIO FOR A', alloc: { macSerial: 5, mac: 0x020000000005, subchannels: [0, 1, 2], chpid: 0 } },
    { v: 1, seq: 4, at: 'x', cmd: 'SET VSWITCH SW1 GRANT A' },
    { v: 1, seq: 5, at: 'x', cmd: 'COUPLE 0600 TO SYSTEM SW1 FOR A' },
  ].map((r) => `${JSON.stringify(r)}\n`).join(''));
  const a = open(dir);
  assert.equal(a.startUp.state.nic('A', 0x600)!.mac, 0x020000000005);
  assert.equal(a.startUp.state.nic('A', 0x600)!.coupled, 'SW1');
  const before = dump(a.startUp.state);
  assert.ok(await a.history.compact());
  run(a.cp, ['DEFINE NIC 0700 FOR A']);
  a.history.close();
  const lines = [...readFileSync(join(dir, SNAPSHOT_FILE), 'utf8').trim().split('\n'), ...readFileSync(join(dir, JOURNAL_FILE), 'utf8').trim().split('\n')];
  assert.ok(lines.every((l) => JSON.parse(l).v === 2 && /,"crc":"[0-9a-f]{8}"}$/.test(l)), lines.join('\n'));
  assert.equal(JSON.parse(lines[lines.length - 1]).seq, 6, 'the journal after the snapshot goes on with seq 6');
  const b = open(dir);
  assert.deepEqual(b.startUp.state.nic('A', 0x700)!.macSerial, 6);
  run(b.cp, ['DETACH NIC 0700 FOR A']);
  assert.deepEqual(dump(b.startUp.state), { ...(before as object), nextMacSerial: 7 });
  b.history.close();
}));

// ---- the snapshot is the journal's effect ----

const ids = (p: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${p}${i}`);
const vdevs = ['600', '603', '700'];
const commandArb = fc.oneof(
  fc.tuple(fc.constantFrom(...ids('S', 3)), fc.constantFrom('NONE', 'e0', 'e1', 'e2'), fc.constantFrom('IP', 'ETHERNET'), fc.constantFrom('*', 'C1', 'C2'))
    .map(([s, r, m, c]) => `DEFINE VSWITCH ${s} RDEV ${r} ${m} CONTROLLER ${c}`),
  fc.constantFrom(...ids('S', 3)).map((s) => `DETACH VSWITCH ${s}`),
  fc.tuple(fc.constantFrom(...ids('S', 3)), fc.constantFrom('*', 'C1', 'C2')).map(([s, c]) => `SET VSWITCH ${s} CONTROLLER ${c}`),
  fc.tuple(fc.constantFrom(...ids('G', 4)), fc.constantFrom('NETNS n0', 'NETNS n1', 'NETNS n2', 'QEMU', 'QEMU DGRAM')).map(([g, t]) => `DEFINE GUEST ${g} ${t}`),
  fc.constantFrom(...ids('G', 4)).map((g) => `DETACH GUEST ${g}`),
  fc.tuple(fc.constantFrom(...vdevs), fc.constantFrom(...ids('G', 4))).map(([v, g]) => `DEFINE NIC ${v} FOR ${g}`),
  fc.tuple(fc.constantFrom(...vdevs), fc.constantFrom(...ids('G', 4))).map(([v, g]) => `DETACH NIC ${v} FOR ${g}`),
  fc.tuple(fc.constantFrom(...vdevs), fc.constantFrom(...ids('S', 3)), fc.constantFrom(...ids('G', 4))).map(([v, s, g]) => `COUPLE ${v} TO SYSTEM ${s} FOR ${g}`),
  fc.tuple(fc.constantFrom(...vdevs), fc.constantFrom(...ids('G', 4))).map(([v, g]) => `UNCOUPLE ${v} FOR ${g}`),
  // Layer 2 (issue 10): VLAN-aware switches, the access list, switch and NIC settings, MACIDs.
  fc.tuple(fc.constantFrom(...ids('S', 3)), fc.constantFrom('VLAN 10', 'VLAN 10 NATIVE NONE PORTTYPE TRUNK', 'VLAN 20 ISOLATION', 'ETHERNET VLAN 5 NATIVE 5'))
    .map(([s, o]) => `DEFINE VSWITCH ${s} RDEV NONE ${o}`),
  fc.tuple(fc.constantFrom(...ids('S', 3)), fc.constantFrom(...ids('G', 4)), fc.constantFrom('', 'PROMISCUOUS', 'NOPROMISCUOUS', 'VLAN 10', 'PORTTYPE TRUNK VLAN 5 10 20', 'PORTTYPE ACCESS'))
    .map(([s, g, o]) => `SET VSWITCH ${s} GRANT ${g} ${o}`),
  fc.tuple(fc.constantFrom(...ids('S', 3)), fc.constantFrom(...ids('G', 4))).map(([s, g]) => `SET VSWITCH ${s} REVOKE ${g}`),
  fc.tuple(fc.constantFrom(...ids('S', 3)), fc.constantFrom('ISOLATION ON', 'ISOLATION OFF', 'MACPROTECT ON', 'MACPROTECT OFF')).map(([s, o]) => `SET VSWITCH ${s} ${o}`),
  fc.tuple(fc.constantFrom(...vdevs), fc.constantFrom(...ids('G', 4)), fc.constantFrom('PROMISCUOUS', 'NOPROMISCUOUS', 'MACPROTECT ON', 'MACPROTECT OFF', 'MACPROTECT UNSPECIFIED'))
    .map(([v, g, o]) => `SET NIC ${v} ${o} FOR ${g}`),
  fc.tuple(fc.constantFrom(...vdevs), fc.constantFrom(...ids('G', 4)), fc.constantFrom('00A001', '00A002')).map(([v, g, m]) => `DEFINE NIC ${v} MACID ${m} FOR ${g}`),
  fc.tuple(fc.constantFrom(...vdevs), fc.constantFrom(...ids('G', 4))).map(([v, g]) => `DEFINE NIC ${v} NAME eth${v} FOR ${g}`),
);
const configArb = fc.array(fc.oneof(
  commandArb.filter((c) => /^(DEFINE|COUPLE)/.test(c)),
  commandArb.filter((c) => /^SET VSWITCH \S+ (GRANT|ISOLATION|MACPROTECT)/.test(c)).map((c) => c.replace(/^SET/, 'MODIFY')),
  fc.constantFrom('VMLAN MACPREFIX 02AA00', 'VMLAN USERPREFIX 02BB00'),
), { maxLength: 12 });

/** SYSTEM CONFIG's statements that apply, applied to `startUp`. */
function configure(startUp: StartUp, config: string[]): void {
  for (const c of config) {
    const p = parse(c);
    if (p.ok) startUp.configure(p.cmd);
  }
}

test('property: SYSTEM CONFIG + snapshot gives the state SYSTEM CONFIG + journal gives', () => {
  const running = { ...NO_RUNTIME, hasController: () => true };
  fc.assert(fc.property(configArb, fc.array(commandArb, { maxLength: 40 }), (config, cmds) => {
    const startUp = new StartUp(new State(), ENV, quiet);
    configure(startUp, config);
    const cp = controlPlane(startUp.state, ENV, { runtime: running });
    for (const c of cmds) cp.execute(c);
    const snap = snapshotCommands(startUp.configState(), startUp.state);
    const again = new StartUp(new State(), ENV, quiet);
    configure(again, config);
    snap.forEach((r, i) => assert.ok(again.replay({ v: 2, seq: i + 1, at: '', ...r }, 'snapshot'), `${r.cmd} applies`));
    again.state.nextMacSerial = startUp.state.nextMacSerial;
    assert.deepEqual(dump(again.state), dump(startUp.state));
    // Nothing in it that does nothing: without definitions made at run time, the snapshot is empty.
    if (cmds.length === 0) assert.deepEqual(snap, []);
  }), { numRuns: 600 });
});

// ---- compaction ----

test('a compaction with commands going on keeps every record; the journal starts afresh after the snapshot', () => withDir(async (dir) => {
  const a = open(dir);
  run(a.cp, FIRST);
  const done = a.history.compact();
  assert.equal(await a.history.compact(), false, 'one compaction at a time');
  run(a.cp, DURING);
  assert.ok(await done);
  const expected = dump(a.startUp.state);
  a.history.close();
  const journal = readFileSync(join(dir, JOURNAL_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(journal.map((r) => r.cmd), DURING.map(canonical), 'only the records made during the compaction');
  assert.equal(journal.length, DURING.length);
  assert.deepEqual(journal.map((r) => r.seq), DURING.map((_, i) => FIRST.length + i + 1));
  const header = JSON.parse(readFileSync(join(dir, SNAPSHOT_FILE), 'utf8').split('\n')[0]);
  assert.equal(header.snapshot.upTo, FIRST.length);
  assert.deepEqual(dump(open(dir).startUp.state), expected);
}));

test('kill -9 at every step of a compaction leaves the old history or the new one, never a mix', async () => {
  const child = join(dirname(fileURLToPath(import.meta.url)), 'compaction-child.js');
  // The state every crash must give back: all of FIRST and DURING were acknowledged.
  let expected: unknown;
  await withDir((dir) => {
    const ref = open(dir);
    run(ref.cp, [...FIRST, ...DURING]);
    expected = dump(ref.startUp.state);
    ref.history.close();
  });
  for (const step of ['written', 'synced', 'renamed', 'dir-synced', 'journal-replaced']) {
    await withDir((dir) => {
      const r = spawnSync(process.execPath, [child, dir, step], { encoding: 'utf8' });
      assert.equal(r.signal, 'SIGKILL', `${step}: ${r.stderr}`);
      const snapshotThere = existsSync(join(dir, SNAPSHOT_FILE));
      assert.equal(snapshotThere, !['written', 'synced'].includes(step), `${step}: the snapshot is there once renamed`);
      const journalLines = readFileSync(join(dir, JOURNAL_FILE), 'utf8').trim().split('\n').length;
      assert.equal(journalLines, step === 'journal-replaced' ? DURING.length : FIRST.length + DURING.length, `${step}: old journal until it is replaced`);
      const b = open(dir);
      assert.deepEqual(dump(b.startUp.state), expected, `${step}: every acknowledged definition is back`);
      assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), `${step}: temp files are removed at open`);
      // And the history goes on: another command, another compaction, another start.
      run(b.cp, ['DEFINE NIC 0A00 FOR C']);
      return b.history.compact().then((ok) => {
        assert.ok(ok);
        b.history.close();
        assert.equal(open(dir).startUp.state.nic('C', 0xa00)!.macSerial, 5, `${step}: serials go on`);
      });
    });
  }
});

test('a damaged snapshot stops the start; recovery keeps its records before the damage and sets the journal aside', () => withDir(async (dir) => {
  const a = open(dir);
  run(a.cp, FIRST);
  assert.ok(await a.history.compact());
  run(a.cp, DURING);
  a.history.close();
  const snapLines = readFileSync(join(dir, SNAPSHOT_FILE), 'utf8').trim().split('\n');
  const line = snapLines.findIndex((l) => l.includes('DEFINE GUEST A')) + 1;
  flip(join(dir, SNAPSHOT_FILE), line, 'NETNS na', 'NETNS nx');
  assert.throws(() => open(dir), new RegExp(`snapshot\\.jsonl line ${line}: checksum mismatch`));
  const report = recoverHistory(dir);
  assert.match(report[0], new RegExp(`^snapshot\\.jsonl line ${line}: checksum mismatch .*; kept its ${line - 2} records before it, the file is set aside as snapshot\\.jsonl\\.damaged-`));
  assert.match(report[1], new RegExp(`^journal\\.jsonl: its ${DURING.length} records follow the damaged snapshot; set aside as journal\\.jsonl\\.damaged-`));
  const b = open(dir);
  assert.deepEqual([...b.startUp.state.switches.keys()].sort(), snapLines.slice(1, line - 1).filter((l) => l.includes('DEFINE VSWITCH')).map((l) => /VSWITCH (\S+)/.exec(l)![1]).sort());
  assert.equal(b.startUp.state.guests.size, 0, 'nothing of what follows the damage');
  b.history.close();
}));

test('a journal that does not follow its snapshot (records missing between them) stops the start', () => withDir(async (dir) => {
  const a = open(dir);
  run(a.cp, FIRST);
  assert.ok(await a.history.compact());
  a.history.close();
  writeFileSync(join(dir, JOURNAL_FILE), encodeLine({ v: 2, seq: FIRST.length + 2, at: '', cmd: 'DEFINE GUEST Z QEMU' }));
  assert.throws(() => open(dir), new RegExp(`journal\\.jsonl line 1: record ${FIRST.length + 2} follows the snapshot's last record ${FIRST.length}: records are missing`));
}));

test('replay time is linear in the length of the history', () => withDir((dir) => {
  const time = (n: number): number => {
    writeFileSync(join(dir, JOURNAL_FILE), journalOf(churnHistory(n)).data);
    const best: number[] = [];
    for (let i = 0; i < 2; i++) {
      const startUp = new StartUp(new State(), ENV, quiet);
      const t = performance.now();
      History.open(dir, startUp, quiet, { compactAfter: 1e9 }).history.close();
      best.push(performance.now() - t);
    }
    return Math.min(...best);
  };
  time(5000); // warm up
  const t20 = time(20_000);
  const t80 = time(80_000);
  // Linear: about 4x. The quadratic replay this replaced was 16x (10k 1.2 s, 40k 9.9 s, 80k 37 s).
  assert.ok(t80 / t20 < 8, `20k records ${t20.toFixed(0)} ms, 80k ${t80.toFixed(0)} ms`);
  assert.ok(t80 < 2000, `80k records replayed in ${t80.toFixed(0)} ms`);
}));
