/**
 * IP-mode forwarder: the switch in the OSA's layer-3 role (seed design, Figs. 5 and 6).
 * Guests' frames are switched by IPv4 address through the LAN IP table; the switch answers
 * ARP for guests and relays guests' ARP to the LAN under the uplink's MAC, so the LAN sees one
 * MAC (the uplink's) for every guest address. Pure: no I/O, no clock, no allocation per frame.
 *
 * From a NIC port:
 * - Frame shorter than 14 bytes: Malformed. Source MAC group or zero: BadSource.
 * - ARP (must pass checkArp, else Malformed). Sender IP (spa) registered to another NIC:
 *   SpoofedSource. spa unregistered and not 0.0.0.0: events.sawAddress(port, spa).
 *   Request with tpa === spa (gratuitous) or tpa registered to this same NIC (DAD probe of
 *   its own address): ArpIgnored. Request for an address registered to another NIC (local only
 *   or not): answered in place (op reply, sha = that NIC's MAC, spa = target, tha/tpa = the
 *   requester; Ethernet dst = requester's MAC, src = that NIC's MAC) and sent back to the
 *   ingress port. Request for anything else: relayed to the uplink with Ethernet src and ARP
 *   sha = uplink MAC (spa kept); no uplink: NoUplink. Replies and other ops: ArpIgnored.
 * - IPv4: version 4, ihl >= 5, header within the frame, ihl*4 <= total length <= bytes
 *   present, else Malformed, except that a frame whose virtio-net header has gso_type != 0
 *   may carry any total length (super-frames). Source registered to another NIC:
 *   SpoofedSource; unregistered and not 0.0.0.0: events.sawAddress(port, src), reported at
 *   most once per (port, address) per tick. IGMP (protocol 2) membership reports (v1 0x12,
 *   v2 0x16, v3 0x22) and v2 leaves (0x17): not a fragment, total length and checksum valid,
 *   else Malformed; each group outside 224.0.0.0/24 joined (v1/v2 report; v3 record in
 *   EXCLUDE mode, or INCLUDE/ALLOW with sources) or left (v2 leave; v3 INCLUDE / TO_INCLUDE
 *   with no sources) by this port in the group table (src/forward/group-table.ts; a join
 *   refreshes the membership for GROUP_MEMBERSHIP_MS; events.joinedGroup once per new
 *   membership, events.leftGroup once per removed one); then the message goes to the uplink
 *   only, with Ethernet src = uplink MAC (no uplink: NoUplink; a join the table had no room
 *   for: GroupTableFull, the frame still sent). Other IGMP (queries) is switched as below.
 *   Destination 255.255.255.255, 224.0.0.0/24 or Ethernet broadcast: to every other NIC
 *   unchanged, then to the uplink with Ethernet src = uplink MAC (nowhere to go at all:
 *   NoUplink). Any other 224.0.0.0/4 group: to every other NIC that is a member, unchanged,
 *   then to the uplink with Ethernet src = uplink MAC (nowhere: NoGroupMember). Registered
 *   to another NIC: Ethernet dst = its MAC, src = the sender NIC's MAC, sent to it. Registered to the same NIC: Hairpin.
 *   Otherwise to the uplink with Ethernet src = uplink MAC (dst kept); no uplink: NoUplink.
 * - Anything else (VLAN-tagged, IPv6, ...): NotIp.
 * From the uplink:
 * - Same Malformed/BadSource checks. ARP request for a registered, not-local-only address:
 *   answered in place with sha = uplink MAC, back out the uplink. ARP reply whose tpa is
 *   registered: tha and Ethernet dst = that NIC's MAC, delivered to it. Other ARP: ArpIgnored.
 * - IPv4 (validated as above): broadcast and 224.0.0.0/24 to every NIC unchanged (no NIC:
 *   UnknownDestination); any other group to its member NICs unchanged (none: NoGroupMember);
 *   registered and local only: LocalOnly; registered: Ethernet dst =
 *   the NIC's MAC, delivered; unknown: UnknownDestination.
 * - Anything else: NotIp.
 * Frames from a port not attached to this switch count as Malformed. Every frame is either
 * sent at least once or counted as exactly one drop. Frames the switch makes itself
 * (announce) carry a 10-byte zero virtio-net header.
 * removePort of a NIC also removes its LAN IP table entries and its group memberships
 * (events.leftGroup for each).
 * tick(now): memberships not refreshed for GROUP_MEMBERSHIP_MS (IGMP's group membership
 * interval, 260 s) expire (events.leftGroup). While any membership exists the switch acts as
 * the guests' IGMP querier: every QUERY_INTERVAL_MS (125 s) it sends an IGMPv3 general query
 * (source 0.0.0.0, as a snooping switch without an address does, RFC 4541 2.1.1) to every
 * NIC, so members refresh their memberships even when the LAN has no multicast router. A NIC
 * port added (a coupled NIC, or every port again after a daemon restart) also gets one at the
 * next tick (a startup query), so members report their groups again at once.
 */

import { Egress, ForwarderEvents, IpForwarder, PortRole, DropReason } from './api.js';
import { dropSlot, MAX_PORTS } from './counters.js';
import { LanIpTable } from './lan-ip-table.js';
import { sendToEach } from './send-each.js';
import { ethDstIsBroadcast, ethSrcIsBad } from '../wire/ethernet.js';
import { readMac, writeIpv4, writeMac, BROADCAST_MAC } from '../wire/addr.js';
import { emitArpFrame, ARP_OP_REQUEST } from '../wire/arp.js';
import { GroupTable, JOIN_FULL, JOIN_NEW } from './group-table.js';
import {
  ALL_SYSTEMS, IGMP_MIN_LEN, IGMP_V1_REPORT, IGMP_V2_LEAVE, IGMP_V2_REPORT, IGMP_V3_REPORT, IPPROTO_IGMP, checkIgmp,
  emitIgmpV3Query, groupMac, igmpv3RecordAction, igmpv3RecordEnd, isTrackedGroup,
} from '../wire/igmp.js';
import { fillIpv4Checksum } from '../wire/ipv4.js';

const ROLE_NONE = -1;
const ROLE_NIC = 0;
const ROLE_UPLINK = 1;

const ETH_HLEN = 14;
const ARP_LEN = 28;
const VNET = 10;

/** IGMP's group membership interval (RFC 3376 8.4: 2 x 125 s + 10 s): a membership not refreshed expires. */
export const GROUP_MEMBERSHIP_MS = 260_000;
/** How often the switch sends its general query to the NICs while any membership exists (RFC 3376 8.2). */
export const QUERY_INTERVAL_MS = 125_000;
/** Source MAC of the switch's queries while it has no uplink (locally administered, unicast). */
const QUERIER_MAC = 0x02fe00000000;

export class IpSwitch implements IpForwarder {
  readonly mode = 'IP' as const;
  readonly table = new LanIpTable();
  private readonly role = new Int8Array(MAX_PORTS).fill(ROLE_NONE);
  private readonly portMac = new Float64Array(MAX_PORTS);
  /** Last address (int32 form) reported by sawAddress per port (NaN: none); reset by tick. */
  private readonly lastSaw = new Float64Array(MAX_PORTS).fill(NaN);
  private readonly nics: number[] = [];
  private uplink = -1;
  private uplinkMac = 0;
  private readonly dropBase: number;
  private readonly scratch = new Uint8Array(VNET + 60);
  /** Group memberships of the NICs (IGMP snooping). */
  readonly groups = new GroupTable();
  /** Time of the next general query (while memberships exist). */
  private nextQuery = 0;
  /** A NIC was added since the last tick: query at the next one. */
  private startupQuery = false;
  private readonly queryBuf = new Uint8Array(VNET + 60);
  private readonly onLeft = (port: number, group: number): void => { this.events.leftGroup?.(port, group); };

  constructor(readonly sw: number, private readonly counters: Float64Array, private readonly egress: Egress,
    private readonly events: ForwarderEvents) {
    this.dropBase = dropSlot(sw, 0);
  }

  addPort(port: number, role: PortRole, mac: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= MAX_PORTS) throw new RangeError(`port ${port} out of range`);
    if (this.role[port] !== ROLE_NONE) this.removePort(port);
    this.portMac[port] = mac;
    if (role === PortRole.Uplink) {
      if (this.uplink >= 0) this.role[this.uplink] = ROLE_NONE;
      this.role[port] = ROLE_UPLINK;
      this.uplink = port;
      this.uplinkMac = mac;
    } else {
      this.role[port] = ROLE_NIC;
      this.nics.push(port);
      this.startupQuery = true;
    }
  }

  removePort(port: number): void {
    const r = this.role[port];
    if (r === ROLE_NONE || r === undefined) return;
    this.role[port] = ROLE_NONE;
    this.lastSaw[port] = NaN;
    if (r === ROLE_UPLINK) {
      this.uplink = -1;
      this.uplinkMac = 0;
    } else {
      this.nics.splice(this.nics.indexOf(port), 1);
      this.table.clearPort(port);
      this.groups.removePort(port, this.onLeft);
    }
  }

  setAddress(ip: number, port: number, localOnly: boolean): void {
    this.table.set(ip, port, localOnly);
  }

  clearAddress(ip: number): void {
    this.table.clear(ip);
  }

  announce(ip: number): void {
    if (this.uplink < 0) return;
    const s = this.scratch;
    for (let i = 0; i < VNET; i++) s[i] = 0;
    const end = emitArpFrame(s, VNET, BROADCAST_MAC, this.uplinkMac, ARP_OP_REQUEST, this.uplinkMac, ip, 0, ip);
    for (let i = end; i < s.length; i++) s[i] = 0;
    this.egress.send(this.uplink, s, 0, VNET, s.length);
  }

  tick(now: number): void {
    const nics = this.nics;
    for (let i = 0; i < nics.length; i++) this.lastSaw[nics[i]] = NaN;
    this.groups.expire(now, this.onLeft);
    if (this.startupQuery) {
      this.startupQuery = false;
      this.nextQuery = now + QUERY_INTERVAL_MS;
      this.query();
    } else if (this.groups.memberships === 0) {
      this.nextQuery = now + QUERY_INTERVAL_MS;
    } else if (now >= this.nextQuery) {
      this.nextQuery = now + QUERY_INTERVAL_MS;
      this.query();
    }
  }

  /** Send an IGMPv3 general query (224.0.0.1, source 0.0.0.0, router alert) to every NIC. */
  private query(): void {
    const b = this.queryBuf;
    b.fill(0);
    const eth = VNET;
    writeMac(b, eth, groupMac(ALL_SYSTEMS));
    writeMac(b, eth + 6, this.uplink >= 0 ? this.uplinkMac : QUERIER_MAC + this.sw);
    b[eth + 12] = 0x08; b[eth + 13] = 0x00;
    const ip = eth + ETH_HLEN;
    b[ip] = 0x46; b[ip + 1] = 0xc0;
    b[ip + 3] = 24 + 12; // total length
    b[ip + 8] = 1; b[ip + 9] = IPPROTO_IGMP; // TTL 1
    writeIpv4(b, ip + 16, ALL_SYSTEMS);
    b[ip + 20] = 0x94; b[ip + 21] = 0x04; // router alert
    fillIpv4Checksum(b, ip);
    emitIgmpV3Query(b, ip + 24, 100, 0, 2, QUERY_INTERVAL_MS / 1000); // max response 10 s, QRV 2, QQIC 125 s
    const nics = this.nics;
    for (let i = 0; i < nics.length; i++) this.egress.send(nics[i], b, 0, VNET, b.length);
  }

  private drop(reason: number): void {
    this.counters[this.dropBase + reason]++;
  }

  input(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): void {
    const r = this.role[port];
    if (r === undefined || r === ROLE_NONE || !(eth >= 0) || end > buf.length || end - eth < ETH_HLEN) {
      this.drop(DropReason.Malformed);
      return;
    }
    if (ethSrcIsBad(buf, eth)) {
      this.drop(DropReason.BadSource);
      return;
    }
    const type = buf[eth + 12] << 8 | buf[eth + 13];
    if (r === ROLE_NIC) {
      if (type === 0x0800) this.nicIpv4(port, buf, hdr, eth, end, now);
      else if (type === 0x0806) this.nicArp(port, buf, hdr, eth, end);
      else this.drop(DropReason.NotIp);
    } else {
      if (type === 0x0800) this.uplinkIpv4(buf, hdr, eth, end);
      else if (type === 0x0806) this.uplinkArp(buf, hdr, eth, end);
      else this.drop(DropReason.NotIp);
    }
  }

  /** IPv4 header check shared by both directions; true when the packet may be forwarded. */
  private ipv4Ok(buf: Uint8Array, hdr: number, eth: number, end: number): boolean {
    const ip = eth + ETH_HLEN;
    const avail = end - ip;
    if (avail < 20) return false;
    const v = buf[ip];
    if (v >>> 4 !== 4) return false;
    const hl = (v & 15) << 2;
    if (hl < 20 || hl > avail) return false;
    const tl = buf[ip + 2] << 8 | buf[ip + 3];
    if (tl >= hl && tl <= avail) return true;
    return hdr >= 0 && eth - hdr >= VNET && buf[hdr + 1] !== 0;
  }

  private nicIpv4(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): void {
    if (!this.ipv4Ok(buf, hdr, eth, end)) {
      this.drop(DropReason.Malformed);
      return;
    }
    const ip = eth + ETH_HLEN;
    const src = rd32(buf, ip + 12);
    const se = this.table.lookup(src);
    if (se !== undefined) {
      if (se.port !== port) {
        this.drop(DropReason.SpoofedSource);
        return;
      }
    } else if (src !== 0) {
      this.saw(port, src);
    }
    const dst = rd32(buf, ip + 16);
    if (buf[ip + 9] === IPPROTO_IGMP && this.nicIgmp(port, buf, hdr, eth, end, now)) return;
    const bcast = ethDstIsBroadcast(buf, eth);
    if (dst >>> 28 === 0xe && dst >>> 8 !== 0xe00000 && !bcast) {
      this.groupFromNic(port, dst, buf, hdr, eth, end);
      return;
    }
    if (dst === -1 || dst >>> 28 === 0xe || bcast) {
      this.floodFromNic(port, buf, hdr, eth, end);
      return;
    }
    const de = this.table.lookup(dst);
    if (de !== undefined) {
      const out = de.port;
      if (out === port) {
        this.drop(DropReason.Hairpin);
        return;
      }
      writeMac(buf, eth, this.portMac[out]);
      writeMac(buf, eth + 6, this.portMac[port]);
      this.egress.send(out, buf, hdr, eth, end);
      return;
    }
    if (!this.sendToUplink(buf, hdr, eth, end)) this.drop(DropReason.NoUplink);
  }

  /** To the uplink under the uplink's MAC (the LAN sees one MAC); false when there is none. */
  private sendToUplink(buf: Uint8Array, hdr: number, eth: number, end: number): boolean {
    if (this.uplink < 0) return false;
    writeMac(buf, eth + 6, this.uplinkMac);
    this.egress.send(this.uplink, buf, hdr, eth, end);
    return true;
  }

  private floodFromNic(port: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const sent = sendToEach(this.egress, this.nics, this.nics.length, port, buf, hdr, eth, end);
    if (!this.sendToUplink(buf, hdr, eth, end) && sent === 0) this.drop(DropReason.NoUplink);
  }

  /**
   * IGMP from a NIC (the IPv4 header was validated). Reports and leaves update the group table
   * and go to the uplink only; true when the frame was consumed (sent or dropped), false for
   * other IGMP messages, which are switched like any other multicast.
   */
  private nicIgmp(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): boolean {
    const ip = eth + ETH_HLEN;
    const hl = (buf[ip] & 15) << 2;
    const tl = buf[ip + 2] << 8 | buf[ip + 3];
    const g = ip + hl;
    const gend = ip + tl;
    if (tl < hl + IGMP_MIN_LEN || gend > end || ((buf[ip + 6] & 0x3f) | buf[ip + 7]) !== 0 || !checkIgmp(buf, g, gend)) {
      this.drop(DropReason.Malformed);
      return true;
    }
    const type = buf[g];
    let full = false;
    if (type === IGMP_V1_REPORT || type === IGMP_V2_REPORT) {
      full = this.join(port, rd32(buf, g + 4), now);
    } else if (type === IGMP_V2_LEAVE) {
      this.leave(port, rd32(buf, g + 4));
    } else if (type === IGMP_V3_REPORT) {
      const n = buf[g + 6] << 8 | buf[g + 7];
      let rec = g + 8;
      for (let i = 0; i < n; i++) {
        const re = igmpv3RecordEnd(buf, rec, gend);
        if (re < 0) break; // a record past the end: the ones before it stand
        const a = igmpv3RecordAction(buf[rec], buf[rec + 2] << 8 | buf[rec + 3]);
        if (a > 0) full = this.join(port, rd32(buf, rec + 4), now) || full;
        else if (a < 0) this.leave(port, rd32(buf, rec + 4));
        rec = re;
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
    if (!isTrackedGroup(group >>> 0)) return false;
    const r = this.groups.join(group, port, now + GROUP_MEMBERSHIP_MS);
    if (r === JOIN_NEW) this.events.joinedGroup?.(port, group >>> 0);
    return r === JOIN_FULL;
  }

  private leave(port: number, group: number): void {
    if (isTrackedGroup(group >>> 0) && this.groups.leave(group, port)) this.events.leftGroup?.(port, group >>> 0);
  }

  /** Group traffic from a NIC: to the other member NICs unchanged, then to the uplink. */
  private groupFromNic(port: number, group: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const e = this.groups.lookup(group);
    const sent = e === undefined ? 0 : sendToEach(this.egress, e.ports, e.count, port, buf, hdr, eth, end);
    if (!this.sendToUplink(buf, hdr, eth, end) && sent === 0) this.drop(DropReason.NoGroupMember);
  }

  /** `ip` in int32 form; reported as uint32. */
  private saw(port: number, ip: number): void {
    if (this.lastSaw[port] === ip) return;
    this.lastSaw[port] = ip;
    this.events.sawAddress?.(port, ip >>> 0);
  }

  private nicArp(port: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const a = eth + ETH_HLEN;
    if (!arpOk(buf, a, end)) {
      this.drop(DropReason.Malformed);
      return;
    }
    const spa = rd32(buf, a + 14);
    const se = this.table.lookup(spa);
    if (se !== undefined) {
      if (se.port !== port) {
        this.drop(DropReason.SpoofedSource);
        return;
      }
    } else if (spa !== 0) {
      this.saw(port, spa);
    }
    if ((buf[a + 6] << 8 | buf[a + 7]) !== 1) {
      this.drop(DropReason.ArpIgnored);
      return;
    }
    const tpa = rd32(buf, a + 24);
    if (tpa === spa) {
      this.drop(DropReason.ArpIgnored);
      return;
    }
    const te = this.table.lookup(tpa);
    if (te !== undefined) {
      if (te.port === port) {
        this.drop(DropReason.ArpIgnored);
        return;
      }
      const mac = this.portMac[te.port];
      const requesterMac = readMac(buf, eth + 6);
      const sha = readMac(buf, a + 8);
      buf[a + 6] = 0; buf[a + 7] = 2;
      writeMac(buf, a + 18, sha);
      writeIpv4(buf, a + 24, spa);
      writeMac(buf, a + 8, mac);
      writeIpv4(buf, a + 14, tpa);
      writeMac(buf, eth, requesterMac);
      writeMac(buf, eth + 6, mac);
      this.egress.send(port, buf, hdr, eth, end);
      return;
    }
    if (this.uplink < 0) {
      this.drop(DropReason.NoUplink);
      return;
    }
    writeMac(buf, eth + 6, this.uplinkMac);
    writeMac(buf, a + 8, this.uplinkMac);
    this.egress.send(this.uplink, buf, hdr, eth, end);
  }

  private uplinkIpv4(buf: Uint8Array, hdr: number, eth: number, end: number): void {
    if (!this.ipv4Ok(buf, hdr, eth, end)) {
      this.drop(DropReason.Malformed);
      return;
    }
    const dst = rd32(buf, eth + ETH_HLEN + 16);
    const bcast = ethDstIsBroadcast(buf, eth);
    if (dst >>> 28 === 0xe && dst >>> 8 !== 0xe00000 && !bcast) {
      const e = this.groups.lookup(dst);
      if (e === undefined) {
        this.drop(DropReason.NoGroupMember);
        return;
      }
      sendToEach(this.egress, e.ports, e.count, -1, buf, hdr, eth, end);
      return;
    }
    if (dst === -1 || dst >>> 28 === 0xe || bcast) {
      if (sendToEach(this.egress, this.nics, this.nics.length, -1, buf, hdr, eth, end) === 0) this.drop(DropReason.UnknownDestination);
      return;
    }
    const de = this.table.lookup(dst);
    if (de === undefined) {
      this.drop(DropReason.UnknownDestination);
      return;
    }
    if (de.localOnly) {
      this.drop(DropReason.LocalOnly);
      return;
    }
    writeMac(buf, eth, this.portMac[de.port]);
    this.egress.send(de.port, buf, hdr, eth, end);
  }

  private uplinkArp(buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const a = eth + ETH_HLEN;
    if (!arpOk(buf, a, end)) {
      this.drop(DropReason.Malformed);
      return;
    }
    const op = buf[a + 6] << 8 | buf[a + 7];
    const tpa = rd32(buf, a + 24);
    const te = this.table.lookup(tpa);
    if (op === 1 && te !== undefined && !te.localOnly) {
      const requesterMac = readMac(buf, eth + 6);
      const sha = readMac(buf, a + 8);
      const spa = rd32(buf, a + 14);
      buf[a + 6] = 0; buf[a + 7] = 2;
      writeMac(buf, a + 18, sha);
      writeIpv4(buf, a + 24, spa);
      writeMac(buf, a + 8, this.uplinkMac);
      writeIpv4(buf, a + 14, tpa);
      writeMac(buf, eth, requesterMac);
      writeMac(buf, eth + 6, this.uplinkMac);
      this.egress.send(this.uplink, buf, hdr, eth, end);
      return;
    }
    if (op === 2 && te !== undefined) {
      const mac = this.portMac[te.port];
      writeMac(buf, a + 18, mac);
      writeMac(buf, eth, mac);
      this.egress.send(te.port, buf, hdr, eth, end);
      return;
    }
    this.drop(DropReason.ArpIgnored);
  }
}

/**
 * An IPv4 address read as a signed int32 (not uint32): always a small integer in V8 on 64-bit
 * builds without pointer compression, so it is never boxed across a call on the hot path.
 * The LAN IP table keys by the same int32 form; 255.255.255.255 reads as -1.
 */
function rd32(b: Uint8Array, o: number): number {
  return b[o] << 24 | b[o + 1] << 16 | b[o + 2] << 8 | b[o + 3];
}

/** checkArp for the untagged ARP payload at `a` (the frame length was checked by input). */
function arpOk(buf: Uint8Array, a: number, end: number): boolean {
  return end - a >= ARP_LEN && buf[a] === 0 && buf[a + 1] === 1 && buf[a + 2] === 8 && buf[a + 3] === 0 &&
    buf[a + 4] === 6 && buf[a + 5] === 4;
}
