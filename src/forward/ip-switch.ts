/**
 * IP-mode forwarder: the switch in the OSA's layer-3 role (seed design, Figs. 5 and 6).
 * Guests' frames are switched by IPv4 address through the LAN IP table; the switch answers
 * ARP for guests and relays guests' ARP to the LAN under the uplink's MAC, so the LAN sees one
 * MAC (the uplink's) for every guest address. Pure: no I/O, no clock, no allocation per frame.
 * This file is policy: every byte it reads or writes goes through src/wire (ethHeaderFits,
 * checkIpv4, checkArp, classifyIpv4Dst, arpReplyInPlace, ...). On the per-frame path only small
 * integers cross a call (so a call V8 does not inline boxes nothing): IPv4 addresses in their
 * int32 form (wire/bytes.ts; reported to events as uint32), MACs as two 24-bit halves
 * (wire/addr.ts).
 *
 * From a NIC port:
 * - Shorter than an Ethernet header (ethHeaderFits): Malformed. Source MAC group or zero: BadSource.
 * - ARP (must pass checkArp, else Malformed). Sender IP (spa) registered to another NIC:
 *   SpoofedSource. spa unregistered and not 0.0.0.0: events.sawAddress(port, spa) (a QEMU
 *   guest's claim). Request with tpa === spa (gratuitous) or tpa registered to this same NIC
 *   (DAD probe of its own address): ArpIgnored. Request for an address registered to another
 *   NIC (local only or not): answered in place (op reply, sha = that NIC's MAC, spa = target,
 *   tha/tpa = the requester; Ethernet dst = requester's MAC, src = that NIC's MAC) and sent
 *   back to the ingress port. Request for anything else goes to the LAN only from a sender
 *   the LAN may believe: spa registered to this NIC and not local only (the adapter has it),
 *   or 0.0.0.0 (a probe); any other sender: SpoofedSource (so a guest cannot poison the LAN's
 *   ARP caches). Relayed with Ethernet src and ARP sha = uplink MAC (spa kept); no uplink:
 *   NoUplink. Replies and other ops: ArpIgnored.
 * - IPv4: version 4, ihl >= 5, header within the frame, ihl*4 <= total length <= bytes
 *   present, else Malformed, except that a frame whose virtio-net header says GSO (vnetHasGso:
 *   any gso_type but NONE; the ECN bit alone is not GSO) may carry any total length
 *   (super-frames). Only sources registered to this NIC pass (local only included, so guests
 *   reach each other before the adapter answers). Any other source is SpoofedSource; an
 *   unregistered one other than 0.0.0.0 is also reported, events.sawAddress(port, src), at
 *   most once per (port, address) per tick (a QEMU guest's first use of an address is its
 *   claim: its frames pass once the control plane sets the address). The one exception is a
 *   DHCP client without an address: source 0.0.0.0, UDP to port 67, not a fragment goes to
 *   the uplink only, Ethernet src = uplink MAC (no uplink: NoUplink). IGMP (protocol 2) membership reports (v1 0x12,
 *   v2 0x16, v3 0x22) and v2 leaves (0x17): not a fragment, total length and checksum valid,
 *   else Malformed; each group outside 224.0.0.0/24 joined (v1/v2 report; v3 record in
 *   EXCLUDE mode, or INCLUDE/ALLOW with sources) or left (v2 leave; v3 INCLUDE / TO_INCLUDE
 *   with no sources) by this port in the group table (src/forward/group-table.ts; a join
 *   refreshes the membership for GROUP_MEMBERSHIP_MS; events.joinedGroup once per new
 *   membership, events.leftGroup once per removed one); then the message goes to the uplink
 *   only, with Ethernet src = uplink MAC (no uplink: NoUplink; a join the table had no room
 *   for: GroupTableFull, the frame still sent). Other IGMP (queries) is switched as below.
 *   Destinations are classified by classifyIpv4Dst (wire/ipv4.ts), the same way in both
 *   directions. Destination 255.255.255.255, 224.0.0.0/24 or Ethernet broadcast: to every
 *   other NIC unchanged, then to the uplink with Ethernet src = uplink MAC (nowhere to go at
 *   all: NoUplink). Any other 224.0.0.0/4 group: to every other NIC that is a member,
 *   unchanged, then to the uplink with Ethernet src = uplink MAC (nowhere: NoGroupMember).
 *   Registered to another NIC: Ethernet dst = its MAC, src = the sender NIC's MAC, sent to it.
 *   Registered to the same NIC: Hairpin. Otherwise to the uplink with Ethernet src = uplink
 *   MAC (dst kept); no uplink: NoUplink.
 * - IPv6: ip6-switch.ts (both directions), under the same layer-2 policy (this.l2: the frame's
 *   VLAN and TCI as decided below, isolation, mirrors, MAC protection).
 * - The VXLAN overlay (overlay.ts), while the switch has a port of role Overlay: a unicast
 *   IPv4 destination not in the LAN IP table but known on the overlay goes there (before the
 *   uplink); an ARP request for an address the overlay knows is answered from it; one for an
 *   unknown address also goes to the overlay unchanged (from a registered sender or a probe;
 *   then no NoUplink or SpoofedSource drop is counted for it). Frames from the overlay port:
 *   overlay.ts, IPv6 ones (source MAC good) ip6-switch.ts (which also answers NDP for the
 *   overlay's IPv6 addresses and sends unicast IPv6 to them out the overlay).
 * - Anything else (VLAN-tagged, ...): NotIp.
 * From the uplink:
 * - Same Malformed/BadSource checks. Every ARP sender other than 0.0.0.0 is recorded as held on
 *   the LAN (src/forward/lan-holders.ts, with its MAC and `now`), unless its sender MAC is the
 *   uplink's own (the switch's ARP looped back). An ARP whose sender is an
 *   address being probed (probe(), for PROBE_MARK_MS) or in the LAN IP table, or a probe
 *   (sender 0.0.0.0, not the uplink's own MAC) for an address being probed, is reported:
 *   events.lanHolder(ip, mac, vid), at most LAN_HOLDER_REPORTS_PER_TICK times per tick; then the
 *   frame goes on as follows. ARP request for a registered, not-local-only address:
 *   answered in place with sha = uplink MAC, back out the uplink. ARP reply whose tpa is
 *   registered: tha and Ethernet dst = that NIC's MAC, delivered to it. Other ARP: ArpIgnored.
 * - IPv4 (validated as above): broadcast and 224.0.0.0/24 to every NIC unchanged (no NIC:
 *   UnknownDestination); any other group to its member NICs unchanged (none: NoGroupMember);
 *   registered and local only: LocalOnly; registered: Ethernet dst =
 *   the NIC's MAC, delivered; unknown: UnknownDestination.
 * - Anything else: NotIp.
 * Layer 2 (src/forward/l2-policy.ts), on a VLAN-aware switch: every frame's VLAN is decided
 * first (L2Policy.classify; refused frames are VlanNotAllowed or TaggedOnAccess) and its tag
 * removed, so the rules above read an untagged frame; each VLAN has its own LAN IP table
 * (setAddress and the rest take the VLAN: an address registered in one VLAN is no source, no
 * destination and no ARP answer in another), floods and group traffic reach only the NICs of
 * the frame's VLAN, and every send carries the frame's TCI (the egress tags). A delivery to a
 * NIC that does not carry the VLAN (the control plane registered an address there anyway) is
 * VlanNotAllowed. The group table is one for the switch: a membership is delivered only in
 * the VLANs the member carries. The switch's own frames (announce, probe) go in the VLAN
 * they are asked for, its IGMP query to each NIC in its untagged VLAN (none: no query).
 * MACPROTECT: a NIC's frame whose source MAC is not its own is SpoofedMac. ISOLATION: no frame
 * of a NIC reaches another NIC (unicast: Isolated; ARP for another NIC's address is not
 * answered: Isolated; floods and groups go to the uplink only). Promiscuous NICs of the frame's
 * VLAN get a copy of each unicast IPv4 frame switched (after its MACs were rewritten) and of
 * each flood. On a VLAN-unaware switch every frame is in VLAN 0 with TCI 0 and tags stay
 * (a tagged frame is NotIp, as before). The LAN holder table and the probes are per VLAN (an
 * ARP sender is held in the VLAN it came in; a probe marks its address in its VLAN).
 * Frames from a port not attached to this switch count as Malformed. Every frame is either
 * sent at least once or counted as exactly one drop. Frames the switch makes itself
 * (announce) carry a 10-byte zero virtio-net header.
 * probe(ip, vid): unless the LAN is already known to hold ip in vid (then events.lanHolder at once, no
 * probe), an ARP probe (RFC 5227: sender MAC = uplink MAC, sender IP 0.0.0.0, target ip) goes
 * out the uplink in vid and ip is marked as probing there until PROBE_MARK_MS after the last `now` the
 * forwarder was given; no uplink: nothing. At most MAX_PROBES addresses are marked at once (the
 * oldest mark gives way).
 * removePort of a NIC also removes its LAN IP table entries and its group memberships
 * (events.leftGroup for each).
 * tick(now): memberships not refreshed for GROUP_MEMBERSHIP_MS (IGMP's group membership
 * interval, 260 s) expire (events.leftGroup). While any membership exists the switch acts as
 * the guests' querier, one timer for IGMP and MLD: every QUERY_INTERVAL_MS (125 s) it sends an
 * IGMPv3 general query (source 0.0.0.0, as a snooping switch without an address does, RFC 4541
 * 2.1.1) while IPv4 memberships exist and an MLDv2 general query (RFC 3810; ip6-switch.ts
 * query) while IPv6 memberships exist, to every NIC, so members refresh their memberships even
 * when the LAN has no multicast router. A NIC port added (a coupled NIC, or every port again
 * after a daemon restart) also gets both at the next tick (a startup query), so members report
 * their groups again at once.
 */

import { Egress, ForwarderEvents, IpForwarder, PortRole, DropReason } from './api.js';
import { dropSlot, MAX_PORTS } from './counters.js';
import { LanIpTable } from './lan-ip-table.js';
import { LanHolders } from './lan-holders.js';
import { mirrorTo, sendToMembers, toEachUntagged } from './send-each.js';
import { GroupTable, JOIN_FULL, JOIN_NEW } from './group-table.js';
import { L2Policy } from './l2-policy.js';
import type { PortPolicy, SwitchPolicy } from '../protocol/dataplane.js';
import { Ip6Switch } from './ip6-switch.js';
import { Overlay } from './overlay.js';
import { BROADCAST_MAC, macFromHalves, macHi, macLo } from '../wire/addr.js';
import * as ethernet from '../wire/ethernet.js';
import * as vlan from '../wire/vlan.js';
import * as arp from '../wire/arp.js';
import * as ipv4 from '../wire/ipv4.js';
import { emitEthernet, Eth, EtherType } from '../wire/ethernet.js';
import { emitArpFrame, ArpOp } from '../wire/arp.js';
import { IpProto, Ipv4Dst } from '../wire/ipv4.js';
import {
  checkIgmp, emitIgmpIpv4, emitIgmpV3Query, groupMac, igmpGroup, igmpType, igmpv3FirstRecord, igmpv3RecordAction,
  igmpv3RecordCount, igmpv3RecordEnd, igmpv3RecordGroup, igmpv3RecordSources, igmpv3RecordType, isTrackedGroup,
  ALL_SYSTEMS, IGMP_V1_REPORT, IGMP_V2_LEAVE, IGMP_V2_REPORT, IGMP_V3_QUERY_LEN, IGMP_V3_REPORT,
} from '../wire/igmp.js';
import { emitZeroVnetHdr, vnetHasGso, VNET_HDR_LEN } from '../wire/vnet.js';
import { udpDstPort, DHCP_SERVER_PORT, UDP_HLEN } from '../wire/udp.js';

// The wire functions this file calls per frame, bound to module constants: V8 in Node 20
// loads an imported binding from its module cell at every call and checks the function it
// finds, but takes a module-level const as known; on bench/forward.ts that was a tenth of the
// frame rate. The rest, and the const enums (which tsc writes in place), are imported by name.
const { ethHeaderFits, ethIsTagged, ethSrcHi, ethSrcIsBad, ethSrcLo, ethType, setEthDstHL, setEthSrcHL } = ethernet;
const { csumStartInTag, untagFrame } = vlan;
const { arpOp, arpReplyInPlace, arpSha, arpSpa, arpTpa, checkArp, setArpShaHL, setArpThaHL } = arp;
const { checkIpv4, checkIpv4Length, classifyIpv4Dst, ipv4Dst, ipv4HeaderLen, ipv4IsFragment, ipv4Protocol, ipv4Src, ipv4TotalLen } = ipv4;

/** role[] of a port not attached to this switch (beside PortRole.Nic and .Uplink). */
const enum Attached {
  Not = -1,
}

/**
 * Whether the IPv4 packet at `ip` (checkIpv4 passed) is UDP to the DHCP server's port, whole
 * (not a fragment) and with its UDP header inside the frame: a client's discover or request.
 */
function isDhcpClientFrame(buf: Uint8Array, ip: number, end: number): boolean {
  if (ipv4Protocol(buf, ip) !== IpProto.Udp || ipv4IsFragment(buf, ip)) return false;
  const udp = ip + ipv4HeaderLen(buf, ip);
  return udp + UDP_HLEN <= end && udpDstPort(buf, udp) === DHCP_SERVER_PORT;
}

/** How long after probe(ip) an answer is reported as the probe's (the control plane's window is shorter). */
export const PROBE_MARK_MS = 5_000;
/** Addresses marked as probing at once. */
const MAX_PROBES = 64;
/** lanHolder reports per tick at most (a LAN flooding ARP for a registered address costs the control plane little). */
export const LAN_HOLDER_REPORTS_PER_TICK = 16;

/** A minimum-size Ethernet frame (without FCS): what the switch pads the frames it makes to. */
const MIN_FRAME = 60;

/** IGMP's group membership interval (RFC 3376 8.4: 2 x 125 s + 10 s): a membership not refreshed expires. */
export const GROUP_MEMBERSHIP_MS = 260_000;
/** How often the switch sends its general query to the NICs while any membership exists (RFC 3376 8.2). */
export const QUERY_INTERVAL_MS = 125_000;
/** Source MAC of the switch's queries while it has no uplink (locally administered, unicast). */
const QUERIER_MAC = 0x02fe00000000;
/** The general query's max response code (10 s, in tenths) and robustness variable (RFC 3376 4.1). */
const QUERY_MAX_RESP = 100;
const QUERY_QRV = 2;

/** The table of a VLAN without addresses. */
const NO_ADDRESSES = new LanIpTable();

export class IpSwitch implements IpForwarder {
  readonly mode = 'IP' as const;
  /** The LAN IP table of VLAN 0 (a VLAN-unaware switch); tableOf(vid) for the others. */
  readonly table = new LanIpTable();
  /** VLAN -> its LAN IP table (made when its first address is set). */
  private readonly tables: (LanIpTable | undefined)[] = new Array<LanIpTable | undefined>(4096).fill(undefined);
  /** The frame being forwarded: its TCI, VLAN and that VLAN's table (set by input). */
  private tci = 0;
  private vid = 0;
  private cur: LanIpTable = this.table;
  /** The switch's layer-2 policy (l2-policy.ts). */
  readonly l2 = new L2Policy();
  /** PortRole of each port attached here, Attached.Not for the rest. */
  private readonly role = new Int8Array(MAX_PORTS).fill(Attached.Not);
  /** Each port's MAC as its two halves (wire/addr.ts). */
  private readonly portMacHi = new Int32Array(MAX_PORTS);
  private readonly portMacLo = new Int32Array(MAX_PORTS);
  /** Last address (int32 form) reported by sawAddress per port (NaN: none); reset by tick. */
  private readonly lastSaw = new Float64Array(MAX_PORTS).fill(NaN);
  private readonly nics: number[] = [];
  private uplink = -1;
  private uplinkMacHi = 0;
  private uplinkMacLo = 0;
  private readonly dropBase: number;
  private readonly scratch = new Uint8Array(VNET_HDR_LEN + MIN_FRAME);
  /** Group memberships of the NICs (IGMP snooping). */
  readonly groups = new GroupTable();
  /** Time of the next general query (while memberships exist). */
  private nextQuery = 0;
  /** A NIC was added since the last tick: query at the next one. */
  private startupQuery = false;
  private readonly queryBuf = new Uint8Array(VNET_HDR_LEN + MIN_FRAME);
  /** Addresses seen as ARP senders on the LAN. */
  readonly lanHolders = new LanHolders();
  /** Addresses being probed (int32 form), in which VLAN, and until when; probeUntil 0: a free slot. */
  private readonly probeIp = new Int32Array(MAX_PROBES);
  private readonly probeVid = new Uint16Array(MAX_PROBES);
  private readonly probeUntil = new Float64Array(MAX_PROBES);
  /** The latest `now` given to input or tick (the forwarder reads no clock). */
  private now = 0;
  private holderReports = 0;
  private readonly onLeft = (port: number, group: number): void => { this.events.leftGroup?.(port, group); };
  /** IPv6 (ip6-switch.ts): every 0x86DD frame goes there; it mirrors this switch's ports. */
  readonly v6: Ip6Switch;
  /** The VXLAN overlay (overlay.ts): a port of role Overlay, and the addresses behind it. */
  readonly overlay: Overlay;

  constructor(readonly sw: number, private readonly counters: Float64Array, private readonly egress: Egress,
    private readonly events: ForwarderEvents) {
    this.dropBase = dropSlot(sw, 0);
    this.tables[0] = this.table;
    this.overlay = new Overlay(counters, this.dropBase, egress);
    this.v6 = new Ip6Switch(sw, counters, egress, events, this.l2, this.overlay);
  }

  /** The LAN IP table of VLAN vid (0: a VLAN-unaware switch's). */
  tableOf(vid: number): LanIpTable {
    return this.tables[vid] ?? NO_ADDRESSES;
  }

  private vidOk(vid: number): boolean {
    return Number.isInteger(vid) && vid >= 0 && vid <= 4094;
  }

  addPort(port: number, role: PortRole, mac: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= MAX_PORTS) throw new RangeError(`port ${port} out of range`);
    if (this.role[port] !== Attached.Not) this.removePort(port);
    this.portMacHi[port] = macHi(mac);
    this.portMacLo[port] = macLo(mac);
    if (role === PortRole.Overlay) {
      if (this.overlay.port >= 0) this.role[this.overlay.port] = Attached.Not;
      this.role[port] = PortRole.Overlay;
      this.overlay.port = port;
      return;
    }
    if (role === PortRole.Uplink) {
      if (this.uplink >= 0) this.role[this.uplink] = Attached.Not;
      this.role[port] = PortRole.Uplink;
      this.uplink = port;
      this.uplinkMacHi = this.portMacHi[port];
      this.uplinkMacLo = this.portMacLo[port];
    } else {
      this.role[port] = PortRole.Nic;
      this.nics.push(port);
      this.startupQuery = true;
    }
    this.l2.addPort(port, role, mac);
    this.v6.addPort(port, role, mac);
  }

  setSwitchPolicy(p: SwitchPolicy): void {
    this.l2.setSwitch(p);
    if (!this.l2.vlanAware) {
      this.tci = 0;
      this.vid = 0;
      this.cur = this.table;
    }
  }

  setPortPolicy(port: number, p: PortPolicy): void {
    if (this.role[port] === PortRole.Nic) this.l2.setPort(port, p);
  }

  removePort(port: number): void {
    const r = this.role[port];
    if (r === Attached.Not || r === undefined) return;
    this.role[port] = Attached.Not;
    if (r === PortRole.Overlay) {
      this.overlay.port = -1;
      return;
    }
    this.lastSaw[port] = NaN;
    this.l2.removePort(port);
    if (r === PortRole.Uplink) {
      this.uplink = -1;
      this.uplinkMacHi = 0;
      this.uplinkMacLo = 0;
    } else {
      this.nics.splice(this.nics.indexOf(port), 1);
      for (const t of this.tables) t?.clearPort(port);
      this.groups.removePort(port, this.onLeft);
    }
    this.v6.removePort(port);
  }

  setAddress(ip: number, port: number, localOnly: boolean, vid = 0): void {
    if (!this.vidOk(vid)) throw new RangeError(`VLAN ${vid} is not 0..4094`);
    (this.tables[vid] ??= new LanIpTable()).set(ip, port, localOnly);
  }

  clearAddress(ip: number, vid = 0): void {
    this.tables[vid]?.clear(ip);
  }

  setAddress6(vid: number, w0: number, w1: number, w2: number, w3: number, port: number, localOnly: boolean): void {
    if (!this.vidOk(vid)) throw new RangeError(`VLAN ${vid} is not 0..4094`);
    this.v6.setAddress6(vid, w0, w1, w2, w3, port, localOnly);
  }

  clearAddress6(vid: number, w0: number, w1: number, w2: number, w3: number): void {
    this.v6.clearAddress6(vid, w0, w1, w2, w3);
  }

  announce6(vid: number, w0: number, w1: number, w2: number, w3: number): void {
    this.v6.announce6(vid, w0, w1, w2, w3);
  }

  /** The TCI of the switch's own frames in VLAN vid (0 on a VLAN-unaware switch). */
  private ownTci(vid: number): number {
    return this.l2.vlanAware ? vid : 0;
  }

  announce(ip: number, vid = 0): void {
    if (this.uplink < 0 || !this.vidOk(vid)) return;
    const s = this.scratch;
    const eth = emitZeroVnetHdr(s, 0);
    const mac = macFromHalves(this.uplinkMacHi, this.uplinkMacLo);
    const end = emitArpFrame(s, eth, BROADCAST_MAC, mac, ArpOp.Request, mac, ip, 0, ip);
    s.fill(0, end);
    this.egress.send(this.uplink, s, 0, eth, s.length, this.ownTci(vid));
  }

  probe(ip: number, vid = 0): void {
    if (this.uplink < 0 || !this.vidOk(vid)) return;
    const held = this.lanHolders.find(ip | 0, this.now, vid);
    if (held >= 0) {
      this.events.lanHolder?.(ip >>> 0, this.lanHolders.mac(held), vid);
      return;
    }
    let slot = 0;
    for (let i = 0; i < MAX_PROBES; i++) {
      const same = this.probeIp[i] === (ip | 0) && this.probeVid[i] === vid;
      if (same || this.probeUntil[i] < this.probeUntil[slot]) slot = i;
      if (same) break;
    }
    this.probeIp[slot] = ip | 0;
    this.probeVid[slot] = vid;
    this.probeUntil[slot] = this.now + PROBE_MARK_MS;
    const s = this.scratch;
    const eth = emitZeroVnetHdr(s, 0);
    const mac = macFromHalves(this.uplinkMacHi, this.uplinkMacLo);
    const end = emitArpFrame(s, eth, BROADCAST_MAC, mac, ArpOp.Request, mac, 0, 0, ip);
    s.fill(0, end);
    this.egress.send(this.uplink, s, 0, eth, s.length, this.ownTci(vid));
  }

  /** Whether `ip` (int32 form) is being probed in the frame's VLAN. */
  private probing(ip: number): boolean {
    const vid = this.vid;
    for (let i = 0; i < MAX_PROBES; i++) if (this.probeIp[i] === ip && this.probeVid[i] === vid && this.probeUntil[i] > this.now) return true;
    return false;
  }

  tick(now: number): void {
    this.v6.tick(now);
    this.now = now;
    this.holderReports = 0;
    const nics = this.nics;
    for (let i = 0; i < nics.length; i++) this.lastSaw[nics[i]] = NaN;
    this.groups.expire(now, this.onLeft);
    const v4 = this.groups.memberships, v6 = this.v6.groups.memberships;
    if (this.startupQuery) {
      this.startupQuery = false;
      this.nextQuery = now + QUERY_INTERVAL_MS;
      this.query(true, true);
    } else if (v4 + v6 === 0) {
      this.nextQuery = now + QUERY_INTERVAL_MS;
    } else if (now >= this.nextQuery) {
      this.nextQuery = now + QUERY_INTERVAL_MS;
      this.query(v4 > 0, v6 > 0);
    }
  }

  /**
   * The querier's general queries to every NIC (in its untagged VLAN): IGMPv3 (224.0.0.1,
   * source 0.0.0.0, router alert) when `igmp`, MLDv2 (ip6-switch.ts query) when `mld`; both
   * from the uplink's MAC, or QUERIER_MAC + the switch number without an uplink.
   */
  private query(igmp: boolean, mld: boolean): void {
    const src = this.uplink >= 0 ? macFromHalves(this.uplinkMacHi, this.uplinkMacLo) : QUERIER_MAC + this.sw;
    if (igmp) {
      const b = this.queryBuf;
      b.fill(0);
      const eth = emitZeroVnetHdr(b, 0);
      const ip = emitEthernet(b, eth, groupMac(ALL_SYSTEMS), src, EtherType.Ipv4);
      const g = emitIgmpIpv4(b, ip, 0, ALL_SYSTEMS, IGMP_V3_QUERY_LEN);
      emitIgmpV3Query(b, g, QUERY_MAX_RESP, 0, QUERY_QRV, QUERY_INTERVAL_MS / 1000);
      toEachUntagged(this.egress, this.l2, this.nics, this.nics.length, b, 0, eth, b.length);
    }
    if (mld) this.v6.query(src, QUERY_QRV, QUERY_INTERVAL_MS / 1000);
  }

  private drop(reason: number): void {
    this.counters[this.dropBase + reason]++;
  }

  /**
   * The per-frame entry: the checks every frame passes (Ethernet header, source MAC, then
   * checkIpv4 or checkArp, the same for both directions), then the direction. IPv4 from a
   * NIC, the common case, is handled here rather than in a method of its own, on purpose: V8
   * may inline any method of less than 460 bytes of bytecode into its caller, and the wire
   * helpers of this path need a whole function's inlining budget (920 bytes); as a method it
   * would at times be inlined into input with what input had left, and the frame rate halved
   * (bench/forward.ts). As part of input it is always compiled with the full budget.
   */
  input(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): void {
    this.now = now;
    const r = this.role[port];
    if (r === undefined || r === Attached.Not || !ethHeaderFits(buf, eth, end)) {
      this.drop(DropReason.Malformed);
      return;
    }
    if (r === PortRole.Overlay) {
      // IPv6 from the overlay: ip6-switch.ts (fromOverlay); the rest: overlay.ts. The switch is VLAN-unaware (TCI 0).
      if (ethType(buf, eth) === EtherType.Ipv6 && !ethSrcIsBad(buf, eth)) this.v6.input(port, r, buf, hdr, eth, end, now, 0);
      else this.overlay.input(buf, hdr, eth, end, now, this.cur, this.portMacHi, this.portMacLo);
      return;
    }
    const l2 = this.l2;
    // On a VLAN-unaware switch tci, vid and cur stay 0, 0 and VLAN 0's table (setSwitchPolicy).
    if (l2.vlanAware) {
      const shift = this.vlanIn(port, buf, hdr, eth, end);
      if (shift < 0) return;
      hdr += shift;
      eth += shift;
    }
    const tci = this.tci;
    if (ethSrcIsBad(buf, eth)) {
      this.drop(DropReason.BadSource);
      return;
    }
    // Each policy check is guarded by a field that is 0 while the policy is off: no call then
    // (input's inlining budget, see above).
    if (l2.protect[port] === 1 && l2.spoofed(port, ethSrcHi(buf, eth), ethSrcLo(buf, eth))) {
      this.drop(DropReason.SpoofedMac);
      return;
    }
    const type = ethType(buf, eth);
    const l3 = eth + Eth.HeaderLen;
    if (type === EtherType.Arp) {
      if (!checkArp(buf, l3, end)) this.drop(DropReason.Malformed);
      else if (r === PortRole.Uplink) this.uplinkArp(buf, hdr, eth, end, now);
      else this.nicArp(port, buf, hdr, eth, end);
      return;
    }
    if (type === EtherType.Ipv6) {
      this.v6.input(port, r, buf, hdr, eth, end, now, tci);
      return;
    }
    if (type !== EtherType.Ipv4) {
      this.drop(DropReason.NotIp);
      return;
    }
    // A GSO super-frame may carry any total length: it is cut to size at the egress.
    if (checkIpv4(buf, l3, end) < 0 || (!checkIpv4Length(buf, l3, end) && !vnetHasGso(buf, hdr, eth))) {
      this.drop(DropReason.Malformed);
      return;
    }
    if (r === PortRole.Uplink) {
      this.uplinkIpv4(buf, hdr, eth, end);
      return;
    }
    // IPv4 from a NIC.
    if (!this.sourceOk(port, ipv4Src(buf, l3), buf, hdr, eth, end)) return;
    if (ipv4Protocol(buf, l3) === IpProto.Igmp && this.nicIgmp(port, buf, hdr, eth, end, now)) return;
    const dst = ipv4Dst(buf, l3);
    switch (classifyIpv4Dst(buf, eth, dst)) {
      case Ipv4Dst.Group:
        this.groupFromNic(port, dst, buf, hdr, eth, end);
        return;
      case Ipv4Dst.All:
        this.floodFromNic(port, buf, hdr, eth, end);
        return;
    }
    const de = this.cur.lookup(dst);
    if (de === undefined) {
      if (this.overlay.port >= 0 && this.overlay.send(dst, buf, hdr, eth, end, now)) return;
      if (!this.sendToUplink(buf, hdr, eth, end)) this.drop(DropReason.NoUplink);
      else if (l2.nPromisc !== 0) mirrorTo(this.egress, l2, port, this.uplink, this.vid, buf, hdr, eth, end, tci);
      return;
    }
    const out = de.port;
    if (out === port) {
      this.drop(DropReason.Hairpin);
      return;
    }
    if (l2.isolation && l2.isolated(port, out)) {
      this.drop(DropReason.Isolated);
      return;
    }
    if (l2.vlanAware && !l2.member(out, this.vid)) {
      this.drop(DropReason.VlanNotAllowed);
      return;
    }
    setEthDstHL(buf, eth, this.portMacHi[out], this.portMacLo[out]);
    setEthSrcHL(buf, eth, this.portMacHi[port], this.portMacLo[port]);
    this.egress.send(out, buf, hdr, eth, end, tci);
    if (l2.nPromisc !== 0) mirrorTo(this.egress, l2, port, out, this.vid, buf, hdr, eth, end, tci);
  }

  /**
   * A VLAN-aware switch's first step for a frame (ethHeaderFits passed): its VLAN (tci, vid,
   * cur), and its tag off. Returns how far the frame moved (0, or 4 for a tag removed), or -1
   * when it was dropped (counted). Kept out of input for input's inlining budget (see there).
   */
  private vlanIn(port: number, buf: Uint8Array, hdr: number, eth: number, end: number): number {
    const tci = this.l2.classify(port, buf, eth, end);
    if (tci < 0) {
      this.drop(-1 - tci);
      return -1;
    }
    let shift = 0;
    if (ethIsTagged(buf, eth)) {
      if (csumStartInTag(buf, hdr, eth)) {
        this.drop(DropReason.Malformed);
        return -1;
      }
      shift = untagFrame(buf, hdr, eth) - eth;
    }
    this.tci = tci;
    this.vid = tci & 0x0fff;
    this.cur = this.tables[this.vid] ?? NO_ADDRESSES;
    return shift;
  }

  /**
   * The source check of a NIC's IPv4 (`src` in int32 form): true when the address is
   * registered to this NIC. Otherwise the frame is consumed here: a DHCP discover from 0.0.0.0
   * goes to the uplink only, the rest is counted as SpoofedSource (an unregistered address
   * other than 0.0.0.0 reported first: sawAddress).
   */
  private sourceOk(port: number, src: number, buf: Uint8Array, hdr: number, eth: number, end: number): boolean {
    const se = this.cur.lookup(src);
    if (se !== undefined && se.port === port) return true;
    if (se === undefined && src !== 0) this.saw(port, src);
    if (se === undefined && src === 0 && isDhcpClientFrame(buf, eth + Eth.HeaderLen, end)) {
      if (!this.sendToUplink(buf, hdr, eth, end)) this.drop(DropReason.NoUplink);
    } else {
      this.drop(DropReason.SpoofedSource);
    }
    return false;
  }

  /** To the uplink under the uplink's MAC (the LAN sees one MAC); false when there is none. */
  private sendToUplink(buf: Uint8Array, hdr: number, eth: number, end: number): boolean {
    if (this.uplink < 0) return false;
    setEthSrcHL(buf, eth, this.uplinkMacHi, this.uplinkMacLo);
    this.egress.send(this.uplink, buf, hdr, eth, end, this.tci);
    return true;
  }

  /** To the NICs of the frame's VLAN (but `from`, and as isolation allows), unchanged; returns how many. */
  private toNics(ports: ArrayLike<number>, count: number, from: number, buf: Uint8Array, hdr: number, eth: number, end: number): number {
    return sendToMembers(this.egress, this.l2, ports, count, from, this.vid, buf, hdr, eth, end, this.tci);
  }

  /** After a flood from NIC `port` that isolation kept from the other NICs: the mirrors' copies. */
  private mirrorIsolated(port: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const l2 = this.l2;
    if (l2.isolation && l2.nPromisc !== 0) mirrorTo(this.egress, l2, port, this.uplink, this.vid, buf, hdr, eth, end, this.tci);
  }

  private floodFromNic(port: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const sent = this.toNics(this.nics, this.nics.length, port, buf, hdr, eth, end);
    if (!this.sendToUplink(buf, hdr, eth, end)) {
      if (sent === 0) this.drop(this.l2.isolation ? DropReason.Isolated : DropReason.NoUplink);
      return;
    }
    this.mirrorIsolated(port, buf, hdr, eth, end);
  }

  /**
   * IGMP from a NIC (the IPv4 header was validated). Reports and leaves update the group table
   * and go to the uplink only; true when the frame was consumed (sent or dropped), false for
   * other IGMP messages, which are switched like any other multicast.
   */
  private nicIgmp(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): boolean {
    const ip = eth + Eth.HeaderLen;
    const g = ip + ipv4HeaderLen(buf, ip);
    const gend = ip + ipv4TotalLen(buf, ip);
    if (gend > end || ipv4IsFragment(buf, ip) || !checkIgmp(buf, g, gend)) {
      this.drop(DropReason.Malformed);
      return true;
    }
    const type = igmpType(buf, g);
    let full = false;
    if (type === IGMP_V1_REPORT || type === IGMP_V2_REPORT) {
      full = this.join(port, igmpGroup(buf, g), now);
    } else if (type === IGMP_V2_LEAVE) {
      this.leave(port, igmpGroup(buf, g));
    } else if (type === IGMP_V3_REPORT) {
      const n = igmpv3RecordCount(buf, g);
      let rec = igmpv3FirstRecord(g);
      for (let i = 0; i < n; i++) {
        const next = igmpv3RecordEnd(buf, rec, gend);
        if (next < 0) break; // a record past the end: the ones before it stand
        const a = igmpv3RecordAction(igmpv3RecordType(buf, rec), igmpv3RecordSources(buf, rec));
        if (a > 0) full = this.join(port, igmpv3RecordGroup(buf, rec), now) || full;
        else if (a < 0) this.leave(port, igmpv3RecordGroup(buf, rec));
        rec = next;
      }
    } else {
      return false;
    }
    if (!this.sendToUplink(buf, hdr, eth, end)) this.drop(DropReason.NoUplink);
    else if (full) this.drop(DropReason.GroupTableFull);
    return true;
  }

  /** Record a membership (group in int32 form); true when the table had no room. */
  private join(port: number, group: number, now: number): boolean {
    if (!isTrackedGroup(group)) return false;
    const r = this.groups.join(group, port, now + GROUP_MEMBERSHIP_MS);
    if (r === JOIN_NEW) this.events.joinedGroup?.(port, group >>> 0);
    return r === JOIN_FULL;
  }

  private leave(port: number, group: number): void {
    if (isTrackedGroup(group) && this.groups.leave(group, port)) this.events.leftGroup?.(port, group >>> 0);
  }

  /** Group traffic from a NIC: to the other member NICs unchanged, then to the uplink. */
  private groupFromNic(port: number, group: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const e = this.groups.lookup(group);
    const sent = e === undefined ? 0 : this.toNics(e.ports, e.count, port, buf, hdr, eth, end);
    if (!this.sendToUplink(buf, hdr, eth, end)) {
      if (sent === 0) this.drop(DropReason.NoGroupMember);
      return;
    }
    this.mirrorIsolated(port, buf, hdr, eth, end);
  }

  /** `ip` in int32 form; reported as uint32. */
  private saw(port: number, ip: number): void {
    if (this.lastSaw[port] === ip) return;
    this.lastSaw[port] = ip;
    this.events.sawAddress?.(port, ip >>> 0, this.vid);
  }

  /** ARP from a NIC (checkArp passed). */
  private nicArp(port: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const a = eth + Eth.HeaderLen;
    const spa = arpSpa(buf, a);
    const se = this.cur.lookup(spa);
    if (se !== undefined && se.port !== port) {
      this.drop(DropReason.SpoofedSource);
      return;
    }
    if (se === undefined && spa !== 0) this.saw(port, spa);
    const tpa = arpTpa(buf, a);
    if (arpOp(buf, a) !== ArpOp.Request || tpa === spa) {
      this.drop(DropReason.ArpIgnored);
      return;
    }
    const te = this.cur.lookup(tpa);
    if (te !== undefined) {
      if (te.port === port) {
        this.drop(DropReason.ArpIgnored);
        return;
      }
      if (this.l2.isolated(port, te.port)) {
        this.drop(DropReason.Isolated);
        return;
      }
      arpReplyInPlace(buf, eth, a, this.portMacHi[te.port], this.portMacLo[te.port]);
      this.egress.send(port, buf, hdr, eth, end, this.tci);
      return;
    }
    // The overlay (overlay.ts): a known address answered from its data; an unknown one asked
    // there too (unchanged: guests keep their own MAC on the overlay), from a registered sender or a probe.
    const ov = this.overlay;
    if (ov.port >= 0 && ov.answer(port, tpa, buf, hdr, eth, end, this.now)) return;
    const relayed = ov.port >= 0 && (se !== undefined || spa === 0);
    if (relayed) ov.relay(buf, hdr, eth, end);
    // To the LAN only under a sender it may believe: registered with the adapter, or a probe.
    if (spa !== 0 && (se === undefined || se.localOnly)) {
      if (!relayed) this.drop(DropReason.SpoofedSource);
      return;
    }
    setArpShaHL(buf, a, this.uplinkMacHi, this.uplinkMacLo);
    if (!this.sendToUplink(buf, hdr, eth, end) && !relayed) this.drop(DropReason.NoUplink);
  }

  /** IPv4 from the uplink (the IPv4 checks passed). */
  private uplinkIpv4(buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const dst = ipv4Dst(buf, eth + Eth.HeaderLen);
    switch (classifyIpv4Dst(buf, eth, dst)) {
      case Ipv4Dst.Group: {
        const e = this.groups.lookup(dst);
        if (e === undefined || this.toNics(e.ports, e.count, -1, buf, hdr, eth, end) === 0) this.drop(DropReason.NoGroupMember);
        return;
      }
      case Ipv4Dst.All:
        if (this.toNics(this.nics, this.nics.length, -1, buf, hdr, eth, end) === 0) this.drop(DropReason.UnknownDestination);
        return;
    }
    const de = this.cur.lookup(dst);
    if (de === undefined) {
      this.drop(DropReason.UnknownDestination);
      return;
    }
    if (de.localOnly) {
      this.drop(DropReason.LocalOnly);
      return;
    }
    if (!this.l2.member(de.port, this.vid)) {
      this.drop(DropReason.VlanNotAllowed);
      return;
    }
    setEthDstHL(buf, eth, this.portMacHi[de.port], this.portMacLo[de.port]);
    this.egress.send(de.port, buf, hdr, eth, end, this.tci);
    if (this.l2.nPromisc !== 0) mirrorTo(this.egress, this.l2, this.uplink, de.port, this.vid, buf, hdr, eth, end, this.tci);
  }

  /** events.lanHolder within the per-tick budget (`ip` in int32 form), in the frame's VLAN. */
  private reportHolder(ip: number, mac: number): void {
    if (this.holderReports >= LAN_HOLDER_REPORTS_PER_TICK) return;
    this.holderReports++;
    this.events.lanHolder?.(ip >>> 0, mac, this.vid);
  }

  /** ARP from the uplink (checkArp passed). */
  private uplinkArp(buf: Uint8Array, hdr: number, eth: number, end: number, now: number): void {
    const a = eth + Eth.HeaderLen;
    const op = arpOp(buf, a);
    const spa = arpSpa(buf, a);
    const tpa = arpTpa(buf, a);
    const sha = arpSha(buf, a);
    if (sha !== macFromHalves(this.uplinkMacHi, this.uplinkMacLo)) { // not the switch's own ARP
      if (spa !== 0) {
        this.lanHolders.record(spa, sha, now, this.vid);
        if (this.probing(spa) || this.cur.lookup(spa) !== undefined) this.reportHolder(spa, sha);
      } else if (this.probing(tpa)) {
        this.reportHolder(tpa, sha);
      }
    }
    const te = this.cur.lookup(tpa);
    if (op === ArpOp.Request && te !== undefined && !te.localOnly) {
      arpReplyInPlace(buf, eth, a, this.uplinkMacHi, this.uplinkMacLo);
      this.egress.send(this.uplink, buf, hdr, eth, end, this.tci);
      return;
    }
    if (op === ArpOp.Reply && te !== undefined && this.l2.member(te.port, this.vid)) {
      const hi = this.portMacHi[te.port], lo = this.portMacLo[te.port];
      setArpThaHL(buf, a, hi, lo);
      setEthDstHL(buf, eth, hi, lo);
      this.egress.send(te.port, buf, hdr, eth, end, this.tci);
      return;
    }
    this.drop(DropReason.ArpIgnored);
  }
}
