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
 *   address in one VLAN, one NIC; a claim on an address another NIC holds there is refused, logged once and counted once at
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
 *   VLAN of the sub-device the address is on (`on`, from the address watcher, or the tag of the
 *   QEMU guest's frame), or the native VLAN for the NIC's own interface; VLAN_NONE on a
 *   VLAN-unaware switch. An address in no VLAN the port carries is not in the table. A changed
 *   VLAN (a GRANT) is an ip-clear in the old one and an ip-set in the new one. An address
 *   belongs to a VLAN: the same address in two VLANs is two entries, two probes and two
 *   announcements, each in its VLAN (a trunk guest's address on two sub-devices, or two guests
 *   of two tenants); a conflict is a second claim in one VLAN. The controller's registration is
 *   per address (it programs nothing per VLAN for IPv4: the data plane answers ARP in each VLAN),
 *   asked for once any VLAN's entry of it passed its probe; a LAN holder refuses the address in
 *   the VLAN it holds it in only (the data plane's LAN holder table and probes are per VLAN).
 * - No one on the LAN may hold an address a guest gets registered (issue 9, item 1): each
 *   entry of a NIC with a port is probed first, once the switch's uplink path is usable (open,
 *   and its RDEV ready: a probe into an interface without carrier would prove nothing): an ARP probe
 *   ('probe') at once and PROBE_INTERVAL_MS later, and the entry may be registered with the
 *   controller (`registrable`, what the manager is asked to register) only when
 *   PROBE_WINDOW_MS passed with no LAN holder (2 probes 100 ms apart + 200 ms wait, as the
 *   injected clock counts). Until then it is local only ("probing the LAN" once the probe runs;
 *   before, the manager's reason), and while the probe runs it is not in the data plane's table
 *   at all (an entry posted before the path was usable stays). A 'lan-holder'
 *   (`lanHolder`: a LAN reply to the probe, or the address already seen in use on the LAN)
 *   during the probe refuses it: it stays in the state's table as local only with the reason
 *   "in use on the LAN by MAC x" (`reason`, shown by QUERY), is counted once at
 *   DropReason.AddressConflict and logged, and is not in the data plane's table (so the
 *   guest's frames from it are dropped as spoofed-source). A holder of an address that passed
 *   its probe is a conflict: logged and counted once per LAN MAC, the registration stands.
 *   The probe starts again when the address moves to another NIC or leaves and comes back.
 * - In a cluster (vswitchd --cluster: `claims`, src/daemon/cluster) an address is unique among
 *   the members too: each entry of a NIC with a port is claimed for this member (`claim`), and
 *   is probed on the LAN (and then may be registered) only once the claim is this member's (a
 *   LAN holder seen before that, another member's uplink, does not count, and a member's uplink
 *   is never a LAN holder: `isMemberMac`). Until the store answers it stays
 *   local only ("waiting for the cluster's store"); a claim another member holds is refused as
 *   a LAN holder is (local only in the state's table with the reason "held by member X of the
 *   cluster", counted once at DropReason.AddressConflict, logged, not in the data plane's
 *   table) until that member lets it go (then it is probed afresh). An address that came with a
 *   relocated guest (VMRELOCATE: `handedOver`) is not probed again, once it is this member's. `inUse` tells the claims which entries are still
 *   wanted (the others are released); their answers mark the switch (`listen`).
 */
import type { Logger } from 'pino';
import { DropReason } from '../../forward/api.js';
import { dropSlot } from '../../forward/counters.js';
import { formatIpv4, formatMac } from '../../wire/addr.js';
import type { Clock } from '../clock.js';
import type { ControllerManager } from '../controllers.js';
import { nicKey, type NicBackends } from '../nics.js';
import { vidOfOn } from '../policy.js';
import { VLAN_NONE } from '../../protocol/dataplane.js';
import { lanIpKey, type LanIpEntry, type State } from '../state.js';
import { ClaimConflicts } from './claim-conflicts.js';
import { MemberClaims } from './member-claims.js';
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
  ip: number;
  port: number;
  /** The VLAN it was posted in. */
  vid: number;
  localOnly: boolean;
  announcedOn: string | null;
}

/** The probe of the LAN for one address of a switch's table (see the file comment). */
interface Probe {
  /** The address and the VLAN it is probed in. */
  ip: number;
  vid: number;
  /** The NIC (nicKey) the address is probed for. */
  nic: string;
  /** When the first probe went out; null: not yet (no open uplink). */
  started: number | null;
  /** The window passed with no LAN holder. */
  passed: boolean;
  /** The LAN host that refused it (its MAC), or null. */
  holder: number | null;
  /** A LAN MAC that appeared for the address after it passed (logged and counted once). */
  conflictMac: number | null;
}

/** The cluster's address claims (src/daemon/cluster/cluster.ts); absent on a host of its own. */
export interface AddressClaims {
  /**
   * May this member have `ip` (IPv4 as uint32, IPv6 as canonical text) on switch `sw`: 'mine',
   * 'wait' (asked; the answer marks the switch), or the member holding it.
   */
  claim(sw: string, ip: number | string): 'mine' | 'wait' | { member: string };
  /** The switch's IPv4 addresses wanted here now (the others are released). */
  inUse(sw: string, ips: Iterable<number>): void;
  /** The switch's IPv6 addresses wanted here now (the others are released; IPv4's are inUse's). */
  inUse6(sw: string, ips: Iterable<string>): void;
  /** `fn(sw)` when a claim's answer changed ('' : every switch). */
  listen(fn: (sw: string) => void): void;
  /** Is this MAC an uplink of a member of the cluster (whose addresses the claims decide, not the LAN probe)? */
  isMemberMac(mac: number): boolean;
  /**
   * Did `ip` on `sw` just come here with a relocated guest (VMRELOCATE)? It passed its probe on
   * the member it came from and stayed registered there until the hand-over: it is not probed
   * again (the probe's window would be a gap in the guest's traffic).
   */
  handedOver?(sw: string, ip: number): boolean;
}

/** The second probe's delay and the whole window after the first, in ms (RFC 5227 scaled down: guests wait for it). */
export const PROBE_INTERVAL_MS = 100;
export const PROBE_WINDOW_MS = 300;

export class LanIpSync implements Syncer {
  /** Switch name -> lanIpKey(vid, ip) -> what the data plane holds. */
  private readonly posted = new Map<string, Map<number, Posted>>();
  /** Switch name -> the usable uplink path, since when, and how many of ANNOUNCE_AGAIN_MS are done. */
  private readonly paths = new Map<string, { path: string; since: number; round: number }>();
  /** Refused claims, logged and counted once (claim-conflicts.ts). */
  private readonly conflicts: ClaimConflicts;
  private readonly marks: Marks<string>;
  /** Switch name -> lanIpKey(vid, ip) -> its probe of the LAN. */
  private readonly probes = new Map<string, Map<number, Probe>>();
  /** The cluster's claims of the addresses (member-claims.ts; none without a cluster). */
  private readonly members: MemberClaims<number>;

  constructor(
    private readonly state: State,
    private readonly dp: DataPlanePort,
    private readonly switches: DataPlaneSwitches,
    private readonly nics: NicBackends,
    private readonly uplinks: Uplinks,
    private readonly controllers: ControllerManager,
    private readonly log: Logger,
    private readonly touch: Touch,
    private readonly clock: Clock,
    private readonly claims: AddressClaims | null = null,
  ) {
    this.marks = touch.switchMarks();
    this.conflicts = new ClaimConflicts(dp, log, 'ip', 'address');
    this.members = new MemberClaims<number>(claims, dp, log, 'ip', formatIpv4, (c, sw, ips) => c.inUse(sw, ips));
    claims?.listen((sw) => (sw === '' ? touch.allSwitches() : touch.switch(sw)));
  }

  /**
   * The switch's addresses the manager may register: those of which an entry (in any VLAN)
   * passed its probe of the LAN (and, in a cluster, that are this member's), each once.
   */
  registrable(sw: string): number[] {
    const out = new Set<number>();
    for (const p of this.probes.get(sw)?.values() ?? []) if (p.passed && p.holder === null && this.members.mine(sw, p.ip)) out.add(p.ip);
    return [...out];
  }

  /**
   * Why the address is local only in VLAN `vid`, as far as the LAN probe tells; null: not the
   * probe's doing (passed, or not started: no open uplink).
   */
  reason(sw: string, ip: number, vid: number = VLAN_NONE): string | null {
    const elsewhere = this.members.elsewhere(sw, ip);
    if (elsewhere !== undefined) return `held by member ${elsewhere} of the cluster`;
    const p = this.probes.get(sw)?.get(lanIpKey(vid, ip));
    if (!p) return null;
    if (p.holder !== null) return `in use on the LAN by MAC ${formatMac(p.holder)}`;
    if (this.claims !== null && this.claims.claim(sw, ip) !== 'mine') return "waiting for the cluster's store";
    return p.passed || p.started === null ? null : 'probing the LAN';
  }

  /** The data plane saw `ip` held on switch `sw`'s LAN in VLAN `vid` by `mac` (a probe's answer, or ARP of an address in the table). */
  lanHolder(sw: number, ip: number, mac: number, vid: number = VLAN_NONE): void {
    const name = this.switches.nameOf(sw);
    if (name === undefined) return;
    const p = this.probes.get(name)?.get(lanIpKey(vid, ip));
    if (!p || this.claims?.isMemberMac(mac)) return;
    const c = this.dp.counters;
    if (!p.passed && p.holder === null) {
      p.holder = mac;
      c[dropSlot(sw, DropReason.AddressConflict)]++;
      this.log.warn({ vswitch: name, ip: formatIpv4(ip), vlan: p.vid, nic: p.nic, lanMac: formatMac(mac) }, 'address refused: in use on the LAN');
      this.touch.switch(name);
    } else if (p.passed && p.conflictMac !== mac) {
      p.conflictMac = mac;
      c[dropSlot(sw, DropReason.AddressConflict)]++;
      this.log.warn({ vswitch: name, ip: formatIpv4(ip), vlan: p.vid, nic: p.nic, lanMac: formatMac(mac) }, 'address conflict: a registered address is in use on the LAN');
    }
  }

  /** Start the probe `p` (of its address in its VLAN, table key `key`) on switch `name` (data-plane number `sw`). */
  private startProbe(name: string, sw: number, key: number, p: Probe): void {
    const { vid, ip } = p;
    p.started = this.clock.now();
    this.dp.post({ op: 'probe', sw, vid, ip });
    const current = () => this.probes.get(name)?.get(key) === p && p.holder === null;
    this.clock.after(PROBE_INTERVAL_MS, () => { if (current()) this.dp.post({ op: 'probe', sw, vid, ip }); });
    this.clock.after(PROBE_WINDOW_MS, () => {
      if (!current()) return;
      p.passed = true;
      this.log.info({ vswitch: name, ip: formatIpv4(ip), vlan: vid, nic: p.nic }, 'address probed: no one on the LAN holds it');
      this.touch.switch(name);
    });
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
      this.conflicts.forget(name);
      this.paths.delete(name);
      this.probes.delete(name);
      this.members.forget(name);
      return;
    }
    this.controllers.wantedChanged(name);
    let posted = this.posted.get(name);
    if (!posted) this.posted.set(name, (posted = new Map()));
    const vidOf = vidOfOn(def);
    // Registered with the adapter per address; an entry refused by a LAN holder in its VLAN stays local only.
    const isRegistered = (ip: number, vid: number): boolean => (this.controllers.registration(name, 'ipv4', ip)?.registered ?? false)
      && (this.probes.get(name)?.get(lanIpKey(vid, ip))?.holder ?? null) === null;
    const conflicts = this.state.recomputeLanIp(name, isRegistered, vidOf);
    this.conflicts.report(name, sw, conflicts.map((k) => ({ ...k, text: formatIpv4(k.ip) })));
    const table = def.lanIp;
    let probes = this.probes.get(name);
    if (!probes) this.probes.set(name, (probes = new Map()));
    for (const [key, pr] of probes) {
      const e = table.get(key);
      if (!e || nicKey(e.userid, e.vdev) !== pr.nic || this.nics.port(e.userid, e.vdev) === null) probes.delete(key);
    }
    const withPort = [...table.values()].filter((e) => this.nics.port(e.userid, e.vdev) !== null).map((e): [number, LanIpEntry] => [e.ip, e]);
    const elsewhere = this.members.claimAll(name, sw, withPort, (ip) => {
      for (const [key, pr] of this.probes.get(name) ?? []) if (pr.ip === ip) this.probes.get(name)!.delete(key);
    });
    const refused = (key: number, ip: number): boolean => (probes.get(key)?.holder ?? null) !== null || elsewhere.has(ip);
    for (const [key, p] of posted) {
      const e = table.get(key);
      const port = e ? this.nics.port(e.userid, e.vdev) : null;
      if (!e || port !== p.port || refused(key, p.ip)) {
        this.dp.post({ op: 'ip-clear', sw, vid: p.vid, ip: p.ip });
        posted.delete(key);
        this.log.info({ vswitch: name, ip: formatIpv4(p.ip), vlan: p.vid }, 'address deregistered');
      }
    }
    const up = this.uplinks.open(name);
    const usable = this.controllers.uplinkUsable(name);
    const path = up !== null && usable !== null ? `${up.port}/${usable}` : null;
    let registered = false;
    for (const e of table.values()) if (!e.localOnly) { registered = true; break; }
    const again = this.announceAgain(name, registered ? path : null, now);
    for (const [key, e] of table) {
      const { ip, vid } = e;
      const port = this.nics.port(e.userid, e.vdev);
      if (port === null) continue;
      // In a cluster the LAN is probed once the address is this member's: another member's uplink
      // answers for it until then, so what was seen of the LAN before does not count.
      const mine = this.claims === null || this.claims.claim(name, ip) === 'mine';
      let pr = probes.get(key);
      if (!pr) probes.set(key, (pr = { ip, vid, nic: nicKey(e.userid, e.vdev), started: null, passed: false, holder: null, conflictMac: null }));
      if (this.claims !== null && mine && pr.started === null) pr.holder = null;
      if (pr.started === null && path !== null && mine) {
        if (this.claims?.handedOver?.(name, ip) === true) {
          pr.started = now;
          pr.passed = true;
          this.log.info({ vswitch: name, ip: formatIpv4(ip), vlan: vid, nic: pr.nic }, 'address handed over with a relocated guest: not probed again');
          this.touch.switch(name);
        } else this.startProbe(name, sw, key, pr);
      }
      if (pr.holder !== null || elsewhere.has(ip)) continue;
      // Not in the data plane while its probe runs: guests' ARP for it is not answered, its frames
      // do not pass (a tentative address, as DAD has it), so a contested address never reaches the
      // claimant even for the length of the window. One posted before the path existed stays.
      if (pr.started !== null && !pr.passed && !posted.has(key)) continue;
      let p = posted.get(key);
      if (!p || p.port !== port || p.localOnly !== e.localOnly) {
        this.dp.post({ op: 'ip-set', sw, vid, ip, port, localOnly: e.localOnly });
        p = { ip, port, vid, localOnly: e.localOnly, announcedOn: p && p.port === port && !e.localOnly ? p.announcedOn : null };
        posted.set(key, p);
        this.log.info({ vswitch: name, ip: formatIpv4(ip), vlan: vid, nic: nicKey(e.userid, e.vdev), localOnly: e.localOnly },
          e.localOnly ? 'address in the LAN IP table (local only)' : 'address in the LAN IP table (registered with the adapter)');
      }
      if (!e.localOnly && path !== null && (p.announcedOn !== path || again)) {
        this.dp.post({ op: 'announce', sw, vid, ip });
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

