/**
 * The LAN IP table (seed design, part 2): registered guest IPv4 address -> NIC port, with the
 * "local only" flag that stays set until the uplink (the adapter) has accepted the registration.
 *
 * Contract:
 * - Keys are IPv4 addresses as uint32. Internally the Map is keyed by `ip | 0` (a signed int32),
 *   which V8 keeps as a small integer on 64-bit builds without pointer compression (Node's
 *   default), so `lookup` never boxes a number and costs one hash probe however many addresses
 *   are registered (tested with 100,000).
 * - Entries are objects owned by the table; `lookup` returns the live entry (read it, do not
 *   keep it or write it). Entries freed by `clear` go to a free list and are reused by `set`,
 *   so steady-state churn allocates nothing.
 * - No I/O, no clock. Mutations come from the control plane (through the data plane); lookups
 *   from the forwarding hot path.
 */

export class LanIpEntry {
  ip = 0;
  port = -1;
  localOnly = false;
}

export class LanIpTable {
  private readonly map = new Map<number, LanIpEntry>();
  private readonly free: LanIpEntry[] = [];

  /** Number of registered addresses. */
  get size(): number {
    return this.map.size;
  }

  /** The entry for `ip`, or undefined. */
  lookup(ip: number): LanIpEntry | undefined {
    return this.map.get(ip | 0);
  }

  /** Map `ip` to `port` (replacing any previous mapping). */
  set(ip: number, port: number, localOnly: boolean): void {
    const key = ip | 0;
    let e = this.map.get(key);
    if (e === undefined) {
      e = this.free.pop() ?? new LanIpEntry();
      this.map.set(key, e);
    }
    e.ip = ip >>> 0;
    e.port = port;
    e.localOnly = localOnly;
  }

  /** Remove `ip`; false when it was not there. */
  clear(ip: number): boolean {
    const key = ip | 0;
    const e = this.map.get(key);
    if (e === undefined) return false;
    this.map.delete(key);
    e.port = -1;
    this.free.push(e);
    return true;
  }

  /** Remove every address of `port` (a port detached); returns how many. */
  clearPort(port: number): number {
    let n = 0;
    for (const [key, e] of this.map) {
      if (e.port === port) {
        this.map.delete(key);
        e.port = -1;
        this.free.push(e);
        n++;
      }
    }
    return n;
  }

  /** Visit every entry (control-plane use: dumps and tests). */
  forEach(fn: (ip: number, port: number, localOnly: boolean) => void): void {
    for (const e of this.map.values()) fn(e.ip, e.port, e.localOnly);
  }
}
