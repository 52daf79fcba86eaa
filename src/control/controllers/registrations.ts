/**
 * Registrations with the adapter (seed Fig. 4; part 5: multicast groups are "registered the
 * same way"): one mechanism for every kind of address a switch's guests need the adapter to
 * know, instantiated per switch and kind (KINDS: IPv4 addresses, IPv4 multicast groups, IPv6
 * addresses and groups; guest MACs would be a further kind of the same shape). Keys are a kind's
 * own (RegKey: uint32 for the IPv4 kinds, canonical text for IPv6).
 *
 * Contract (one Registrations per switch and kind; it sends through the switch's controller
 * link only, and does nothing else):
 * - `sync(wanted, to)`: the entries follow `wanted` (the kind's source: the LAN IP table, the
 *   groups some NIC joined). An entry no longer wanted that the adapter confirmed is
 *   deregistered on the RDEV that confirmed it; a new one starts unregistered. When `to.rdev`
 *   is set (a controller initialised the switch, the uplink is connected and its data device
 *   is open on the active RDEV, which is ready), every entry not yet sent to this controller
 *   for this RDEV is sent (RegisterAddress of the kind) and is pending until the answer.
 * - `answer(m)`: the AddressRegistered for an entry's last RegisterAddress (same RDEV, still
 *   pending) makes it registered on that RDEV, or refused with the reason; any other answer is
 *   stale (returns false, nothing changes).
 * - `resend()`: the controller is gone or was released: nothing is pending, everything is sent
 *   again to the next one. Flags stay as they are meanwhile.
 * - `adapterReplaced(rdev)`: the RDEV is a new interface under the same name (removed and made
 *   again): every entry sent on it is sent again; a heldByAdapter entry it held is unregistered
 *   meanwhile (the old interface took it along), one to deregister there is forgotten; other
 *   kinds keep their flag (the data path is not interrupted while they are answered again).
 * - `retryRefused(rdev)`: the RDEV is ready again: the entries it refused are sent again.
 * - `withdraw(to)`: UPLINK DISCONNECT: every confirmed entry is deregistered, every entry starts
 *   over unregistered.
 * - `release(to)`: the switch is being removed (before its ReleaseSwitch).
 * - A kind `heldByAdapter` (a group's MAC in an RDEV's multicast filter) lives in the adapter,
 *   not in the controller, so it outlives the controller that made it: an entry to deregister
 *   with no controller to tell is remembered and deregistered when one comes; a new entry the
 *   adapter still holds from before starts as held there; a move to another RDEV deregisters
 *   the old RDEV's entry first (it is unregistered meanwhile); `release` takes every entry out.
 *   Other kinds (an IPv4 address: the controller keeps it and the data plane answers ARP for
 *   it) go with their controller and with ReleaseSwitch, and are sent again as they are: their
 *   flag stays as it was meanwhile, so the data path is not interrupted.
 * - `reason(key, notSent)`: why an entry is not registered, for QUERY: the adapter's refusal,
 *   else why nothing can be sent now (the manager's words), else 'registration pending'.
 */
import type { Logger } from 'pino';
import { formatIpv4, parseIpv4 } from '../../wire/addr.js';
import { formatIpv6, parseIpv6 } from '../../wire/ipv6.js';
import type { AddressKind, ToController } from '../../protocol/controller.js';

/** A switch's controller, as far as registrations are concerned. */
export interface RegistrationLink {
  send(m: ToController): void;
}

/** Where registrations go now. */
export interface RegistrationTarget {
  /** The switch's controller, or null while it has none. */
  controller: { name: string; link: RegistrationLink } | null;
  /** The RDEV to register on, or null while registrations cannot be sent. */
  rdev: string | null;
}

export interface RegistrationKind<K> {
  readonly wire: AddressKind;
  /** What the logs call it, and the log field it goes in. */
  readonly noun: string;
  readonly field: string;
  /** Log line of a refusal (what the refusal means for the guest). */
  readonly refusedLog: string;
  readonly heldByAdapter: boolean;
  /** Does the LAN reach guests through it (a failover is complete once every one is answered on the new RDEV)? */
  readonly gatesFailover: boolean;
  format(key: K): string;
  /** The key of an address in wire form, or null. */
  parse(text: string): K | null;
}

const parseIpv4Key = (text: string): number | null => {
  const v = parseIpv4(text);
  return v < 0 ? null : v;
};

export const IPV4_ADDRESSES: RegistrationKind<number> = {
  wire: 'ipv4', noun: 'address', field: 'ip', refusedLog: 'address registration refused; local only',
  heldByAdapter: false, gatesFailover: true, format: formatIpv4, parse: parseIpv4Key,
};

export const IPV4_GROUPS: RegistrationKind<number> = {
  wire: 'ipv4-group', noun: 'multicast group', field: 'group', refusedLog: 'multicast group registration refused',
  heldByAdapter: true, gatesFailover: false, format: formatIpv4, parse: parseIpv4Key,
};

/** An IPv6 address of a guest, by its canonical text. */
const parseIpv6Key = (text: string): string | null => {
  const a = parseIpv6(text);
  return a === null ? null : formatIpv6(a);
};

/**
 * IPv6 addresses: held by the adapter (the solicited-node group's MAC in the RDEV's multicast
 * filter, so the LAN's Neighbor Solicitations reach the uplink) and, like IPv4 addresses, what
 * the LAN reaches guests through.
 */
export const IPV6_ADDRESSES: RegistrationKind<string> = {
  wire: 'ipv6', noun: 'IPv6 address', field: 'ip6', refusedLog: 'IPv6 address registration refused; local only',
  heldByAdapter: true, gatesFailover: true, format: (k) => k, parse: parseIpv6Key,
};

/** IPv6 multicast groups a guest joined (MLD snooping), by canonical text: held by the adapter, as IPv4 groups. */
export const IPV6_GROUPS: RegistrationKind<string> = {
  wire: 'ipv6-group', noun: 'IPv6 multicast group', field: 'group6', refusedLog: 'IPv6 multicast group registration refused',
  heldByAdapter: true, gatesFailover: false, format: (k) => k, parse: (text) => { const k = parseIpv6Key(text); return k !== null && k.startsWith('ff') ? k : null; },
};

/** A key of any kind: uint32 for the IPv4 kinds, canonical text for IPv6. */
export type RegKey = number | string;

/** The kinds a switch registers, in the order their messages go out. */
export const KINDS = { ipv4: IPV4_ADDRESSES, 'ipv4-group': IPV4_GROUPS, ipv6: IPV6_ADDRESSES, 'ipv6-group': IPV6_GROUPS } as const satisfies Record<AddressKind, RegistrationKind<RegKey>>;

export interface Registration {
  registered: boolean;
  reason: string | null;
  /** The last RegisterAddress: to which controller, on which RDEV, answered yet. */
  sentTo: string | null;
  sentRdev: string | null;
  pending: boolean;
  /** The RDEV the adapter confirmed it on (null: none). */
  confirmedOn: string | null;
}

export class Registrations<K> {
  private readonly entries = new Map<K, Registration>();
  /** heldByAdapter: entries no longer wanted that an RDEV still holds (key -> RDEV). */
  private readonly stale = new Map<K, string>();

  constructor(readonly kind: RegistrationKind<K>, private readonly sw: string, private readonly log: Logger) {}

  get(key: K): Readonly<Registration> | undefined {
    return this.entries.get(key);
  }

  /** Is every entry answered, and does each satisfy `sent` (sent to the current controller or RDEV)? */
  settled(sent: (r: Readonly<Registration>) => boolean): boolean {
    for (const r of this.entries.values()) if (r.pending || !sent(r)) return false;
    return true;
  }

  sync(wanted: Iterable<K>, to: RegistrationTarget): void {
    const want = new Set(wanted);
    for (const [k, r] of this.entries) {
      if (want.has(k)) continue;
      if (r.confirmedOn) this.drop(k, r.confirmedOn, to);
      this.entries.delete(k);
    }
    for (const k of want) {
      if (this.entries.has(k)) continue;
      const held = this.stale.get(k) ?? null;
      this.stale.delete(k);
      this.entries.set(k, { registered: false, reason: null, sentTo: null, sentRdev: null, pending: false, confirmedOn: held });
    }
    const ctl = to.controller;
    if (!ctl) return;
    for (const [k, rdev] of [...this.stale]) {
      this.stale.delete(k);
      this.drop(k, rdev, to);
    }
    const rdev = to.rdev;
    if (rdev === null) return;
    for (const [k, r] of this.entries) {
      if (r.sentTo === ctl.name && r.sentRdev === rdev) continue;
      if (this.kind.heldByAdapter && r.confirmedOn !== null && r.confirmedOn !== rdev) {
        this.drop(k, r.confirmedOn, to);
        r.confirmedOn = null;
        r.registered = false;
      }
      Object.assign(r, { sentTo: ctl.name, sentRdev: rdev, pending: true, reason: null });
      ctl.link.send({ t: 'register-address', kind: this.kind.wire, switch: this.sw, rdev, address: this.kind.format(k) });
    }
  }

  answer(m: { rdev: string; address: string; ok: boolean; reason?: string }): boolean {
    const k = this.kind.parse(m.address);
    const r = k === null ? undefined : this.entries.get(k);
    if (!r || r.sentRdev !== m.rdev || !r.pending) return false;
    r.pending = false;
    r.registered = m.ok;
    r.reason = m.ok ? null : (m.reason ?? 'refused by the controller');
    r.confirmedOn = m.ok ? m.rdev : null;
    const fields = { vswitch: this.sw, rdev: m.rdev, [this.kind.field]: m.address, ok: m.ok, reason: m.reason };
    this.log.info(fields, m.ok ? `${this.kind.noun} registered with the adapter` : this.kind.refusedLog);
    return true;
  }

  resend(): void {
    for (const r of this.entries.values()) {
      r.sentTo = null;
      r.pending = false;
    }
  }

  adapterReplaced(rdev: string): void {
    for (const r of this.entries.values()) {
      if (r.sentRdev === rdev) Object.assign(r, { sentTo: null, sentRdev: null, pending: false });
      if (this.kind.heldByAdapter && r.confirmedOn === rdev) Object.assign(r, { confirmedOn: null, registered: false });
    }
    for (const [k, held] of [...this.stale]) if (held === rdev) this.stale.delete(k);
  }

  retryRefused(rdev: string): void {
    for (const r of this.entries.values()) {
      if (!r.registered && !r.pending && r.reason !== null && r.sentRdev === rdev) Object.assign(r, { sentTo: null, sentRdev: null, reason: null });
    }
  }

  withdraw(to: RegistrationTarget): void {
    for (const [k, r] of this.entries) {
      if (r.confirmedOn) this.drop(k, r.confirmedOn, to);
      Object.assign(r, { registered: false, reason: null, sentTo: null, sentRdev: null, pending: false, confirmedOn: null });
    }
  }

  release(to: RegistrationTarget): void {
    if (!this.kind.heldByAdapter) return;
    for (const [k, r] of this.entries) if (r.confirmedOn) this.drop(k, r.confirmedOn, to);
    for (const [k, rdev] of this.stale) this.drop(k, rdev, to);
  }

  /** Why `key` is not registered (null: it is), for QUERY; `notSent`: why nothing can be sent now (null: it can). */
  reason(key: K, notSent: string | null): string | null {
    const r = this.entries.get(key);
    if (r?.registered) return null;
    return r?.reason ?? notSent ?? 'registration pending';
  }

  /** Take `key` out of `rdev` now, or (heldByAdapter) when a controller can be told. */
  private drop(key: K, rdev: string, to: RegistrationTarget): void {
    if (to.controller) to.controller.link.send({ t: 'deregister-address', kind: this.kind.wire, switch: this.sw, rdev, address: this.kind.format(key) });
    else if (this.kind.heldByAdapter) this.stale.set(key, rdev);
  }
}
