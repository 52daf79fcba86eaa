/**
 * A hash table keyed by (VLAN id, IPv6 address) for the forwarding core: the IPv6 LAN IP
 * table (address -> NIC port, local only), the neighbour cache (LAN address -> MAC, expiry)
 * and the MLD group ids all use it.
 *
 * Contract:
 * - Keys are a VLAN id (VLAN_NONE, 0, on a VLAN-unaware switch) and an address as four int32
 *   words (ipv6.ts). Each entry has two int32 values (`a`, `b`) and one number (`t`) whose
 *   meaning is the user's.
 * - Storage is flat typed arrays with open addressing (linear probing, deletion by backward
 *   shift, no tombstones): `find` costs the same however many entries there are (kept at most
 *   half full) and allocates nothing; entries are slots (integers), valid until the next
 *   `insert` or `remove`.
 * - Bounded: at most `max` entries. A growable table (the LAN IP table, set by the control
 *   plane) doubles its arrays when half full, below `max`; a fixed one (the neighbour cache,
 *   written per frame) allocates everything at construction and, when full, `insert` evicts the
 *   entry with the smallest `t` among the EVICT_SCAN slots after the key's home (bounded work).
 * - No I/O, no clock.
 */

/** How many slots an insert into a full fixed table looks at to pick the entry to evict. */
export const EVICT_SCAN = 16;

export class Ip6Table {
  private cap: number;
  private mask: number;
  private keys: Int32Array;
  private vids: Int32Array;
  private used: Uint8Array;
  /** Per slot: the user's values. */
  a: Int32Array;
  b: Int32Array;
  t: Float64Array;
  private n = 0;

  constructor(readonly max: number, readonly growable: boolean, initial = 64) {
    let cap = 16;
    const want = growable ? initial : max * 2;
    while (cap < want) cap *= 2;
    this.cap = cap;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * 4);
    this.vids = new Int32Array(cap);
    this.used = new Uint8Array(cap);
    this.a = new Int32Array(cap);
    this.b = new Int32Array(cap);
    this.t = new Float64Array(cap);
  }

  get size(): number {
    return this.n;
  }

  private home(vid: number, w0: number, w1: number, w2: number, w3: number): number {
    let h = Math.imul(w0 ^ vid, 0x9e3779b1);
    h = Math.imul(h ^ w1 ^ h >>> 15, 0x85ebca6b);
    h = Math.imul(h ^ w2 ^ h >>> 13, 0xc2b2ae35);
    h = Math.imul(h ^ w3 ^ h >>> 16, 0x27d4eb2f);
    return (h ^ h >>> 15) & this.mask;
  }

  /** The slot of the key, or -1. */
  find(vid: number, w0: number, w1: number, w2: number, w3: number): number {
    const k = this.keys, used = this.used, mask = this.mask;
    for (let i = this.home(vid, w0, w1, w2, w3); used[i] === 1; i = i + 1 & mask) {
      const o = i * 4;
      if (k[o + 3] === w3 && k[o] === w0 && k[o + 1] === w1 && k[o + 2] === w2 && this.vids[i] === vid) return i;
    }
    return -1;
  }

  /** The slot of the key, inserted (values zero) if absent; -1 when a growable table is at `max`. */
  insert(vid: number, w0: number, w1: number, w2: number, w3: number): number {
    const found = this.find(vid, w0, w1, w2, w3);
    if (found >= 0) return found;
    if (this.n >= this.max) {
      if (this.growable) return -1;
      this.evict(this.home(vid, w0, w1, w2, w3));
    }
    if (this.growable && (this.n + 1) * 2 > this.cap) this.grow();
    let i = this.home(vid, w0, w1, w2, w3);
    while (this.used[i] === 1) i = i + 1 & this.mask;
    this.put(i, vid, w0, w1, w2, w3, 0, 0, 0);
    this.n++;
    return i;
  }

  /** Remove the entry in `slot` (from find/insert). */
  remove(slot: number): void {
    const mask = this.mask;
    let hole = slot;
    this.used[hole] = 0;
    this.n--;
    // Backward shift: move later entries of the cluster into the hole when their home allows.
    for (let j = hole + 1 & mask; this.used[j] === 1; j = j + 1 & mask) {
      const o = j * 4;
      const h = this.home(this.vids[j], this.keys[o], this.keys[o + 1], this.keys[o + 2], this.keys[o + 3]);
      // j's home is cyclically in (hole, j]: it stays.
      if (hole <= j ? hole < h && h <= j : hole < h || h <= j) continue;
      this.put(hole, this.vids[j], this.keys[o], this.keys[o + 1], this.keys[o + 2], this.keys[o + 3], this.a[j], this.b[j], this.t[j]);
      this.used[j] = 0;
      hole = j;
    }
  }

  /** Remove the key; false when it was not there. */
  delete(vid: number, w0: number, w1: number, w2: number, w3: number): boolean {
    const s = this.find(vid, w0, w1, w2, w3);
    if (s < 0) return false;
    this.remove(s);
    return true;
  }

  /** The VLAN id and word i (0..3) of the key in `slot`. */
  vid(slot: number): number { return this.vids[slot]; }
  word(slot: number, i: number): number { return this.keys[slot * 4 + i]; }

  /** Visit every slot in use (control-plane use and sweeps; `fn` may not insert, and removes only by returning true). */
  sweep(fn: (slot: number) => boolean): number {
    let removed = 0;
    // Removal shifts later entries back, so a removed slot is visited again.
    for (let i = 0; i < this.cap; i++) {
      while (this.used[i] === 1 && fn(i)) {
        this.remove(i);
        removed++;
      }
    }
    return removed;
  }

  private put(i: number, vid: number, w0: number, w1: number, w2: number, w3: number, a: number, b: number, t: number): void {
    const o = i * 4;
    this.keys[o] = w0; this.keys[o + 1] = w1; this.keys[o + 2] = w2; this.keys[o + 3] = w3;
    this.vids[i] = vid;
    this.used[i] = 1;
    this.a[i] = a; this.b[i] = b; this.t[i] = t;
  }

  private evict(from: number): void {
    let best = -1;
    for (let k = 0, i = from; k < EVICT_SCAN; k++, i = i + 1 & this.mask) {
      if (this.used[i] === 1 && (best < 0 || this.t[i] < this.t[best])) best = i;
    }
    if (best < 0) for (let i = 0; i < this.cap; i++) if (this.used[i] === 1) { best = i; break; }
    this.remove(best);
  }

  private grow(): void {
    const old = { keys: this.keys, vids: this.vids, used: this.used, a: this.a, b: this.b, t: this.t, cap: this.cap };
    this.cap *= 2;
    this.mask = this.cap - 1;
    this.keys = new Int32Array(this.cap * 4);
    this.vids = new Int32Array(this.cap);
    this.used = new Uint8Array(this.cap);
    this.a = new Int32Array(this.cap);
    this.b = new Int32Array(this.cap);
    this.t = new Float64Array(this.cap);
    for (let i = 0; i < old.cap; i++) {
      if (old.used[i] !== 1) continue;
      const o = i * 4;
      let j = this.home(old.vids[i], old.keys[o], old.keys[o + 1], old.keys[o + 2], old.keys[o + 3]);
      while (this.used[j] === 1) j = j + 1 & this.mask;
      this.put(j, old.vids[i], old.keys[o], old.keys[o + 1], old.keys[o + 2], old.keys[o + 3], old.a[i], old.b[i], old.t[i]);
    }
  }
}
