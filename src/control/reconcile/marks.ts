/**
 * What each part of a reconciliation pass has to look at (so a pass costs what changed, not
 * what exists): the keys marked since the part last ran, and the keys whose retry time came.
 *
 * Contract:
 * - `Marks<K>` belongs to one part (one Syncer). `mark(key)`: look at key in the next pass;
 *   `markAll()`: look at everything (a new Marks starts so: the first pass is a full one);
 *   `retryAt(key, at)`: look at key again once the clock reaches `at` (a later call for the
 *   same key replaces it; a visit of the key in a pass ends it, the part sets it again if it
 *   still waits). `take(now, universe)` returns what to visit now and forgets it: the marked
 *   keys and those whose retry is due, or, after markAll, every key of `universe()` (the part's
 *   state keys and the keys it holds) plus those. `nextRetry()`: the earliest retry time.
 *   Marking and taking cost O(log n) in the number of waiting keys, never O(n).
 * - `Touch` is how a fact reaches the parts that care: `nic(key)` marks the NIC in every NIC
 *   part (the NIC backends), `guest(userid)` the guest in every guest part (the TAP backend:
 *   the guest's namespace), `switch(name)` the switch in every switch part (data-plane switch
 *   numbers, groups, controllers, uplinks, LAN IP), `allSwitches()` every switch; each also
 *   asks for a pass soon (the reconciler coalesces those); `markEverything()` marks all and asks
 *   for nothing (a failed pass: the reconciler's retry timer runs the next). Parts get their Marks from it
 *   (`nicMarks()`, `guestMarks()`, `switchMarks()`); `nextRetry()` is the earliest retry of any part, when the
 *   reconciler's one timer must wake it; `pending` says a mark waits for a pass.
 */

/** A min-heap of (time, key); entries whose key was retried again or visited are skipped when they surface. */
class RetryHeap<K> {
  private readonly at: number[] = [];
  private readonly keys: K[] = [];

  get size(): number {
    return this.at.length;
  }

  push(t: number, key: K): void {
    let i = this.at.length;
    this.at.push(t);
    this.keys.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.at[p] <= t) break;
      this.swap(i, p);
      i = p;
    }
  }

  peekTime(): number {
    return this.at[0];
  }

  peekKey(): K {
    return this.keys[0];
  }

  pop(): void {
    const last = this.at.length - 1;
    this.swap(0, last);
    this.at.pop();
    this.keys.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.at.length && this.at[l] < this.at[m]) m = l;
      if (r < this.at.length && this.at[r] < this.at[m]) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const t = this.at[a];
    this.at[a] = this.at[b];
    this.at[b] = t;
    const k = this.keys[a];
    this.keys[a] = this.keys[b];
    this.keys[b] = k;
  }
}

export class Marks<K> {
  private marked = new Set<K>();
  private all = true;
  /** key -> its retry time (the heap may hold older entries of it, skipped). */
  private readonly retries = new Map<K, number>();
  private readonly heap = new RetryHeap<K>();

  mark(key: K): void {
    this.marked.add(key);
  }

  markAll(): void {
    this.all = true;
  }

  retryAt(key: K, at: number): void {
    if (this.retries.get(key) === at) return;
    this.retries.set(key, at);
    this.heap.push(at, key);
  }

  get pending(): boolean {
    return this.all || this.marked.size > 0;
  }

  take(now: number, universe: () => Iterable<K>): Set<K> {
    const out = this.marked;
    this.marked = new Set();
    if (this.all) {
      this.all = false;
      for (const k of universe()) out.add(k);
    }
    while (this.heap.size > 0 && this.heap.peekTime() <= now) {
      const k = this.heap.peekKey();
      if (this.retries.get(k) === this.heap.peekTime()) out.add(k);
      this.heap.pop();
    }
    for (const k of out) this.retries.delete(k);
    return out;
  }

  nextRetry(): number | null {
    while (this.heap.size > 0 && this.retries.get(this.heap.peekKey()) !== this.heap.peekTime()) this.heap.pop();
    return this.heap.size > 0 ? this.heap.peekTime() : null;
  }
}

export class Touch {
  private readonly nicParts: Marks<string>[] = [];
  private readonly switchParts: Marks<string>[] = [];
  private readonly guestParts: Marks<string>[] = [];

  /** `requestPass`: run a pass soon (coalesced by the reconciler). */
  constructor(private readonly requestPass: () => void) {}

  nicMarks(): Marks<string> {
    const m = new Marks<string>();
    this.nicParts.push(m);
    return m;
  }

  switchMarks(): Marks<string> {
    const m = new Marks<string>();
    this.switchParts.push(m);
    return m;
  }

  guestMarks(): Marks<string> {
    const m = new Marks<string>();
    this.guestParts.push(m);
    return m;
  }

  guest(userid: string): void {
    for (const m of this.guestParts) m.mark(userid);
    this.requestPass();
  }

  nic(key: string): void {
    for (const m of this.nicParts) m.mark(key);
    this.requestPass();
  }

  switch(name: string): void {
    for (const m of this.switchParts) m.mark(name);
    this.requestPass();
  }

  allSwitches(): void {
    for (const m of this.switchParts) m.markAll();
    this.requestPass();
  }

  /** Mark everything without asking for a pass (after a failed pass: the retry timer runs it). */
  markEverything(): void {
    for (const m of this.all()) m.markAll();
  }

  get pending(): boolean {
    return this.all().some((m) => m.pending);
  }

  nextRetry(): number | null {
    let next: number | null = null;
    for (const m of this.all()) {
      const t = m.nextRetry();
      if (t !== null && (next === null || t < next)) next = t;
    }
    return next;
  }

  private all(): Marks<string>[] {
    return [...this.nicParts, ...this.switchParts, ...this.guestParts];
  }
}
