/**
 * Flooding and mirroring, shared by the forwarders. Synchronous like Egress.send; allocates
 * nothing.
 *
 * sendToMembers sends one frame, unchanged, to each of a set of ports that its VLAN reaches
 * (L2Policy.member) but the ingress, skipping those isolation keeps it from (L2Policy.isolated):
 * a flood within a VLAN. mirrorTo sends a copy of a forwarded frame to each promiscuous port of
 * its VLAN that did not get it already (not the ingress, not `out`). toEachUntagged sends a
 * frame the switch made itself (its IGMP and MLD queries) to each NIC in the VLAN the NIC
 * carries untagged (a trunk without one gets none), so no guest sees it tagged. Each send carries the
 * frame's TCI (the egress tags per port; 0 on a VLAN-unaware switch, where every port is a
 * member of VLAN 0).
 */
import type { Egress } from './api.js';
import type { L2Policy } from './l2-policy.js';

/** To each of ports[0 .. count) but `from` that VLAN `vid` reaches and isolation allows; returns how many were sent. */
export function sendToMembers(egress: Egress, l2: L2Policy, ports: ArrayLike<number>, count: number, from: number, vid: number,
  buf: Uint8Array, hdr: number, eth: number, end: number, tci: number): number {
  let sent = 0;
  for (let i = 0; i < count; i++) {
    const q = ports[i];
    if (q === from || !l2.member(q, vid) || l2.isolated(from, q)) continue;
    egress.send(q, buf, hdr, eth, end, tci);
    sent++;
  }
  return sent;
}

/** A copy to each promiscuous port of VLAN vid but `from` and `out` (already sent, or -1). */
export function mirrorTo(egress: Egress, l2: L2Policy, from: number, out: number, vid: number,
  buf: Uint8Array, hdr: number, eth: number, end: number, tci: number): void {
  const pp = l2.promiscPorts;
  for (let i = 0; i < l2.nPromisc; i++) {
    const q = pp[i];
    if (q !== from && q !== out && l2.member(q, vid)) egress.send(q, buf, hdr, eth, end, tci);
  }
}


/** The switch's own frame to each of ports[0 .. count) in its untagged VLAN (0 on a VLAN-unaware switch; none: skipped). */
export function toEachUntagged(egress: Egress, l2: L2Policy, ports: ArrayLike<number>, count: number,
  buf: Uint8Array, hdr: number, eth: number, end: number): void {
  const aware = l2.vlanAware;
  for (let i = 0; i < count; i++) {
    const q = ports[i];
    const tci = aware ? l2.untaggedVid(q) : 0;
    if (aware && tci === 0) continue; // a trunk without an untagged VLAN
    egress.send(q, buf, hdr, eth, end, tci);
  }
}
