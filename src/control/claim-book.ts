/**
 * The claim book: the order of the guests' address claims (IPv4 and IPv6 alike: a record has
 * `ip`, a uint32, or `ip6`, canonical text, and `on`, the NIC's interface it is configured on:
 * 0 its own, N its VLAN sub-device N, which puts it in a VLAN), kept across daemon restarts in the
 * state directory (CLAIM_BOOK_FILE), so the NIC that held an address before a restart holds it
 * after, whichever guest's address the watcher happens to report first (issue 9, item 2).
 *
 * Claims are run-time facts (not acknowledged definitions: they are not in the journal), but
 * their order decides who owns an address. Contract:
 * - `readClaimBook(dir, log)`: the records of the last run; none when the file is absent; a
 *   record without `on` (a book written before claims were per VLAN) is the NIC's claim on the
 *   address wherever it is configured first (in practice its own interface: the port's default VLAN);
 *   a file that does not parse is logged, set aside as `claims.json.bad` and read as none (the
 *   claims then start afresh in the order the guests make them again).
 * - `ClaimBook.start(dir, state, clock, log)`: seeds the state with those records (call before
 *   any address event), then writes the book again (atomically: temp file, fsync, rename, fsync
 *   of the directory) soon after any claim comes, goes or is refused; a burst is one write.
 *   Seeds not claimed again within CLAIM_SEED_GRACE_MS are dropped (the guest gave the address up
 *   while the daemon was down), so they cannot later take an address another guest holds.
 *   A failed write is logged and tried again with the next change.
 * - `close()`: writes what is pending, synchronously.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { replaceFileSync } from './journal.js';
import type { ClaimRecord, State } from './state.js';
import { canonicalIpv6 } from './reconcile/lan-ip6.js';
import { MAX_VID } from './grammar.js';

export const CLAIM_BOOK_FILE = 'claims.json';
/** How long claims from before a restart wait to be made again: namespace guests' addresses come in the watcher's first dump, a QEMU guest's with its first frames. */
export const CLAIM_SEED_GRACE_MS = 60_000;

const VERSION = 1;

export function readClaimBook(dir: string, log: Logger): ClaimRecord[] {
  const path = join(dir, CLAIM_BOOK_FILE);
  if (!existsSync(path)) return [];
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown; claims?: unknown };
    if (doc.version !== VERSION || !Array.isArray(doc.claims)) throw new Error(`not a version ${VERSION} claim book`);
    return doc.claims.map((c: unknown, i: number) => checkRecord(c, i));
  } catch (e) {
    log.warn({ file: path, err: (e as Error).message }, 'claim book unreadable: set aside; address claims start afresh');
    try { renameSync(path, `${path}.bad`); } catch { /* read-only: it is read as none again next time */ }
    return [];
  }
}

function checkRecord(c: unknown, i: number): ClaimRecord {
  const r = c as { userid?: unknown; vdev?: unknown; on?: unknown; ip?: unknown; ip6?: unknown; serial?: unknown; refused?: unknown };
  const ok = typeof r === 'object' && r !== null && typeof r.userid === 'string' && Number.isInteger(r.vdev)
    && Number.isInteger(r.serial) && (r.serial as number) >= 0 && typeof r.refused === 'boolean'
    && (r.on === undefined || (Number.isInteger(r.on) && (r.on as number) >= 0 && (r.on as number) <= MAX_VID));
  const v4 = Number.isInteger(r?.ip) && (r.ip as number) >= 0 && (r.ip as number) <= 0xffffffff && r.ip6 === undefined;
  const v6 = r?.ip === undefined && typeof r?.ip6 === 'string' && canonicalIpv6(r.ip6) === r.ip6;
  if (!ok || !(v4 || v6)) throw new Error(`claim ${i} is malformed`);
  const base = { userid: r.userid as string, vdev: r.vdev as number, ...(r.on === undefined ? {} : { on: r.on as number }), serial: r.serial as number, refused: r.refused as boolean };
  return v4 ? { ...base, ip: r.ip as number } : { ...base, ip6: r.ip6 as string };
}

export class ClaimBook {
  private pending = false;
  private last = '';

  private constructor(private readonly dir: string, private readonly state: State, private readonly clock: Clock, private readonly log: Logger) {}

  static start(dir: string, state: State, clock: Clock, log: Logger): ClaimBook {
    const book = new ClaimBook(dir, state, clock, log);
    const seeds = readClaimBook(dir, log);
    state.seedClaims(seeds);
    book.last = encode(seeds);
    if (seeds.length > 0) log.info({ claims: seeds.length }, 'address claims from before the restart read');
    state.onClaimsChanged(() => book.changed());
    clock.after(CLAIM_SEED_GRACE_MS, () => state.dropSeeds());
    return book;
  }

  close(): void {
    if (this.pending) this.write();
  }

  private changed(): void {
    if (this.pending) return;
    this.pending = true;
    this.clock.soon(() => { if (this.pending) this.write(); });
  }

  private write(): void {
    this.pending = false;
    const text = encode(this.state.claimRecords());
    if (text === this.last) return;
    try {
      replaceFileSync(this.dir, CLAIM_BOOK_FILE, Buffer.from(text));
      this.last = text;
    } catch (e) {
      this.log.error({ dir: this.dir, err: (e as Error).message }, 'cannot write the claim book; tried again with the next change');
    }
  }
}

function encode(claims: readonly ClaimRecord[]): string {
  return `${JSON.stringify({ version: VERSION, claims })}\n`;
}
