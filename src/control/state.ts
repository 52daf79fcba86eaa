/**
 * The control plane's state model: switches (the System LAN Table), guests (the user
 * directory), NICs with their allocations, couplings, and each switch's LAN IP table.
 *
 * Contract:
 * - A command is first checked against the state by its verb module (src/control/commands/),
 *   which returns a typed Change or an error; nothing here changes until `applyChange`.
 * - `applyChange` only takes Changes produced by a check against this same state, and keeps the
 *   invariants: a NIC's coupled switch exists; a switch with coupled NICs is not removed; a guest
 *   with NICs is not removed; MAC serials are unique among existing NICs; a guest's vdev
 *   triplets, subchannels and CHPIDs do not overlap.
 * - The LAN IP tables and the addresses seen on each NIC are run-time facts (from the guests'
 *   namespaces, or what a QEMU guest announced on its NIC), kept here for queries and
 *   reconciliation, never journaled.
 * - `beforeChange(fn)`: fn hears of every applied Change and every address a NIC gains or
 *   loses, just before it is made (the reconciler marks from it what a pass must look at).
 * No I/O here.
 */
import type { Mode, QemuTransport, TapOwner } from './grammar.js';

export const DEFAULT_MAC_PREFIX = 0x020000;
export const MAC_SERIALS = 0x1000000;
/** Subchannel numbers and CHPIDs a guest can have. */
export const MAX_SUBCHANNELS = 0x10000;
export const MAX_CHPIDS = 0x100;

export interface SwitchDef {
  name: string;
  mode: Mode;
  rdevs: string[];
  controller: string;
  queueBytes: number;
}

export interface LanIpEntry {
  ip: number;
  userid: string;
  vdev: number;
  /** True until the uplink has registered the address. */
  localOnly: boolean;
}

export interface Vswitch extends SwitchDef {
  /** The LAN IP table: address -> NIC. */
  lanIp: Map<number, LanIpEntry>;
  /** The IPv6 part of the LAN IP table: canonical address text (wire/ipv6.ts formatIpv6) -> NIC. */
  lanIp6: Map<string, LanIp6Entry>;
}

/** An IPv6 LAN IP table entry (LanIpEntry's fields, the address as canonical text). */
export interface LanIp6Entry {
  ip6: string;
  userid: string;
  vdev: number;
  localOnly: boolean;
}

/** What DEFINE NIC allocated: journaled with the command so a replay gives the same NIC. */
export interface NicAlloc {
  macSerial: number;
  mac: number;
  /** Subchannel ids of the read, write and data devices. */
  subchannels: [number, number, number];
  chpid: number;
}

export interface Nic extends NicAlloc {
  userid: string;
  vdev: number;
  /**
   * The NIC's TAP interface: its name in the guest's namespace (namespace guests; `encVDEV` or
   * DEFINE NIC's NAME), or on the daemon's host (QEMU TAP guests, src/control/host-tap-nics.ts);
   * null for a QEMU socket NIC.
   */
  tap: string | null;
  /** Name of the switch it is coupled to, or null. */
  coupled: string | null;
  /**
   * IPv4 addresses the guest holds, in the order they appeared: configured on its interface
   * (namespace guests, seen by the address watcher) or announced / first used on the NIC (QEMU
   * guests, the data plane's saw-address), each with its claim serial: when two NICs claim one
   * address, the earlier claim holds it.
   */
  addresses: Map<number, number>;
  /** The same for IPv6 (canonical text -> claim serial): global, unique-local and link-local. */
  addresses6: Map<string, number>;
}

export interface Guest {
  userid: string;
  /**
   * Network namespace of a container guest: a name (/run/netns/NAME, made if absent) or a path
   * (starts with '/': a container runtime's namespace, never made or removed by the daemon;
   * src/control/netns-watch.ts cleans the guest up when it disappears); null for a QEMU guest.
   */
  netns: string | null;
  /** A QEMU guest's NIC transport (src/control/qemu-nics.ts, host-tap-nics.ts); null for a container. */
  qemu: QemuTransport | null;
  /** QEMU TAP guests: who may open its TAPs besides root, when DEFINE GUEST said so. */
  tapOwner?: TapOwner;
  nics: Map<number, Nic>;
}

export type Change =
  | { t: 'switch-add'; sw: SwitchDef }
  | { t: 'switch-remove'; name: string }
  | { t: 'guest-add'; userid: string; netns: string | null; qemu: QemuTransport | null; tapOwner?: TapOwner }
  | { t: 'guest-remove'; userid: string }
  | { t: 'nic-add'; userid: string; vdev: number; alloc: NicAlloc; tap: string | null }
  | { t: 'nic-remove'; userid: string; vdev: number }
  | { t: 'couple'; userid: string; vdev: number; sw: string }
  | { t: 'uncouple'; userid: string; vdev: number }
  | { t: 'macprefix'; prefix: number }
  | { t: 'switch-controller'; name: string; controller: string };

/** A change to the state as `beforeChange` listeners hear of it: a command's, or a NIC's address coming or going. */
export type StateChange = Change | { t: 'address'; userid: string; vdev: number; ip: number; added: boolean }
  | { t: 'address6'; userid: string; vdev: number; ip6: string; added: boolean };

/** Linux on Z's interface name for a vdev: enc + lower-case hex without leading zeros. */
export function tapName(vdev: number): string {
  return `enc${vdev.toString(16)}`;
}

/**
 * The default name of a QEMU TAP guest's TAP on the host: user id and vdev in lower case,
 * `vm1-0600` (at most 13 characters; '#' and '$', which interface names do not take, become '_').
 */
export function hostTapName(userid: string, vdev: number): string {
  return `${userid.toLowerCase().replace(/[#$]/g, '_')}-${vdev.toString(16).padStart(4, '0')}`;
}

export class State {
  macPrefix = DEFAULT_MAC_PREFIX;
  readonly switches = new Map<string, Vswitch>();
  readonly guests = new Map<string, Guest>();
  /** Next MAC serial to try (serials are handed out in turn and skip those in use). */
  nextMacSerial = 1;
  private readonly serialsInUse = new Set<number>();
  /** Orders address claims across NICs (first come, first served). */
  private claimSerial = 0;
  private readonly listeners: Array<(c: StateChange) => void> = [];
  /** Switch name -> the NICs coupled to it (so a LAN IP table is recomputed without a walk of every guest). */
  private readonly coupledNics = new Map<string, Set<Nic>>();

  /** Be told of every change just before it is made (the reconciler marks what it must look at). */
  beforeChange(fn: (c: StateChange) => void): void {
    this.listeners.push(fn);
  }

  nic(userid: string, vdev: number): Nic | undefined {
    return this.guests.get(userid)?.nics.get(vdev);
  }

  /** NICs coupled to switch `name`, ordered by guest then vdev. */
  coupledTo(name: string): Nic[] {
    const out: Nic[] = [];
    for (const g of [...this.guests.values()].sort((a, b) => cmp(a.userid, b.userid))) {
      for (const n of [...g.nics.values()].sort((a, b) => a.vdev - b.vdev)) {
        if (n.coupled === name) out.push(n);
      }
    }
    return out;
  }


  serialInUse(serial: number): boolean {
    return this.serialsInUse.has(serial);
  }

  /** A fresh MAC serial (never one an existing NIC holds). -1 when all 2^24 are in use. */
  allocMacSerial(): number {
    if (this.serialsInUse.size >= MAC_SERIALS - 1) return -1;
    let s = this.nextMacSerial;
    for (;;) {
      if (s <= 0 || s >= MAC_SERIALS) s = 1;
      if (!this.serialsInUse.has(s)) return s;
      s++;
    }
  }

  macFor(serial: number): number {
    return this.macPrefix * MAC_SERIALS + serial;
  }

  /** Lowest free subchannel ids of a guest (three of them). null if the guest has none left. */
  allocSubchannels(g: Guest): [number, number, number] | null {
    const used = new Set<number>();
    for (const n of g.nics.values()) for (const s of n.subchannels) used.add(s);
    const out: number[] = [];
    for (let s = 0; s < MAX_SUBCHANNELS && out.length < 3; s++) if (!used.has(s)) out.push(s);
    return out.length === 3 ? [out[0], out[1], out[2]] : null;
  }

  /** Lowest free CHPID of a guest; -1 if none is left. */
  allocChpid(g: Guest): number {
    const used = new Set<number>();
    for (const n of g.nics.values()) used.add(n.chpid);
    for (let c = 0; c < MAX_CHPIDS; c++) if (!used.has(c)) return c;
    return -1;
  }

  /** Is an allocation (e.g. from the journal) free in this guest and this state? */
  allocFree(g: Guest, a: NicAlloc): boolean {
    if (this.serialsInUse.has(a.macSerial) || a.macSerial <= 0 || a.macSerial >= MAC_SERIALS) return false;
    for (const n of g.nics.values()) {
      if (n.chpid === a.chpid) return false;
      if (n.subchannels.some((s) => a.subchannels.includes(s))) return false;
      if (n.mac === a.mac) return false;
    }
    return true;
  }

  // ---- Namespace index (issue 9, item 13: DEFINE GUEST's check scanned every guest, so a
  // replay of many DEFINE GUESTs was quadratic). Kept by applyChange's guest-add/guest-remove.
  private readonly netnsOwners = new Map<string, string>();

  /** The guest whose network namespace is `netns`, or undefined. */
  guestOfNetns(netns: string): Guest | undefined {
    const userid = this.netnsOwners.get(netns);
    return userid === undefined ? undefined : this.guests.get(userid);
  }

  /** Apply a checked change. */
  applyChange(c: Change): void {
    for (const l of this.listeners) l(c);
    switch (c.t) {
      case 'switch-add':
        this.switches.set(c.sw.name, { ...c.sw, rdevs: [...c.sw.rdevs], lanIp: new Map(), lanIp6: new Map() });
        return;
      case 'switch-remove':
        this.switches.delete(c.name);
        this.coupledNics.delete(c.name);
        return;
      case 'guest-add':
        this.guests.set(c.userid, { userid: c.userid, netns: c.netns, qemu: c.qemu, ...(c.tapOwner ? { tapOwner: { ...c.tapOwner } } : {}), nics: new Map() });
        if (c.netns !== null) this.netnsOwners.set(c.netns, c.userid);
        return;
      case 'guest-remove':
        this.netnsOwners.delete(this.guests.get(c.userid)?.netns ?? '');
        this.guests.delete(c.userid);
        return;
      case 'nic-add': {
        const g = this.guests.get(c.userid)!;
        g.nics.set(c.vdev, {
          userid: c.userid,
          vdev: c.vdev,
          ...c.alloc,
          subchannels: [...c.alloc.subchannels],
          tap: c.tap,
          coupled: null,
          addresses: new Map(),
          addresses6: new Map(),
        });
        this.serialsInUse.add(c.alloc.macSerial);
        this.nextMacSerial = c.alloc.macSerial + 1 >= MAC_SERIALS ? 1 : c.alloc.macSerial + 1;
        return;
      }
      case 'nic-remove': {
        const g = this.guests.get(c.userid)!;
        const n = g.nics.get(c.vdev)!;
        g.nics.delete(c.vdev);
        if (n.coupled !== null) this.coupledNics.get(n.coupled)?.delete(n);
        this.serialsInUse.delete(n.macSerial);
        return;
      }
      case 'couple': {
        const n = this.nic(c.userid, c.vdev)!;
        if (n.coupled !== null) this.coupledNics.get(n.coupled)?.delete(n);
        n.coupled = c.sw;
        let set = this.coupledNics.get(c.sw);
        if (!set) this.coupledNics.set(c.sw, (set = new Set()));
        set.add(n);
        return;
      }
      case 'uncouple': {
        const n = this.nic(c.userid, c.vdev)!;
        if (n.coupled !== null) this.coupledNics.get(n.coupled)?.delete(n);
        n.coupled = null;
        return;
      }
      case 'macprefix':
        this.macPrefix = c.prefix;
        return;
      case 'switch-controller':
        this.switches.get(c.name)!.controller = c.controller;
        return;
    }
  }

  /** The guest's interface gained or lost an IPv4 address (seen in its namespace). */
  addressEvent(userid: string, vdev: number, ip: number, added: boolean): boolean {
    const n = this.nic(userid, vdev);
    if (!n) return false;
    if (added === n.addresses.has(ip)) return false;
    for (const l of this.listeners) l({ t: 'address', userid, vdev, ip, added });
    if (added) n.addresses.set(ip, this.claimSerial++);
    else n.addresses.delete(ip);
    return true;
  }

  /** The guest's interface gained or lost an IPv6 address (canonical text; seen in its namespace or announced). */
  addressEvent6(userid: string, vdev: number, ip6: string, added: boolean): boolean {
    const n = this.nic(userid, vdev);
    if (!n) return false;
    if (added === n.addresses6.has(ip6)) return false;
    for (const l of this.listeners) l({ t: 'address6', userid, vdev, ip6, added });
    if (added) n.addresses6.set(ip6, this.claimSerial++);
    else n.addresses6.delete(ip6);
    return true;
  }

  /**
   * recomputeLanIp for the IPv6 table (the same rule: one address, one NIC, first claim holds;
   * conflicts returned), `registered` per address.
   */
  recomputeLanIp6(name: string, registered: (ip6: string) => boolean): AddressConflict6[] {
    const sw = this.switches.get(name);
    if (!sw) return [];
    const nics = sw.mode === 'IP' ? this.coupledNics.get(name) ?? [] : [];
    const { table, conflicts } = recomputeClaims(nics, (n) => n.addresses6, sw.lanIp6, registered);
    sw.lanIp6.clear();
    for (const [ip6, e] of [...table].sort((a, b) => cmp(a[0], b[0]))) sw.lanIp6.set(ip6, { ip6, ...e });
    return conflicts.map((c) => ({ ip6: c.key, userid: c.userid, vdev: c.vdev, holder: c.holder }));
  }

  /**
   * Recompute switch `name`'s LAN IP table from the addresses of its coupled NICs. One address,
   * one NIC: an entry whose NIC still holds the address keeps it; a new claim on an address
   * another NIC holds is refused and returned as a conflict. An entry is local only unless
   * `registered` (true: all, or per address: the controller registered it with the adapter).
   * ETHERNET switches keep no LAN IP table.
   */
  recomputeLanIp(name: string, registered: boolean | ((ip: number) => boolean)): AddressConflict[] {
    const isReg = typeof registered === 'function' ? registered : () => registered;
    const sw = this.switches.get(name);
    if (!sw) return [];
    const conflicts: AddressConflict[] = [];
    const claims = new Map<number, Nic[]>();
    if (sw.mode === 'IP') {
      // Any order will do (claims are ordered by their serial below): no sort of every guest.
      for (const n of this.coupledNics.get(name) ?? []) {
        for (const ip of n.addresses.keys()) {
          const l = claims.get(ip);
          if (l) l.push(n);
          else claims.set(ip, [n]);
        }
      }
    }
    // First come, first served: claims on one address in the order they were made.
    for (const [ip, l] of claims) if (l.length > 1) l.sort((a, b) => a.addresses.get(ip)! - b.addresses.get(ip)!);
    const next = new Map<number, LanIpEntry>();
    for (const [ip, e] of sw.lanIp) {
      const l = claims.get(ip);
      if (l && l.some((n) => n.userid === e.userid && n.vdev === e.vdev)) {
        next.set(ip, { ip, userid: e.userid, vdev: e.vdev, localOnly: !isReg(ip) });
      }
    }
    for (const [ip, l] of claims) {
      for (const n of l) {
        const held = next.get(ip);
        if (!held) {
          next.set(ip, { ip, userid: n.userid, vdev: n.vdev, localOnly: !isReg(ip) });
        } else if (held.userid !== n.userid || held.vdev !== n.vdev) {
          conflicts.push({ ip, userid: n.userid, vdev: n.vdev, holder: { userid: held.userid, vdev: held.vdev } });
        }
      }
    }
    sw.lanIp.clear();
    for (const [ip, e] of [...next].sort((a, b) => a[0] - b[0])) sw.lanIp.set(ip, e);
    return conflicts;
  }
}

/** A NIC's claim on an IPv6 address another NIC of the switch holds. */
export interface AddressConflict6 {
  ip6: string;
  userid: string;
  vdev: number;
  holder: { userid: string; vdev: number };
}

/**
 * The LAN IP table rule over any key: each key of `addressesOf(nic)` (key -> claim serial) of
 * the NICs goes to one NIC; an entry of `old` whose NIC still claims the key keeps it, else the
 * earliest claim; every other claim is a conflict. Returns the new entries (unsorted).
 */
function recomputeClaims<K>(nics: Iterable<Nic>, addressesOf: (n: Nic) => Map<K, number>,
  old: Map<K, { userid: string; vdev: number }>, registered: (key: K) => boolean): {
  table: Map<K, { userid: string; vdev: number; localOnly: boolean }>;
  conflicts: Array<{ key: K; userid: string; vdev: number; holder: { userid: string; vdev: number } }>;
} {
  const claims = new Map<K, Nic[]>();
  for (const n of nics) {
    for (const k of addressesOf(n).keys()) {
      const l = claims.get(k);
      if (l) l.push(n);
      else claims.set(k, [n]);
    }
  }
  for (const [k, l] of claims) if (l.length > 1) l.sort((a, b) => addressesOf(a).get(k)! - addressesOf(b).get(k)!);
  const table = new Map<K, { userid: string; vdev: number; localOnly: boolean }>();
  for (const [k, e] of old) {
    if (claims.get(k)?.some((n) => n.userid === e.userid && n.vdev === e.vdev)) table.set(k, { userid: e.userid, vdev: e.vdev, localOnly: !registered(k) });
  }
  const conflicts: Array<{ key: K; userid: string; vdev: number; holder: { userid: string; vdev: number } }> = [];
  for (const [k, l] of claims) {
    for (const n of l) {
      const held = table.get(k);
      if (!held) table.set(k, { userid: n.userid, vdev: n.vdev, localOnly: !registered(k) });
      else if (held.userid !== n.userid || held.vdev !== n.vdev) conflicts.push({ key: k, userid: n.userid, vdev: n.vdev, holder: { userid: held.userid, vdev: held.vdev } });
    }
  }
  return { table, conflicts };
}

/** A NIC's claim on an address another NIC of the switch holds. */
export interface AddressConflict {
  ip: number;
  userid: string;
  vdev: number;
  holder: { userid: string; vdev: number };
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
