/**
 * The controller's logic (seed Fig. 4, the controller's side), independent of the socket:
 * takes decoded daemon messages, answers through `send`, and reports RDEV changes it sees.
 *
 * - ControlSwitch: for each RDEV, if the interface exists and is Ethernet it is set up (IFF_UP)
 *   through rtnetlink, then its MTU, MAC and carrier are read; the answer is one
 *   InitializationComplete with a status per RDEV (ok = exists, Ethernet, up, carrier).
 * - RegisterAddress{kind}: accepted when the RDEV is ok and the kind's programming of the RDEV
 *   worked, refused with the reason otherwise; DeregisterAddress undoes it. No answer is sent for
 *   a deregistration; one for an RDEV this controller does not control is ignored. The kinds
 *   (ADAPTER_KINDS):
 *   - 'ipv4', a guest's address: nothing to program (the LAN then reaches the address through
 *     the RDEV: the data plane answers ARP for registered addresses with the adapter's MAC).
 *   - 'ipv4-group', a multicast group a guest joined: the group's MAC (01:00:5e + its low 23
 *     bits) is put in the RDEV's multicast filter (SIOCADDMULTI, LinkOps.addMulticast) so the
 *     adapter accepts the group's frames from the LAN; refused when the ioctl fails.
 *     Deregistration takes the MAC out (SIOCDELMULTI) unless another registered group of that
 *     RDEV maps to the same MAC.
 *   - 'ipv6', a guest's IPv6 address: what Linux does for an address it holds itself, the
 *     adapter listens to the address's solicited-node group (ff02::1:ffXX:XXXX, MAC
 *     33:33:ff:XX:XX:XX) and to all nodes (ff02::1, 33:33:00:00:00:01: RAs, DAD defences), so
 *     the LAN's Neighbor Solicitations for the address reach the uplink even when the RDEV has
 *     no IPv6 of its own; both MACs go in the multicast filter the same way (refused when the
 *     ioctl fails), and out on deregistration unless another registered address of the RDEV
 *     needs them.
 *   - 'ipv6-group', an IPv6 multicast group a guest joined (MLD): its MAC (33:33 + its last 32
 *     bits) in the filter, as an IPv4 group's.
 * - Link changes (from the LinkMonitor): an RDEV of a controlled switch whose status changed
 *   (carrier, up, MTU, appeared, removed, made again under a new interface index) is reported
 *   as a LinkEvent; an RDEV that appears is set up first. What was registered on an RDEV that
 *   was removed or made again is forgotten (its multicast filter went with the old interface;
 *   the daemon registers it again). The kernel batches link notifications (linkwatch) and
 *   can send a carrier loss up to a second late, while a read of the link sees it at once: so
 *   every controlled RDEV is also read every CARRIER_POLL_MS (`pollLosses`), and one that was
 *   ready and is not any more is reported then (a loss only: a gain waits for the
 *   notification, when the other end of the link has heard of it too).
 * - ReleaseSwitch: the switch and its addresses are forgotten. Filter entries stay (the daemon
 *   deregisters groups itself before it releases a switch it removes; a switch moving to
 *   another controller keeps its entries, which that controller registers again), so no
 *   release can race a new controller's registration.
 * The controller never touches frames.
 */
import type { Logger } from 'pino';
import type { AddressKind, AddressRef, RdevStatus, ToController, ToDaemon } from '../protocol/controller.js';
import { isEthernet, type LinkMessage, type LinkState } from './rtnl.js';
import { formatMac, parseIpv4 } from '../wire/addr.js';
import { groupMac } from '../wire/igmp.js';
import { parseIpv6 } from '../wire/ipv6.js';

/** What the logic needs of rtnetlink (Rtnl; tests pass a fake). */
/** How often the RDEVs of controlled switches are read (ms), so a carrier loss is seen within this, not up to a second later. */
export const CARRIER_POLL_MS = 100;

export interface LinkOps {
  get(name: string): LinkState | null;
  setUp(name: string): void;
  /** Add / remove a MAC (48-bit number) in the link's multicast filter. Throw on failure. */
  addMulticast(name: string, mac: number): void;
  delMulticast(name: string, mac: number): void;
}

/** What registering an address of one kind does to an RDEV. */
interface AdapterKind {
  /** What the logs call it. */
  noun: string;
  /** Log fields that say what it is on the adapter. */
  detail(address: string): Record<string, string>;
  /** Program `rdev` for it; returns why that failed (it is then refused), or undefined. */
  program(links: LinkOps, rdev: string, address: string): string | undefined;
  /** Undo `program`; `kept`: the addresses of this kind still registered on `rdev`. Returns a note for the log, or null. Throws on failure. */
  unprogram(links: LinkOps, rdev: string, address: string, kept: ReadonlySet<string>): string | null;
}

const groupMacOf = (group: string): number[] => [groupMac(parseIpv4(group))];

/** ff02::1's MAC. */
const ALL_NODES_MAC = 0x333300000001;

/** The MACs an IPv6 address needs in the filter: its solicited-node group's and all nodes'; none for text that is no address. */
const solicitedMacsOf = (address: string): number[] => {
  const a = parseIpv6(address);
  return a === null ? [] : [0x3333ff000000 + (a[13] << 16 | a[14] << 8 | a[15]), ALL_NODES_MAC];
};

/**
 * A kind registered as MACs in the RDEV's multicast filter (`macsOf` the address: every one is
 * added; on deregistration each one no other address of the kind still registered needs is
 * taken out).
 */
function filterKind(noun: string, macsOf: (address: string) => number[]): AdapterKind {
  return {
    noun,
    detail: (address) => ({ mac: macsOf(address).map((m) => formatMac(m)).join(' ') }),
    program(links, rdev, address) {
      const macs = macsOf(address);
      if (macs.length === 0) return `${address} is not a valid ${noun}`;
      for (const mac of macs) {
        try {
          links.addMulticast(rdev, mac);
        } catch (e) {
          return `${rdev}: cannot add ${formatMac(mac)} to its multicast filter: ${(e as Error).message}`;
        }
      }
      return undefined;
    },
    unprogram(links, rdev, address, kept) {
      const needed = new Set([...kept].flatMap(macsOf));
      const out = macsOf(address).filter((m) => !needed.has(m));
      for (const mac of out) links.delMulticast(rdev, mac);
      return out.length === 0 ? 'its MAC stays (another address of the kind maps to it)' : `${out.map((m) => formatMac(m)).join(' ')} taken out of the multicast filter`;
    },
  };
}

export const ADAPTER_KINDS: Record<AddressKind, AdapterKind> = {
  ipv4: {
    noun: 'address',
    detail: () => ({}),
    program: () => undefined,
    unprogram: () => null,
  },
  'ipv4-group': filterKind('multicast group', groupMacOf),
  ipv6: filterKind('IPv6 address', solicitedMacsOf),
  'ipv6-group': filterKind('IPv6 multicast group', (g) => { const a = parseIpv6(g); return a === null || a[0] !== 0xff ? [] : [0x333300000000 + (a[12] * 0x1000000 + (a[13] << 16 | a[14] << 8 | a[15]))]; }),
};

interface Controlled {
  rdevs: string[];
  last: Map<string, RdevStatus>;
  /** kind -> rdev -> registered addresses (as the daemon sent them). */
  registered: Map<AddressKind, Map<string, Set<string>>>;
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
        const c: Controlled = { rdevs: [...m.rdevs], last: new Map(), registered: new Map() };
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
        const { t: _, ...ref } = m;
        const k = ADAPTER_KINDS[m.kind];
        const what = logFields(ref);
        const reason = this.cannotRegister(m.switch, m.rdev) ?? k.program(this.links, m.rdev, m.address);
        if (reason === undefined) {
          this.registeredOn(this.switches.get(m.switch)!, m.kind, m.rdev).add(m.address);
          this.log.info({ ...what, ...k.detail(m.address) }, `${k.noun} registered with the adapter`);
          this.send({ t: 'address-registered', ...ref, ok: true });
        } else {
          this.log.warn({ ...what, reason }, `${k.noun} registration refused`);
          this.send({ t: 'address-registered', ...ref, ok: false, reason });
        }
        return;
      }
      case 'deregister-address': {
        const k = ADAPTER_KINDS[m.kind];
        const what = logFields(m);
        const c = this.switches.get(m.switch);
        if (!c || !c.rdevs.includes(m.rdev)) {
          this.log.warn(what, 'DeregisterAddress for an RDEV this controller does not control; ignored');
          return;
        }
        const kept = this.registeredOn(c, m.kind, m.rdev);
        kept.delete(m.address);
        try {
          const note = k.unprogram(this.links, m.rdev, m.address, kept);
          this.log.info({ ...what, ...(note === null ? {} : { note }) }, `${k.noun} deregistered`);
        } catch (e) {
          this.log.warn({ ...what, err: String(e) }, `could not take the ${k.noun} off the adapter`);
        }
        return;
      }
      default:
        return;
    }
  }

  /** A link changed (`m`), or null: a resync, which reads every controlled RDEV. Reports every controlled RDEV whose status changed. */
  linkChanged(m: LinkMessage | null): void {
    const name = m === null ? null : m.added ? m.link.name : m.name;
    for (const [sw, c] of this.switches) {
      for (const r of c.rdevs) {
        if (name !== null && r !== name && !(m && !m.added && m.name === null)) continue;
        const before = c.last.get(r);
        let s = this.status(r);
        const remade = before !== undefined && s.exists && (!before.exists || before.ifindex !== s.ifindex);
        if (s.exists && !s.up && remade) s = this.initialise(r); // appeared: set it up
        if (remade || !s.exists) for (const byRdev of c.registered.values()) byRdev.delete(r); // its filter went with it
        if (before && same(before, s)) continue;
        c.last.set(r, s);
        this.log.info({ vswitch: sw, status: s }, 'RDEV changed');
        this.send({ t: 'link-event', switch: sw, status: s });
      }
    }
  }

  /**
   * The carrier poll (main.ts, every CARRIER_POLL_MS): a controlled RDEV that was ready and is
   * not any more is reported at once. Nothing else is: an RDEV coming up (or any other change)
   * waits for the kernel's own notification, by which time the LAN's side of the link has heard
   * of it too (a Linux bridge port forwards only once that notification reaches it).
   */
  pollLosses(): void {
    for (const [sw, c] of this.switches) {
      for (const r of c.rdevs) {
        const before = c.last.get(r);
        if (!before?.ok) continue;
        const s = this.status(r);
        if (s.ok) continue;
        c.last.set(r, s);
        this.log.info({ vswitch: sw, status: s }, 'RDEV no longer ready (seen by the carrier poll)');
        this.send({ t: 'link-event', switch: sw, status: s });
      }
    }
  }

  private registeredOn(c: Controlled, kind: AddressKind, rdev: string): Set<string> {
    let byRdev = c.registered.get(kind);
    if (!byRdev) c.registered.set(kind, (byRdev = new Map()));
    let set = byRdev.get(rdev);
    if (!set) byRdev.set(rdev, (set = new Set()));
    return set;
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
   * Why an address (of any kind) cannot be registered on `rdev` of switch `name` now (the RDEV's
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
      return { rdev, ok: false, reason: `cannot read it: ${(e as Error).message}`, exists: false, up: false, carrier: false, mtu: 0, mac: '', ifindex: 0 };
    }
    if (!l) return { rdev, ok: false, reason: 'no such interface', exists: false, up: false, carrier: false, mtu: 0, mac: '', ifindex: 0 };
    const s: RdevStatus = { rdev, ok: false, exists: true, up: l.up, carrier: l.carrier, mtu: l.mtu, mac: l.mac, ifindex: l.index };
    if (!isEthernet(l)) s.reason = `not an Ethernet interface (type ${l.type})`;
    else if (!l.up) s.reason = 'interface is down';
    else if (!l.carrier) s.reason = 'no carrier';
    else s.ok = true;
    return s;
  }
}

function logFields(r: AddressRef): Record<string, string> {
  return { vswitch: r.switch, rdev: r.rdev, kind: r.kind, address: r.address };
}

function same(a: RdevStatus, b: RdevStatus): boolean {
  return a.ok === b.ok && a.exists === b.exists && a.up === b.up && a.carrier === b.carrier && a.mtu === b.mtu && a.mac === b.mac && a.reason === b.reason && a.ifindex === b.ifindex;
}
