/**
 * The LAN IP table (seed design, part 2): registered guest IPv4 address -> NIC port, with the
 * "local only" flag that stays set until the uplink (the adapter) has accepted the registration.
 *
 * Contract:
 * - Keys are IPv4 addresses as uint32. The table is open addressing with linear probing over an
 *   Int32Array of keys (`ip | 0`) and a parallel array of entries, kept at most half full, with
 *   a murmur3 finaliser as the hash; deletion shifts the following entries back (no
 *   tombstones). So a lookup reads one or two adjacent key slots and one entry pointer: its cost
 *   stays flat from 10 to 100,000 addresses (issue 14; bench/forward.ts measures both), where a
 *   Map's bucket-then-entry walk misses the cache twice at that size. No number is boxed.
 * - Entries are objects owned by the table; `lookup` returns the live entry (read it, do not
 *   keep it or write it). Entries freed by `clear` go to a free list and are reused by `set`,
 *   so steady-state churn allocates nothing (growing the table, on `set`, does).
 * - No I/O, no clock. Mutations come from the control plane (through the data plane); lookups
 *   from the forwarding hot path.
 */

export class LanIpEntry {
  ip = 0;
  port = -1;
  localOnly = false;
}

const MIN_CAPACITY = 16;

/** murmur3's 32-bit finaliser: every key bit moves every slot bit (addresses often differ in a few low bits). */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

export class LanIpTable {
  private keys = new Int32Array(MIN_CAPACITY);
  private slots: (LanIpEntry | undefined)[] = new Array<LanIpEntry | undefined>(MIN_CAPACITY).fill(undefined);
  private mask = MIN_CAPACITY - 1;
  private count = 0;
  private readonly free: LanIpEntry[] = [];

  /** Number of registered addresses. */
  get size(): number {
    return this.count;
  }

  /** The entry for `ip`, or undefined. */
  lookup(ip: number): LanIpEntry | undefined {
    const k = ip | 0;
    const keys = this.keys, slots = this.slots, m = this.mask;
    let i = mix(k) & m;
    for (;;) {
      const e = slots[i];
      if (e === undefined || keys[i] === k) return e;
      i = (i + 1) & m;
    }
  }

  /** Map `ip` to `port` (replacing any previous mapping). */
  set(ip: number, port: number, localOnly: boolean): void {
    const k = ip | 0;
    let i = this.slotOf(k);
    let e = this.slots[i];
    if (e === undefined) {
      if ((this.count + 1) * 2 > this.slots.length) {
        this.grow();
        i = this.slotOf(k);
      }
      e = this.free.pop() ?? new LanIpEntry();
      this.keys[i] = k;
      this.slots[i] = e;
      this.count++;
    }
    e.ip = ip >>> 0;
    e.port = port;
    e.localOnly = localOnly;
  }

  /** Remove `ip`; false when it was not there. */
  clear(ip: number): boolean {
    const i = this.slotOf(ip | 0);
    const e = this.slots[i];
    if (e === undefined) return false;
    this.removeAt(i);
    e.port = -1;
    this.free.push(e);
    return true;
  }

  /** Remove every address of `port` (a port detached); returns how many. */
  clearPort(port: number): number {
    let n = 0;
    const slots = this.slots;
    for (let i = 0; i < slots.length;) {
      const e = slots[i];
      if (e !== undefined && e.port === port) {
        this.removeAt(i); // a later entry may have moved into slot i: look at it again
        e.port = -1;
        this.free.push(e);
        n++;
      } else i++;
    }
    return n;
  }

  /** Visit every entry (control-plane use: dumps and tests). */
  forEach(fn: (ip: number, port: number, localOnly: boolean) => void): void {
    for (const e of this.slots) if (e !== undefined) fn(e.ip, e.port, e.localOnly);
  }

  /** The slot holding key `k`, or the empty slot where it would go. */
  private slotOf(k: number): number {
    const keys = this.keys, slots = this.slots, m = this.mask;
    let i = mix(k) & m;
    while (slots[i] !== undefined && keys[i] !== k) i = (i + 1) & m;
    return i;
  }

  /** Empty slot `i`, shifting back the entries after it whose home slot is not between i and them. */
  private removeAt(i: number): void {
    const keys = this.keys, slots = this.slots, m = this.mask;
    let j = i;
    for (;;) {
      j = (j + 1) & m;
      if (slots[j] === undefined) break;
      const home = mix(keys[j]) & m;
      // Entry j may move to i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) {
        keys[i] = keys[j];
        slots[i] = slots[j];
        i = j;
      }
    }
    slots[i] = undefined;
    this.count--;
  }

  /** Double the capacity and place every entry again (control path: on `set`). */
  private grow(): void {
    const oldKeys = this.keys, oldSlots = this.slots;
    const cap = oldSlots.length * 2;
    this.keys = new Int32Array(cap);
    this.slots = new Array<LanIpEntry | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    for (let j = 0; j < oldSlots.length; j++) {
      const e = oldSlots[j];
      if (e === undefined) continue;
      const i = this.slotOf(oldKeys[j]);
      this.keys[i] = oldKeys[j];
      this.slots[i] = e;
    }
  }
}
