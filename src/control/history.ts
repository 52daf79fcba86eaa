/**
 * The daemon's history of dynamic commands: the snapshot (src/control/snapshot.ts) plus the
 * journal of the records after it (src/control/journal.ts), in the state directory.
 *
 * - `History.open` reads both, replays them through StartUp (snapshot records, then journal
 *   records after the snapshot's last one), in time linear in their size, and opens the journal
 *   for appending. A torn last journal record is dropped (logged). Damage (a bad record before
 *   the end, a checksum mismatch, a missing record, a snapshot that is not whole) stops the
 *   start with HistoryDamaged, naming the file, the line and the reason; `recoverHistory`
 *   (`vswitchd --recover-journal`) then keeps every record before the damage and sets the
 *   damaged file aside.
 * - `append` is the command engine's CommandJournal: the record is durable when it returns.
 *   When the journal holds `compactAfter` records (default 10,000) a compaction starts in the
 *   background: the snapshot of the state as of the last record is built on the main thread
 *   (a few ms per thousand definitions), written to disk asynchronously (temp file, fsync,
 *   rename, fsync of the directory) while commands go on being journaled, and then the journal
 *   starts afresh with the records appended meanwhile (atomically too). A crash at any point
 *   leaves the old snapshot and journal, or the new snapshot and the old journal (whose
 *   records up to the snapshot's are skipped at replay), or the new snapshot and the new
 *   journal: never a mix, never a lost or doubled record. A failed compaction is logged and
 *   retried after another `compactAfter` records; the journal goes on meanwhile. A journal
 *   read at start with `compactAfter` records or more, or with records of the previous
 *   version (v1, no checksum), is compacted a second after start.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CommandJournal, StartUp } from './controlplane.js';
import { fsyncDir, Journal, JOURNAL_FILE, readRecords, replaceFileSync, TEMP_SUFFIX, type JournalRecord, type LineProblem } from './journal.js';
import { encodeSnapshot, readSnapshot, SNAPSHOT_FILE, snapshotCommands, writeSnapshot, type SnapshotRead, type SnapshotStep } from './snapshot.js';
import type { NicAlloc } from './state.js';

export const DEFAULT_COMPACT_AFTER = 10_000;

export type CompactionStep = SnapshotStep | 'journal-replaced';

export interface HistoryOptions {
  /** Journal records that start a compaction. */
  compactAfter: number;
  /** Tests: runs after each step of a compaction, by name, so a crash can be forced there. */
  step?: (name: CompactionStep) => void;
}

/** What start-up found and did. */
export interface ReplayReport {
  snapshotRecords: number;
  journalRecords: number;
  /** Journal records replayed (those after the snapshot's last one). */
  replayed: number;
  /** Records (snapshot and journal) that applied; the others were skipped and logged. */
  applied: number;
  torn: LineProblem | null;
  replayMs: number;
}

/** The history cannot be replayed past a damaged record: start-up stops; `vswitchd --recover-journal` keeps what precedes it. */
export class HistoryDamaged extends Error {
  constructor(readonly dir: string, readonly file: string, readonly damage: LineProblem) {
    super(`${join(dir, file)} line ${damage.line}: ${damage.reason}. The records before line ${damage.line} are intact: `
      + `'vswitchd --recover-journal --state-dir ${dir}' keeps them and sets the damaged file aside`);
  }
}

/** The journal's first record must be at most one past the snapshot's last: otherwise records are missing. */
function gapAfterSnapshot(records: JournalRecord[], upTo: number): LineProblem | null {
  if (records.length === 0 || records[0].seq <= upTo + 1) return null;
  return { line: 1, reason: `record ${records[0].seq} follows the snapshot's last record ${upTo}: records are missing` };
}

function removeLeftovers(dir: string): void {
  for (const f of [SNAPSHOT_FILE, JOURNAL_FILE]) rmSync(join(dir, `${f}${TEMP_SUFFIX}`), { force: true });
}

export class History implements CommandJournal {
  private compacting = false;
  /** Journal size (records) at which the next compaction starts. */
  private compactAt: number;

  private constructor(private readonly journal: Journal, private readonly startUp: StartUp, private readonly log: Logger, private readonly opts: HistoryOptions) {
    this.compactAt = opts.compactAfter;
  }

  get path(): string {
    return this.journal.path;
  }

  /** Read, verify and replay the snapshot and the journal in `dir` into startUp's state. Throws HistoryDamaged, or on I/O errors. */
  static open(dir: string, startUp: StartUp, log: Logger, opts: HistoryOptions): { history: History; report: ReplayReport } {
    const t0 = performance.now();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    removeLeftovers(dir);
    const snap = readSnapshot(dir);
    if (snap !== null && !snap.ok) throw new HistoryDamaged(dir, SNAPSHOT_FILE, snap.damage);
    const upTo = snap?.header.upTo ?? 0;
    const { journal, read } = Journal.open(dir, upTo);
    const damage = read.damage ?? gapAfterSnapshot(read.records, upTo);
    if (journal === null || damage !== null) {
      journal?.close();
      throw new HistoryDamaged(dir, JOURNAL_FILE, damage!);
    }
    if (read.torn) log.warn({ journal: journal.path, line: read.torn.line, reason: read.torn.reason }, 'journal line ignored');
    let applied = 0;
    if (snap !== null) {
      for (const rec of snap.records) if (startUp.replay(rec, 'snapshot')) applied++;
      startUp.state.nextMacSerial = snap.header.nextMacSerial;
    }
    let replayed = 0;
    let v1 = false;
    for (const rec of read.records) {
      if (rec.seq <= upTo) continue;
      replayed++;
      v1 ||= rec.v === 1;
      if (startUp.replay(rec)) applied++;
    }
    const report: ReplayReport = {
      snapshotRecords: snap?.records.length ?? 0, journalRecords: read.records.length, replayed, applied, torn: read.torn,
      replayMs: Math.round(performance.now() - t0),
    };
    log.info({ journal: journal.path, ...report, torn: undefined }, 'journal replayed');
    const history = new History(journal, startUp, log, opts);
    if (journal.records >= opts.compactAfter || v1) setTimeout(() => void history.compact(), 1000).unref();
    return { history, report };
  }

  append(cmd: string, alloc?: NicAlloc): JournalRecord {
    const rec = this.journal.append(cmd, alloc);
    if (this.journal.records >= this.compactAt && !this.compacting) setImmediate(() => void this.compact());
    return rec;
  }

  /**
   * Compact now: snapshot of the state as of the last record, then a fresh journal. Resolves
   * true when done, false when one was already running or it failed (logged; the history is
   * still whole).
   */
  async compact(): Promise<boolean> {
    if (this.compacting) return false;
    this.compacting = true;
    const step = this.opts.step ?? (() => {});
    const t0 = performance.now();
    // From here to the first await nothing else runs: the state is exactly the journal's up to `upTo`.
    const upTo = this.journal.mark();
    try {
      const state = this.startUp.state;
      const records = snapshotCommands(this.startUp.configState(), state);
      const data = encodeSnapshot({ upTo, records: records.length, nextMacSerial: state.nextMacSerial }, records, new Date().toISOString());
      const builtMs = performance.now() - t0;
      await writeSnapshot(this.journal.dir, data, step);
      const kept = this.journal.records;
      this.journal.startAfresh();
      step('journal-replaced');
      this.compactAt = this.opts.compactAfter;
      this.log.info({ upTo, snapshotRecords: records.length, journalRecords: kept, bytes: data.length, buildMs: Math.round(builtMs), ms: Math.round(performance.now() - t0) }, 'journal compacted');
      return true;
    } catch (e) {
      this.journal.unmark();
      this.compactAt = this.journal.records + this.opts.compactAfter;
      this.log.error({ err: String(e) }, 'journal compaction failed; the journal goes on and compaction is tried again later');
      return false;
    } finally {
      this.compacting = false;
    }
  }

  close(): void {
    this.journal.close();
  }
}

/** A damaged file: its original is copied aside (fsynced), then the kept part replaces it atomically. */
function setAside(dir: string, file: string, kept: Buffer | null, stamp: string): string {
  const aside = `${file}.damaged-${stamp}`;
  copyFileSync(join(dir, file), join(dir, aside));
  fsyncDir(dir);
  if (kept === null) rmSync(join(dir, file));
  else replaceFileSync(dir, file, kept);
  fsyncDir(dir);
  return aside;
}

/**
 * `vswitchd --recover-journal`: keep every record before the first damaged one, in replay
 * order (the snapshot's, then the journal's), and set the rest aside: the damaged file is
 * copied to `<file>.damaged-<time>` and replaced by its intact part (a damaged snapshot also
 * sets the whole journal aside, since its records follow the lost ones). Returns what it did,
 * one line each. Nothing to do when nothing is damaged. Run it with the daemon stopped.
 */
export function recoverHistory(dir: string): string[] {
  if (!existsSync(dir)) return [`${dir} does not exist: nothing to recover`];
  removeLeftovers(dir);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out: string[] = [];
  const snap: SnapshotRead | null = readSnapshot(dir);
  const journalPath = join(dir, JOURNAL_FILE);
  const journalData = existsSync(journalPath) ? readFileSync(journalPath) : Buffer.alloc(0);
  if (snap !== null && !snap.ok) {
    const intact = snap.records;
    // Records survive only behind an intact header: keep its upTo, so sequence numbers go on.
    const kept = snap.header !== null && intact.length > 0
      ? encodeSnapshot({ ...snap.header, records: intact.length }, intact.map((r) => ({ cmd: r.cmd, ...(r.alloc ? { alloc: r.alloc } : {}) })), new Date().toISOString())
      : null;
    const aside = setAside(dir, SNAPSHOT_FILE, kept, stamp);
    out.push(`${SNAPSHOT_FILE} line ${snap.damage.line}: ${snap.damage.reason}; kept its ${intact.length} records before it, the file is set aside as ${aside}`);
    if (journalData.length > 0) {
      const j = setAside(dir, JOURNAL_FILE, Buffer.alloc(0), stamp);
      out.push(`${JOURNAL_FILE}: its ${readRecords(journalData).records.length} records follow the damaged snapshot; set aside as ${j}, the journal starts empty`);
    }
    return out;
  }
  const upTo = snap?.ok ? snap.header.upTo : 0;
  const read = readRecords(journalData);
  const damage = read.damage ?? gapAfterSnapshot(read.records, upTo);
  if (damage === null) {
    return [`nothing to recover: snapshot ${snap?.ok ? `${snap.records.length} records` : 'absent'}, journal ${read.records.length} records intact${read.torn ? ` (${read.torn.reason} at the next start)` : ''}`];
  }
  const keptBytes = damage === read.damage ? read.validBytes : 0;
  const keptRecords = damage === read.damage ? read.records.length : 0;
  const aside = setAside(dir, JOURNAL_FILE, journalData.subarray(0, keptBytes), stamp);
  out.push(`${JOURNAL_FILE} line ${damage.line}: ${damage.reason}; kept the ${keptRecords} records before it, the file is set aside as ${aside}`);
  return out;
}
