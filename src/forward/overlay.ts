/**
 * The VXLAN overlay of an IP-mode switch (DEFINE VSWITCH ... VXLAN vni): a second uplink
 * segment whose port is the kernel's own `vxlan` device (an AF_PACKET port, role
 * PortRole.Overlay). Pure: no I/O, no clock (time comes as `now`), no allocation per frame
 * (a Map entry is made only when a new address is learned or set).
 *
 * On the overlay every guest appears under its own NIC's MAC (per-member MAC prefixes keep
 * them apart), so the kernel's VXLAN forwarding entries are "remote guest MAC -> its
 * member's VTEP" and the frames cross unchanged but for the destination MAC.
 *
 * What it knows (IPv4 in int32 form -> a 48-bit MAC):
 * - remote addresses: the other members' guests, set by the control plane from the cluster's
 *   store (setRemote / clearRemote); never learned. At most MAX_REMOTE: past it a new address
 *   is refused (setRemote answers false, the worker logs it), a known one still changes.
 * - remote IPv6 addresses (`remote6`, an Ip6Table keyed by VLAN 0 and the four words, a and b =
 *   the MAC's halves): the same, for the other members' guests' IPv6 addresses (setRemote6 /
 *   clearRemote6). Only addresses that may cross the overlay (overlayable6: unicast beyond the
 *   link, i.e. global and ULA; not link-local, ::, ::1 or multicast) are kept: link-local
 *   addresses stay each member's own link. Never learned (no IPv6 host behind a static VTEP).
 * - learned addresses: hosts behind a static remote VTEP (a hand-made Linux VXLAN endpoint),
 *   from the sender of an ARP received on the overlay, unless the sender is a remote address
 *   (the store is the authority there) or a local one (SpoofedSource). At most MAX_LEARNED,
 *   each for LEARNED_MS after its last ARP; when full a new one is not learned (its ARP is
 *   still handled).
 *
 * Contract with IpSwitch (ip-switch.ts, which calls these only while `port >= 0`):
 * - send(dst): a NIC's unicast IPv4 for a known overlay address: Ethernet dst = its MAC, out
 *   the overlay port; false (nothing done) for an unknown one.
 * - answer(tpa): a NIC's ARP request for a known overlay address: answered in place with
 *   that MAC, back to the NIC; false for an unknown one.
 * - relay(): a NIC's ARP request for an unknown address goes out the overlay unchanged
 *   (the kernel floods it to the static remote VTEPs only: members have no flood entry).
 * - input(): a frame from the overlay port. ARP (checkArp, else Malformed): sender learned as
 *   above; a request for a local address (LAN IP table, local only or not) answered in place
 *   with that NIC's MAC, back out the overlay; a reply for a local address delivered to its
 *   NIC (tha and Ethernet dst = its MAC); anything else ArpIgnored. IPv4 (checkIpv4 and the
 *   length as from the uplink, GSO super-frames allowed): the source must be a known overlay
 *   address and not a local one (a store entry claiming a local guest's address: else SpoofedSource); unicast to a local address is delivered with Ethernet dst =
 *   its NIC's MAC; anything else (unknown, broadcast, group) UnknownDestination. Bad source
 *   MAC: BadSource; short frame: Malformed; other EtherTypes (IPv6 too): NotIp. Every frame
 *   is sent once or counted as exactly one drop. IPv6 from the overlay is ip6-switch.ts's
 *   (fromOverlay: a source in remote6 and not in the IPv6 LAN IP table, else SpoofedSource; NDP NdpIgnored; unicast to an address
 *   of the IPv6 LAN IP table delivered with its NIC's MAC, else UnknownDestination).
 * - send6(d): a NIC's unicast IPv6 for a remote6 address: Ethernet dst = its MAC, out the
 *   overlay port; false for an unknown one. find6(w): remote6's slot of an address, or -1 (the
 *   NDP answers: ip6-switch.ts nicNdp).
 */
import { Egress, DropReason } from './api.js';
import type { LanIpTable } from './lan-ip-table.js';
import { macHi, macLo } from '../wire/addr.js';
import * as ethernet from '../wire/ethernet.js';
import * as arp from '../wire/arp.js';
import * as ipv4 from '../wire/ipv4.js';
import { Eth, EtherType } from '../wire/ethernet.js';
import { ArpOp } from '../wire/arp.js';
import { Ipv4Dst } from '../wire/ipv4.js';
import { vnetHasGso } from '../wire/vnet.js';
import { Ip6Table } from './ip6-table.js';

const { ethHeaderFits, ethSrcIsBad, ethType, setEthDstHL } = ethernet;
const { arpOp, arpReplyInPlace, arpSha, arpSpa, arpTpa, checkArp, setArpThaHL } = arp;
const { checkIpv4, checkIpv4Length, classifyIpv4Dst, ipv4Dst, ipv4Src } = ipv4;

/** Hosts learned behind static remote VTEPs at most. */
export const MAX_LEARNED = 1024;
/** A learned host is forgotten this long after its last ARP (ms; Linux re-confirms far sooner). */
export const LEARNED_MS = 20 * 60_000;
/** Remote IPv4 addresses at most (a store holding more is a bad store: its further ones are refused). */
export const MAX_REMOTE = 1 << 20;
/** Remote IPv6 addresses at most (as the IPv6 LAN IP table's bound). */
export const MAX_REMOTE6 = 1 << 20;

/**
 * Whether an IPv6 address (its four int32 words) may cross the overlay: unicast beyond the link
 * (global and ULA). Link-local (fe80::/10), multicast, :: and ::1 stay on each member's link.
 */
export function overlayable6(w0: number, w1: number, w2: number, w3: number): boolean {
  if (w0 >>> 24 === 0xff || w0 >>> 22 === 0x3fa) return false;
  return (w0 | w1 | w2) !== 0 || (w3 !== 0 && w3 !== 1);
}

export class Overlay {
  /** The overlay port (the vxlan device's AF_PACKET port), -1: none. */
  port = -1;
  private readonly remote = new Map<number, number>();
  private readonly learned = new Map<number, number>();
  private readonly learnedUntil = new Map<number, number>();
  private now = 0;
  /** The other members' guests' IPv6 addresses (VLAN 0) -> a, b = the MAC's halves. */
  readonly remote6 = new Ip6Table(MAX_REMOTE6, true);

  constructor(private readonly counters: Float64Array, private readonly dropBase: number, private readonly egress: Egress) {}

  /** A remote member's guest address (uint32 or int32) under `mac`; false (nothing kept) for a new one past MAX_REMOTE. */
  setRemote(ip: number, mac: number): boolean {
    if (this.remote.size >= MAX_REMOTE && !this.remote.has(ip | 0)) return false;
    this.remote.set(ip | 0, mac);
    this.learned.delete(ip | 0);
    this.learnedUntil.delete(ip | 0);
    return true;
  }

  clearRemote(ip: number): void {
    this.remote.delete(ip | 0);
  }

  /** A remote member's guest IPv6 address under `mac`; false (nothing kept) for one that is not overlayable6 or past MAX_REMOTE6. */
  setRemote6(w0: number, w1: number, w2: number, w3: number, mac: number): boolean {
    if (!overlayable6(w0, w1, w2, w3)) return false;
    const s = this.remote6.insert(0, w0, w1, w2, w3);
    if (s < 0) return false;
    this.remote6.a[s] = macHi(mac);
    this.remote6.b[s] = macLo(mac);
    return true;
  }

  clearRemote6(w0: number, w1: number, w2: number, w3: number): void {
    this.remote6.delete(0, w0, w1, w2, w3);
  }

  /** remote6's slot of the address, or -1. */
  find6(w0: number, w1: number, w2: number, w3: number): number {
    return this.remote6.size === 0 ? -1 : this.remote6.find(0, w0, w1, w2, w3);
  }

  send6(d0: number, d1: number, d2: number, d3: number, buf: Uint8Array, hdr: number, eth: number, end: number): boolean {
    const s = this.find6(d0, d1, d2, d3);
    if (s < 0) return false;
    setEthDstHL(buf, eth, this.remote6.a[s], this.remote6.b[s]);
    this.egress.send(this.port, buf, hdr, eth, end);
    return true;
  }

  /** How many addresses it knows: [remote, learned]. */
  sizes(): [number, number] {
    return [this.remote.size, this.learned.size];
  }

  /** The overlay MAC of `ip` (int32 form), or -1. */
  macOf(ip: number, now: number): number {
    const r = this.remote.get(ip);
    if (r !== undefined) return r;
    const l = this.learned.get(ip);
    if (l === undefined) return -1;
    if (this.learnedUntil.get(ip)! < now) {
      this.learned.delete(ip);
      this.learnedUntil.delete(ip);
      return -1;
    }
    return l;
  }

  send(dst: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): boolean {
    const m = this.macOf(dst, now);
    if (m < 0) return false;
    setEthDstHL(buf, eth, macHi(m), macLo(m));
    this.egress.send(this.port, buf, hdr, eth, end);
    return true;
  }

  answer(nic: number, tpa: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): boolean {
    const m = this.macOf(tpa, now);
    if (m < 0) return false;
    arpReplyInPlace(buf, eth, eth + Eth.HeaderLen, macHi(m), macLo(m));
    this.egress.send(nic, buf, hdr, eth, end);
    return true;
  }

  relay(buf: Uint8Array, hdr: number, eth: number, end: number): void {
    this.egress.send(this.port, buf, hdr, eth, end);
  }

  private drop(reason: number): void {
    this.counters[this.dropBase + reason]++;
  }

  input(buf: Uint8Array, hdr: number, eth: number, end: number, now: number,
    table: LanIpTable, nicMacHi: Int32Array, nicMacLo: Int32Array): void {
    this.now = now;
    if (!ethHeaderFits(buf, eth, end)) { this.drop(DropReason.Malformed); return; }
    if (ethSrcIsBad(buf, eth)) { this.drop(DropReason.BadSource); return; }
    const type = ethType(buf, eth);
    const l3 = eth + Eth.HeaderLen;
    if (type === EtherType.Arp) {
      if (!checkArp(buf, l3, end)) this.drop(DropReason.Malformed);
      else this.arpIn(buf, hdr, eth, end, table, nicMacHi, nicMacLo);
      return;
    }
    if (type !== EtherType.Ipv4) { this.drop(DropReason.NotIp); return; }
    if (checkIpv4(buf, l3, end) < 0 || (!checkIpv4Length(buf, l3, end) && !vnetHasGso(buf, hdr, eth))) {
      this.drop(DropReason.Malformed);
      return;
    }
    const src = ipv4Src(buf, l3);
    // A local guest's address is never a remote one, whatever the store says.
    if (this.macOf(src, now) < 0 || table.lookup(src) !== undefined) { this.drop(DropReason.SpoofedSource); return; }
    const dst = ipv4Dst(buf, l3);
    const de = classifyIpv4Dst(buf, eth, dst) === Ipv4Dst.Unicast ? table.lookup(dst) : undefined;
    if (de === undefined) { this.drop(DropReason.UnknownDestination); return; }
    setEthDstHL(buf, eth, nicMacHi[de.port], nicMacLo[de.port]);
    this.egress.send(de.port, buf, hdr, eth, end);
  }

  private arpIn(buf: Uint8Array, hdr: number, eth: number, end: number,
    table: LanIpTable, nicMacHi: Int32Array, nicMacLo: Int32Array): void {
    const a = eth + Eth.HeaderLen;
    const spa = arpSpa(buf, a);
    if (spa !== 0) {
      if (table.lookup(spa) !== undefined) { this.drop(DropReason.SpoofedSource); return; }
      if (!this.remote.has(spa) && (this.learned.has(spa) || this.learned.size < MAX_LEARNED)) {
        this.learned.set(spa, arpSha(buf, a));
        this.learnedUntil.set(spa, this.now + LEARNED_MS);
      }
    }
    const op = arpOp(buf, a);
    const te = table.lookup(arpTpa(buf, a));
    if (te === undefined || spa === 0 && op !== ArpOp.Request) { this.drop(DropReason.ArpIgnored); return; }
    const hi = nicMacHi[te.port], lo = nicMacLo[te.port];
    if (op === ArpOp.Request) {
      arpReplyInPlace(buf, eth, a, hi, lo);
      this.egress.send(this.port, buf, hdr, eth, end);
    } else if (op === ArpOp.Reply) {
      setArpThaHL(buf, a, hi, lo);
      setEthDstHL(buf, eth, hi, lo);
      this.egress.send(te.port, buf, hdr, eth, end);
    } else {
      this.drop(DropReason.ArpIgnored);
    }
  }
}
