/**
 * Test-only: journals made fast. `journalOf(commands)` runs CP commands through the real command
 * engine (checks, allocations) with a journal that encodes each record as the daemon's Journal
 * does (src/control/journal.ts encodeLine) but keeps it in memory without an fsync, and gives
 * back the journal file's bytes and the state the commands made: a history of 100,000 records
 * in a second or two instead of 100,000 fsyncs. Every command must be accepted.
 * `churnHistory(n)` is such a history of n records: switches, QEMU guests with one NIC each
 * (granted, coupled, then uncoupled), and DEFINE NIC / DETACH NIC churn on a second NIC; what stays is
 * a few thousand definitions, as a long-running daemon's history looks.
 */
import { pino } from 'pino';
import { ControlPlane, type CommandJournal } from '../../src/control/controlplane.js';
import { NO_RUNTIME } from '../../src/control/commands/types.js';
import { encodeLine, type JournalRecord } from '../../src/control/journal.js';
import { State } from '../../src/control/state.js';
import { NO_EFFECTS } from './control.js';

export function journalOf(commands: Iterable<string>, state = new State()): { data: Buffer; state: State; records: number } {
  const lines: Buffer[] = [];
  let seq = 0;
  const journal: CommandJournal = {
    append: (cmd, alloc) => {
      const rec: JournalRecord = { v: 2, seq: ++seq, at: '2026-12-01T00:00:00.000Z', cmd, ...(alloc ? { alloc } : {}) };
      lines.push(encodeLine(rec));
      return rec;
    },
  };
  const cp = new ControlPlane(state, { interfaceExists: () => true }, pino({ level: 'silent' }), { journal, effects: NO_EFFECTS, runtime: NO_RUNTIME });
  for (const c of commands) {
    const r = cp.execute(c);
    if (!r.ok) throw new Error(`${c}: ${r.lines.join(' ')}`);
  }
  return { data: Buffer.concat(lines), state, records: seq };
}

/** The commands of a history of `n` records (see the file's comment): `guests` QEMU guests on 20 switches. */
export function* churnHistory(n: number, guests = Math.min(5000, Math.floor(n / 8))): Generator<string> {
  let made = 0;
  const emit = function* (c: string): Generator<string> { if (made < n) { made++; yield c; } };
  for (let s = 0; s < 20; s++) yield* emit(`DEFINE VSWITCH SW${s} RDEV NONE`);
  for (let g = 0; g < guests; g++) {
    yield* emit(`DEFINE GUEST G${g} QEMU`);
    yield* emit(`SET VSWITCH SW${g % 20} GRANT G${g}`);
    yield* emit(`DEFINE NIC 0600 FOR G${g}`);
    yield* emit(`COUPLE 0600 TO SYSTEM SW${g % 20} FOR G${g}`);
    yield* emit(`UNCOUPLE 0600 FOR G${g}`);
  }
  for (let i = 0; made < n; i++) {
    const g = i % Math.max(guests, 1);
    yield* emit(`DEFINE NIC 0700 FOR G${g}`);
    yield* emit(`DETACH NIC 0700 FOR G${g}`);
  }
}
