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
 *   second), and never into an interface without carrier, where it would be lost. An address
 *   the adapter then refuses there becomes local only.
 */
import type { Logger } from 'pino';
import { DropReason } from '../../forward/api.js';
import { dropSlot } from '../../forward/counters.js';
import { formatIpv4 } from '../../wire/addr.js';
import type { ControllerManager } from '../controllers.js';
import { nicKey, type NicBackends } from '../nics.js';
import type { State } from '../state.js';
import type { Marks, Touch } from './marks.js';
import type { DataPlanePort, Syncer } from './part.js';
import type { DataPlaneSwitches } from './switches.js';
import type { Uplinks } from './uplinks.js';

/** A LAN IP table entry as the data plane holds it, and the uplink path it was announced on (`port/usable`). */
interface Posted {
  port: number;
  localOnly: boolean;
  announcedOn: string | null;
}

export class LanIpSync implements Syncer {
  /** Switch name -> ip -> what the data plane holds. */
  private readonly posted = new Map<string, Map<number, Posted>>();
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

  addressEvent(key: string, ip: number, prefixLen: number, added: boolean, how: 'configured' | 'announced'): boolean {
    const n = this.nics.get(key);
    if (!n) return false;
    if (!this.state.addressEvent(n.userid, n.vdev, ip, added)) return false;
    this.log.info({ nic: key, ip: `${formatIpv4(ip)}/${prefixLen}`, added }, added ? `guest ${how} an address` : 'guest removed an address');
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
    for (const k of this.state.recomputeLanIp(name, (ip) => this.controllers.registration(name, 'ipv4', ip)?.registered ?? false)) {
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
      if (!e || port !== p.port) {
        this.dp.post({ op: 'ip-clear', sw, ip });
        posted.delete(ip);
        this.log.info({ vswitch: name, ip: formatIpv4(ip) }, 'address deregistered');
      }
    }
    const up = this.uplinks.open(name);
    const usable = this.controllers.uplinkUsable(name);
    const path = up !== null && usable !== null ? `${up.port}/${usable}` : null;
    for (const [ip, e] of table) {
      const port = this.nics.port(e.userid, e.vdev);
      if (port === null) continue;
      let p = posted.get(ip);
      if (!p || p.port !== port || p.localOnly !== e.localOnly) {
        this.dp.post({ op: 'ip-set', sw, ip, port, localOnly: e.localOnly });
        p = { port, localOnly: e.localOnly, announcedOn: p && p.port === port && !e.localOnly ? p.announcedOn : null };
        posted.set(ip, p);
        this.log.info({ vswitch: name, ip: formatIpv4(ip), nic: nicKey(e.userid, e.vdev), localOnly: e.localOnly },
          e.localOnly ? 'address in the LAN IP table (local only)' : 'address in the LAN IP table (registered with the adapter)');
      }
      if (!e.localOnly && path !== null && p.announcedOn !== path) {
        this.dp.post({ op: 'announce', sw, ip });
        p.announcedOn = path;
      }
    }
  }
}
