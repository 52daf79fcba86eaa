/**
 * The cluster's shared definitions (keys.ts SHARED_KINDS: DEFINE / DETACH / SET VSWITCH ...):
 * one sequence in etcd that every member applies in order, on the daemon's main thread.
 *
 * Contract:
 * - `commit(text, recheck)`: catch up, check the command against the state (recheck), then
 *   commit it as definition applied+1 by a transaction that compares /vswitch/defs-last with
 *   this member's last applied one: when another member committed first, catch up, check
 *   again and try again (COMMIT_TRIES times). Resolves once this member has applied it, with
 *   the reply of that application: a definition is acknowledged only after etcd committed it.
 *   With the store away it is refused at once (MSG.CLUSTER_STORE), nothing changed.
 * - `catchUp()`: apply every committed definition after the last applied one, in order, through
 *   `apply` (ControlPlane.applyShared: checked as a replayed record, journaled locally, applied,
 *   reconciled), then remember the last applied seq in the state directory (cluster.json,
 *   written atomically after the local journal has the record: a crash between the two applies
 *   that one record again at start, which then no longer applies and is skipped). Runs at join
 *   (a member that was down catches up), on every watch event under /vswitch/defs/, on each
 *   return of the store's health, and before each commit. Catch-ups never overlap.
 * - A definition that does not apply on this member (its local SYSTEM CONFIG made something
 *   that conflicts) is logged and counted (`notApplied`): QUERY SSI shows it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Watcher } from 'etcd3';
import { replaceFileSync } from '../../control/journal.js';
import type { Reply } from '../../control/controlplane.js';
import { MSG } from '../../control/messages.js';
import { DEFS, DEFS_LAST, defKey, defSeq } from './keys.js';
import { errText, type Store } from './store.js';

export const APPLIED_FILE = 'cluster.json';
const COMMIT_TRIES = 5;

export interface SharedRecord {
  cmd: string;
  member: string;
  at: string;
}

export class Definitions {
  /** The last definition applied on this member. */
  applied = 0;
  /** The last definition the store was seen to hold. */
  committed = 0;
  notApplied = 0;
  private catching: Promise<void> | null = null;
  private again = false;
  private watcher: Watcher | null = null;
  private readonly waiters = new Map<number, (r: Reply) => void>();

  constructor(
    private readonly store: Store,
    private readonly member: string,
    private readonly stateDir: string,
    private readonly apply: (text: string, rec: SharedRecord, seq: number) => Reply,
    private readonly log: Logger,
  ) {
    this.applied = readApplied(stateDir, member);
    store.onHealthy(() => void this.catchUp());
  }

  /** Start watching /vswitch/defs/ (each event: catch up). */
  async watch(): Promise<void> {
    if (this.watcher) return;
    this.watcher = await this.store.client.watch().prefix(DEFS).create();
    this.watcher.on('put', () => void this.catchUp());
    this.watcher.on('error', (e) => this.log.warn({ err: errText(e) }, 'cluster: the definitions watch failed; it reconnects'));
  }

  catchUp(): Promise<void> {
    if (this.catching) {
      this.again = true;
      return this.catching;
    }
    this.catching = (async () => {
      do {
        this.again = false;
        await this.catchUpOnce();
      } while (this.again);
    })().finally(() => { this.catching = null; });
    return this.catching;
  }

  private async catchUpOnce(): Promise<void> {
    let kvs: Array<{ key: string; value: string }>;
    try {
      const r = await this.store.client.getAll().inRange({ start: defKey(this.applied + 1), end: `${DEFS}\xff` }).sort('Key', 'Ascend').exec();
      kvs = r.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() }));
      this.store.setHealth(true, null);
    } catch (e) {
      this.log.debug({ err: errText(e) }, 'cluster: catch-up failed; the next event or the return of the store runs it again');
      return;
    }
    for (const kv of kvs) {
      const seq = defSeq(kv.key);
      if (seq === null || seq <= this.applied) continue;
      if (seq !== this.applied + 1) {
        this.log.error({ applied: this.applied, next: seq }, 'cluster: a shared definition is missing from the store; waiting for it');
        return;
      }
      let rec: SharedRecord;
      try {
        rec = JSON.parse(kv.value) as SharedRecord;
        if (typeof rec.cmd !== 'string') throw new Error('no cmd');
      } catch (e) {
        this.log.error({ seq, err: errText(e) }, 'cluster: a shared definition in the store is not readable; skipped');
        rec = { cmd: '', member: '?', at: '' };
      }
      const reply: Reply = rec.cmd === '' ? { ok: false, lines: [`${MSG.CLUSTER_STORE} definition ${seq} is not readable`] } : this.apply(rec.cmd, rec, seq);
      if (!reply.ok) {
        this.notApplied++;
        this.log.warn({ seq, cmd: rec.cmd, from: rec.member, reason: reply.lines.join(' ') }, 'cluster: a shared definition does not apply on this member; skipped');
      } else {
        this.log.info({ seq, cmd: rec.cmd, from: rec.member }, 'cluster: shared definition applied');
      }
      this.applied = seq;
      this.committed = Math.max(this.committed, seq);
      writeApplied(this.stateDir, this.member, seq);
      const w = this.waiters.get(seq);
      if (w) { this.waiters.delete(seq); w(reply); }
    }
  }

  /** Commit a shared definition (see the file comment). `recheck`: the command's error against the state now, or null. */
  async commit(text: string, recheck: () => string | null): Promise<Reply> {
    if (!this.store.health.ok) return refused(this.store.health.error);
    for (let i = 0; i < COMMIT_TRIES; i++) {
      await this.catchUp();
      if (!this.store.health.ok) return refused(this.store.health.error);
      const err = recheck();
      if (err !== null) return { ok: false, lines: [err] };
      const seq = this.applied + 1;
      const rec: SharedRecord = { cmd: text, member: this.member, at: new Date().toISOString() };
      const c = this.store.client;
      const cond = this.applied === 0 ? c.if(DEFS_LAST, 'Create', '==', 0) : c.if(DEFS_LAST, 'Value', '==', String(this.applied));
      // Waiting before the transaction is sent: a catch-up (the watch) may apply it before its answer is here.
      const applied = new Promise<Reply>((resolve) => this.waiters.set(seq, resolve));
      let ok: boolean;
      try {
        ok = (await cond.then(c.put(defKey(seq)).value(JSON.stringify(rec)), c.put(DEFS_LAST).value(String(seq))).commit()).succeeded;
        this.store.setHealth(true, null);
      } catch (e) {
        // The transaction may or may not have committed: its outcome is whatever the sequence
        // says once the store answers (the catch-up then applies it, on every member alike).
        this.waiters.delete(seq);
        return refused(errText(e), true);
      }
      if (!ok) {
        // Another member's definition is `seq` (its application may have answered this waiter already).
        this.waiters.delete(seq);
        continue;
      }
      this.committed = Math.max(this.committed, seq);
      void this.catchUp();
      return applied;
    }
    return { ok: false, lines: [`${MSG.CLUSTER_STORE} the cluster's definitions kept changing while this one was being committed; nothing changed, try again`] };
  }

  stop(): void {
    void this.watcher?.cancel();
    for (const w of this.waiters.values()) w(refused('the daemon is stopping', true));
    this.waiters.clear();
  }
}

function refused(error: string | null, unsure = false): Reply {
  return {
    ok: false,
    lines: [unsure
      ? `${MSG.CLUSTER_STORE} the cluster's store did not confirm the definition (${error ?? 'no answer'}); QUERY SSI shows when it is back, and whether it was committed`
      : `${MSG.CLUSTER_STORE} the cluster's store is not available (${error ?? 'no quorum'}): shared definitions are refused until it is back; traffic is not affected`],
  };
}

function readApplied(dir: string, member: string): number {
  const p = join(dir, APPLIED_FILE);
  if (!existsSync(p)) return 0;
  const o = JSON.parse(readFileSync(p, 'utf8')) as { member?: unknown; applied?: unknown };
  if (o.member !== member) throw new Error(`${p} belongs to member ${String(o.member)}, not ${member}: a state directory serves one member`);
  if (typeof o.applied !== 'number' || !Number.isSafeInteger(o.applied) || o.applied < 0) throw new Error(`${p}: applied is not a definition number`);
  return o.applied;
}

function writeApplied(dir: string, member: string, applied: number): void {
  replaceFileSync(dir, APPLIED_FILE, Buffer.from(`${JSON.stringify({ member, applied })}\n`));
}
