/**
 * Guest IPv6 addresses and the data plane's IPv6 LAN IP tables (IP mode), with their
 * announcements on the uplink: lan-ip.ts's job for IPv6.
 *
 * Contract:
 * - `addressEvent6(key, ip6, prefixLen, added, how, on)`: NIC `key` holds an IPv6 address now (text
 *   in any form; kept canonical), or no longer: a namespace guest configured it and its DAD
 *   passed (the address watcher's 'address6': global, unique-local, link-local; tentative and
 *   DAD-failed ones are not reported), or a QEMU guest used it as a source or probed it (a
 *   'saw-address6' its backend accepted). Recorded in the state; true when that changed
 *   something (a pass is due).
 * - `sync`: for each switch its Marks name, the state recomputes the IPv6 table (IPv4's rule,
 *   state.ts recomputeClaims: one address in one VLAN, one NIC; a claim on an address another NIC holds there is
 *   refused, logged once and counted once at DropReason.AddressConflict, claim-conflicts.ts:
 *   the data plane answers that NIC's DAD probe for it, so its guest marks it dadfailed); an entry is local only until the controller has registered it
 *   (kind 'ipv6': the solicited-node group on the RDEV). The guest's own DAD is the probe of
 *   the LAN (the data plane relays it and floods the LAN's defence back), so no probe of the
 *   switch's is needed here. The data plane's table is diffed against it (ip6-set for a new,
 *   moved or changed entry, ip6-clear for one gone or whose NIC has no port), and a registered
 *   entry is announced (an unsolicited NA, announce6) once per usable uplink path
 *   (lan-ip.ts's `path`: the open uplink port and the manager's uplinkUsable number), so the
 *   LAN learns a new or moved address at once.
 * - VLANs: as lan-ip.ts, each entry is in the VLAN of its address (policy.ts addressVid: an
 *   access port's pvid; on a trunk the VLAN of the sub-device it is on, `on` from the address
 *   watcher, or the native VLAN for the NIC's own interface; VLAN_NONE on a VLAN-unaware
 *   switch) and posted (ip6-set, ip6-clear, announce6) with it; an address in no VLAN the port
 *   carries is not in the table; a changed VLAN is an ip6-clear in the old one and an ip6-set
 *   in the new one. As for IPv4 an address belongs to a VLAN: the same address in two VLANs is
 *   two entries (a trunk guest's link-local address on each of its sub-devices is one in each
 *   VLAN); the controller's registration (the solicited-node group on the RDEV) is per address.
 * - `wanted(sw)`: the addresses of the table; the manager registers those `mayRegister` allows.
 * - In a cluster (`claims`, as lan-ip.ts: member-claims.ts) an address is unique among the
 *   members too: each entry of a NIC with a port is claimed for this member under its lease
 *   (/vswitch/<switch>/ip6/<addr>) and registered with the controller only once the claim is
 *   this member's (`mayRegister`; until then local only: "waiting for the cluster's store",
 *   `reason`); one another member holds is not in the data plane's table (its guest's DAD
 *   probe meets that member's answer on the LAN), counted once at DropReason.AddressConflict
 *   and logged, with the reason "held by member X of the cluster", until that member lets it
 *   go. The claims' answers mark the switch through lan-ip.ts's listener (one for the parts).
 */
import type { Logger } from 'pino';
import { formatIpv6, ip6Hex, parseIpv6 } from '../../wire/ipv6.js';
import type { ControllerManager } from '../controllers.js';
import { nicKey, type NicBackends } from '../nics.js';
import type { LanIp6Entry, State } from '../state.js';
import { ClaimConflicts } from './claim-conflicts.js';
import type { AddressClaims } from './lan-ip.js';
import { vidOfOn } from '../policy.js';
import { MemberClaims } from './member-claims.js';
import type { Marks, Touch } from './marks.js';
import type { DataPlanePort, Syncer } from './part.js';
import type { DataPlaneSwitches } from './switches.js';
import type { Uplinks } from './uplinks.js';

interface Posted {
  ip6: string;
  port: number;
  /** The VLAN it was posted in. */
  vid: number;
  localOnly: boolean;
  announcedOn: string | null;
}

/** The canonical text of IPv6 text or 32 hex digits; null when it is neither. */
export function canonicalIpv6(text: string): string | null {
  const a = /^[0-9a-f]{32}$/.test(text) ? parseIpv6(text.replace(/(.{4})(?!$)/g, '$1:')) : parseIpv6(text);
  return a === null ? null : formatIpv6(a);
}

export class LanIp6Sync implements Syncer {
  /** Switch name -> lanIp6Key(vid, canonical address) -> what the data plane holds. */
  private readonly posted = new Map<string, Map<string, Posted>>();
  /** Refused claims, logged and counted once (claim-conflicts.ts, as IPv4's). */
  private readonly conflicts: ClaimConflicts;
  /** The cluster's claims of the addresses (member-claims.ts, as IPv4's; none without a cluster). */
  private readonly members: MemberClaims<string>;
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
    claims: AddressClaims | null = null,
  ) {
    this.marks = touch.switchMarks();
    this.conflicts = new ClaimConflicts(dp, log, 'ip6', 'IPv6 address');
    this.members = new MemberClaims<string>(claims, dp, log, 'ip6', (ip6) => ip6, (c, sw, ips) => c.inUse6(sw, ips));
  }

  /** The switch's addresses (each once, whatever its VLANs). */
  wanted(sw: string): Iterable<string> {
    return new Set([...this.state.switches.get(sw)?.lanIp6.values() ?? []].map((e) => e.ip6));
  }

  /** May the manager register the address with the adapter (in a cluster: once it is this member's)? */
  mayRegister(sw: string, ip6: string): boolean {
    return this.members.mine(sw, ip6);
  }

  /** Why the address is local only as far as the cluster tells; null: not the cluster's doing. */
  reason(sw: string, ip6: string): string | null {
    const elsewhere = this.members.elsewhere(sw, ip6);
    if (elsewhere !== undefined) return `held by member ${elsewhere} of the cluster`;
    return this.members.mine(sw, ip6) ? null : "waiting for the cluster's store";
  }

  addressEvent6(key: string, ip6: string, prefixLen: number, added: boolean, how: 'configured' | 'announced', on = 0): boolean {
    const n = this.nics.get(key);
    const canon = canonicalIpv6(ip6);
    if (!n || canon === null) return false;
    if (!this.state.addressEvent6(n.userid, n.vdev, canon, added, on)) return false;
    this.log.info({ nic: key, ip6: `${canon}/${prefixLen}`, added, ...(on !== 0 ? { vlanDevice: on } : {}) },
      added ? `guest ${how} an IPv6 address` : 'guest removed an IPv6 address');
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
      this.conflicts.forget(name);
      this.members.forget(name);
      return;
    }
    this.controllers.wantedChanged(name);
    let posted = this.posted.get(name);
    if (!posted) this.posted.set(name, (posted = new Map()));
    const conflicts = this.state.recomputeLanIp6(name, (ip6) => this.controllers.registration(name, 'ipv6', ip6)?.registered ?? false, vidOfOn(def));
    this.conflicts.report(name, sw, conflicts.map((k) => ({ ...k, text: k.ip6 })));
    const table = def.lanIp6;
    const hexOf = (ip6: string): string => ip6Hex(parseIpv6(ip6)!);
    const withPort = [...table.values()].filter((e) => this.nics.port(e.userid, e.vdev) !== null).map((e): [string, LanIp6Entry] => [e.ip6, e]);
    const elsewhere = this.members.claimAll(name, sw, withPort, () => {});
    for (const [key, p] of posted) {
      const e = table.get(key);
      const port = e ? this.nics.port(e.userid, e.vdev) : null;
      if (!e || port !== p.port || elsewhere.has(p.ip6)) {
        this.dp.post({ op: 'ip6-clear', sw, vid: p.vid, ip6: hexOf(p.ip6) });
        posted.delete(key);
        this.log.info({ vswitch: name, ip6: p.ip6, vlan: p.vid }, 'IPv6 address deregistered');
      }
    }
    const up = this.uplinks.open(name);
    const usable = this.controllers.uplinkUsable(name);
    const path = up !== null && usable !== null ? `${up.port}/${usable}` : null;
    for (const [key, e] of table) {
      const { ip6 } = e;
      const port = this.nics.port(e.userid, e.vdev);
      if (port === null || elsewhere.has(ip6)) continue;
      let p = posted.get(key);
      if (!p || p.port !== port || p.localOnly !== e.localOnly) {
        this.dp.post({ op: 'ip6-set', sw, vid: e.vid, ip6: hexOf(ip6), port, localOnly: e.localOnly });
        p = { ip6, port, vid: e.vid, localOnly: e.localOnly, announcedOn: p && p.port === port && !e.localOnly ? p.announcedOn : null };
        posted.set(key, p);
        this.log.info({ vswitch: name, ip6, vlan: e.vid, nic: nicKey(e.userid, e.vdev), localOnly: e.localOnly },
          e.localOnly ? 'IPv6 address in the LAN IP table (local only)' : 'IPv6 address in the LAN IP table (registered with the adapter)');
      }
      if (!e.localOnly && path !== null && p.announcedOn !== path) {
        this.dp.post({ op: 'announce6', sw, vid: e.vid, ip6: hexOf(ip6) });
        p.announcedOn = path;
      }
    }
  }
}
