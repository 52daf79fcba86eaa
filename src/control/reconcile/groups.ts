/**
 * Multicast group membership (IP mode), as the data plane's IGMP snooping reports it (one
 * instance; MLD snooping's IPv6 groups are another, keyed by canonical text: `K`, with its
 * `format` for logs and `order` for QUERY).
 *
 * Contract:
 * - `event(sw, port, group, joined)` ('group-join' / 'group-leave' of data-plane switch `sw`)
 *   keeps, per switch, which NIC ports are members of which group; it returns true when the
 *   membership changed (a pass is due: the controller manager registers the groups).
 * - `of(sw)`: the groups (uint32) with a member: what the controller manager registers on the
 *   adapter. `members(sw)`: each group with its member NICs, for QUERY VSWITCH DETAILS.
 * - Membership itself lives in the data plane (it forwards group traffic to members without
 *   waiting for the controller); this is its mirror. `sync` forgets the groups of a switch gone
 *   from the state (the switches its Marks name).
 */
import type { Logger } from 'pino';
import { formatIpv4 } from '../../wire/addr.js';
import type { NicBackends } from '../nics.js';
import { cmp, type State } from '../state.js';
import type { Marks, Touch } from './marks.js';
import type { Syncer } from './part.js';
import type { DataPlaneSwitches } from './switches.js';

export interface GroupMembers<K = number> {
  group: K;
  members: Array<{ userid: string; vdev: number }>;
}

export class GroupMembership<K extends number | string = number> implements Syncer {
  /** Switch name -> multicast group -> member NIC ports. */
  private readonly groups = new Map<string, Map<K, Set<number>>>();
  private readonly marks: Marks<string>;

  constructor(
    private readonly state: State,
    private readonly switches: DataPlaneSwitches,
    private readonly nics: NicBackends,
    private readonly log: Logger,
    touch: Touch,
    private readonly format: (g: K) => string = formatIpv4 as (g: K) => string,
    private readonly order: (a: K, b: K) => number = (a, b) => ((a as number) >>> 0) - ((b as number) >>> 0),
  ) {
    this.marks = touch.switchMarks();
  }

  of(sw: string): Iterable<K> {
    return this.groups.get(sw)?.keys() ?? [];
  }

  members(sw: string): Array<GroupMembers<K>> {
    const gm = this.groups.get(sw);
    if (!gm) return [];
    return [...gm].sort((a, b) => this.order(a[0], b[0])).map(([group, ports]) => {
      const members: Array<{ userid: string; vdev: number }> = [];
      for (const p of ports) {
        const n = this.nics.atPort(p)?.nic;
        if (n) members.push({ userid: n.userid, vdev: n.vdev });
      }
      members.sort((a, b) => cmp(a.userid, b.userid) || a.vdev - b.vdev);
      return { group, members };
    });
  }

  event(sw: number, port: number, group: K, joined: boolean): boolean {
    const name = this.switches.nameOf(sw);
    if (name === undefined) return false;
    let gm = this.groups.get(name);
    if (!gm) this.groups.set(name, (gm = new Map()));
    let ports = gm.get(group);
    const nic = this.nics.atPort(port)?.nic.key ?? `port ${port}`;
    if (joined) {
      if (!ports) gm.set(group, (ports = new Set()));
      if (ports.has(port)) return false;
      ports.add(port);
      this.log.info({ vswitch: name, group: this.format(group), nic, members: ports.size }, 'guest joined a multicast group');
    } else {
      if (!ports?.delete(port)) return false;
      if (ports.size === 0) gm.delete(group);
      this.log.info({ vswitch: name, group: this.format(group), nic, members: ports.size }, 'guest left a multicast group');
    }
    return true;
  }

  sync(now: number): void {
    for (const name of this.marks.take(now, () => this.groups.keys())) if (!this.state.switches.has(name)) this.groups.delete(name);
  }
}
