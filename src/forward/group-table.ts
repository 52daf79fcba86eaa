/**
 * The multicast group membership table of an IP-mode switch: IPv4 group -> the NIC ports
 * whose guests joined it (IGMP), each membership with the time it expires unless a report
 * refreshes it (IGMP's group membership interval, 260 s by default).
 *
 * Contract:
 * - Groups are uint32; the Map is keyed by `group | 0` (a small integer in V8, see
 *   lan-ip-table.ts), so `lookup` on the data path is one hash probe and allocates nothing.
 * - Bounded: at most `maxGroups` groups and `maxPerPort` memberships per port; a join beyond
 *   either bound is refused (join returns JOIN_FULL) and nothing changes.
 * - Entries are owned by the table and reused through a free list; an entry's member arrays
 *   grow only when a join needs more room than the entry ever had (at most the number of
 *   NICs), so steady-state churn and every lookup allocate nothing.
 * - `lookup` returns the live entry: read `count`, `ports[0..count)`; do not keep or write it.
 * - No I/O, no clock: time arrives as `now` (milliseconds). Removal callbacks run synchronously.
 */

export const MAX_GROUPS = 4096;
export const MAX_GROUPS_PER_PORT = 256;

export const JOIN_NEW = 1;
export const JOIN_REFRESHED = 0;
export const JOIN_FULL = -1;

export class GroupEntry {
  group = 0;
  /** Members are ports[0..count); expires[i] belongs to ports[i]. */
  count = 0;
  readonly ports: number[] = [];
  readonly expires: number[] = [];
}

export class GroupTable {
  private readonly map = new Map<number, GroupEntry>();
  private readonly free: GroupEntry[] = [];
  private readonly perPort: Map<number, number> = new Map();
  private members = 0;

  constructor(readonly maxGroups = MAX_GROUPS, readonly maxPerPort = MAX_GROUPS_PER_PORT) {}

  /** Number of groups with at least one member. */
  get size(): number {
    return this.map.size;
  }

  /** Number of (group, port) memberships. */
  get memberships(): number {
    return this.members;
  }

  /** The live entry of `group`, or undefined when no port is a member. */
  lookup(group: number): GroupEntry | undefined {
    return this.map.get(group | 0);
  }

  /** Record (or refresh) `port`'s membership of `group` until `expires`. */
  join(group: number, port: number, expires: number): number {
    const key = group | 0;
    let e = this.map.get(key);
    if (e !== undefined) {
      const ports = e.ports;
      for (let i = 0; i < e.count; i++) {
        if (ports[i] === port) {
          e.expires[i] = expires;
          return JOIN_REFRESHED;
        }
      }
    }
    const held = this.perPort.get(port) ?? 0;
    if (held >= this.maxPerPort) return JOIN_FULL;
    if (e === undefined) {
      if (this.map.size >= this.maxGroups) return JOIN_FULL;
      e = this.free.pop() ?? new GroupEntry();
      e.group = group >>> 0;
      e.count = 0;
      this.map.set(key, e);
    }
    const i = e.count++;
    if (i < e.ports.length) {
      e.ports[i] = port;
      e.expires[i] = expires;
    } else {
      e.ports.push(port);
      e.expires.push(expires);
    }
    this.perPort.set(port, held + 1);
    this.members++;
    return JOIN_NEW;
  }

  /** Remove `port`'s membership of `group`; false when it was not a member. */
  leave(group: number, port: number): boolean {
    const key = group | 0;
    const e = this.map.get(key);
    if (e === undefined) return false;
    for (let i = 0; i < e.count; i++) {
      if (e.ports[i] === port) {
        this.removeAt(key, e, i);
        return true;
      }
    }
    return false;
  }

  /** Remove every membership of `port` (it was detached); `left(port, group)` for each. Returns how many. */
  removePort(port: number, left: (port: number, group: number) => void): number {
    if ((this.perPort.get(port) ?? 0) === 0) return 0;
    let n = 0;
    for (const [key, e] of this.map) {
      for (let i = 0; i < e.count; i++) {
        if (e.ports[i] === port) {
          const g = e.group;
          this.removeAt(key, e, i);
          left(port, g);
          n++;
          break;
        }
      }
    }
    return n;
  }

  /** Remove every membership whose expiry is at or before `now`; `left(port, group)` for each. */
  expire(now: number, left: (port: number, group: number) => void): number {
    if (this.members === 0) return 0;
    let n = 0;
    for (const [key, e] of this.map) {
      for (let i = e.count - 1; i >= 0; i--) {
        if (e.expires[i] <= now) {
          const port = e.ports[i];
          const g = e.group;
          this.removeAt(key, e, i);
          left(port, g);
          n++;
        }
      }
    }
    return n;
  }

  /** Visit every group with its members (control-plane use: dumps and tests). */
  forEach(fn: (group: number, ports: number[]) => void): void {
    for (const e of this.map.values()) fn(e.group, e.ports.slice(0, e.count));
  }

  private removeAt(key: number, e: GroupEntry, i: number): void {
    const last = e.count - 1;
    const port = e.ports[i];
    e.ports[i] = e.ports[last];
    e.expires[i] = e.expires[last];
    e.count = last;
    const held = (this.perPort.get(port) ?? 1) - 1;
    if (held <= 0) this.perPort.delete(port);
    else this.perPort.set(port, held);
    this.members--;
    if (last === 0) {
      this.map.delete(key);
      this.free.push(e);
    }
  }
}
