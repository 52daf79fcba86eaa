/**
 * The controller's logic (seed Fig. 4, the controller's side), independent of the socket:
 * takes decoded daemon messages, answers through `send`, and reports RDEV changes it sees.
 *
 * - ControlSwitch: for each RDEV, if the interface exists and is Ethernet it is set up (IFF_UP)
 *   through rtnetlink, then its MTU, MAC and carrier are read; the answer is one
 *   InitializationComplete with a status per RDEV (ok = exists, Ethernet, up, carrier).
 * - RegisterAddress: accepted when the RDEV is ok (the LAN then reaches the address through it:
 *   the data plane answers ARP for registered addresses with the adapter's MAC); refused with
 *   the reason otherwise. DeregisterAddress forgets it. No answer is sent for a deregistration.
 * - Link changes (from the LinkMonitor): an RDEV of a controlled switch whose status changed
 *   (carrier, up, MTU, appeared, removed) is reported as a LinkEvent; an RDEV that appears is
 *   set up first.
 * - RegisterGroup: when the RDEV is ok, the group's MAC (01:00:5e + its low 23 bits) is put
 *   in the RDEV's multicast filter (SIOCADDMULTI, LinkOps.addMulticast) so the adapter accepts
 *   the group's frames from the LAN; answered GroupRegistered ok, or refused with the reason
 *   (RDEV not ok, the ioctl failed). DeregisterGroup takes the MAC out (SIOCDELMULTI) unless
 *   another registered group of that RDEV maps to the same MAC; no answer.
 * - ReleaseSwitch: the switch and its addresses are forgotten. Filter entries stay (the daemon
 *   deregisters groups itself before it releases a switch it removes; a switch moving to
 *   another controller keeps its entries, which that controller registers again), so no
 *   release can race a new controller's registration.
 * The controller never touches frames.
 */
import type { Logger } from 'pino';
import type { RdevStatus, ToController, ToDaemon } from '../protocol/controller.js';
import { isEthernet, type LinkMessage, type LinkState } from './rtnl.js';
import { formatMac, parseIpv4 } from '../wire/addr.js';
import { groupMac } from '../wire/igmp.js';

/** What the logic needs of rtnetlink (Rtnl; tests pass a fake). */
export interface LinkOps {
  get(name: string): LinkState | null;
  setUp(name: string): void;
  /** Add / remove a MAC (48-bit number) in the link's multicast filter. Throw on failure. */
  addMulticast(name: string, mac: number): void;
  delMulticast(name: string, mac: number): void;
}

interface Controlled {
  rdevs: string[];
  last: Map<string, RdevStatus>;
  /** rdev -> registered addresses (dotted). */
  addresses: Map<string, Set<string>>;
  /** rdev -> registered multicast groups (dotted). */
  groups: Map<string, Set<string>>;
}

export class ControllerLogic {
  private readonly switches = new Map<string, Controlled>();

  constructor(private readonly links: LinkOps, private readonly send: (m: ToDaemon) => void, private readonly log: Logger) {}

  /** Switches controlled now (for logs and tests). */
  controlled(): string[] {
    return [...this.switches.keys()];
  }

  /** Forget everything (the daemon connection was lost; a new one starts over). */
  reset(): void {
    this.switches.clear();
  }

  handle(m: ToController): void {
    switch (m.t) {
      case 'control-switch': {
        const c: Controlled = { rdevs: [...m.rdevs], last: new Map(), addresses: new Map(), groups: new Map() };
        this.switches.set(m.switch, c);
        const statuses = m.rdevs.map((r) => this.initialise(r));
        for (const s of statuses) c.last.set(s.rdev, s);
        this.log.info({ vswitch: m.switch, rdevs: statuses }, 'ControlSwitch: adapters initialised');
        this.send({ t: 'initialization-complete', switch: m.switch, rdevs: statuses });
        return;
      }
      case 'release-switch':
        this.switches.delete(m.switch);
        this.log.info({ vswitch: m.switch }, 'switch released');
        return;
      case 'register-address': {
        const c = this.switches.get(m.switch);
        const reason = this.cannotRegister(m.switch, m.rdev);
        if (reason === undefined) {
          let set = c!.addresses.get(m.rdev);
          if (!set) c!.addresses.set(m.rdev, (set = new Set()));
          set.add(m.ip);
          this.log.info({ vswitch: m.switch, rdev: m.rdev, ip: m.ip }, 'address registered with the adapter');
          this.send({ t: 'address-registered', switch: m.switch, rdev: m.rdev, ip: m.ip, ok: true });
        } else {
          this.log.warn({ vswitch: m.switch, rdev: m.rdev, ip: m.ip, reason }, 'address registration refused');
          this.send({ t: 'address-registered', switch: m.switch, rdev: m.rdev, ip: m.ip, ok: false, reason });
        }
        return;
      }
      case 'deregister-address': {
        this.switches.get(m.switch)?.addresses.get(m.rdev)?.delete(m.ip);
        this.log.info({ vswitch: m.switch, rdev: m.rdev, ip: m.ip }, 'address deregistered');
        return;
      }
      case 'register-group': {
        const c = this.switches.get(m.switch);
        const mac = groupMac(parseIpv4(m.group));
        let reason = this.cannotRegister(m.switch, m.rdev);
        if (reason === undefined) {
          try {
            this.links.addMulticast(m.rdev, mac);
          } catch (e) {
            reason = `${m.rdev}: cannot add ${formatMac(mac)} to its multicast filter: ${(e as Error).message}`;
          }
        }
        if (reason === undefined) {
          let set = c!.groups.get(m.rdev);
          if (!set) c!.groups.set(m.rdev, (set = new Set()));
          set.add(m.group);
          this.log.info({ vswitch: m.switch, rdev: m.rdev, group: m.group, mac: formatMac(mac) }, 'multicast group registered with the adapter');
          this.send({ t: 'group-registered', switch: m.switch, rdev: m.rdev, group: m.group, ok: true });
        } else {
          this.log.warn({ vswitch: m.switch, rdev: m.rdev, group: m.group, reason }, 'multicast group registration refused');
          this.send({ t: 'group-registered', switch: m.switch, rdev: m.rdev, group: m.group, ok: false, reason });
        }
        return;
      }
      case 'deregister-group': {
        const c = this.switches.get(m.switch);
        if (!c || !c.rdevs.includes(m.rdev)) {
          this.log.warn({ vswitch: m.switch, rdev: m.rdev, group: m.group }, 'DeregisterGroup for an RDEV this controller does not control; ignored');
          return;
        }
        const set = c.groups.get(m.rdev);
        set?.delete(m.group);
        const mac = groupMac(parseIpv4(m.group));
        if ([...(set ?? [])].some((g) => groupMac(parseIpv4(g)) === mac)) {
          this.log.info({ vswitch: m.switch, rdev: m.rdev, group: m.group }, 'multicast group deregistered; its MAC stays (another group maps to it)');
          return;
        }
        try {
          this.links.delMulticast(m.rdev, mac);
          this.log.info({ vswitch: m.switch, rdev: m.rdev, group: m.group, mac: formatMac(mac) }, 'multicast group deregistered from the adapter');
        } catch (e) {
          this.log.warn({ vswitch: m.switch, rdev: m.rdev, group: m.group, err: String(e) }, 'could not take the group out of the multicast filter');
        }
        return;
      }
      default:
        return;
    }
  }

  /** A link changed (or a resync): report every controlled RDEV whose status changed. */
  linkChanged(m: LinkMessage | null): void {
    const name = m === null ? null : m.added ? m.link.name : m.name;
    for (const [sw, c] of this.switches) {
      for (const r of c.rdevs) {
        if (name !== null && r !== name && !(m && !m.added && m.name === null)) continue;
        const before = c.last.get(r);
        let s = this.status(r);
        if (s.exists && !s.up && m?.added && before && !before.exists) s = this.initialise(r); // appeared: set it up
        if (before && same(before, s)) continue;
        c.last.set(r, s);
        this.log.info({ vswitch: sw, status: s }, 'RDEV changed');
        this.send({ t: 'link-event', switch: sw, status: s });
      }
    }
  }

  private initialise(rdev: string): RdevStatus {
    try {
      const l = this.links.get(rdev);
      if (l && isEthernet(l) && !l.up) this.links.setUp(rdev);
    } catch (e) {
      this.log.warn({ rdev, err: String(e) }, 'could not set the RDEV up');
      const s = this.status(rdev);
      return s.ok ? s : { ...s, ok: false, reason: `cannot set it up: ${(e as Error).message}` };
    }
    return this.status(rdev);
  }

  /**
   * Why an address or group cannot be registered on `rdev` of switch `name` now (the RDEV's
   * status is read afresh and remembered), or undefined when it can.
   */
  private cannotRegister(name: string, rdev: string): string | undefined {
    const c = this.switches.get(name);
    if (!c) return `switch ${name} is not controlled by this controller`;
    if (!c.rdevs.includes(rdev)) return `${rdev} is not an RDEV of switch ${name}`;
    const s = this.status(rdev);
    c.last.set(rdev, s);
    return s.ok ? undefined : `${rdev}: ${s.reason ?? 'not ready'}`;
  }

  private status(rdev: string): RdevStatus {
    let l: LinkState | null;
    try {
      l = this.links.get(rdev);
    } catch (e) {
      return { rdev, ok: false, reason: `cannot read it: ${(e as Error).message}`, exists: false, up: false, carrier: false, mtu: 0, mac: '' };
    }
    if (!l) return { rdev, ok: false, reason: 'no such interface', exists: false, up: false, carrier: false, mtu: 0, mac: '' };
    const s: RdevStatus = { rdev, ok: false, exists: true, up: l.up, carrier: l.carrier, mtu: l.mtu, mac: l.mac };
    if (!isEthernet(l)) s.reason = `not an Ethernet interface (type ${l.type})`;
    else if (!l.up) s.reason = 'interface is down';
    else if (!l.carrier) s.reason = 'no carrier';
    else s.ok = true;
    return s;
  }
}

function same(a: RdevStatus, b: RdevStatus): boolean {
  return a.ok === b.ok && a.exists === b.exists && a.up === b.up && a.carrier === b.carrier && a.mtu === b.mtu && a.mac === b.mac && a.reason === b.reason;
}
