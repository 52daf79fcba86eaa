/**
 * Guest IPv6 addresses and the data plane's IPv6 LAN IP tables (IP mode), with their
 * announcements on the uplink: lan-ip.ts's job for IPv6.
 *
 * Contract:
 * - `addressEvent6(key, ip6, prefixLen, added, how)`: NIC `key` holds an IPv6 address now (text
 *   in any form; kept canonical), or no longer: a namespace guest configured it and its DAD
 *   passed (the address watcher's 'address6': global, unique-local, link-local; tentative and
 *   DAD-failed ones are not reported), or a QEMU guest used it as a source or probed it (a
 *   'saw-address6' its backend accepted). Recorded in the state; true when that changed
 *   something (a pass is due).
 * - `sync`: for each switch its Marks name, the state recomputes the IPv6 table (one address,
 *   one NIC; a claim on an address another NIC holds is refused, logged once and counted once
 *   at DropReason.AddressConflict: the data plane answers that NIC's DAD probe for it, so its
 *   guest marks it dadfailed); an entry is local only until the controller has registered it
 *   (kind 'ipv6': the solicited-node group on the RDEV). The guest's own DAD is the probe of
 *   the LAN (the data plane relays it and floods the LAN's defence back), so no probe of the
 *   switch's is needed here. The data plane's table is diffed against it (ip6-set for a new,
 *   moved or changed entry, ip6-clear for one gone or whose NIC has no port), and a registered
 *   entry is announced (an unsolicited NA, announce6) once per usable uplink path
 *   (lan-ip.ts's `path`: the open uplink port and the manager's uplinkUsable number), so the
 *   LAN learns a new or moved address at once.
 * - `wanted(sw)`: the addresses the manager registers (every entry of the table).
 */
import type { Logger } from 'pino';
import { DropReason } from '../../forward/api.js';
import { dropSlot } from '../../forward/counters.js';
import { formatIpv6, ip6Hex, parseIpv6 } from '../../wire/ipv6.js';
import type { ControllerManager } from '../controllers.js';
import { nicKey, type NicBackends } from '../nics.js';
import type { State } from '../state.js';
import type { Marks, Touch } from './marks.js';
import type { DataPlanePort, Syncer } from './part.js';
import type { DataPlaneSwitches } from './switches.js';
import type { Uplinks } from './uplinks.js';

interface Posted {
  port: number;
  localOnly: boolean;
  announcedOn: string | null;
}

/** The canonical text of IPv6 text or 32 hex digits; null when it is neither. */
export function canonicalIpv6(text: string): string | null {
  const a = /^[0-9a-f]{32}$/.test(text) ? parseIpv6(text.replace(/(.{4})(?!$)/g, '$1:')) : parseIpv6(text);
  return a === null ? null : formatIpv6(a);
}

export class LanIp6Sync implements Syncer {
  /** Switch name -> canonical address -> what the data plane holds. */
  private readonly posted = new Map<string, Map<string, Posted>>();
  /** Switch name -> conflicts logged and counted (`ip6/userid/vdev`), until they go away. */
  private readonly conflicts = new Map<string, Set<string>>();
  private readonly marks: Marks<string>;

  constructor(
    private readonly state: State,
    private readonly dp: DataPlanePort,
    private readonly switches: DataPlaneSwitches,
    private readonly nics: NicBackends,
    private readonly uplinks: Uplinks,
    private readonly controllers: ControllerManager,
    private readonly log: Logger,
    touch: Touch,
  ) {
    this.marks = touch.switchMarks();
  }

  wanted(sw: string): Iterable<string> {
    return this.state.switches.get(sw)?.lanIp6.keys() ?? [];
  }

  addressEvent6(key: string, ip6: string, prefixLen: number, added: boolean, how: 'configured' | 'announced'): boolean {
    const n = this.nics.get(key);
    const canon = canonicalIpv6(ip6);
    if (!n || canon === null) return false;
    if (!this.state.addressEvent6(n.userid, n.vdev, canon, added)) return false;
    this.log.info({ nic: key, ip6: `${canon}/${prefixLen}`, added }, added ? `guest ${how} an IPv6 address` : 'guest removed an IPv6 address');
    return true;
  }

  sync(now: number): void {
    for (const name of this.marks.take(now, () => [...this.state.switches.keys(), ...this.posted.keys()])) this.syncSwitch(name);
  }

  private syncSwitch(name: string): void {
    const def = this.state.switches.get(name);
    const sw = this.switches.number(name);
    if (!def || sw === null) {
      this.posted.delete(name);
      this.conflicts.delete(name);
      return;
    }
    this.controllers.wantedChanged(name);
    let posted = this.posted.get(name);
    if (!posted) this.posted.set(name, (posted = new Map()));
    const logged = this.conflicts.get(name) ?? new Set<string>();
    const seen = new Set<string>();
    for (const k of this.state.recomputeLanIp6(name, (ip6) => this.controllers.registration(name, 'ipv6', ip6)?.registered ?? false)) {
      const id = `${k.ip6}/${k.userid}/${k.vdev}`;
      seen.add(id);
      if (logged.has(id)) continue;
      this.dp.counters[dropSlot(sw, DropReason.AddressConflict)]++;
      this.log.warn({ vswitch: name, ip6: k.ip6, nic: nicKey(k.userid, k.vdev), holder: k.holder === null ? null : nicKey(k.holder.userid, k.holder.vdev) },
        'IPv6 address claim refused: another NIC holds it');
    }
    if (seen.size > 0) this.conflicts.set(name, seen);
    else this.conflicts.delete(name);
    const table = def.lanIp6;
    const hexOf = (ip6: string): string => ip6Hex(parseIpv6(ip6)!);
    for (const [ip6, p] of posted) {
      const e = table.get(ip6);
      const port = e ? this.nics.port(e.userid, e.vdev) : null;
      if (!e || port !== p.port) {
        this.dp.post({ op: 'ip6-clear', sw, ip6: hexOf(ip6) });
        posted.delete(ip6);
        this.log.info({ vswitch: name, ip6 }, 'IPv6 address deregistered');
      }
    }
    const up = this.uplinks.open(name);
    const usable = this.controllers.uplinkUsable(name);
    const path = up !== null && usable !== null ? `${up.port}/${usable}` : null;
    for (const [ip6, e] of table) {
      const port = this.nics.port(e.userid, e.vdev);
      if (port === null) continue;
      let p = posted.get(ip6);
      if (!p || p.port !== port || p.localOnly !== e.localOnly) {
        this.dp.post({ op: 'ip6-set', sw, ip6: hexOf(ip6), port, localOnly: e.localOnly });
        p = { port, localOnly: e.localOnly, announcedOn: p && p.port === port && !e.localOnly ? p.announcedOn : null };
        posted.set(ip6, p);
        this.log.info({ vswitch: name, ip6, nic: nicKey(e.userid, e.vdev), localOnly: e.localOnly },
          e.localOnly ? 'IPv6 address in the LAN IP table (local only)' : 'IPv6 address in the LAN IP table (registered with the adapter)');
      }
      if (!e.localOnly && path !== null && p.announcedOn !== path) {
        this.dp.post({ op: 'announce6', sw, ip6: hexOf(ip6) });
        p.announcedOn = path;
      }
    }
  }
}
