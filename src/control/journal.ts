/**
 * The journal of dynamic commands: JSON lines in the state directory, one record per
 * acknowledged command, made durable (fsync) before the reply is sent.
 *
 * Record: {"v":1,"seq":N,"at":"ISO time","cmd":"<canonical command words>","alloc":{...}?}
 * where alloc is what DEFINE NIC allocated (MAC serial and MAC, subchannels, CHPID), so a replay
 * gives the NIC the same identity.
 *
 * Atomicity per record: each record is one write() of a whole line (newline included) followed
 * by fdatasync. A record counts only when its newline is there: after a kill -9 a torn last line
 * (no newline, or not JSON) is reported to the caller (who logs it), and cut off before anything
 * is appended, so the next record starts on a line of its own. The file is created with an fsync
 * of its directory. Replay order is file order.
 */
import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NicAlloc } from './state.js';

export interface JournalRecord {
  v: 1;
  seq: number;
  at: string;
  cmd: string;
  alloc?: NicAlloc;
}

export interface ReadResult {
  records: JournalRecord[];
  /** Problems found: torn tail, unreadable lines (line number and reason). */
  problems: { line: number; reason: string }[];
  /** Byte length of the valid prefix (everything up to the last good newline). */
  validBytes: number;
}

export const JOURNAL_FILE = 'journal.jsonl';

function isAlloc(a: unknown): a is NicAlloc {
  if (typeof a !== 'object' || a === null) return false;
  const o = a as Record<string, unknown>;
  return Number.isSafeInteger(o.macSerial) && Number.isSafeInteger(o.mac) && Number.isSafeInteger(o.chpid)
    && Array.isArray(o.subchannels) && o.subchannels.length === 3 && o.subchannels.every((s) => Number.isSafeInteger(s));
}

/** Parse journal text. Never throws. */
export function parseJournal(text: string): ReadResult {
  const records: JournalRecord[] = [];
  const problems: { line: number; reason: string }[] = [];
  let pos = 0;
  let line = 0;
  let validBytes = 0;
  while (pos < text.length) {
    line++;
    const nl = text.indexOf('\n', pos);
    if (nl < 0) {
      problems.push({ line, reason: `torn last record (${Buffer.byteLength(text.slice(pos))} bytes without a newline) ignored` });
      break;
    }
    const s = text.slice(pos, nl);
    pos = nl + 1;
    validBytes = Buffer.byteLength(text.slice(0, pos));
    if (s.trim() === '') continue;
    let r: unknown;
    try {
      r = JSON.parse(s);
    } catch (e) {
      problems.push({ line, reason: `not JSON: ${(e as Error).message}` });
      continue;
    }
    const o = r as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || o.v !== 1 || typeof o.cmd !== 'string' || !Number.isSafeInteger(o.seq)) {
      problems.push({ line, reason: 'not a journal record' });
      continue;
    }
    if (o.alloc !== undefined && !isAlloc(o.alloc)) {
      problems.push({ line, reason: 'bad allocation in record' });
      continue;
    }
    records.push({ v: 1, seq: o.seq as number, at: String(o.at ?? ''), cmd: o.cmd, ...(o.alloc !== undefined ? { alloc: o.alloc as NicAlloc } : {}) });
  }
  return { records, problems, validBytes };
}

export class Journal {
  private fd: number;
  private seq: number;
  private size: number;

  private constructor(readonly path: string, fd: number, seq: number, size: number) {
    this.fd = fd;
    this.seq = seq;
    this.size = size;
  }

  /**
   * Open (creating if needed) the journal in `dir`, read it, cut off a torn tail.
   * Throws on I/O errors (the daemon cannot promise durability without it).
   */
  static open(dir: string): { journal: Journal; read: ReadResult } {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, JOURNAL_FILE);
    const created = !existsSync(path);
    const fd = openSync(path, 'a+', 0o600);
    if (created) {
      fsyncSync(fd);
      const dfd = openSync(dir, 'r');
      try { fsyncSync(dfd); } finally { closeSync(dfd); }
    }
    const text = readFileSync(path, 'utf8');
    const read = parseJournal(text);
    if (read.validBytes < Buffer.byteLength(text)) {
      ftruncateSync(fd, read.validBytes);
      fsyncSync(fd);
    }
    const last = read.records.length > 0 ? read.records[read.records.length - 1].seq : 0;
    return { journal: new Journal(path, fd, last, read.validBytes), read };
  }

  /** Append one record and make it durable. Throws on I/O error (the command must then fail; the partial record is cut off). */
  append(cmd: string, alloc?: NicAlloc): JournalRecord {
    const rec: JournalRecord = { v: 1, seq: this.seq + 1, at: new Date().toISOString(), cmd, ...(alloc ? { alloc } : {}) };
    const line = Buffer.from(`${JSON.stringify(rec)}\n`);
    try {
      let off = 0;
      while (off < line.length) off += writeSync(this.fd, line, off, line.length - off);
      fdatasyncSync(this.fd);
    } catch (e) {
      // Leave no partial record behind: the command is refused, the next one starts clean.
      try { ftruncateSync(this.fd, this.size); } catch { /* the torn tail is cut at the next start */ }
      throw e;
    }
    this.seq = rec.seq;
    this.size += line.length;
    return rec;
  }

  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
