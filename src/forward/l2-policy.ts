/**
 * One switch's layer-2 policy as the forwarders apply it to each frame: which VLAN a received
 * frame belongs to (or why it is refused), which ports a VLAN reaches, isolation, promiscuous
 * (mirror) ports and MAC protection. The policies themselves (SwitchPolicy, PortPolicy) are the
 * control plane's, from src/protocol/dataplane.ts; this is their per-frame form.
 *
 * VLANs (802.1Q), on a VLAN-aware switch:
 * - A NIC port on ACCESS carries VLAN pvid untagged and nothing else: any tagged frame from it
 *   is dropped as TaggedOnAccess. On TRUNK it carries its `vlans` tagged and pvid untagged
 *   (pvid VLAN_NONE: its untagged frames are dropped as VlanNotAllowed); a tagged frame in a
 *   VLAN it was not granted is dropped as VlanNotAllowed.
 * - The uplink is a trunk of every VLAN some NIC of the switch is in (pvid or vlans), with the
 *   switch's nativeVid untagged (VLAN_NONE: untagged LAN frames are dropped).
 * - A frame tagged with its port's untagged VLAN is taken as that VLAN; a priority tag (VID 0)
 *   on a trunk as its untagged VLAN. VID 4095, an 802.1ad (0x88a8) outer tag, and a frame whose
 *   payload is tagged again (a second 802.1Q or 802.1ad tag: the "double tagging" VLAN hop
 *   through a native VLAN) are dropped as VlanNotAllowed.
 * - classify() gives the frame's TCI (its priority kept, DEI cleared, VID set), or a drop as
 *   -(reason + 1). The forwarder then removes the tag (the frame is untagged inside the
 *   switch) and passes the TCI with every Egress.send, which tags the frame for each port
 *   unless the VLAN is that port's untagged one. member(port, vid) says whether a VLAN reaches
 *   a port.
 * On a VLAN-unaware switch classify() gives 0 for every frame, every port is a member of
 * VLAN 0, and tags pass untouched.
 *
 * Isolation (SwitchPolicy.isolation): isolated(from, to) is true when both are NICs: such a
 * delivery is refused (unicast, broadcast, multicast), only the uplink is reached.
 * Promiscuous NICs (mirror ports): the forwarders send them a copy of every frame they forward
 * in the port's VLANs, both directions, after the forwarding decision (a frame the switch
 * drops is not copied); isolation does not hide frames from them (the grant is the
 * administrator's). A promiscuous port's own frames follow the same rules as any other.
 * MAC protection (PortPolicy.macProtect): a NIC's frames must carry its assigned MAC as source
 * (spoofed() true otherwise: SpoofedMac).
 *
 * Validation: portPolicyError / switchPolicyError say what is wrong with a policy (a sentence)
 * or null; the setters throw RangeError on such a policy and change nothing. Setters run on the
 * control path; classify, member, isolated and spoofed per frame, allocation-free.
 */
import type { PortPolicy, SwitchPolicy } from '../protocol/dataplane.js';
import { DropReason, PortRole } from './api.js';
import { MAX_PORTS } from './counters.js';
import { macHi, macLo } from '../wire/addr.js';

/** The highest usable VLAN id (4095 is reserved). */
export const VID_MAX = 4094;
const VID_SLOTS = 4096;

const OPEN_POLICY: PortPolicy = { portType: 'ACCESS', pvid: 0, vlans: [], promiscuous: false, macProtect: false };

function vidOk(v: unknown, noneAllowed: boolean): boolean {
  return Number.isInteger(v) && (v as number) <= VID_MAX && ((v as number) >= 1 || (noneAllowed && v === 0));
}

/** What is wrong with a switch policy, or null. */
export function switchPolicyError(p: SwitchPolicy): string | null {
  if (p === null || typeof p !== 'object') return 'switch policy is not an object';
  if (typeof p.vlanAware !== 'boolean' || typeof p.isolation !== 'boolean') return 'switch policy: vlanAware and isolation must be booleans';
  if (!vidOk(p.nativeVid, true)) return `switch policy: native VLAN ${String(p.nativeVid)} is not 0..${VID_MAX}`;
  return null;
}

/** What is wrong with a port policy, or null. */
export function portPolicyError(p: PortPolicy): string | null {
  if (p === null || typeof p !== 'object') return 'port policy is not an object';
  if (p.portType !== 'ACCESS' && p.portType !== 'TRUNK') return `port policy: port type ${String(p.portType)} is not ACCESS or TRUNK`;
  if (!vidOk(p.pvid, true)) return `port policy: pvid ${String(p.pvid)} is not 0..${VID_MAX}`;
  if (!Array.isArray(p.vlans) || p.vlans.length > VID_MAX) return 'port policy: vlans must be a list of VLAN ids';
  for (const v of p.vlans) if (!vidOk(v, false)) return `port policy: VLAN ${String(v)} is not 1..${VID_MAX}`;
  if (p.portType === 'ACCESS' && p.vlans.length > 0) return 'port policy: an ACCESS port carries no tagged VLANs';
  if (typeof p.promiscuous !== 'boolean' || typeof p.macProtect !== 'boolean') return 'port policy: promiscuous and macProtect must be booleans';
  return null;
}

export class L2Policy {
  /** The switch's policy in force. */
  vlanAware = false;
  nativeVid = 0;
  isolation = false;
  /** Port -> 1 for an attached NIC, 2 for an attached uplink, 0 unattached. */
  readonly kind = new Uint8Array(MAX_PORTS);
  /** Port -> the VLAN it carries untagged (0 on a VLAN-unaware switch, or none). */
  readonly pvid = new Uint16Array(MAX_PORTS);
  /** Port -> 1 for a trunk (a NIC granted TRUNK, or the uplink). */
  readonly trunk = new Uint8Array(MAX_PORTS);
  /** Port -> its tagged VLANs (1 = carried), undefined for none. The uplink's is `uplinkTagged`. */
  private readonly tagged: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(MAX_PORTS).fill(undefined);
  /** Port -> 1 with MAC protection; its assigned MAC as halves. */
  readonly protect = new Uint8Array(MAX_PORTS);
  readonly macHi = new Int32Array(MAX_PORTS);
  readonly macLo = new Int32Array(MAX_PORTS);
  /** Port -> 1 when promiscuous; the promiscuous ports in a list. */
  readonly promisc = new Uint8Array(MAX_PORTS);
  readonly promiscPorts = new Int32Array(MAX_PORTS);
  nPromisc = 0;
  /** Port -> the policy it was given (control path). */
  private readonly policies: (PortPolicy | undefined)[] = new Array<PortPolicy | undefined>(MAX_PORTS).fill(undefined);
  /** VLAN -> NICs that carry it; the uplink carries tagged the VLANs with a count. */
  private readonly use = new Int32Array(VID_SLOTS);
  private readonly uplinkTagged = new Uint8Array(VID_SLOTS);

  /** Attach a port (with OPEN_PORT_POLICY for a NIC until setPort). */
  addPort(port: number, role: PortRole, mac: number): void {
    this.kind[port] = role === PortRole.Uplink ? 2 : 1;
    this.macHi[port] = macHi(mac);
    this.macLo[port] = macLo(mac);
    this.policies[port] = role === PortRole.Uplink ? undefined : OPEN_POLICY;
    this.applyPort(port);
    this.recount();
  }

  removePort(port: number): void {
    this.kind[port] = 0;
    this.policies[port] = undefined;
    this.tagged[port] = undefined;
    this.protect[port] = 0;
    this.trunk[port] = 0;
    this.pvid[port] = 0;
    this.setPromisc(port, false);
    this.recount();
  }

  setSwitch(p: SwitchPolicy): void {
    const err = switchPolicyError(p);
    if (err !== null) throw new RangeError(err);
    this.vlanAware = p.vlanAware;
    this.nativeVid = p.vlanAware ? p.nativeVid : 0;
    this.isolation = p.isolation;
    for (let q = 0; q < MAX_PORTS; q++) if (this.kind[q] !== 0) this.applyPort(q);
    this.recount();
  }

  /** A NIC's policy (ignored for an unattached port or the uplink, whose VLANs follow the switch's). */
  setPort(port: number, p: PortPolicy): void {
    const err = portPolicyError(p);
    if (err !== null) throw new RangeError(err);
    if (this.kind[port] !== 1) return;
    this.policies[port] = p;
    this.applyPort(port);
    this.recount();
  }

  /** The policy given to a NIC port (control-plane use), or undefined. */
  portPolicy(port: number): PortPolicy | undefined {
    return this.policies[port];
  }

  /** Bring port's per-frame state in step with its policy and the switch's. */
  private applyPort(port: number): void {
    if (this.kind[port] === 2) {
      this.trunk[port] = 1;
      this.pvid[port] = this.nativeVid;
      this.tagged[port] = this.vlanAware ? this.uplinkTagged : undefined;
      return;
    }
    const p = this.policies[port] ?? OPEN_POLICY;
    const aware = this.vlanAware;
    this.trunk[port] = aware && p.portType === 'TRUNK' ? 1 : 0;
    this.pvid[port] = aware ? p.pvid : 0;
    let set: Uint8Array | undefined;
    if (aware && p.portType === 'TRUNK' && p.vlans.length > 0) {
      set = new Uint8Array(VID_SLOTS);
      for (const v of p.vlans) set[v] = 1;
    }
    this.tagged[port] = set;
    this.protect[port] = p.macProtect ? 1 : 0;
    this.setPromisc(port, p.promiscuous);
  }

  private setPromisc(port: number, on: boolean): void {
    if ((this.promisc[port] === 1) === on) return;
    this.promisc[port] = on ? 1 : 0;
    if (on) {
      this.promiscPorts[this.nPromisc++] = port;
      return;
    }
    for (let i = 0; i < this.nPromisc; i++) {
      if (this.promiscPorts[i] === port) {
        this.promiscPorts[i] = this.promiscPorts[--this.nPromisc];
        return;
      }
    }
  }

  /** Count the NICs of each VLAN again; the uplink carries tagged each VLAN in use. */
  private recount(): void {
    const use = this.use;
    use.fill(0);
    for (let q = 0; q < MAX_PORTS; q++) {
      if (this.kind[q] !== 1) continue;
      const set = this.tagged[q];
      if (set !== undefined) for (let v = 1; v <= VID_MAX; v++) use[v] += set[v];
      const pv = this.pvid[q];
      if (pv !== 0 && (set === undefined || set[pv] === 0)) use[pv]++;
    }
    for (let v = 0; v < VID_SLOTS; v++) this.uplinkTagged[v] = v !== 0 && use[v] > 0 ? 1 : 0;
  }

  /** Does VLAN `vid` reach `port` (0 on a VLAN-unaware switch: always)? */
  member(port: number, vid: number): boolean {
    if (this.pvid[port] === vid) return true;
    const set = this.tagged[port];
    return set !== undefined && set[vid] === 1;
  }

  /** The VLAN a port carries untagged (the egress's question), 0 for none. */
  untaggedVid(port: number): number {
    return this.pvid[port];
  }

  /** May a frame from `from` be delivered to `to` under isolation? False: isolated (both NICs). */
  isolated(from: number, to: number): boolean {
    return this.isolation && this.kind[from] === 1 && this.kind[to] === 1;
  }

  /** True when port has MAC protection and the source MAC (halves) is not its own. */
  spoofed(port: number, hi: number, lo: number): boolean {
    return this.protect[port] === 1 && (hi !== this.macHi[port] || lo !== this.macLo[port]);
  }

  /**
   * The VLAN of the frame b[eth..end) received on `port` (ethHeaderFits passed) as its TCI
   * (priority and VID; 0 on a VLAN-unaware switch), or -(DropReason + 1) when it is refused.
   * Changes nothing: the caller removes a tag (the frame is tagged when ethIsTagged).
   */
  classify(port: number, b: Uint8Array, eth: number, end: number): number {
    if (!this.vlanAware) return 0;
    const type = b[eth + 12] << 8 | b[eth + 13];
    if (type === 0x8100) {
      if (end - eth < 18) return -(DropReason.Malformed + 1);
      if (this.trunk[port] === 0) return -(DropReason.TaggedOnAccess + 1);
      const inner = b[eth + 16] << 8 | b[eth + 17];
      if (inner === 0x8100 || inner === 0x88a8) return -(DropReason.VlanNotAllowed + 1);
      const tci = b[eth + 14] << 8 | b[eth + 15];
      let vid = tci & 0x0fff;
      if (vid === 0) vid = this.pvid[port];
      if (vid === 0 || vid > VID_MAX || !this.member(port, vid)) return -(DropReason.VlanNotAllowed + 1);
      return (tci & 0xe000) | vid;
    }
    if (type === 0x88a8) return -((this.trunk[port] === 0 ? DropReason.TaggedOnAccess : DropReason.VlanNotAllowed) + 1);
    const vid = this.pvid[port];
    return vid === 0 ? -(DropReason.VlanNotAllowed + 1) : vid;
  }
}
