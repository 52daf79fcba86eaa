/**
 * Claims: one mechanism for everything a member holds alone in the cluster under its lease
 * (user ids that are active here: /vswitch/users/<userid>; guest addresses registered here:
 * /vswitch/<switch>/ip/<addr>). A claim is an etcd key whose value names the member, created
 * by a transaction "create if absent, else read", put under the member's lease.
 *
 * Contract:
 * - `want(key)`: this member wants the key. Answers at once from what it knows: 'mine' (held
 *   under the current lease), 'wait' (being claimed, or the store is away: the answer comes
 *   later, `changed(key)` is called then), or { member } (another member holds it). A key held
 *   by another member is asked again every RETRY_MS while wanted (its holder may drop it, or
 *   die and its lease run out); each refusal is reported once per holder through `refused`.
 * - `claimNow(key)`: the same, awaited (COUPLE waits for it): 'mine', { member } or
 *   'unavailable' (the store did not answer).
 * - `keep(keys, under)`: the keys still wanted under `under` (default: this claim set's prefix);
 *   the others there are released (deleted when still ours). `release(key)` releases one.
 * - A new lease (the old one lost): every held key is claimed again under it (a key another
 *   member took meanwhile is theirs: `refused`).
 * Nothing here throws; store failures mark the store's health and are retried.
 */
import type { Logger } from 'pino';
import type { Store } from './store.js';
import { errText } from './store.js';

export const RETRY_MS = 1000;

export type ClaimAnswer = 'mine' | 'wait' | { member: string };

interface Entry {
  /** 'claiming': the first claim is under way (nothing known yet). */
  state: 'mine' | 'claiming' | 'theirs' | 'idle';
  /** A claim transaction is under way (a re-claim keeps the answer known before it). */
  busy: boolean;
  holder: string | null;
  /** The lease it is held under (mine). */
  lease: string | null;
  /** The holder already reported through `refused`. */
  reported: string | null;
  /** A later RETRY_MS retry is set. */
  retry: NodeJS.Timeout | null;
  wanted: boolean;
}

export interface ClaimEvents {
  /** The answer for `key` changed (mine, or another member's): a sync is due. */
  changed(key: string): void;
  /** `key` is held by `member`: refused here (reported once per holder). */
  refused(key: string, member: string): void;
}

export class Claims {
  private readonly entries = new Map<string, Entry>();
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly member: string,
    private readonly prefix: string,
    private readonly events: ClaimEvents,
    private readonly log: Logger,
  ) {
    store.onLease(() => {
      for (const [key, e] of this.entries) if (e.wanted) void this.claim(key);
    });
    store.onHealthy(() => {
      for (const [key, e] of this.entries) if (e.wanted && e.state !== 'mine') void this.claim(key);
    });
  }

  /** Keys held by this member now. */
  held(): string[] {
    return [...this.entries].filter(([, e]) => e.state === 'mine').map(([k]) => k);
  }

  /** Keys wanted here but held by another member, with the holder. */
  refusals(): Array<{ key: string; member: string }> {
    return [...this.entries].filter(([, e]) => e.wanted && e.state === 'theirs').map(([key, e]) => ({ key, member: e.holder! }));
  }

  status(key: string): ClaimAnswer | null {
    const e = this.entries.get(key);
    if (!e || !e.wanted) return null;
    return answerOf(e);
  }

  want(key: string): ClaimAnswer {
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { state: 'idle', busy: false, holder: null, lease: null, reported: null, retry: null, wanted: true }));
    e.wanted = true;
    if (e.state === 'idle') void this.claim(key);
    return answerOf(e);
  }

  async claimNow(key: string): Promise<'mine' | { member: string } | 'unavailable'> {
    this.want(key);
    const r = await this.claim(key);
    return r;
  }

  keep(keys: Iterable<string>, under = this.prefix): void {
    const keepSet = new Set(keys);
    for (const k of [...this.entries.keys()]) if (k.startsWith(under) && !keepSet.has(k)) this.release(k);
    for (const k of keepSet) this.want(k);
  }

  release(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    if (e.retry) clearTimeout(e.retry);
    if (e.state === 'mine' || e.state === 'claiming') {
      const c = this.store.client;
      c.if(key, 'Value', '==', this.value()).then(c.delete().key(key)).commit()
        .catch((err: unknown) => this.log.warn({ key, err: errText(err) }, 'cluster: a claim could not be released; it goes with the lease'));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) if (e.retry) clearTimeout(e.retry);
  }

  private value(): string {
    return JSON.stringify({ member: this.member });
  }

  /** Create the key under the lease, or learn who holds it. */
  private async claim(key: string): Promise<'mine' | { member: string } | 'unavailable'> {
    const e = this.entries.get(key);
    if (!e) return 'unavailable';
    if (e.busy) {
      // One transaction at a time per key: the caller gets the answer known when it ends.
      await new Promise((r) => setTimeout(r, 50));
      const a = this.entries.get(key) === e ? answerOf(e) : 'wait';
      return a === 'wait' ? this.claim(key) : a;
    }
    const before = answerOf(e);
    e.busy = true;
    if (e.state === 'idle') e.state = 'claiming';
    let result: 'mine' | { member: string } | 'unavailable';
    try {
      const lease = await this.store.lease();
      const c = this.store.client;
      const v = this.value();
      const t = await c.if(key, 'Create', '==', 0).then(c.put(key).value(v).lease(lease)).else(c.get(key)).commit();
      let holder: string | null = null;
      if (!t.succeeded) {
        const kv = t.responses[0]?.response_range?.kvs?.[0];
        holder = kv ? memberOf(kv.value.toString()) : null;
        if (holder === this.member && kv && kv.lease !== lease) {
          // Ours under an older lease (a lost one, or this member's previous life): move it to this one.
          const moved = await c.if(key, 'Value', '==', v).then(c.put(key).value(v).lease(lease)).commit();
          if (!moved.succeeded) holder = null;
        }
      }
      this.store.setHealth(true, null);
      e.busy = false;
      const cur = this.entries.get(key);
      if (cur !== e) return 'unavailable';
      if (t.succeeded || holder === this.member) {
        e.state = 'mine';
        e.holder = this.member;
        e.lease = lease;
        e.reported = null;
        result = 'mine';
      } else if (holder === null) {
        // It went between the two steps: try again soon.
        e.state = 'idle';
        this.retryLater(key, e);
        result = 'unavailable';
      } else {
        e.state = 'theirs';
        e.holder = holder;
        if (e.reported !== holder) {
          e.reported = holder;
          this.events.refused(key, holder);
        }
        this.retryLater(key, e);
        result = { member: holder };
      }
    } catch (err) {
      e.busy = false;
      if (this.entries.get(key) === e) {
        if (e.state === 'claiming') e.state = 'idle';
        this.retryLater(key, e);
      }
      result = 'unavailable';
    }
    if (!sameAnswer(before, answerOf(e))) this.events.changed(key);
    return result;
  }

  private retryLater(key: string, e: Entry): void {
    if (this.stopped || e.retry) return;
    e.retry = setTimeout(() => {
      e.retry = null;
      if (this.entries.get(key) === e && e.wanted && e.state !== 'mine') void this.claim(key);
    }, RETRY_MS);
    e.retry.unref();
  }
}

function answerOf(e: Entry): ClaimAnswer {
  if (e.state === 'mine') return 'mine';
  if (e.state === 'theirs' && e.holder !== null) return { member: e.holder };
  return 'wait';
}

function sameAnswer(a: ClaimAnswer, b: ClaimAnswer): boolean {
  return typeof a === 'string' || typeof b === 'string' ? a === b : a.member === b.member;
}

function memberOf(v: string): string | null {
  try {
    const o = JSON.parse(v) as { member?: unknown };
    return typeof o.member === 'string' ? o.member : null;
  } catch {
    return null;
  }
}
