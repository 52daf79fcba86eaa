/**
 * The ETHERNET-mode learning table: (VLAN, MAC) -> port, after Open vSwitch lib/mac-learning.h.
 *
 * Rules:
 * - Keys are a VLAN id (0..4095; 0 on a VLAN-unaware switch) and a MAC: the same MAC in two
 *   VLANs is two entries, and a lookup in one VLAN never finds the other's.
 * - learn(mac, port, now, vid) records that `mac` was seen as a source on `port` at `now` (ms)
 *   in VLAN `vid`. A known MAC seen on another port moves to it (a station moved), except a
 *   protected one: protect(port, mac) says `mac` belongs to `port` (MACPROTECT: the NIC's
 *   assigned MAC); an entry of that MAC on that port never moves to another port (learn()
 *   returns LEARN_PROTECTED and changes nothing).
 * - Aging: an entry not seen for `agingMs` expires; expire(now) removes every entry with
 *   used + agingMs <= now. The data plane calls it from tick(), at least once a second, so an
 *   entry may outlive its age by up to one tick.
 * - Size bound: at most `maxEntries` entries. When a new MAC arrives at a full table, the
 *   least recently used entry of the port that holds the most entries is evicted (OVS
 *   evict_mac_entry_fairly): a port flooding random source MACs only ever evicts its own
 *   entries once it is the biggest, so it cannot push other ports' stations out of the table.
 *   learn() reports such a full-table eviction (the switch counts it as LearnTableFull).
 *   With maxEntries 0 nothing is learned.
 * - Entries live in preallocated typed arrays (a pool indexed by entry number, per-port LRU
 *   doubly linked lists, an open-addressing hash with linear probing and backward-shift
 *   deletion). Nothing is allocated after construction; MACs are 48-bit numbers compared as
 *   doubles, never boxed. The hot-path methods (learnHL, lookupHL) take a MAC as its two 24-bit
 *   halves (wire/addr.ts: macHi, macLo, macFromHalves; the switch reads them with ethSrcHi, ...).
 * - No I/O and no clock: time arrives as `now`.
 */

import { MAX_PORTS } from './counters.js';
import { macFromHalves, macHi, macLo } from '../wire/addr.js';

/** learn() results. */
export const LEARN_OK = 0;
/** Learned, but the table was full and another entry was evicted. */
export const LEARN_EVICTED = 1;
/** Not learned (maxEntries is 0). */
export const LEARN_REFUSED = 2;
/** Not learned: the MAC's entry is on the port that owns it (protect()), and this is another port. */
export const LEARN_PROTECTED = 3;

export class MacTable {
  readonly maxEntries: number;
  readonly agingMs: number;
  private count = 0;
  // Entry pool.
  private readonly eMac: Float64Array;
  private readonly eVid: Uint16Array;
  private readonly ePort: Int32Array;
  private readonly eUsed: Float64Array;
  private readonly ePrev: Int32Array;
  private readonly eNext: Int32Array;
  private freeHead: number;
  // Hash of entry numbers (-1 empty).
  private readonly slots: Int32Array;
  private readonly mask: number;
  // Per port: LRU list (head oldest) and size; ports holding entries, for eviction and aging.
  private readonly pHead = new Int32Array(MAX_PORTS).fill(-1);
  private readonly pTail = new Int32Array(MAX_PORTS).fill(-1);
  private readonly pCount = new Int32Array(MAX_PORTS);
  private readonly active = new Int32Array(MAX_PORTS);
  private readonly activePos = new Int32Array(MAX_PORTS).fill(-1);
  private nActive = 0;
  // Per port: the MAC it owns (protect()), as halves; owns 1 while set.
  private readonly ownHi = new Int32Array(MAX_PORTS);
  private readonly ownLo = new Int32Array(MAX_PORTS);
  private readonly owns = new Uint8Array(MAX_PORTS);

  constructor(maxEntries = 8192, agingMs = 300000) {
    this.maxEntries = Math.max(0, Math.floor(maxEntries));
    this.agingMs = agingMs;
    const n = Math.max(1, this.maxEntries);
    this.eMac = new Float64Array(n);
    this.eVid = new Uint16Array(n);
    this.ePort = new Int32Array(n).fill(-1);
    this.eUsed = new Float64Array(n);
    this.ePrev = new Int32Array(n).fill(-1);
    this.eNext = new Int32Array(n);
    for (let i = 0; i < n; i++) this.eNext[i] = i + 1 < n ? i + 1 : -1;
    this.freeHead = 0;
    let cap = 16;
    while (cap < n * 2) cap *= 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Number of entries on `port`. */
  portCount(port: number): number {
    return this.pCount[port] ?? 0;
  }

  private hashHL(hi: number, lo: number, vid: number): number {
    let h = Math.imul(lo ^ Math.imul(hi ^ vid << 24, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 16;
    return h & this.mask;
  }

  private hash(e: number): number {
    const mac = this.eMac[e];
    return this.hashHL(macHi(mac), macLo(mac), this.eVid[e]);
  }

  /** Entry number of the MAC hi * 2^24 + lo in VLAN vid, or -1. */
  private findHL(hi: number, lo: number, vid: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const mac = macFromHalves(hi, lo);
    let i = this.hashHL(hi, lo, vid);
    for (;;) {
      const e = slots[i];
      if (e === -1) return -1;
      if (this.eMac[e] === mac && this.eVid[e] === vid) return e;
      i = (i + 1) & mask;
    }
  }

  private find(mac: number, vid: number): number {
    return this.findHL(macHi(mac), macLo(mac), vid);
  }

  /** The port `mac` was learned on in VLAN `vid`, or -1. */
  lookup(mac: number, vid = 0): number {
    const e = this.find(mac, vid);
    return e < 0 ? -1 : this.ePort[e];
  }

  /**
   * `mac` belongs to `port` (MACPROTECT), or with mac -1 to no one any more: an entry of it
   * on `port` (in any VLAN) then never moves to another port.
   */
  protect(port: number, mac: number): void {
    if (mac < 0) { this.owns[port] = 0; return; }
    this.ownHi[port] = macHi(mac);
    this.ownLo[port] = macLo(mac);
    this.owns[port] = 1;
  }

  /**
   * lookup() for the hot path, with the MAC as two 24-bit halves (hi = first three octets,
   * lo = last three) so no 48-bit double crosses a call boundary (it could be boxed).
   */
  lookupHL(hi: number, lo: number, vid: number): number {
    const e = this.findHL(hi, lo, vid);
    return e < 0 ? -1 : this.ePort[e];
  }

  /** Record `mac` on `port` at `now` in VLAN `vid`; LEARN_OK, LEARN_EVICTED, LEARN_REFUSED or LEARN_PROTECTED. */
  learn(mac: number, port: number, now: number, vid = 0): number {
    return this.learnHL(macHi(mac), macLo(mac), vid, port, now);
  }

  /**
   * learn() with the MAC as two 24-bit halves (see lookupHL). A known station is refreshed
   * here (moved to its port's most recent end); a new one is added by insertHL, kept apart so
   * that this per-frame part stays small enough for V8 to inline into the switch.
   */
  learnHL(hi: number, lo: number, vid: number, port: number, now: number): number {
    const e = this.findHL(hi, lo, vid);
    if (e < 0) return this.insertHL(hi, lo, vid, port, now);
    const was = this.ePort[e];
    if (was !== port || this.pTail[port] !== e) {
      if (was !== port && this.owns[was] === 1 && this.ownHi[was] === hi && this.ownLo[was] === lo) return LEARN_PROTECTED;
      this.unlink(e);
      this.link(e, port);
    }
    this.eUsed[e] = now;
    return LEARN_OK;
  }

  /** Add a MAC not in the table (evicting when full); the rest of learnHL. */
  private insertHL(hi: number, lo: number, vid: number, port: number, now: number): number {
    if (this.maxEntries === 0) return LEARN_REFUSED;
    let result = LEARN_OK;
    if (this.count >= this.maxEntries) {
      let victim = -1;
      let most = 0;
      for (let i = 0; i < this.nActive; i++) {
        const p = this.active[i];
        if (this.pCount[p] > most) { most = this.pCount[p]; victim = p; }
      }
      this.remove(this.pHead[victim]);
      result = LEARN_EVICTED;
    }
    const e = this.freeHead;
    this.freeHead = this.eNext[e];
    this.eMac[e] = macFromHalves(hi, lo);
    this.eVid[e] = vid;
    this.eUsed[e] = now;
    this.link(e, port);
    let i = this.hashHL(hi, lo, vid);
    while (this.slots[i] !== -1) i = (i + 1) & this.mask;
    this.slots[i] = e;
    this.count++;
    return result;
  }

  /** Remove entries idle for agingMs or longer; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (let i = this.nActive - 1; i >= 0; i--) {
      const p = this.active[i];
      for (let e = this.pHead[p]; e !== -1 && this.eUsed[e] + this.agingMs <= now; e = this.pHead[p]) {
        this.remove(e);
        n++;
        if (this.pCount[p] === 0) break;
      }
    }
    return n;
  }

  /** Forget every entry of `port`; returns how many. */
  flushPort(port: number): number {
    let n = 0;
    while (this.pHead[port] !== -1 && this.pHead[port] !== undefined) {
      this.remove(this.pHead[port]);
      n++;
    }
    return n;
  }

  /** Forget `mac` in VLAN `vid`; false when unknown. */
  forget(mac: number, vid = 0): boolean {
    const e = this.find(mac, vid);
    if (e < 0) return false;
    this.remove(e);
    return true;
  }

  /** Visit every entry (control-plane use: dumps and tests). */
  forEach(fn: (mac: number, port: number, used: number, vid: number) => void): void {
    for (let i = 0; i < this.nActive; i++) {
      const p = this.active[i];
      for (let e = this.pHead[p]; e !== -1; e = this.eNext[e]) fn(this.eMac[e], p, this.eUsed[e], this.eVid[e]);
    }
  }

  /** Append entry e to port's LRU list (as most recent). */
  private link(e: number, port: number): void {
    this.ePort[e] = port;
    const t = this.pTail[port];
    this.ePrev[e] = t;
    this.eNext[e] = -1;
    if (t === -1) this.pHead[port] = e; else this.eNext[t] = e;
    this.pTail[port] = e;
    if (this.pCount[port]++ === 0) {
      this.activePos[port] = this.nActive;
      this.active[this.nActive++] = port;
    }
  }

  private unlink(e: number): void {
    const port = this.ePort[e];
    const p = this.ePrev[e];
    const n = this.eNext[e];
    if (p === -1) this.pHead[port] = n; else this.eNext[p] = n;
    if (n === -1) this.pTail[port] = p; else this.ePrev[n] = p;
    if (--this.pCount[port] === 0) {
      const pos = this.activePos[port];
      const last = this.active[--this.nActive];
      this.active[pos] = last;
      this.activePos[last] = pos;
      this.activePos[port] = -1;
    }
  }

  /** Remove entry e from its list, the hash (backward-shift deletion) and return it to the pool. */
  private remove(e: number): void {
    this.unlink(e);
    const slots = this.slots;
    const mask = this.mask;
    let i = this.hash(e);
    while (slots[i] !== e) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const o = slots[j];
      if (o === -1) break;
      const k = this.hash(o);
      const stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (stays) continue;
      slots[i] = o;
      i = j;
    }
    slots[i] = -1;
    this.ePort[e] = -1;
    this.eNext[e] = this.freeHead;
    this.freeHead = e;
    this.count--;
  }
}
