/**
 * The journal of dynamic commands: JSON lines in the state directory, one record per
 * acknowledged command, made durable (fdatasync) before the reply is sent. With the snapshot
 * (src/control/snapshot.ts) it is the daemon's history; src/control/history.ts replays and
 * compacts the two.
 *
 * Record (v2, written by this version):
 *   {"v":2,"seq":N,"at":"ISO time","cmd":"<canonical command words>","alloc":{...}?,"crc":"xxxxxxxx"}
 * alloc is what DEFINE NIC allocated (MAC serial and MAC, subchannels, CHPID), so a replay gives
 * the NIC the same identity. crc is the CRC-32 (8 lower-case hex digits) of the record's
 * canonical text: the line as written without its `,"crc":"..."` member, i.e. the bytes before
 * `,"crc"` followed by `}`. A changed byte anywhere in the record (a flipped digit in
 * `0600`) no longer matches.
 * v1 records (the previous version's, without crc) are accepted, so a journal written by it
 * still replays: they are checked for shape only, and only before the first v2 record (this
 * version never writes v1, so a v1 record after a v2 one is damage). A record that carries a
 * crc is always verified. The first compaction rewrites everything as v2.
 *
 * Sequence numbers go up by one from record to record; a gap is damage (a record is missing).
 *
 * Reading (`readRecords`, linear in the file's size): a torn last record (bytes after the last
 * newline: a write that did not finish) is dropped and reported; the first damaged line before
 * it (not JSON, not a record, checksum mismatch, sequence gap, empty) stops the reading: the
 * result names the line and reason, and the records before it (the valid prefix) are what a
 * recovery keeps. Nothing after damage is guessed at.
 *
 * Atomicity per record: each record is one write() of a whole line (newline included) followed
 * by fdatasync; a failed write is cut off again. The file is created with an fsync of its
 * directory. `startAfresh` (compaction's last step) replaces the file atomically: temp file,
 * fsync, rename, fsync of the directory; a crash leaves the old file or the new one.
 */
import { closeSync, existsSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { NicAlloc } from './state.js';

export interface JournalRecord {
  v: 1 | 2;
  seq: number;
  at: string;
  cmd: string;
  alloc?: NicAlloc;
}

export interface LineProblem {
  /** 1-based line number in the file. */
  line: number;
  reason: string;
}

export interface ReadResult {
  /** The valid records, in file order. */
  records: JournalRecord[];
  /** The torn last record (no newline), dropped. */
  torn: LineProblem | null;
  /** The first damaged line: nothing from it on is read (null: none). */
  damage: LineProblem | null;
  /** Byte length of the valid prefix: through the newline of the last valid record. */
  validBytes: number;
}

export const JOURNAL_FILE = 'journal.jsonl';
/** Where a file being replaced atomically is written first (removed at open if a crash left it). */
export const TEMP_SUFFIX = '.tmp';

const CRC_MEMBER = ',"crc":"';
/** `,"crc":"` + 8 hex digits + `"}` */
const CRC_TAIL = CRC_MEMBER.length + 8 + 2;
const CLOSE_BRACE = Buffer.from('}');
const NEWLINE = 0x0a;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** The line for an object (its members in insertion order, without crc): its JSON with the crc of that JSON appended. */
export function encodeLine(body: object): Buffer {
  const json = JSON.stringify(body);
  return Buffer.from(`${json.slice(0, -1)}${CRC_MEMBER}${hex8(crc32(json))}"}\n`);
}

/** The crc a line (without newline) carries, checked against its content: null when it carries none. */
function checkCrc(line: Buffer): { carried: string; computed: string } | null {
  if (line.length < CRC_TAIL + 2 || line[line.length - 1] !== 0x7d) return null;
  const at = line.length - CRC_TAIL;
  if (line.toString('latin1', at, at + CRC_MEMBER.length) !== CRC_MEMBER) return null;
  const carried = line.toString('latin1', at + CRC_MEMBER.length, at + CRC_MEMBER.length + 8);
  const computed = hex8(crc32(CLOSE_BRACE, crc32(line.subarray(0, at))));
  return { carried, computed };
}

function isAlloc(a: unknown): a is NicAlloc {
  if (typeof a !== 'object' || a === null) return false;
  const o = a as Record<string, unknown>;
  return Number.isSafeInteger(o.macSerial) && Number.isSafeInteger(o.mac) && Number.isSafeInteger(o.chpid)
    && Array.isArray(o.subchannels) && o.subchannels.length === 3 && o.subchannels.every((s) => Number.isSafeInteger(s));
}

/**
 * Each complete line of `data`, verified: JSON, and its crc when it carries one (a v2 line must).
 * `take` gets the parsed object (and whether it carried a crc) and answers null or why it is
 * not what the file holds there; the first bad line ends the reading. Never throws.
 */
export function readLines(data: Buffer, take: (o: Record<string, unknown>, line: number, crc: boolean) => string | null): Omit<ReadResult, 'records'> {
  let pos = 0;
  let line = 0;
  while (pos < data.length) {
    line++;
    const nl = data.indexOf(NEWLINE, pos);
    if (nl < 0) {
      return { torn: { line, reason: `torn last record (${data.length - pos} bytes without a newline) dropped` }, damage: null, validBytes: pos };
    }
    const bytes = data.subarray(pos, nl);
    const bad = (reason: string): Omit<ReadResult, 'records'> => ({ torn: null, damage: { line, reason }, validBytes: pos });
    if (bytes.length === 0) return bad('empty line');
    const crc = checkCrc(bytes);
    if (crc !== null && crc.carried !== crc.computed) return bad(`checksum mismatch (the record says ${crc.carried}, its content gives ${crc.computed})`);
    let o: unknown;
    try {
      o = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      return bad(`not JSON: ${(e as Error).message}`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return bad('not a JSON object');
    const why = take(o as Record<string, unknown>, line, crc !== null);
    if (why !== null) return bad(why);
    pos = nl + 1;
  }
  return { torn: null, damage: null, validBytes: pos };
}

/**
 * A command record of a journal or snapshot: v2 with crc, or v1 (without) while `v1Allowed`.
 * `expectSeq`: the sequence number it must carry, or null for any (the first record of a journal).
 */
export function decodeRecord(o: Record<string, unknown>, crc: boolean, v1Allowed: boolean, expectSeq: number | null): JournalRecord | string {
  if (o.v === 2) {
    if (!crc) return 'v2 record without a checksum';
  } else if (o.v === 1) {
    if (!crc && !v1Allowed) return 'v1 record (no checksum) after v2 records';
  } else {
    return `not a journal record (version ${JSON.stringify(o.v)})`;
  }
  if (typeof o.cmd !== 'string' || !Number.isSafeInteger(o.seq) || (o.seq as number) < 1) return 'not a journal record';
  if (o.alloc !== undefined && !isAlloc(o.alloc)) return 'bad allocation in record';
  const seq = o.seq as number;
  if (expectSeq !== null && seq !== expectSeq) {
    return seq > expectSeq ? `record ${seq} follows record ${expectSeq - 1}: records are missing` : `record ${seq} follows record ${expectSeq - 1}: out of order`;
  }
  return { v: o.v, seq, at: String(o.at ?? ''), cmd: o.cmd, ...(o.alloc !== undefined ? { alloc: o.alloc as NicAlloc } : {}) };
}

/** Read journal bytes: records in order, the torn tail, the first damage. Linear, never throws. */
export function readRecords(data: Buffer): ReadResult {
  const records: JournalRecord[] = [];
  let v1Allowed = true;
  const r = readLines(data, (o, _line, crc) => {
    const last = records.length > 0 ? records[records.length - 1].seq : null;
    const rec = decodeRecord(o, crc, v1Allowed, last === null ? null : last + 1);
    if (typeof rec === 'string') return rec;
    if (rec.v === 2) v1Allowed = false;
    records.push(rec);
    return null;
  });
  return { records, ...r };
}

/** Text form of a journal read (tests, messages). */
export function parseJournal(text: string): ReadResult {
  return readRecords(Buffer.from(text));
}

/** fsync a directory (after a file in it was created or renamed). */
export function fsyncDir(dir: string): void {
  const dfd = openSync(dir, 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

/** Write `data` to dir/name atomically: temp file, fsync, rename, fsync of the directory. Returns the temp file's fd when `keepOpen`. */
export function replaceFileSync(dir: string, name: string, data: Buffer, keepOpen = false): number {
  const tmp = join(dir, `${name}${TEMP_SUFFIX}`);
  const fd = openSync(tmp, 'w+', 0o600);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
    renameSync(tmp, join(dir, name));
    fsyncDir(dir);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (keepOpen) return fd;
  closeSync(fd);
  return -1;
}

export class Journal {
  private fd: number;
  private seqNow: number;
  private size: number;
  private written: number;
  /** While a compaction runs: the lines appended after its snapshot's last record (they start the next file). */
  private since: { seq: number; lines: Buffer[] } | null = null;

  private constructor(readonly dir: string, fd: number, seq: number, size: number, records: number) {
    this.fd = fd;
    this.seqNow = seq;
    this.size = size;
    this.written = records;
  }

  get path(): string {
    return join(this.dir, JOURNAL_FILE);
  }

  /** The last record's sequence number (of this file or, if it has none yet, what came before it). */
  get seq(): number {
    return this.seqNow;
  }

  /** Records in the file (read at open plus appended since). */
  get records(): number {
    return this.written;
  }

  /**
   * Open (creating if needed) the journal in `dir` and read it; a torn tail is cut off. A
   * damaged file is not opened: the result has `damage` and no journal (the caller stops, or
   * recovers). `after`: the last sequence number before this file's records (the snapshot's).
   * Throws on I/O errors (the daemon cannot promise durability without it).
   */
  static open(dir: string, after = 0): { journal: Journal | null; read: ReadResult } {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, JOURNAL_FILE);
    const created = !existsSync(path);
    const fd = openSync(path, 'a+', 0o600);
    if (created) {
      fsyncSync(fd);
      fsyncDir(dir);
    }
    const data = readFileSync(path);
    const read = readRecords(data);
    if (read.damage !== null) {
      closeSync(fd);
      return { journal: null, read };
    }
    if (read.validBytes < data.length) {
      ftruncateSync(fd, read.validBytes);
      fsyncSync(fd);
    }
    const last = read.records.length > 0 ? read.records[read.records.length - 1].seq : 0;
    return { journal: new Journal(dir, fd, Math.max(last, after), read.validBytes, read.records.length), read };
  }

  /** Append one record and make it durable. Throws on I/O error (the command must then fail; the partial record is cut off). */
  append(cmd: string, alloc?: NicAlloc): JournalRecord {
    const rec: JournalRecord = { v: 2, seq: this.seqNow + 1, at: new Date().toISOString(), cmd, ...(alloc ? { alloc } : {}) };
    const line = encodeLine(rec);
    try {
      let off = 0;
      while (off < line.length) off += writeSync(this.fd, line, off, line.length - off);
      fdatasyncSync(this.fd);
    } catch (e) {
      // Leave no partial record behind: the command is refused, the next one starts clean.
      try { ftruncateSync(this.fd, this.size); } catch { /* the torn tail is cut at the next start */ }
      throw e;
    }
    this.seqNow = rec.seq;
    this.size += line.length;
    this.written++;
    this.since?.lines.push(line);
    return rec;
  }

  /** A compaction takes a snapshot of the state as of the last record: keep what is appended from now on. Returns that record's seq. */
  mark(): number {
    this.since = { seq: this.seqNow, lines: [] };
    return this.seqNow;
  }

  /** The compaction failed: forget the mark. */
  unmark(): void {
    this.since = null;
  }

  /**
   * The snapshot up to the marked record is durable: replace the file atomically by one holding
   * only the records appended since the mark. Throws on I/O error (the old file stays, and
   * still replays correctly: its records up to the snapshot's are skipped).
   */
  startAfresh(): void {
    const since = this.since;
    if (since === null) throw new Error('startAfresh without mark');
    const data = Buffer.concat(since.lines);
    const fd = replaceFileSync(this.dir, JOURNAL_FILE, data, true);
    closeSync(this.fd);
    this.fd = fd;
    this.size = data.length;
    this.written = since.lines.length;
    this.since = null;
  }

  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
