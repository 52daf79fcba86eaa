/**
 * IPv6 in IP mode: the switch in the OSA's layer-3 role for IPv6. The IP-mode forwarder
 * (ip-switch.ts) hands it every frame of EtherType 0x86DD and mirrors its ports here. The LAN
 * sees one MAC (the uplink's) for every guest address, the guests see one MAC (the uplink's)
 * for every LAN neighbour, and the switch resolves LAN neighbours itself: it relays the
 * guests' Neighbor Solicitations under the uplink's MAC and keeps what the LAN's answers say
 * in a small neighbour cache, from which it addresses the guests' packets to the LAN.
 * Pure: no I/O, no clock (`now` comes in), no allocation per frame.
 *
 * Layer 2: the IP-mode switch's own L2Policy (l2-policy.ts), so IPv6 obeys exactly the rules
 * IPv4 does (ip-switch.ts's file comment). ip-switch.ts has decided the frame's VLAN (classify)
 * and removed its tag before handing it over with its TCI; every table below but the groups is
 * per VLAN (an address registered in one VLAN is no source, no destination, no NDP answer in
 * another; a LAN neighbour and the default router are learnt in the VLAN they spoke in); floods
 * and group traffic reach only the NICs of the frame's VLAN (sendToMembers), a delivery to a NIC
 * that does not carry the VLAN is VlanNotAllowed, and every send carries the frame's TCI (the
 * egress tags). ISOLATION: no frame of a NIC reaches another NIC (unicast: Isolated; an NS for
 * another NIC's address: Isolated; floods and groups go to the uplink only), except that a DAD
 * probe for another NIC's address is still answered so the prober's DAD fails, with the
 * uplink's MAC as if the holder were on the LAN (its MAC is not given away). Promiscuous NICs
 * of the VLAN get a copy of each unicast packet switched (after its MACs were rewritten) and of
 * each flood, as IPv4's (the NDP the switch answers or relays is not copied). The MLD group
 * table is one for the switch, as IGMP's: a membership is delivered only in the VLANs the
 * member carries. On a VLAN-unaware switch every frame is in VLAN 0 with TCI 0.
 *
 * Tables (ip6-table.ts, keyed by VLAN id and address; 0 on a VLAN-unaware switch):
 * - the IPv6 LAN IP table: registered guest address -> NIC port, local only (set by the
 *   control plane: setAddress6 / clearAddress6, per VLAN);
 * - the neighbour cache: LAN address -> MAC, with an expiry (NEIGHBOUR_MS after it was last
 *   confirmed), NEIGHBOUR_MAX entries, the oldest evicted; fed by the LAN's NDP (NA target
 *   and TLLA, NS and RA source and SLLA, Redirect destination and TLLA), refreshed by any
 *   packet from the uplink whose source it holds with that MAC;
 * - the default router of each VLAN: the last RA there with a non-zero router lifetime (its
 *   source and MAC);
 * - MLD groups: a group address -> an id in the group table (group-table.ts), as IGMP.
 *
 * Every frame: IPv6 header within the frame, payload length within the frame (a GSO
 * super-frame may carry any), the extension-header chain within the packet (ipv6UpperLayer:
 * bounded), else Malformed. ICMPv6 NDP (133..137) and MLD (130..132, 143) messages are
 * interpreted only when unfragmented, their checksum right and checkNdp / checkMld passed,
 * else Malformed; other ICMPv6 (errors, Packet Too Big, echo) is switched as any packet.
 *
 * From a NIC:
 * - Source not registered to this NIC: SpoofedSource (as for IPv4: a NIC's frames carry only
 *   its own addresses; :: only in DAD probes, RS and MLD reports); an unregistered one other
 *   than :: is reported (events.sawAddress6, at most once per port and address per tick).
 * - NS from :: (DAD) for an address another NIC holds: answered to the prober with an NA to
 *   ff02::1 (override, TLLA and Ethernet source = the holder's MAC), so its DAD fails; for its
 *   own registered address: NdpIgnored; else the target is reported (a claim) and the probe
 *   relayed to the uplink (Ethernet src = uplink MAC), where a LAN holder can defend it; the
 *   probe is remembered (the probe table: target -> the probing NIC, for PROBE_MS).
 * - NS from an address for a target another NIC holds: answered (solicited, override, TLLA =
 *   that NIC's MAC) to the requester; its own: NdpIgnored; else relayed to the uplink with
 *   Ethernet src and SLLA = the uplink's MAC (a unicast NS addressed to the target's MAC from
 *   the cache, else its solicited-node MAC).
 * - RS: to the uplink, SLLA = the uplink's MAC. NA, RA, Redirect: NdpIgnored (guests are
 *   neither routers nor answer for themselves: the switch does).
 * - MLD reports and dones: the group table (groups of scope beyond link-local), then to the
 *   uplink only (Ethernet src = uplink MAC); a join the table has no room for: GroupTableFull,
 *   still sent. Queries are switched as any packet.
 * - Otherwise by destination: ff01::/16, ff02::/16 to every other NIC and the uplink (nowhere:
 *   NoUplink); other groups to their member NICs and the uplink (nowhere: NoGroupMember);
 *   registered to another NIC: Ethernet dst = its MAC, src = the sender's, delivered; to the
 *   same NIC: Hairpin; else to the uplink with Ethernet src = uplink MAC and dst = the
 *   destination's MAC in the neighbour cache, else the default router's (not for link-local
 *   destinations), else NoNeighbour (and the switch asks the LAN: an NS from the sender's
 *   address, SLLA = the uplink's MAC, at most once per destination per SOLICIT_MS, so the answer
 *   fills the cache); no uplink: NoUplink.
 * From the uplink:
 * - NS: its source and SLLA into the cache; for a registered address: answered out the uplink
 *   (solicited unless from ::, override, TLLA and Ethernet src = uplink MAC; to ff02::1 when
 *   from ::); registered but local only: LocalOnly; else NdpIgnored.
 * - NA, RA, Redirect: into the cache (and the default router), their link-layer options
 *   rewritten to the uplink's MAC (checksum fixed), then delivered by destination, except that
 *   an NA to a multicast destination (a LAN host defending an address, or announcing one) goes
 *   only to the NIC that probed its target within PROBE_MS, else to the NIC that holds it, else
 *   nowhere (NdpIgnored): a guest that did not probe or hold the address never sees it. RS:
 *   NdpIgnored.
 * - Otherwise by destination: ff01::/16, ff02::/16 to every NIC (none: UnknownDestination);
 *   other groups to their members (none: NoGroupMember); registered and local only: LocalOnly;
 *   registered: Ethernet dst = the NIC's MAC; unknown: UnknownDestination.
 * The VXLAN overlay (overlay.ts), while the switch has an overlay port (a VLAN-unaware switch):
 * - From a NIC: an NS (DAD or not) for an address of another member's guest (overlay remote6)
 *   that no local NIC holds is answered as for a local holder, with the remote guest's MAC
 *   (nothing crosses the overlay); unicast to such an address goes out the overlay port with
 *   Ethernet dst = that MAC, the sender's own MAC kept (before the uplink).
 * - From the overlay port (the same frame checks): NDP NdpIgnored (remote guests' NDP is
 *   answered on their own member); a source not in remote6, or one of the IPv6 LAN IP table (a store entry claiming a local guest), SpoofedSource; unicast to an address
 *   of the IPv6 LAN IP table that may cross the overlay (overlayable6) delivered with Ethernet
 *   dst = its NIC's MAC (local only or not, as IPv4 from the overlay); anything else (unknown,
 *   link-local, multicast) UnknownDestination.
 * - Link-local addresses never cross it (overlay.ts overlayable6): each member's link is its own.
 * Every frame is sent at least once or counted as exactly one drop. Frames the switch makes
 * (NAs) carry a 10-byte zero virtio-net header. announce6 sends an unsolicited NA (override,
 * to ff02::1) out the uplink in the VLAN asked for (a VLAN-unaware switch: VLAN 0 only).
 * removePort of a NIC removes its addresses and memberships.
 * query(mac, qrv, qqic): the MLDv2 general query to every NIC (the querier, one timer with
 * IGMP's, is ip-switch.ts's).
 * tick(now): memberships not refreshed for MLD_MEMBERSHIP_MS expire (events.leftGroup6);
 * neighbour cache and probe table entries and default routers past their expiry are removed;
 * the sawAddress6 limiter is reset.
 */

import { DropReason, PortRole, type Egress, type ForwarderEvents } from './api.js';
import { dropSlot, MAX_PORTS } from './counters.js';
import { Ip6Table } from './ip6-table.js';
import { mirrorTo, sendToMembers, toEachUntagged } from './send-each.js';
import type { L2Policy } from './l2-policy.js';
import { GroupTable, JOIN_FULL, JOIN_NEW, MAX_GROUPS } from './group-table.js';
import { overlayable6, type Overlay } from './overlay.js';
import { macHi, macLo } from '../wire/addr.js';
import { Eth } from '../wire/ethernet.js';
import * as ethernet from '../wire/ethernet.js';
import * as ipv6 from '../wire/ipv6.js';
import * as icmpv6 from '../wire/icmpv6.js';
import { Icmp6, Ndp } from '../wire/icmpv6.js';
import { Ipv6Dst, ALL_NODES_W0, ALL_NODES_W3 } from '../wire/ipv6.js';
import { igmpv3RecordAction } from '../wire/igmp.js';
import { emitZeroVnetHdr, vnetHasGso, VNET_HDR_LEN } from '../wire/vnet.js';

const { ethDstIsGroup, ethSrcHi, ethSrcLo, setEthDstHL, setEthSrcHL } = ethernet;
const {
  checkIpv6, checkIpv6Length, classifyIpv6Addr, ipv6DstWord, ipv6End, ipv6IsUnspecified, ipv6SrcWord, ipv6UpperLayer,
  upperIsFragment, upperOffset, upperProto, solicitedNodeW3, ipv6GroupMac,
} = ipv6;
const { checkIcmpv6, checkMld, checkNdp, emitNa, isMld, isNdp, llaIsEthernet, llaMacHi, llaMacLo, ndpFindOption, ndpTargetWord,
  raRouterLifetime, redirectDstWord, rewriteLinkLayerOptions, mldGroupWord, emitMld2Query, mld2FirstRecord, mld2RecordCount, mld2RecordEnd,
  mld2RecordGroupWord, mld2RecordSources, mld2RecordType } = icmpv6;

/** The key VLAN of the MLD group ids: the group table is one for the switch, as IPv4's (see the file comment). */
const GROUPS_VID = 0;
/** VLAN ids (802.1Q: 0..4095) for the per-VLAN default routers. */
const VID_SLOTS = 4096;
/** Neighbour cache bound per switch, and how long an entry lives after its last confirmation. */
export const NEIGHBOUR_MAX = 4096;
export const NEIGHBOUR_MS = 20 * 60_000;
/** MLD's multicast listener interval (RFC 3810 9.4: 2 x 125 s + 10 s). */
export const MLD_MEMBERSHIP_MS = 260_000;
/** The maximum response delay of the switch's MLD queries (RFC 3810 9.3: 10 s). */
export const MLD_QUERY_RESPONSE_MS = 10_000;
/** Probe table bound per switch, and how long a NIC's DAD probe is remembered (a LAN host's
 * defence comes within RetransTimer, 1 s by default, of each of DupAddrDetectTransmits probes). */
export const PROBE_MAX = 1024;
export const PROBE_MS = 10_000;
/** How many LAN destinations the switch remembers having solicited for guests, and how often it asks for one. */
export const SOLICIT_MAX = 256;
export const SOLICIT_MS = 1000;
/** Bound of the IPv6 LAN IP table per switch. */
export const MAX_ADDRESSES6 = 1 << 20;

/** ff02::1's MAC. */
const ALL_NODES_MAC = 0x333300000001;

/** LAN IP table flag bits (b[]). */
const LOCAL_ONLY = 1;

export class Ip6Switch {
  /** The IPv6 LAN IP table: a = port, b = flags (LOCAL_ONLY). */
  readonly table = new Ip6Table(MAX_ADDRESSES6, true);
  /** The neighbour cache: a, b = MAC halves, t = expiry. */
  readonly neighbours = new Ip6Table(NEIGHBOUR_MAX, false);
  /** The probe table: a NIC's DAD target relayed to the LAN -> a = the NIC, t = expiry. */
  readonly probes = new Ip6Table(PROBE_MAX, false);
  /** LAN destinations the switch solicited for a NIC lately (t: when it may ask again). */
  private readonly soliciting = new Ip6Table(SOLICIT_MAX, false);
  /** Group address -> a = group id (index into groupWords) in `groups`. */
  private readonly groupIds = new Ip6Table(MAX_GROUPS, true, MAX_GROUPS * 2);
  readonly groups = new GroupTable();
  private readonly groupWords = new Int32Array(MAX_GROUPS * 4);
  private readonly freeIds = new Int32Array(MAX_GROUPS);
  private freeCount = MAX_GROUPS;

  private readonly isNic = new Uint8Array(MAX_PORTS);
  private readonly macHi = new Int32Array(MAX_PORTS);
  private readonly macLo = new Int32Array(MAX_PORTS);
  private readonly sawWords = new Int32Array(MAX_PORTS * 4);
  private readonly sawSet = new Uint8Array(MAX_PORTS);
  private readonly nics: number[] = [];
  private uplink = -1;
  private upHi = 0;
  private upLo = 0;

  /** Per VLAN, the default router: its address words (4 per VLAN), MAC halves, until when (0: none). */
  private readonly router = new Int32Array(VID_SLOTS * 4);
  private readonly routerHi = new Int32Array(VID_SLOTS);
  private readonly routerLo = new Int32Array(VID_SLOTS);
  private readonly routerUntil = new Float64Array(VID_SLOTS);
  /** VLANs with a default router now (their ids in routerVids[0 .. nRouters)), so tick looks at those only. */
  private readonly routerVids = new Int32Array(VID_SLOTS);
  private nRouters = 0;

  /** The frame being forwarded: its 802.1Q TCI (0 on a VLAN-unaware switch) and VLAN id (set by input). */
  private tci = 0;
  private vid = 0;

  /** Where the NAs the switch makes are written. */
  private readonly out = new Uint8Array(VNET_HDR_LEN + Eth.HeaderLen + icmpv6.NA_PACKET_LEN);
  /** Where its MLD queries are written. */
  private readonly queryBuf = new Uint8Array(VNET_HDR_LEN + Eth.HeaderLen + icmpv6.MLD2_QUERY_PACKET_LEN);
  private readonly dropBase: number;
  private readonly onLeft = (port: number, id: number): void => this.left(port, id);

  /**
   * `l2`: the IP-mode switch's layer-2 policy (ip-switch.ts owns it, attaches the ports to it and
   * sets it; this path only reads it), so IPv6 obeys the VLANs, isolation and mirrors IPv4 does.
   * `overlay`: the IP-mode switch's VXLAN overlay (ip-switch.ts owns it and its port).
   */
  constructor(sw: number, private readonly counters: Float64Array, private readonly egress: Egress,
    private readonly events: ForwarderEvents, private readonly l2: L2Policy, private readonly overlay: Overlay) {
    this.dropBase = dropSlot(sw, 0);
    for (let i = 0; i < MAX_GROUPS; i++) this.freeIds[i] = MAX_GROUPS - 1 - i;
  }

  addPort(port: number, role: PortRole, mac: number): void {
    if (role === PortRole.Uplink) {
      this.uplink = port;
      this.upHi = macHi(mac);
      this.upLo = macLo(mac);
      return;
    }
    if (this.isNic[port] === 0) this.nics.push(port);
    this.isNic[port] = 1;
    this.macHi[port] = macHi(mac);
    this.macLo[port] = macLo(mac);
  }

  removePort(port: number): void {
    if (port === this.uplink) {
      this.uplink = -1;
      return;
    }
    if (this.isNic[port] === 0) return;
    this.isNic[port] = 0;
    this.sawSet[port] = 0;
    this.nics.splice(this.nics.indexOf(port), 1);
    this.table.sweep((s) => this.table.a[s] === port);
    if (this.probes.size > 0) this.probes.sweep((s) => this.probes.a[s] === port);
    this.groups.removePort(port, this.onLeft);
  }

  setAddress6(vid: number, w0: number, w1: number, w2: number, w3: number, port: number, localOnly: boolean): void {
    const s = this.table.insert(vid, w0, w1, w2, w3);
    if (s < 0) return;
    this.table.a[s] = port;
    this.table.b[s] = localOnly ? LOCAL_ONLY : 0;
  }

  clearAddress6(vid: number, w0: number, w1: number, w2: number, w3: number): void {
    this.table.delete(vid, w0, w1, w2, w3);
  }

  /**
   * An unsolicited NA for the address out the uplink (override, to ff02::1, TLLA = the uplink's
   * MAC), in VLAN vid (its TCI; 0 on a VLAN-unaware switch, where only VLAN 0 is announced).
   */
  announce6(vid: number, w0: number, w1: number, w2: number, w3: number): void {
    if (this.uplink < 0 || !Number.isInteger(vid) || vid < 0 || vid > 4094 || (!this.l2.vlanAware && vid !== 0)) return;
    this.sendNa(this.uplink, ALL_NODES_MAC, this.upHi, this.upLo, w0, w1, w2, w3,
      ALL_NODES_W0, 0, 0, ALL_NODES_W3, Ndp.FlagOverride, this.upHi, this.upLo, vid);
  }

  tick(now: number): void {
    const nics = this.nics;
    for (let i = 0; i < nics.length; i++) this.sawSet[nics[i]] = 0;
    this.groups.expire(now, this.onLeft);
    if (this.neighbours.size > 0) this.neighbours.sweep((s) => this.neighbours.t[s] <= now);
    if (this.probes.size > 0) this.probes.sweep((s) => this.probes.t[s] <= now);
    if (this.soliciting.size > 0) this.soliciting.sweep((s) => this.soliciting.t[s] <= now);
    for (let i = 0; i < this.nRouters;) {
      const v = this.routerVids[i];
      if (this.routerUntil[v] > now) i++;
      else this.forgetRouter(i);
    }
  }

  /** Take VLAN routerVids[i]'s default router away. */
  private forgetRouter(i: number): void {
    this.routerUntil[this.routerVids[i]] = 0;
    this.routerVids[i] = this.routerVids[--this.nRouters];
  }

  private drop(reason: number): void {
    this.counters[this.dropBase + reason]++;
  }

  /**
   * The querier's MLDv2 general query (ip-switch.ts decides when) to every NIC in its untagged
   * VLAN: from `mac` and the link-local address made from it (modified EUI-64, RFC 4291: hosts
   * discard a query from any other kind of source, RFC 3810 5.1.14), to ff02::1, QRV `qrv`,
   * QQIC `qqic` s, maximum response MLD_QUERY_RESPONSE_MS.
   */
  query(mac: number, qrv: number, qqic: number): void {
    const b = this.queryBuf;
    const eth = emitZeroVnetHdr(b, 0);
    const hi = macHi(mac), lo = macLo(mac);
    setEthDstHL(b, eth, 0x333300, 1);
    setEthSrcHL(b, eth, hi, lo);
    b[eth + 12] = 0x86; b[eth + 13] = 0xdd;
    // fe80::(hi ^ 0x020000)ff:fe(lo)
    const w2 = ((hi ^ 0x020000) << 8) | 0xff, w3 = (0xfe << 24) | lo;
    const end = emitMld2Query(b, eth + Eth.HeaderLen, 0xfe800000 | 0, 0, w2, w3, MLD_QUERY_RESPONSE_MS, qrv, qqic);
    toEachUntagged(this.egress, this.l2, this.nics, this.nics.length, b, 0, eth, end);
  }

  /**
   * One IPv6 frame (the Ethernet header checked, untagged, its source MAC checked) from `port`
   * in `role`, in the VLAN of `tci` (L2Policy.classify's answer; 0 on a VLAN-unaware switch).
   */
  input(port: number, role: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number, tci: number): void {
    this.tci = tci;
    this.vid = tci & 0x0fff;
    const ip = eth + Eth.HeaderLen;
    if (!checkIpv6(buf, ip, end)) {
      this.drop(DropReason.Malformed);
      return;
    }
    let pend = end;
    if (checkIpv6Length(buf, ip, end)) pend = ipv6End(buf, ip);
    else if (!vnetHasGso(buf, hdr, eth)) {
      this.drop(DropReason.Malformed);
      return;
    }
    const up = ipv6UpperLayer(buf, ip, pend);
    if (up < 0) {
      this.drop(DropReason.Malformed);
      return;
    }
    if (upperProto(up) === Icmp6.NextHeader) {
      const icmp = upperOffset(up);
      if (pend - icmp < 4) {
        this.drop(DropReason.Malformed);
        return;
      }
      const type = buf[icmp];
      const ndp = isNdp(type);
      if (ndp || (isMld(type) && type !== Icmp6.MldQuery)) {
        if (upperIsFragment(up) || !checkIcmpv6(buf, ip, icmp, pend) ||
          (ndp ? !checkNdp(buf, ip, icmp, pend) : !checkMld(buf, icmp, pend))) {
          this.drop(DropReason.Malformed);
          return;
        }
        if (role === PortRole.Overlay) {
          if (ndp) this.drop(DropReason.NdpIgnored);
          else this.fromOverlay(buf, hdr, eth, ip, end);
        } else if (ndp) {
          if (role === PortRole.Uplink) this.uplinkNdp(buf, hdr, eth, ip, icmp, pend, end, now);
          else this.nicNdp(port, buf, hdr, eth, ip, icmp, pend, end, now);
        } else if (role === PortRole.Uplink) {
          this.fromUplink(buf, hdr, eth, ip, end);
        } else {
          this.nicMld(port, buf, hdr, eth, ip, icmp, pend, end, now);
        }
        return;
      }
    }
    if (role === PortRole.Uplink) {
      this.refresh(buf, eth, ip, now);
      this.fromUplink(buf, hdr, eth, ip, end);
    } else if (role === PortRole.Overlay) {
      this.fromOverlay(buf, hdr, eth, ip, end);
    } else {
      this.fromNic(port, buf, hdr, eth, ip, end, now);
    }
  }

  /** A packet from the overlay port (not NDP): from a known remote guest to a local one only. */
  private fromOverlay(buf: Uint8Array, hdr: number, eth: number, ip: number, end: number): void {
    const s0 = ipv6SrcWord(buf, ip, 0), s1 = ipv6SrcWord(buf, ip, 1), s2 = ipv6SrcWord(buf, ip, 2), s3 = ipv6SrcWord(buf, ip, 3);
    // A local guest's address is never a remote one, whatever the store says.
    if (this.overlay.find6(s0, s1, s2, s3) < 0 || this.table.find(this.vid, s0, s1, s2, s3) >= 0) {
      this.drop(DropReason.SpoofedSource);
      return;
    }
    const d0 = ipv6DstWord(buf, ip, 0), d1 = ipv6DstWord(buf, ip, 1), d2 = ipv6DstWord(buf, ip, 2), d3 = ipv6DstWord(buf, ip, 3);
    const s = overlayable6(d0, d1, d2, d3) ? this.table.find(this.vid, d0, d1, d2, d3) : -1;
    if (s < 0) {
      this.drop(DropReason.UnknownDestination);
      return;
    }
    const out = this.table.a[s];
    setEthDstHL(buf, eth, this.macHi[out], this.macLo[out]);
    this.egress.send(out, buf, hdr, eth, end, this.tci);
  }

  /** A NIC's packet (not NDP or MLD reports). */
  private fromNic(port: number, buf: Uint8Array, hdr: number, eth: number, ip: number, end: number, now: number): void {
    if (!this.sourceOk(port, buf, ip, false)) return;
    const dstAt = ip + 24;
    switch (classifyIpv6Addr(buf, dstAt)) {
      case Ipv6Dst.All: {
        const sent = this.toNics(this.nics, this.nics.length, port, buf, hdr, eth, end);
        if (!this.toUplinkAsIs(buf, hdr, eth, end)) {
          if (sent === 0) this.drop(this.l2.isolation ? DropReason.Isolated : DropReason.NoUplink);
        } else this.mirrorIsolated(port, buf, hdr, eth, end);
        return;
      }
      case Ipv6Dst.Group: {
        const g = this.groupIds.find(GROUPS_VID, ipv6DstWord(buf, ip, 0), ipv6DstWord(buf, ip, 1), ipv6DstWord(buf, ip, 2), ipv6DstWord(buf, ip, 3));
        const e = g < 0 ? undefined : this.groups.lookup(this.groupIds.a[g]);
        const sent = e === undefined ? 0 : this.toNics(e.ports, e.count, port, buf, hdr, eth, end);
        if (!this.toUplinkAsIs(buf, hdr, eth, end)) {
          if (sent === 0) this.drop(DropReason.NoGroupMember);
        } else this.mirrorIsolated(port, buf, hdr, eth, end);
        return;
      }
    }
    const d0 = ipv6DstWord(buf, ip, 0), d1 = ipv6DstWord(buf, ip, 1), d2 = ipv6DstWord(buf, ip, 2), d3 = ipv6DstWord(buf, ip, 3);
    const s = this.table.find(this.vid, d0, d1, d2, d3);
    const l2 = this.l2;
    if (s >= 0) {
      const out = this.table.a[s];
      if (out === port) {
        this.drop(DropReason.Hairpin);
        return;
      }
      if (l2.isolated(port, out)) {
        this.drop(DropReason.Isolated);
        return;
      }
      if (!l2.member(out, this.vid)) {
        this.drop(DropReason.VlanNotAllowed);
        return;
      }
      setEthDstHL(buf, eth, this.macHi[out], this.macLo[out]);
      setEthSrcHL(buf, eth, this.macHi[port], this.macLo[port]);
      this.egress.send(out, buf, hdr, eth, end, this.tci);
      if (l2.nPromisc !== 0) mirrorTo(this.egress, l2, port, out, this.vid, buf, hdr, eth, end, this.tci);
      return;
    }
    if (this.overlay.port >= 0 && this.overlay.send6(d0, d1, d2, d3, buf, hdr, eth, end)) return;
    if (this.uplink < 0) {
      this.drop(DropReason.NoUplink);
      return;
    }
    const n = this.neighbours.find(this.vid, d0, d1, d2, d3);
    if (n >= 0) {
      setEthDstHL(buf, eth, this.neighbours.a[n], this.neighbours.b[n]);
    } else if (this.routerUntil[this.vid] !== 0 && !(d0 >>> 22 === 0x3fa)) {
      setEthDstHL(buf, eth, this.routerHi[this.vid], this.routerLo[this.vid]);
    } else {
      this.solicit(buf, ip, d0, d1, d2, d3, now);
      this.drop(DropReason.NoNeighbour);
      return;
    }
    setEthSrcHL(buf, eth, this.upHi, this.upLo);
    this.egress.send(this.uplink, buf, hdr, eth, end, this.tci);
    if (l2.nPromisc !== 0) mirrorTo(this.egress, l2, port, this.uplink, this.vid, buf, hdr, eth, end, this.tci);
  }

  /** To the NICs of the frame's VLAN among ports[0 .. count) (but `from`, and as isolation allows), unchanged; returns how many. */
  private toNics(ports: ArrayLike<number>, count: number, from: number, buf: Uint8Array, hdr: number, eth: number, end: number): number {
    return sendToMembers(this.egress, this.l2, ports, count, from, this.vid, buf, hdr, eth, end, this.tci);
  }

  /** After a flood from NIC `port` that isolation kept from the other NICs: the mirrors' copies (as IPv4's). */
  private mirrorIsolated(port: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const l2 = this.l2;
    if (l2.isolation && l2.nPromisc !== 0) mirrorTo(this.egress, l2, port, this.uplink, this.vid, buf, hdr, eth, end, this.tci);
  }

  /**
   * The sender check of a NIC's packet, as for IPv4: true when its source is registered to
   * this NIC, or is :: and `unspecifiedOk` (DAD probes, RS and MLD reports may come from ::);
   * else false, counted as SpoofedSource, and an unregistered source other than :: is reported
   * (a claim: the control plane decides whether the NIC may register it).
   */
  private sourceOk(port: number, buf: Uint8Array, ip: number, unspecifiedOk: boolean): boolean {
    const s0 = ipv6SrcWord(buf, ip, 0), s1 = ipv6SrcWord(buf, ip, 1), s2 = ipv6SrcWord(buf, ip, 2), s3 = ipv6SrcWord(buf, ip, 3);
    const s = this.table.find(this.vid, s0, s1, s2, s3);
    if (s >= 0 && this.table.a[s] === port) return true;
    if (s < 0) {
      if ((s0 | s1 | s2 | s3) === 0) {
        if (unspecifiedOk) return true;
      } else {
        this.saw(port, s0, s1, s2, s3);
      }
    }
    this.drop(DropReason.SpoofedSource);
    return false;
  }

  private saw(port: number, w0: number, w1: number, w2: number, w3: number): void {
    const o = port * 4, sw = this.sawWords;
    if (this.sawSet[port] === 1 && sw[o] === w0 && sw[o + 1] === w1 && sw[o + 2] === w2 && sw[o + 3] === w3) return;
    this.sawSet[port] = 1;
    sw[o] = w0; sw[o + 1] = w1; sw[o + 2] = w2; sw[o + 3] = w3;
    this.events.sawAddress6?.(port, w0 >>> 0, w1 >>> 0, w2 >>> 0, w3 >>> 0, this.vid);
  }

  /** To the uplink with Ethernet src = uplink MAC, destination kept; false when there is none. */
  private toUplinkAsIs(buf: Uint8Array, hdr: number, eth: number, end: number): boolean {
    if (this.uplink < 0) return false;
    setEthSrcHL(buf, eth, this.upHi, this.upLo);
    this.egress.send(this.uplink, buf, hdr, eth, end, this.tci);
    return true;
  }

  /** NDP from a NIC (checkNdp passed). */
  private nicNdp(port: number, buf: Uint8Array, hdr: number, eth: number, ip: number, icmp: number, pend: number, end: number, now: number): void {
    const type = buf[icmp];
    if (type !== Icmp6.NeighborSolicit && type !== Icmp6.RouterSolicit) {
      this.drop(DropReason.NdpIgnored);
      return;
    }
    if (!this.sourceOk(port, buf, ip, true)) return;
    const dad = ipv6IsUnspecified(buf, ip + 8);
    if (type === Icmp6.RouterSolicit) {
      rewriteLinkLayerOptions(buf, ip, icmp, pend, Ndp.OptSourceLla, this.upHi, this.upLo);
      if (!this.toUplinkAsIs(buf, hdr, eth, end)) this.drop(DropReason.NoUplink);
      return;
    }
    const t0 = ndpTargetWord(buf, icmp, 0), t1 = ndpTargetWord(buf, icmp, 1), t2 = ndpTargetWord(buf, icmp, 2), t3 = ndpTargetWord(buf, icmp, 3);
    const t = this.table.find(this.vid, t0, t1, t2, t3);
    if (t >= 0) {
      const holder = this.table.a[t];
      if (holder === port) {
        this.drop(DropReason.NdpIgnored);
        return;
      }
      // Isolation: the holder is out of reach, as a LAN host's address would be behind the uplink.
      const isolated = this.l2.isolated(port, holder);
      if (dad && isolated) this.answerNs(port, buf, eth, ip, true, this.upHi, this.upLo, t0, t1, t2, t3);
      else if (isolated) this.drop(DropReason.Isolated);
      else this.answerNs(port, buf, eth, ip, dad, this.macHi[holder], this.macLo[holder], t0, t1, t2, t3);
      return;
    }
    // Another member's guest (the overlay): answered with its MAC, as a local holder.
    const ov = this.overlay;
    const r = ov.port >= 0 ? ov.find6(t0, t1, t2, t3) : -1;
    if (r >= 0) {
      this.answerNs(port, buf, eth, ip, dad, ov.remote6.a[r], ov.remote6.b[r], t0, t1, t2, t3);
      return;
    }
    if (dad) this.saw(port, t0, t1, t2, t3);
    if (this.uplink < 0) {
      this.drop(DropReason.NoUplink);
      return;
    }
    if (dad) {
      const p = this.probes.insert(this.vid, t0, t1, t2, t3);
      this.probes.a[p] = port;
      this.probes.t[p] = now + PROBE_MS;
    }
    if (!dad) rewriteLinkLayerOptions(buf, ip, icmp, pend, Ndp.OptSourceLla, this.upHi, this.upLo);
    if (!ethDstIsGroup(buf, eth)) {
      const n = this.neighbours.find(this.vid, t0, t1, t2, t3);
      if (n >= 0) setEthDstHL(buf, eth, this.neighbours.a[n], this.neighbours.b[n]);
      else setEthDstHL(buf, eth, 0x3333ff, solicitedNodeW3(t3) & 0xffffff);
    }
    setEthSrcHL(buf, eth, this.upHi, this.upLo);
    this.egress.send(this.uplink, buf, hdr, eth, end, this.tci);
  }

  /**
   * The NA that answers NIC `port`'s NS (at eth/ip) for target t held under MAC hi:lo: for a
   * DAD probe (`dad`) to ff02::1, override (the prober's DAD fails); else to the requester,
   * solicited and override. TLLA and Ethernet source = hi:lo.
   */
  private answerNs(port: number, buf: Uint8Array, eth: number, ip: number, dad: boolean, hi: number, lo: number,
    t0: number, t1: number, t2: number, t3: number): void {
    if (dad) {
      this.sendNa(port, ALL_NODES_MAC, hi, lo, t0, t1, t2, t3, ALL_NODES_W0, 0, 0, ALL_NODES_W3, Ndp.FlagOverride, hi, lo, this.tci);
      return;
    }
    const mac = ethSrcHi(buf, eth) * 0x1000000 + ethSrcLo(buf, eth);
    this.sendNa(port, mac, hi, lo, t0, t1, t2, t3,
      ipv6SrcWord(buf, ip, 0), ipv6SrcWord(buf, ip, 1), ipv6SrcWord(buf, ip, 2), ipv6SrcWord(buf, ip, 3),
      Ndp.FlagSolicited | Ndp.FlagOverride, hi, lo, this.tci);
  }

  /** An MLD report or done from a NIC: the group table, then the uplink only. */
  private nicMld(port: number, buf: Uint8Array, hdr: number, eth: number, ip: number, icmp: number, pend: number, end: number, now: number): void {
    if (!this.sourceOk(port, buf, ip, true)) return;
    const type = buf[icmp];
    let full = false;
    if (type === Icmp6.MldReport) {
      full = this.join(port, mldGroupWord(buf, icmp, 0), mldGroupWord(buf, icmp, 1), mldGroupWord(buf, icmp, 2), mldGroupWord(buf, icmp, 3), now);
    } else if (type === Icmp6.MldDone) {
      this.leave(port, mldGroupWord(buf, icmp, 0), mldGroupWord(buf, icmp, 1), mldGroupWord(buf, icmp, 2), mldGroupWord(buf, icmp, 3));
    } else {
      const n = mld2RecordCount(buf, icmp);
      let rec = mld2FirstRecord(icmp);
      for (let i = 0; i < n; i++) {
        const next = mld2RecordEnd(buf, rec, pend);
        if (next < 0) break; // a record past the end: the ones before it stand
        const a = igmpv3RecordAction(mld2RecordType(buf, rec), mld2RecordSources(buf, rec));
        const g0 = mld2RecordGroupWord(buf, rec, 0), g1 = mld2RecordGroupWord(buf, rec, 1);
        const g2 = mld2RecordGroupWord(buf, rec, 2), g3 = mld2RecordGroupWord(buf, rec, 3);
        if (a > 0) full = this.join(port, g0, g1, g2, g3, now) || full;
        else if (a < 0) this.leave(port, g0, g1, g2, g3);
        rec = next;
      }
    }
    if (!this.toUplinkAsIs(buf, hdr, eth, end)) this.drop(DropReason.NoUplink);
    else if (full) this.drop(DropReason.GroupTableFull);
  }

  /** Record a membership of a group beyond link scope; true when the table had no room. */
  private join(port: number, g0: number, g1: number, g2: number, g3: number, now: number): boolean {
    if (ipv6.classifyIpv6Words(g0) !== Ipv6Dst.Group) return false;
    let s = this.groupIds.find(GROUPS_VID, g0, g1, g2, g3);
    if (s < 0) {
      if (this.freeCount === 0) return true;
      s = this.groupIds.insert(GROUPS_VID, g0, g1, g2, g3);
      if (s < 0) return true;
      const id = this.freeIds[--this.freeCount];
      this.groupIds.a[s] = id;
      const o = id * 4;
      this.groupWords[o] = g0; this.groupWords[o + 1] = g1; this.groupWords[o + 2] = g2; this.groupWords[o + 3] = g3;
    }
    const id = this.groupIds.a[s];
    const r = this.groups.join(id, port, now + MLD_MEMBERSHIP_MS);
    if (r === JOIN_NEW) this.events.joinedGroup6?.(port, g0 >>> 0, g1 >>> 0, g2 >>> 0, g3 >>> 0);
    if (this.groups.lookup(id) === undefined) this.releaseId(id);
    return r === JOIN_FULL;
  }

  private leave(port: number, g0: number, g1: number, g2: number, g3: number): void {
    const s = this.groupIds.find(GROUPS_VID, g0, g1, g2, g3);
    if (s >= 0 && this.groups.leave(this.groupIds.a[s], port)) this.left(port, this.groupIds.a[s]);
  }

  /** `port` left group `id`: reported; the id is freed once the group has no member. */
  private left(port: number, id: number): void {
    const o = id * 4, w = this.groupWords;
    this.events.leftGroup6?.(port, w[o] >>> 0, w[o + 1] >>> 0, w[o + 2] >>> 0, w[o + 3] >>> 0);
    if (this.groups.lookup(id) === undefined) this.releaseId(id);
  }

  private releaseId(id: number): void {
    const o = id * 4, w = this.groupWords;
    if (this.groupIds.delete(GROUPS_VID, w[o], w[o + 1], w[o + 2], w[o + 3])) this.freeIds[this.freeCount++] = id;
  }

  /** Remember (or refresh) a LAN neighbour. */
  private learn(w0: number, w1: number, w2: number, w3: number, hi: number, lo: number, now: number): void {
    if ((w0 | w1 | w2 | w3) === 0 || w0 >>> 24 === 0xff) return;
    const n = this.neighbours.insert(this.vid, w0, w1, w2, w3);
    this.neighbours.a[n] = hi;
    this.neighbours.b[n] = lo;
    this.neighbours.t[n] = now + NEIGHBOUR_MS;
  }

  /** A packet from the LAN whose source the cache holds with its Ethernet source: the entry is confirmed. */
  private refresh(buf: Uint8Array, eth: number, ip: number, now: number): void {
    if (this.neighbours.size === 0) return;
    const n = this.neighbours.find(this.vid, ipv6SrcWord(buf, ip, 0), ipv6SrcWord(buf, ip, 1), ipv6SrcWord(buf, ip, 2), ipv6SrcWord(buf, ip, 3));
    if (n >= 0 && this.neighbours.a[n] === ethSrcHi(buf, eth) && this.neighbours.b[n] === ethSrcLo(buf, eth)) this.neighbours.t[n] = now + NEIGHBOUR_MS;
  }

  /** NDP from the uplink (checkNdp passed). */
  private uplinkNdp(buf: Uint8Array, hdr: number, eth: number, ip: number, icmp: number, pend: number, end: number, now: number): void {
    const type = buf[icmp];
    if (type === Icmp6.RouterSolicit) {
      this.drop(DropReason.NdpIgnored);
      return;
    }
    const s0 = ipv6SrcWord(buf, ip, 0), s1 = ipv6SrcWord(buf, ip, 1), s2 = ipv6SrcWord(buf, ip, 2), s3 = ipv6SrcWord(buf, ip, 3);
    const sll = type === Icmp6.NeighborSolicit || type === Icmp6.RouterAdvert ? ndpFindOption(buf, icmp, pend, Ndp.OptSourceLla) : -1;
    const hasSll = sll >= 0 && llaIsEthernet(buf, sll);
    const srcHi = hasSll ? llaMacHi(buf, sll) : ethSrcHi(buf, eth), srcLo = hasSll ? llaMacLo(buf, sll) : ethSrcLo(buf, eth);
    if (type === Icmp6.NeighborSolicit) {
      const dad = (s0 | s1 | s2 | s3) === 0;
      if (hasSll) this.learn(s0, s1, s2, s3, srcHi, srcLo, now);
      const t0 = ndpTargetWord(buf, icmp, 0), t1 = ndpTargetWord(buf, icmp, 1), t2 = ndpTargetWord(buf, icmp, 2), t3 = ndpTargetWord(buf, icmp, 3);
      const t = this.table.find(this.vid, t0, t1, t2, t3);
      if (t < 0) {
        this.drop(DropReason.NdpIgnored);
        return;
      }
      if ((this.table.b[t] & LOCAL_ONLY) !== 0) {
        this.drop(DropReason.LocalOnly);
        return;
      }
      if (dad) {
        this.sendNa(this.uplink, ALL_NODES_MAC, this.upHi, this.upLo, t0, t1, t2, t3,
          ALL_NODES_W0, 0, 0, ALL_NODES_W3, Ndp.FlagOverride, this.upHi, this.upLo, this.tci);
      } else {
        this.sendNa(this.uplink, ethSrcHi(buf, eth) * 0x1000000 + ethSrcLo(buf, eth), this.upHi, this.upLo, t0, t1, t2, t3,
          s0, s1, s2, s3, Ndp.FlagSolicited | Ndp.FlagOverride, this.upHi, this.upLo, this.tci);
      }
      return;
    }
    if (type === Icmp6.RouterAdvert) {
      this.learn(s0, s1, s2, s3, srcHi, srcLo, now);
      this.routerAdvert(s0, s1, s2, s3, srcHi, srcLo, raRouterLifetime(buf, icmp), now);
      rewriteLinkLayerOptions(buf, ip, icmp, pend, Ndp.OptSourceLla, this.upHi, this.upLo);
    } else {
      const tll = ndpFindOption(buf, icmp, pend, Ndp.OptTargetLla);
      const hasTll = tll >= 0 && llaIsEthernet(buf, tll);
      const hi = hasTll ? llaMacHi(buf, tll) : ethSrcHi(buf, eth), lo = hasTll ? llaMacLo(buf, tll) : ethSrcLo(buf, eth);
      const na = type === Icmp6.NeighborAdvert;
      const t0 = ndpTargetWord(buf, icmp, 0), t1 = ndpTargetWord(buf, icmp, 1), t2 = ndpTargetWord(buf, icmp, 2), t3 = ndpTargetWord(buf, icmp, 3);
      if (na) {
        this.learn(t0, t1, t2, t3, hi, lo, now);
      } else if (hasTll) {
        this.learn(redirectDstWord(buf, icmp, 0), redirectDstWord(buf, icmp, 1), redirectDstWord(buf, icmp, 2), redirectDstWord(buf, icmp, 3), hi, lo, now);
      }
      rewriteLinkLayerOptions(buf, ip, icmp, pend, Ndp.OptTargetLla, this.upHi, this.upLo);
      if (na && classifyIpv6Addr(buf, ip + 24) !== Ipv6Dst.Unicast) {
        this.defence(buf, hdr, eth, end, t0, t1, t2, t3, now);
        return;
      }
    }
    this.fromUplink(buf, hdr, eth, ip, end);
  }

  /**
   * An RA in the frame's VLAN from router s (MAC hi:lo) with router lifetime `life` s: it becomes
   * the VLAN's default router; a lifetime of 0 from the default router takes it away.
   */
  private routerAdvert(s0: number, s1: number, s2: number, s3: number, hi: number, lo: number, life: number, now: number): void {
    const v = this.vid, r = this.router, o = v * 4;
    const known = this.routerUntil[v] !== 0;
    if (life > 0) {
      r[o] = s0; r[o + 1] = s1; r[o + 2] = s2; r[o + 3] = s3;
      this.routerHi[v] = hi;
      this.routerLo[v] = lo;
      this.routerUntil[v] = now + life * 1000;
      if (!known) this.routerVids[this.nRouters++] = v;
    } else if (known && r[o] === s0 && r[o + 1] === s1 && r[o + 2] === s2 && r[o + 3] === s3) {
      for (let i = 0; i < this.nRouters; i++) if (this.routerVids[i] === v) { this.forgetRouter(i); break; }
    }
  }

  /**
   * A multicast NA from the LAN for target t: only to the NIC that probed t (its DAD fails),
   * else to the NIC that holds t, else NdpIgnored; in the frame's VLAN only.
   */
  private defence(buf: Uint8Array, hdr: number, eth: number, end: number, t0: number, t1: number, t2: number, t3: number, now: number): void {
    const p = this.probes.find(this.vid, t0, t1, t2, t3);
    let out = -1;
    if (p >= 0 && this.probes.t[p] > now && this.isNic[this.probes.a[p]] === 1) out = this.probes.a[p];
    else {
      const s = this.table.find(this.vid, t0, t1, t2, t3);
      if (s >= 0) out = this.table.a[s];
    }
    if (out < 0) {
      this.drop(DropReason.NdpIgnored);
      return;
    }
    if (!this.l2.member(out, this.vid)) {
      this.drop(DropReason.VlanNotAllowed);
      return;
    }
    this.egress.send(out, buf, hdr, eth, end, this.tci);
  }

  /** A packet from the LAN, by destination. */
  private fromUplink(buf: Uint8Array, hdr: number, eth: number, ip: number, end: number): void {
    switch (classifyIpv6Addr(buf, ip + 24)) {
      case Ipv6Dst.All:
        if (this.toNics(this.nics, this.nics.length, -1, buf, hdr, eth, end) === 0) this.drop(DropReason.UnknownDestination);
        return;
      case Ipv6Dst.Group: {
        const g = this.groupIds.find(GROUPS_VID, ipv6DstWord(buf, ip, 0), ipv6DstWord(buf, ip, 1), ipv6DstWord(buf, ip, 2), ipv6DstWord(buf, ip, 3));
        const e = g < 0 ? undefined : this.groups.lookup(this.groupIds.a[g]);
        if (e === undefined || this.toNics(e.ports, e.count, -1, buf, hdr, eth, end) === 0) this.drop(DropReason.NoGroupMember);
        return;
      }
    }
    const s = this.table.find(this.vid, ipv6DstWord(buf, ip, 0), ipv6DstWord(buf, ip, 1), ipv6DstWord(buf, ip, 2), ipv6DstWord(buf, ip, 3));
    if (s < 0) {
      this.drop(DropReason.UnknownDestination);
      return;
    }
    if ((this.table.b[s] & LOCAL_ONLY) !== 0) {
      this.drop(DropReason.LocalOnly);
      return;
    }
    const out = this.table.a[s];
    if (!this.l2.member(out, this.vid)) {
      this.drop(DropReason.VlanNotAllowed);
      return;
    }
    setEthDstHL(buf, eth, this.macHi[out], this.macLo[out]);
    this.egress.send(out, buf, hdr, eth, end, this.tci);
    if (this.l2.nPromisc !== 0) mirrorTo(this.egress, this.l2, this.uplink, out, this.vid, buf, hdr, eth, end, this.tci);
  }

  /**
   * A NIC sent to a LAN destination the neighbour cache does not hold: ask the LAN for it, an NS
   * out the uplink from the sender's own (registered) address with the uplink's MAC as SLLA, at
   * most once per destination per SOLICIT_MS. The answer fills the cache (and reaches the
   * sender, an NA to its address), so the next packets pass. A guest that resolved the neighbour
   * elsewhere (it moved here from another member: VMRELOCATE) does not ask again by itself.
   */
  private solicit(buf: Uint8Array, ip: number, d0: number, d1: number, d2: number, d3: number, now: number): void {
    const s = this.soliciting.insert(this.vid, d0, d1, d2, d3);
    if (this.soliciting.t[s] > now) return;
    this.soliciting.t[s] = now + SOLICIT_MS;
    const b = this.out;
    const eth = emitZeroVnetHdr(b, 0);
    setEthDstHL(b, eth, 0x3333ff, solicitedNodeW3(d3) & 0xffffff);
    setEthSrcHL(b, eth, this.upHi, this.upLo);
    b[eth + 12] = 0x86; b[eth + 13] = 0xdd;
    const end = icmpv6.emitNs(b, eth + Eth.HeaderLen, ipv6SrcWord(buf, ip, 0), ipv6SrcWord(buf, ip, 1), ipv6SrcWord(buf, ip, 2),
      ipv6SrcWord(buf, ip, 3), d0, d1, d2, d3, this.upHi, this.upLo);
    this.egress.send(this.uplink, b, 0, eth, end, this.tci);
  }

  /** Make an NA (emitNa's arguments) in `out` and send it to `port` with Ethernet dst `dstMac`, src hi:lo, in the VLAN of `tci`. */
  private sendNa(port: number, dstMac: number, hi: number, lo: number, s0: number, s1: number, s2: number, s3: number,
    d0: number, d1: number, d2: number, d3: number, flags: number, tHi: number, tLo: number, tci: number): void {
    const b = this.out;
    const eth = emitZeroVnetHdr(b, 0);
    setEthDstHL(b, eth, macHi(dstMac), macLo(dstMac));
    setEthSrcHL(b, eth, hi, lo);
    b[eth + 12] = 0x86; b[eth + 13] = 0xdd;
    const end = emitNa(b, eth + Eth.HeaderLen, s0, s1, s2, s3, d0, d1, d2, d3, flags, s0, s1, s2, s3, tHi, tLo);
    this.egress.send(port, b, 0, eth, end, tci);
  }
}

/** The MAC of the solicited-node group of an address whose word 3 is w3. */
export function solicitedNodeMac(w3: number): number {
  return ipv6GroupMac(solicitedNodeW3(w3));
}
