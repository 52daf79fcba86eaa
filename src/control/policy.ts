/**
 * What the control plane tells the data plane about layer 2: each switch's SwitchPolicy and each
 * coupled NIC's PortPolicy (src/protocol/dataplane.ts), computed from the state alone, and the
 * VLAN a guest's address is in. Pure: no I/O, no clock; the reconciler (reconcile/policies.ts)
 * posts what changed.
 *
 * The rules follow z/VM's VSWITCH:
 * - A VLAN-unaware switch (VLAN UNAWARE, the default): every NIC is an ACCESS port of VLAN_NONE
 *   with no VLANs; tags pass untouched.
 * - A VLAN-aware switch (VLAN defvid): a NIC's port type is its grant's PORTTYPE, else the
 *   switch's; its VLANs are its grant's VLAN set, else the switch's default VLAN (defvid).
 *   ACCESS: pvid is the (one) granted VLAN, carried untagged; vlans is empty. TRUNK: the granted
 *   VLANs are carried tagged, except the switch's native VLAN (NATIVE natvid) when the guest is
 *   granted it: that one is the pvid, carried untagged (z/VM: a trunk guest's untagged frames
 *   pass only when it is authorized for the native VLAN); without it pvid is VLAN_NONE.
 * - promiscuous: SET NIC PROMISCUOUS while the user's grant on the switch allows it.
 * - macProtect: SET NIC MACPROTECT ON / OFF, or with UNSPECIFIED the switch's MACPROTECT.
 */
import { VLAN_NONE, type PortPolicy, type SwitchPolicy } from '../protocol/dataplane.js';
import type { Nic, SwitchDef, Vswitch } from './state.js';

export function switchPolicy(sw: Pick<SwitchDef, 'vlan' | 'nativeVid' | 'isolation'>): SwitchPolicy {
  return { vlanAware: sw.vlan !== null, nativeVid: sw.vlan === null ? VLAN_NONE : sw.nativeVid, isolation: sw.isolation };
}

/** The port policy of NIC `nic` on switch `sw` (coupled or about to be). */
export function portPolicy(sw: Vswitch, nic: Pick<Nic, 'userid' | 'promiscuous' | 'macProtect'>): PortPolicy {
  const g = sw.grants.get(nic.userid);
  const promiscuous = nic.promiscuous && (g?.promiscuous ?? false);
  const macProtect = nic.macProtect === null ? sw.macProtect : nic.macProtect === 'ON';
  if (sw.vlan === null) return { portType: 'ACCESS', pvid: VLAN_NONE, vlans: [], promiscuous, macProtect };
  const portType = g?.portType ?? sw.portType;
  const granted = g?.vlans ?? [sw.vlan];
  if (portType === 'ACCESS') return { portType, pvid: granted[0], vlans: [], promiscuous, macProtect };
  const pvid = sw.nativeVid !== VLAN_NONE && granted.includes(sw.nativeVid) ? sw.nativeVid : VLAN_NONE;
  return { portType, pvid, vlans: granted.filter((v) => v !== pvid), promiscuous, macProtect };
}

/**
 * The VLAN of an address configured on a NIC's own interface (`on` 0) or on its VLAN
 * sub-device of VLAN id `on`, given the port's policy on a switch (VLAN-aware or not); null
 * when the port carries no such VLAN (the address is not reachable through the switch and is
 * not put in the LAN IP table). VLAN-unaware: only the NIC's own interface counts, in VLAN_NONE.
 */
export function addressVid(vlanAware: boolean, p: PortPolicy, on: number): number | null {
  if (!vlanAware) return on === 0 ? VLAN_NONE : null;
  if (on === 0) return p.pvid === VLAN_NONE ? null : p.pvid;
  return p.portType === 'TRUNK' && p.vlans.includes(on) ? on : null;
}

/**
 * addressVid for every NIC of switch `sw` (the claim rule's `vidOf`, state.ts recomputeLanIp,
 * IPv4 and IPv6 alike): the VLAN an address on interface `on` of NIC `n` is in, null for none.
 */
export function vidOfOn(sw: Vswitch): (n: Nic, on: number) => number | null {
  const aware = sw.vlan !== null;
  return (n, on) => addressVid(aware, portPolicy(sw, n), on);
}

export function samePortPolicy(a: PortPolicy, b: PortPolicy): boolean {
  return a.portType === b.portType && a.pvid === b.pvid && a.promiscuous === b.promiscuous && a.macProtect === b.macProtect
    && a.vlans.length === b.vlans.length && a.vlans.every((v, i) => v === b.vlans[i]);
}

export function sameSwitchPolicy(a: SwitchPolicy, b: SwitchPolicy): boolean {
  return a.vlanAware === b.vlanAware && a.nativeVid === b.nativeVid && a.isolation === b.isolation;
}
