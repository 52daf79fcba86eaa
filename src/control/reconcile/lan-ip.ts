/**
 * Guest addresses and the data plane's LAN IP tables (IP mode), with their announcements on
 * the uplink.
 *
 * Contract:
 * - `addressEvent(key, ip, prefixLen, added, how)`: NIC `key` holds an address now, or no
 *   longer (a namespace guest configured it: the address watcher; a QEMU guest announced it:
 *   a 'saw-address' its backend accepted). Recorded in the state; returns true when that
 *   changed something (a pass is due).
 * - `sync`: for each switch its Marks name (its NICs' couplings, addresses and ports changed,
 *   its uplink port, its controller's answers), the state recomputes the LAN IP table (one
 *   address, one NIC; a claim on an address another NIC holds is refused, logged once and counted once at
 *   DropReason.AddressConflict); an entry is local only until the controller has registered it
 *   with the adapter (the manager's `registration`). What the data plane holds is diffed
 *   against it: ip-set for a new entry, a moved one or a changed flag, ip-clear for an entry
 *   gone (or whose NIC has no port). A registered entry is announced on the uplink port
 *   (gratuitous ARP `announce`) once per usable path: the data device open on the active RDEV
 *   and that RDEV ready (the manager's `uplinkUsable`, a new number after a failover, a
 *   reopened data device, the active RDEV ready again after a carrier loss); so the LAN learns
 *   the new path at once, without waiting for the controller to answer the re-registration on
 *   the new RDEV (a controller is not in the data path, and under load its answer can take a
 *   second), and never into an interface without carrier, where it would be lost; and again
 *   ANNOUNCE_AGAIN_MS after the path became usable, for a LAN switch port that forwards only
 *   later. An address the adapter then refuses there becomes local only.
 * - VLANs (issue 10): each entry is posted (ip-set, ip-clear, announce) with the VLAN its address
 *   is in (`vid`, src/control/policy.ts addressVid): an access port's pvid; on a trunk port the
 *   VLAN of the sub-device the address is on (`on`, from the address watcher), or the native
 *   VLAN for the NIC's own interface; VLAN_NONE on a VLAN-unaware switch. An address in no VLAN
 *   the port carries is not in the table. A changed VLAN (a GRANT) is an ip-clear in the old
 *   one and an ip-set in the new one.
 */
import type { Logger } from 'pino';
import { DropReason } from '../../forward/api.js';
import { dropSlot } from '../../forward/counters.js';
import { formatIpv4 } from '../../wire/addr.js';
import type { ControllerManager } from '../controllers.js';
import { nicKey, type NicBackends } from '../nics.js';
import { addressVid, portPolicy } from '../policy.js';
import type { Nic, State } from '../state.js';
import type { Marks, Touch } from './marks.js';
import type { DataPlanePort, Syncer } from './part.js';
import type { DataPlaneSwitches } from './switches.js';
import type { Uplinks } from './uplinks.js';

/**
 * After an uplink path becomes usable its addresses are announced again this long after (ms):
 * the port of the LAN switch at the other end may forward only later (a Linux bridge port comes
 * up when the kernel's batched link notification reaches it, up to a second after the link).
 */
export const ANNOUNCE_AGAIN_MS = [250, 500, 1000, 2000];

/** A LAN IP table entry as the data plane holds it, and the uplink path it was announced on (`port/usable`). */
interface Posted {
  port: number;
  /** The VLAN it was posted in. */
  vid: number;
  localOnly: boolean;
  announcedOn: string | null;
}

export class LanIpSync implements Syncer {
  /** Switch name -> ip -> what the data plane holds. */
  private readonly posted = new Map<string, Map<number, Posted>>();
  /** Switch name -> the usable uplink path, since when, and how many of ANNOUNCE_AGAIN_MS are done. */
  private readonly paths = new Map<string, { path: string; since: number; round: number }>();
  /** Switch name -> conflicts logged and counted (`ip/userid/vdev`), until they go away. */
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

  addressEvent(key: string, ip: number, prefixLen: number, added: boolean, how: 'configured' | 'announced', on = 0): boolean {
    const n = this.nics.get(key);
    if (!n) return false;
    if (!this.state.addressEvent(n.userid, n.vdev, ip, added, on)) return false;
    this.log.info({ nic: key, ip: `${formatIpv4(ip)}/${prefixLen}`, added, ...(on !== 0 ? { vlanDevice: on } : {}) }, added ? `guest ${how} an address` : 'guest removed an address');
    return true;
  }

  sync(now: number): void {
    for (const name of this.marks.take(now, () => [...this.state.switches.keys(), ...this.posted.keys()])) this.syncSwitch(name, now);
  }

  private syncSwitch(name: string, now: number): void {
    const def = this.state.switches.get(name);
    const sw = this.switches.number(name);
    if (!def || sw === null) {
      this.posted.delete(name);
      this.conflicts.delete(name);
      this.paths.delete(name);
      return;
    }
    this.controllers.wantedChanged(name);
    let posted = this.posted.get(name);
    if (!posted) this.posted.set(name, (posted = new Map()));
    const logged = this.conflicts.get(name) ?? new Set<string>();
    const seen = new Set<string>();
    const aware = def.vlan !== null;
    const vidOf = (n: Nic, ip: number): number | null => addressVid(aware, portPolicy(def, n), n.addressOn.get(ip) ?? 0);
    for (const k of this.state.recomputeLanIp(name, (ip) => this.controllers.registration(name, 'ipv4', ip)?.registered ?? false, vidOf)) {
      const id = `${k.ip}/${k.userid}/${k.vdev}`;
      seen.add(id);
      if (logged.has(id)) continue;
      this.dp.counters[dropSlot(sw, DropReason.AddressConflict)]++;
      this.log.warn({ vswitch: name, ip: formatIpv4(k.ip), nic: nicKey(k.userid, k.vdev), holder: nicKey(k.holder.userid, k.holder.vdev) },
        'address claim refused: another NIC holds it');
    }
    if (seen.size > 0) this.conflicts.set(name, seen);
    else this.conflicts.delete(name);
    const table = def.lanIp;
    for (const [ip, p] of posted) {
      const e = table.get(ip);
      const port = e ? this.nics.port(e.userid, e.vdev) : null;
      if (!e || port !== p.port || e.vid !== p.vid) {
        this.dp.post({ op: 'ip-clear', sw, vid: p.vid, ip });
        posted.delete(ip);
        this.log.info({ vswitch: name, ip: formatIpv4(ip) }, 'address deregistered');
      }
    }
    const up = this.uplinks.open(name);
    const usable = this.controllers.uplinkUsable(name);
    const path = up !== null && usable !== null ? `${up.port}/${usable}` : null;
    let registered = false;
    for (const e of table.values()) if (!e.localOnly) { registered = true; break; }
    const again = this.announceAgain(name, registered ? path : null, now);
    for (const [ip, e] of table) {
      const port = this.nics.port(e.userid, e.vdev);
      if (port === null) continue;
      let p = posted.get(ip);
      if (!p || p.port !== port || p.localOnly !== e.localOnly) {
        this.dp.post({ op: 'ip-set', sw, vid: e.vid, ip, port, localOnly: e.localOnly });
        p = { port, vid: e.vid, localOnly: e.localOnly, announcedOn: p && p.port === port && !e.localOnly ? p.announcedOn : null };
        posted.set(ip, p);
        this.log.info({ vswitch: name, ip: formatIpv4(ip), nic: nicKey(e.userid, e.vdev), localOnly: e.localOnly },
          e.localOnly ? 'address in the LAN IP table (local only)' : 'address in the LAN IP table (registered with the adapter)');
      }
      if (!e.localOnly && path !== null && (p.announcedOn !== path || again)) {
        this.dp.post({ op: 'announce', sw, vid: e.vid, ip });
        p.announcedOn = path;
      }
    }
  }

  /**
   * Is it time to announce the switch's registered addresses again on `path` (one of
   * ANNOUNCE_AGAIN_MS after it became usable; null: no path, or nothing to announce)? Sets the
   * retry for the next time.
   */
  private announceAgain(name: string, path: string | null, now: number): boolean {
    if (path === null) {
      this.paths.delete(name);
      return false;
    }
    let p = this.paths.get(name);
    if (!p || p.path !== path) this.paths.set(name, (p = { path, since: now, round: 0 }));
    let again = false;
    while (p.round < ANNOUNCE_AGAIN_MS.length && now >= p.since + ANNOUNCE_AGAIN_MS[p.round]) {
      again = true;
      p.round++;
    }
    if (p.round < ANNOUNCE_AGAIN_MS.length) this.marks.retryAt(name, p.since + ANNOUNCE_AGAIN_MS[p.round]);
    return again;
  }
}
