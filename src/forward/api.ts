/**
 * The forwarding core's contract with the data plane.
 *
 * A Forwarder is one switch's decision logic. It is pure and synchronous: no I/O, no clock
 * (time arrives as `now`, in milliseconds), no `node:` imports, and no allocation per frame.
 * The data plane hands it each received frame; the forwarder rewrites Ethernet headers in
 * place and calls `Egress.send` zero or more times before `input` returns, or counts a drop.
 *
 * Frame layout in every buffer handed across this contract:
 *   buf[hdr .. eth)  the 10-byte virtio-net header (offload metadata; zero for plain frames;
 *                    its layout and VNET_HDR_LEN are in src/wire/vnet.ts)
 *                    hdr === eth when the receiving port carries no such header
 *   buf[eth .. end)  the Ethernet frame, starting with the destination MAC
 * The forwarder rewrites bytes at or after `eth` (MACs, ARP fields); on a VLAN-aware switch it
 * also removes a received frame's 802.1Q tag in place (src/wire/vlan.ts: the MACs and the
 * header move 4 bytes towards the payload), so frames inside the switch are untagged and each
 * Egress.send says the frame's VLAN (its TCI); the egress tags it for the port it goes to.
 * Frames the forwarder makes itself (ARP replies, gratuitous ARP) always carry a 10-byte zero
 * virtio-net header, so every port kind can send them.
 *
 * Ports are small integers chosen by the data plane, unique across all switches.
 * MACs are 48-bit unsigned numbers; IPv4 addresses are uint32 numbers (network order read
 * as big-endian: 10.0.0.1 === 0x0a000001).
 * The layer-2 policies (SwitchPolicy, PortPolicy) are the control plane's shapes from
 * src/protocol/dataplane.ts (a type-only import: the contract both sides share).
 */
import type { PortPolicy, SwitchPolicy } from '../protocol/dataplane.js';

/** What a port is to its switch. */
export const enum PortRole {
  /** A guest's virtual NIC. */
  Nic = 0,
  /** The switch's uplink (the OSA adapter's role). */
  Uplink = 1,
  /** IP mode: the switch's VXLAN overlay (the kernel's vxlan device; src/forward/overlay.ts). */
  Overlay = 2,
}

/** Why a frame was dropped. Counted per switch; the index is stable (it is a counter slot). */
export const enum DropReason {
  /** Truncated header, bad length, bad IHL, bad ARP sizes. */
  Malformed = 0,
  /** IP mode, inbound: destination IP not in the LAN IP table (seed Fig. 6, step 522). */
  UnknownDestination = 1,
  /** IP mode: neither IPv4, IPv6 nor ARP (a VLAN-tagged frame, another EtherType). */
  NotIp = 2,
  /** IP mode, inbound: destination registered but still local only (the adapter does not know it). */
  LocalOnly = 3,
  /** A frame whose only destination is the port it came from. */
  Hairpin = 4,
  /** IP mode: a NIC's source IP not registered to it (ARP to the LAN: not registered with the adapter yet). */
  SpoofedSource = 5,
  /** ARP the switch neither answers nor relays. */
  ArpIgnored = 6,
  /** A frame bound for the uplink while the switch has none (or it is down). */
  NoUplink = 7,
  /** A port's send queue was full or the kernel refused the write (counted by the egress). */
  QueueFull = 8,
  /** ETHERNET mode: the learning table was full and the source could not be learned (frame still forwarded). */
  LearnTableFull = 9,
  /** An address claim refused because another NIC holds the address (counted by the control plane). */
  AddressConflict = 10,
  /** A frame whose source MAC is multicast/broadcast or zero. */
  BadSource = 11,
  /** Offload metadata the egress cannot honour (e.g. GSO type it cannot segment). */
  BadOffload = 12,
  /** IP mode: multicast to a group (outside 224.0.0.0/24) that no NIC joined, with nowhere else to go. */
  NoGroupMember = 13,
  /** IP mode: a join refused because the group table (or the port's share of it) is full (frame still forwarded). */
  GroupTableFull = 14,
  /** The target port's link is down (a TAP whose interface is down, an uplink that is down or gone): the write was refused. */
  EgressDown = 15,
  /** A virtio-net header that does not fit its frame or promises work the switch refuses (src/dataplane/vnet-check.ts); counted at ingress by the data plane. */
  BadVnetHeader = 16,
  /** A frame larger than the target port's MTU (a GSO frame: its segments), counted by the egress. */
  TooBig = 17,
  /** VLAN-aware switch: a frame in a VLAN its port does not carry (untagged on a trunk without native VLAN, a tag not granted, a double tag, VID 4095). */
  VlanNotAllowed = 18,
  /** VLAN-aware switch: a tagged frame from an ACCESS port. */
  TaggedOnAccess = 19,
  /** MACPROTECT: a frame whose source MAC is not its NIC's assigned MAC, or another protected NIC's MAC. */
  SpoofedMac = 20,
  /** ISOLATION: a frame from a NIC whose only destinations are other NICs. */
  Isolated = 21,
  /** IP mode: IPv6 Neighbor Discovery the switch neither answers nor relays (a guest's RA, NA, Redirect; the LAN's RS, an NS for no registered address). */
  NdpIgnored = 22,
  /** IP mode: an IPv6 packet for the LAN whose destination the neighbour cache does not hold, with no default router to send it to. */
  NoNeighbour = 23,
}

/** Human names for DropReason, by index (used by QUERY output and JSON). */
export const DROP_REASON_NAMES: readonly string[] = [
  'malformed',
  'unknown-destination',
  'not-ip',
  'local-only',
  'hairpin',
  'spoofed-source',
  'arp-ignored',
  'no-uplink',
  'queue-full',
  'learn-table-full',
  'address-conflict',
  'bad-source',
  'bad-offload',
  'no-group-member',
  'group-table-full',
  'egress-down',
  'bad-vnet-header',
  'too-big',
  'vlan-not-allowed',
  'tagged-on-access',
  'spoofed-mac',
  'isolated',
  'ndp-ignored',
  'no-neighbour',
];

/** The data plane's side: where forwarded frames go. */
export interface Egress {
  /**
   * Send buf[eth..end) to `port`, with its virtio-net header at buf[hdr..eth) (hdr === eth when
   * the frame has none: the egress then treats it as a plain, fully checksummed frame).
   * tci: on a VLAN-aware switch the frame's 802.1Q TCI (VID 1..4094 and priority; the frame
   * itself is untagged): the egress sends it tagged with it unless the VID is the one the port
   * carries untagged; 0 or absent (a VLAN-unaware switch): the frame goes as it is. The four
   * bytes before buf[hdr] must be free for the tag (every receive slot and the egress's own
   * memory leave them). The forwarder decides which ports a VLAN reaches; the egress only tags.
   * Synchronous: the forwarder may rewrite or reuse buf as soon as this returns (the egress
   * leaves buf[hdr..end) as it found it, a completed checksum aside). Never throws;
   * a full queue or refused write is counted by the egress (DropReason.QueueFull), and tx
   * counters are the egress's job too.
   */
  send(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, tci?: number): void;
}

/** Events the forwarder reports to the control plane (through the data plane). Called synchronously. */
export interface ForwarderEvents {
  /** IP mode: a NIC port used an IPv4 source address it does not hold (ARP sender or IP source): a claim. */
  sawAddress?(port: number, ip: number, vid: number): void;
  /**
   * IP mode: the LAN holds `ip` (uint32): an ARP from the uplink whose sender is an address
   * being probed or in the LAN IP table, or a probe from the LAN for an address being probed;
   * or probe(ip) of an address already seen on the LAN. `mac`: the LAN host's (ARP sender) MAC;
   * `vid`: the VLAN it holds the address in (the ARP's; 0 on a VLAN-unaware switch).
   */
  lanHolder?(ip: number, mac: number, vid: number): void;
  /** IP mode: NIC `port` became a member of IPv4 `group` (uint32; its IGMP report). Once per new membership. */
  joinedGroup?(port: number, group: number): void;
  /** IP mode: NIC `port` is no longer a member of `group` (its leave, aging, or the port removed). */
  leftGroup?(port: number, group: number): void;
  /**
   * IP mode: a NIC used an IPv6 source address, or probed one (DAD), that no NIC holds in the
   * frame's VLAN `vid` (words: ipv6.ts, uint32 form; vid 0 on a VLAN-unaware switch).
   */
  sawAddress6?(port: number, w0: number, w1: number, w2: number, w3: number, vid: number): void;
  /** IP mode: NIC `port` became a member of an IPv6 group (its MLD report). Once per new membership. */
  joinedGroup6?(port: number, w0: number, w1: number, w2: number, w3: number): void;
  /** IP mode: NIC `port` is no longer a member of the IPv6 group (its done, aging, or the port removed). */
  leftGroup6?(port: number, w0: number, w1: number, w2: number, w3: number): void;
}

/** One switch's forwarding logic. */
export interface Forwarder {
  readonly mode: 'IP' | 'ETHERNET';
  /** Attach a port. `mac` is the NIC's assigned MAC, or the uplink interface's MAC. A NIC starts with OPEN_PORT_POLICY. */
  addPort(port: number, role: PortRole, mac: number): void;
  /** The switch's layer-2 policy (l2-policy.ts; throws RangeError on a bad one and changes nothing). */
  setSwitchPolicy(p: SwitchPolicy): void;
  /** A NIC's layer-2 policy (throws RangeError on a bad one; ignored for the uplink or an unattached port). */
  setPortPolicy(port: number, p: PortPolicy): void;
  /** Detach a port; forget everything learned about it. */
  removePort(port: number): void;
  /** Handle one received frame (layout in the file comment). */
  input(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): void;
  /** Periodic housekeeping (aging). Called at least once a second by the data plane. */
  tick(now: number): void;
}

/** The IP-mode forwarder's extra surface: the LAN IP table as the control plane sets it. */
export interface IpForwarder extends Forwarder {
  readonly mode: 'IP';
  /**
   * Map `ip` to NIC `port` in VLAN `vid` (each VLAN has its own LAN IP table; 0, the default:
   * a VLAN-unaware switch's). localOnly: the uplink has not registered it (LAN traffic to it is
   * dropped). Throws RangeError for a vid outside 0..4094.
   */
  setAddress(ip: number, port: number, localOnly: boolean, vid?: number): void;
  /** Remove `ip` from VLAN `vid`'s LAN IP table. */
  clearAddress(ip: number, vid?: number): void;
  /** Send a gratuitous ARP for `ip` out the uplink in VLAN `vid` (sender MAC = uplink MAC). No-op without uplink. */
  announce(ip: number, vid?: number): void;
  /** Ask the LAN (in VLAN `vid`) whether anyone holds `ip` (an ARP probe out the uplink); answers come as events.lanHolder. */
  probe(ip: number, vid?: number): void;
  /** Map the IPv6 address (four words, ipv6.ts) in VLAN `vid` (VLAN_NONE: 0) to NIC `port`. Throws RangeError for a vid outside 0..4094. */
  setAddress6(vid: number, w0: number, w1: number, w2: number, w3: number, port: number, localOnly: boolean): void;
  /** Remove the IPv6 address from the table. */
  clearAddress6(vid: number, w0: number, w1: number, w2: number, w3: number): void;
  /** Send an unsolicited Neighbor Advertisement for the address out the uplink (TLLA = uplink MAC). No-op without uplink. */
  announce6(vid: number, w0: number, w1: number, w2: number, w3: number): void;
}
