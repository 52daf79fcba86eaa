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
 *   reconciliation, never journaled. An address belongs to a (switch, VLAN): a LAN IP table is
 *   keyed by VLAN and address (lanIpKey, lanIp6Key), so the same address in two VLANs of one
 *   switch is two entries (two tenants' 10.0.0.5); a NIC's claim is per interface the address is
 *   configured on (its own, or a VLAN sub-device), so a trunk guest's address on two sub-devices
 *   is two claims, one in each VLAN.
 * - `beforeChange(fn)`: fn hears of every applied Change and every address a NIC gains or
 *   loses, just before it is made (the reconciler marks from it what a pass must look at).
 * No I/O here.
 */
import type { Mode, PortType, QemuTransport, TapOwner, VxlanDef } from './grammar.js';

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
  /** VLAN UNAWARE: null; VLAN defvid AWARE: defvid, the VLAN of a guest whose grant names none. */
  vlan: number | null;
  /** NATIVE natvid (VLAN_NONE: NATIVE NONE, and on a VLAN-unaware switch). */
  nativeVid: number;
  /** PORTTYPE: a guest's port type when its grant names none. */
  portType: PortType;
  /** ISOLATION: guests reach only the uplink, not each other. */
  isolation: boolean;
  /** VXLAN vni [VTEP ...]: the overlay between hosts (absent: none; src/control/reconcile/overlay.ts). */
  vxlan?: VxlanDef;
}

/**
 * A user id's entry on a switch's access list (SET VSWITCH GRANT, MODIFY VSWITCH GRANT): what
 * the user's NICs may do there. portType / vlans null: the switch's PORTTYPE / default VLAN.
 * vlans sorted, each once. promiscuous: its NICs may be made promiscuous (SET NIC PROMISCUOUS).
 */
export interface Grant {
  portType: PortType | null;
  vlans: number[] | null;
  promiscuous: boolean;
}

export interface LanIpEntry {
  ip: number;
  userid: string;
  vdev: number;
  /** True until the uplink has registered the address. */
  localOnly: boolean;
  /** The VLAN the address is in (src/control/policy.ts addressVid); VLAN_NONE on a VLAN-unaware switch. */
  vid: number;
}

export interface Vswitch extends SwitchDef {
  /** The LAN IP table: (VLAN, address) -> NIC, keyed by lanIpKey(vid, ip); ordered by address, then VLAN. */
  lanIp: Map<number, LanIpEntry>;
  /** SET VSWITCH MACPROTECT: NICs whose own setting is UNSPECIFIED may send only from their MAC. */
  macProtect: boolean;
  /** The access list: user id -> its grant. Only a user on it may couple a NIC to the switch. */
  grants: Map<string, Grant>;
  /** The IPv6 part of the LAN IP table: (VLAN, canonical address text: wire/ipv6.ts formatIpv6) -> NIC, keyed by lanIp6Key(vid, ip6). */
  lanIp6: Map<string, LanIp6Entry>;
}

/**
 * The key of a LAN IP table entry, its VLAN and address: IPv4 vid * 2^32 + ip, so on a
 * VLAN-unaware switch (VLAN_NONE, 0) the key is the address itself.
 */
export function lanIpKey(vid: number, ip: number): number {
  return vid * 0x100000000 + ip;
}

/** The same for IPv6: the canonical text in VLAN_NONE (0), else `vid/text`. */
export function lanIp6Key(vid: number, ip6: string): string {
  return vid === 0 ? ip6 : `${vid}/${ip6}`;
}

/** An IPv6 LAN IP table entry (LanIpEntry's fields, the address as canonical text). */
export interface LanIp6Entry {
  ip6: string;
  userid: string;
  vdev: number;
  localOnly: boolean;
  /** The VLAN the address is in (as LanIpEntry's). */
  vid: number;
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
  /** DEFINE NIC ... MACID: the MAC's low 3 bytes as given (the MAC has VMLAN USERPREFIX), or null (system-assigned). */
  macId: number | null;
  /** SET NIC PROMISCUOUS (in effect only while the user's grant on its switch allows it). */
  promiscuous: boolean;
  /** SET NIC MACPROTECT ON | OFF; null: UNSPECIFIED (the switch's MACPROTECT). */
  macProtect: 'ON' | 'OFF' | null;
  /**
   * IPv4 addresses the guest holds, in the order they appeared: configured on its interface
   * (namespace guests, seen by the address watcher) or announced / first used on the NIC (QEMU
   * guests, the data plane's saw-address), each with its claims, one per interface it is on
   * (AddressClaims): when two NICs claim one address in one VLAN, the earlier claim holds it and
   * the later one is refused for as long as it stands.
   */
  addresses: Map<number, AddressClaims>;
  /** The same for IPv6 (canonical text -> its claims): global, unique-local and link-local. */
  addresses6: Map<string, AddressClaims>;
}

/**
 * A NIC's claims on one address, by where it is configured (`on`): 0 the NIC's own interface,
 * N its VLAN sub-device of VLAN id N (a trunk guest's enc600.20: src/host/address-watcher-worker.ts;
 * a QEMU guest's frames tagged N). Which VLAN each puts it in depends on the port's policy
 * (src/control/policy.ts addressVid). A trunk guest's link-local address, the same on every
 * sub-device, is one claim per sub-device. `refused`: every one of them is refused (the NIC
 * holds the address in no VLAN; kept by the claim rule).
 */
export interface AddressClaims {
  on: Map<number, Claim>;
  refused: boolean;
}

/**
 * A NIC's claim on an address. serial orders claims across NICs (first come, first served;
 * kept across restarts by src/control/claim-book.ts). refused: the claim was made while another
 * NIC held the address (or lost to an earlier claim); it stays refused until the guest removes
 * the address and claims it again, so a holder that drops and re-adds its own address (a
 * DHCP renewal, an interface bounce) keeps it.
 */
export interface Claim {
  serial: number;
  refused: boolean;
}

/**
 * A claim as the claim book keeps it across restarts: on an IPv4 address (`ip`, uint32) or an
 * IPv6 one (`ip6`, canonical text), configured `on` the NIC's interface (AddressClaims.on).
 * `on` absent (a book written before claims were per VLAN): the NIC's claim on the address
 * wherever it is configured first, as then (one claim per NIC and address).
 */
export type ClaimRecord = Claim & { userid: string; vdev: number; on?: number } & ({ ip: number; ip6?: undefined } | { ip6: string; ip?: undefined });

/** The seeds' key of a claim: an IPv4 address as its number, an IPv6 one as its text (the two never meet); `on` undefined: a record without it. */
function seedKey(userid: string, vdev: number, addr: number | string, on: number | undefined): string {
  return on === undefined ? `${userid}/${vdev}/${addr}` : `${userid}/${vdev}/${addr}/${on}`;
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
  /** DEFINE GUEST's OWNER: the unix user (name or decimal uid) who may command its NICs (src/control/privilege.ts). */
  owner?: string;
  nics: Map<number, Nic>;
}

export type Change =
  | { t: 'switch-add'; sw: SwitchDef }
  | { t: 'switch-remove'; name: string }
  | { t: 'guest-add'; userid: string; netns: string | null; qemu: QemuTransport | null; tapOwner?: TapOwner; owner?: string }
  | { t: 'guest-remove'; userid: string }
  | { t: 'nic-add'; userid: string; vdev: number; alloc: NicAlloc; tap: string | null; macId?: number }
  | { t: 'nic-remove'; userid: string; vdev: number }
  | { t: 'couple'; userid: string; vdev: number; sw: string }
  | { t: 'uncouple'; userid: string; vdev: number }
  | { t: 'macprefix'; prefix: number }
  | { t: 'userprefix'; prefix: number }
  | { t: 'switch-controller'; name: string; controller: string }
  /** The user's entry on the switch's access list, made or replaced. */
  | { t: 'grant'; sw: string; userid: string; grant: Grant }
  /** The user taken off the access list (its NICs were uncoupled by the Changes before). */
  | { t: 'revoke'; sw: string; userid: string }
  | { t: 'switch-set'; name: string; set: { isolation?: boolean; macProtect?: boolean } }
  | { t: 'nic-set'; userid: string; vdev: number; set: { promiscuous?: boolean; macProtect?: 'ON' | 'OFF' | null } };

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
  /** VMLAN USERPREFIX: the upper 24 bits of a MAC given by DEFINE NIC ... MACID. */
  userPrefix = DEFAULT_MAC_PREFIX;
  readonly switches = new Map<string, Vswitch>();
  readonly guests = new Map<string, Guest>();
  /** Next MAC serial to try (serials are handed out in turn and skip those in use). */
  nextMacSerial = 1;
  private readonly serialsInUse = new Set<number>();
  /** Orders address claims across NICs (first come, first served). */
  private claimSerial = 0;
  /** Claims from before a restart not yet made again (`seedClaims`), by seedKey. */
  private readonly seeds = new Map<string, ClaimRecord>();
  private readonly claimListeners: Array<() => void> = [];
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

  /** The MAC of a NIC defined with MACID `id`. */
  macForId(id: number): number {
    return this.userPrefix * MAC_SERIALS + id;
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
        this.switches.set(c.sw.name, { ...c.sw, rdevs: [...c.sw.rdevs], lanIp: new Map(), lanIp6: new Map(), macProtect: false, grants: new Map() });
        return;
      case 'switch-remove':
        this.switches.delete(c.name);
        this.coupledNics.delete(c.name);
        return;
      case 'guest-add':
        this.guests.set(c.userid, { userid: c.userid, netns: c.netns, qemu: c.qemu, ...(c.tapOwner ? { tapOwner: { ...c.tapOwner } } : {}), nics: new Map() });
        if (c.owner !== undefined) this.guests.get(c.userid)!.owner = c.owner;
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
          macId: c.macId ?? null,
          promiscuous: false,
          macProtect: null,
          addresses: new Map(),
          addresses6: new Map(),
        });
        // A MACID NIC holds its id as its serial too (no system-assigned MAC takes it), but the
        // system's counter goes on where it was.
        this.serialsInUse.add(c.alloc.macSerial);
        if (c.macId === undefined) this.nextMacSerial = c.alloc.macSerial + 1 >= MAC_SERIALS ? 1 : c.alloc.macSerial + 1;
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
        // On the new switch the NIC's claims are new ones: after its holders', none refused yet.
        for (const a of [...n.addresses.values(), ...n.addresses6.values()]) {
          a.refused = false;
          for (const claim of a.on.values()) {
            claim.serial = this.claimSerial++;
            claim.refused = false;
          }
        }
        if (n.addresses.size + n.addresses6.size > 0) this.claimsChanged();
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
      case 'userprefix':
        this.userPrefix = c.prefix;
        return;
      case 'switch-controller':
        this.switches.get(c.name)!.controller = c.controller;
        return;
      case 'grant':
        this.switches.get(c.sw)!.grants.set(c.userid, { ...c.grant, vlans: c.grant.vlans === null ? null : [...c.grant.vlans] });
        return;
      case 'revoke':
        this.switches.get(c.sw)!.grants.delete(c.userid);
        return;
      case 'switch-set': {
        const sw = this.switches.get(c.name)!;
        if (c.set.isolation !== undefined) sw.isolation = c.set.isolation;
        if (c.set.macProtect !== undefined) sw.macProtect = c.set.macProtect;
        return;
      }
      case 'nic-set': {
        const n = this.nic(c.userid, c.vdev)!;
        if (c.set.promiscuous !== undefined) n.promiscuous = c.set.promiscuous;
        if (c.set.macProtect !== undefined) n.macProtect = c.set.macProtect;
        return;
      }
    }
  }

  /**
   * The guest's interface gained or lost an IPv4 address (seen in its namespace): `on` 0 for the
   * NIC's own interface, N for its VLAN sub-device of VLAN id N (see AddressClaims). A claim made
   * again after a restart takes its place from before (`seedClaims`); a new one comes after
   * every claim so far. Each interface the address is on is a claim of its own (in its VLAN);
   * the address is the NIC's until it is on none of them.
   */
  addressEvent(userid: string, vdev: number, ip: number, added: boolean, on = 0): boolean {
    const n = this.nic(userid, vdev);
    return n !== undefined && this.addressChange(n, n.addresses, ip, added, on, { t: 'address', userid, vdev, ip, added });
  }

  /**
   * The guest's interface gained or lost an IPv6 address (canonical text; seen in its namespace
   * or announced): addressEvent's rule, `on` as there.
   */
  addressEvent6(userid: string, vdev: number, ip6: string, added: boolean, on = 0): boolean {
    const n = this.nic(userid, vdev);
    return n !== undefined && this.addressChange(n, n.addresses6, ip6, added, on, { t: 'address6', userid, vdev, ip6, added });
  }

  /** addressEvent's rule over either family's map (`ev`: what the listeners hear); true when something changed. */
  private addressChange<K extends number | string>(n: Nic, addresses: Map<K, AddressClaims>, addr: K, added: boolean,
    on: number, ev: StateChange): boolean {
    const a = addresses.get(addr);
    if (added === (a?.on.has(on) ?? false)) return false;
    for (const l of this.listeners) l(ev);
    if (added) {
      const claim = this.newClaim(n.userid, n.vdev, addr, on);
      if (a) {
        a.on.set(on, claim);
        a.refused &&= claim.refused;
      } else addresses.set(addr, { on: new Map([[on, claim]]), refused: claim.refused });
    } else {
      a!.on.delete(on);
      if (a!.on.size === 0) addresses.delete(addr);
      else a!.refused = [...a!.on.values()].every((c) => c.refused);
    }
    this.claimsChanged();
    return true;
  }

  /**
   * A NIC's new claim on an address on interface `on`: its place from before a restart (a seed:
   * of that interface, or a record from before claims were per interface), else after every
   * claim so far.
   */
  private newClaim(userid: string, vdev: number, addr: number | string, on: number): Claim {
    for (const key of [seedKey(userid, vdev, addr, on), seedKey(userid, vdev, addr, undefined)]) {
      const seed = this.seeds.get(key);
      if (!seed) continue;
      this.seeds.delete(key);
      return { serial: seed.serial, refused: seed.refused };
    }
    return { serial: this.claimSerial++, refused: false };
  }

  /**
   * recomputeLanIp for the IPv6 table: the same rule (recomputeClaims), `registered` and `vidOf`
   * per address as there.
   */
  recomputeLanIp6(name: string, registered: (ip6: string) => boolean, vidOf: (n: Nic, on: number) => number | null = () => 0): AddressConflict6[] {
    const sw = this.switches.get(name);
    if (!sw) return [];
    const nics = sw.mode === 'IP' ? this.coupledNics.get(name) ?? [] : [];
    const { table, conflicts, refusedNow } = recomputeClaims(nics, (n) => n.addresses6, registered, vidOf);
    if (refusedNow) this.claimsChanged();
    sw.lanIp6.clear();
    for (const e of table.sort((a, b) => cmp(a.key, b.key) || a.vid - b.vid)) sw.lanIp6.set(lanIp6Key(e.vid, e.key), { ip6: e.key, ...entryOf(e) });
    return conflicts.map((c) => ({ ip6: c.key, vid: c.vid, userid: c.userid, vdev: c.vdev, holder: c.holder }));
  }

  /**
   * Claims from before a restart (the claim book): each takes its old place in the order when its
   * NIC claims the address again, until `dropSeeds`. Call before any address event.
   */
  seedClaims(records: readonly ClaimRecord[]): void {
    for (const r of records) {
      this.seeds.set(seedKey(r.userid, r.vdev, r.ip6 ?? r.ip, r.on), r);
      if (r.serial >= this.claimSerial) this.claimSerial = r.serial + 1;
    }
  }

  /** Forget the claims from before the restart that were not made again (their guests dropped them meanwhile). */
  dropSeeds(): void {
    if (this.seeds.size === 0) return;
    this.seeds.clear();
    this.claimsChanged();
  }

  /** Every claim to keep across a restart: those of existing NICs, and seeds not yet made again by NICs that still exist. */
  claimRecords(): ClaimRecord[] {
    const out: ClaimRecord[] = [];
    for (const g of this.guests.values()) {
      for (const n of g.nics.values()) {
        for (const [ip, a] of n.addresses) {
          for (const [on, c] of a.on) out.push({ userid: n.userid, vdev: n.vdev, on, ip, serial: c.serial, refused: c.refused });
        }
        for (const [ip6, a] of n.addresses6) {
          for (const [on, c] of a.on) out.push({ userid: n.userid, vdev: n.vdev, on, ip6, serial: c.serial, refused: c.refused });
        }
      }
    }
    for (const r of this.seeds.values()) if (this.nic(r.userid, r.vdev)) out.push(r);
    return out.sort((a, b) => a.serial - b.serial);
  }

  /** Be told (after the fact) whenever a claim comes, goes or is refused. */
  onClaimsChanged(fn: () => void): void {
    this.claimListeners.push(fn);
  }

  private claimsChanged(): void {
    for (const l of this.claimListeners) l();
  }

  /**
   * Recompute switch `name`'s LAN IP table from the addresses of its coupled NICs. One address
   * in one VLAN, one NIC: the earliest claim that is not refused holds it (the holder so far, since new claims
   * come later; after a restart, the holder from before it, once it claims again); every other
   * claim on it is marked refused (for as long as it stands: see Claim) and returned as a
   * conflict, with the holder, or with none when the holder has gone. An entry is local only unless
   * `registered` (true: all, or per address and VLAN: the controller registered it with the adapter).
   * ETHERNET switches keep no LAN IP table. `vidOf(nic, on)`: the VLAN an address configured on
   * interface `on` of the NIC (AddressClaims) is in on the NIC's port (src/control/policy.ts
   * addressVid), null for one in no VLAN the port carries (not in the table). The same address
   * in two VLANs is two entries, each with its own claims (tenants' address spaces overlap).
   */
  recomputeLanIp(name: string, registered: boolean | ((ip: number, vid: number) => boolean), vidOf: (n: Nic, on: number) => number | null = () => 0): AddressConflict[] {
    const isReg = typeof registered === 'function' ? registered : () => registered;
    const sw = this.switches.get(name);
    if (!sw) return [];
    const nics = sw.mode === 'IP' ? this.coupledNics.get(name) ?? [] : [];
    const { table, conflicts, refusedNow } = recomputeClaims(nics, (n) => n.addresses, isReg, vidOf);
    if (refusedNow) this.claimsChanged();
    sw.lanIp.clear();
    for (const e of table.sort((a, b) => a.key - b.key || a.vid - b.vid)) sw.lanIp.set(lanIpKey(e.vid, e.key), { ip: e.key, ...entryOf(e) });
    return conflicts.map((c) => ({ ip: c.key, vid: c.vid, userid: c.userid, vdev: c.vdev, holder: c.holder }));
  }
}

/** A NIC's claim on an IPv6 address another NIC of the switch holds. */
export interface AddressConflict6 {
  ip6: string;
  /** The VLAN of the claim (and of its holder). */
  vid: number;
  userid: string;
  vdev: number;
  holder: { userid: string; vdev: number } | null;
}

/** A LAN IP table entry as the claim rule makes it: its address (`key`), VLAN and holder. */
interface RuleEntry<K> { key: K; vid: number; userid: string; vdev: number; localOnly: boolean }

function entryOf<K>(e: RuleEntry<K>): { userid: string; vdev: number; localOnly: boolean; vid: number } {
  return { userid: e.userid, vdev: e.vdev, localOnly: e.localOnly, vid: e.vid };
}

/**
 * The LAN IP table rule, one for IPv4 and IPv6 (recomputeLanIp's comment), over any key: each
 * claim of `nics` on a key (`addressesOf(nic)`: key -> AddressClaims, a claim per interface)
 * is in the VLAN `vidOf(nic, on)` gives (null: in no VLAN the port carries, left out; any
 * order of `nics` will do). Of the claims on one key in one VLAN, the earliest by serial that is
 * not refused holds it there (local only unless `registered(key, vid)`); every other is marked refused
 * and returned as a conflict, with the holder or null. Claims in different VLANs never meet.
 * Each AddressClaims' `refused` is kept (all its claims refused). `refusedNow`: a claim was
 * newly refused. Returns the new entries (unsorted).
 */
function recomputeClaims<K>(nics: Iterable<Nic>, addressesOf: (n: Nic) => Map<K, AddressClaims>, registered: (key: K, vid: number) => boolean,
  vidOf: (n: Nic, on: number) => number | null): {
  table: Array<RuleEntry<K>>;
  conflicts: Array<{ key: K; vid: number; userid: string; vdev: number; holder: { userid: string; vdev: number } | null }>;
  refusedNow: boolean;
} {
  // (VLAN, key) -> the claims on it.
  const claims = new Map<string, { key: K; vid: number; l: Array<{ n: Nic; c: Claim }> }>();
  for (const n of nics) {
    for (const [k, a] of addressesOf(n)) {
      for (const [on, c] of a.on) {
        const vid = vidOf(n, on);
        if (vid === null) continue; // in no VLAN the port carries
        const id = `${vid}/${String(k)}`;
        const g = claims.get(id);
        if (g) g.l.push({ n, c });
        else claims.set(id, { key: k, vid, l: [{ n, c }] });
      }
    }
  }
  const table: Array<RuleEntry<K>> = [];
  const conflicts: Array<{ key: K; vid: number; userid: string; vdev: number; holder: { userid: string; vdev: number } | null }> = [];
  let refusedNow = false;
  // First come, first served: claims on one key in one VLAN in the order they were made.
  for (const { key: k, vid, l } of claims.values()) {
    if (l.length > 1) l.sort((a, b) => a.c.serial - b.c.serial);
    let held: RuleEntry<K> | undefined;
    for (const { n, c } of l) {
      if (!c.refused && held === undefined) {
        held = { key: k, vid, userid: n.userid, vdev: n.vdev, localOnly: !registered(k, vid) };
        table.push(held);
        continue;
      }
      if (!c.refused) refusedNow = c.refused = true;
      conflicts.push({ key: k, vid, userid: n.userid, vdev: n.vdev, holder: held ? { userid: held.userid, vdev: held.vdev } : null });
    }
  }
  for (const n of nics) for (const a of addressesOf(n).values()) a.refused = [...a.on.values()].every((c) => c.refused);
  return { table, conflicts, refusedNow };
}

/** A NIC's refused claim on an address: another NIC of the switch holds it (holder), or held it when the claim was made (holder null: gone since). */
export interface AddressConflict {
  ip: number;
  /** The VLAN of the claim (and of its holder). */
  vid: number;
  userid: string;
  vdev: number;
  holder: { userid: string; vdev: number } | null;
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
