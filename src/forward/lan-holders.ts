/**
 * The IPv4 addresses the IP forwarder has seen in use on the LAN: senders of ARP received on
 * the uplink, each in the VLAN it was received in (0: VLAN-unaware), with the MAC that sent
 * them and when. An address a guest claims in a VLAN is refused when it is here in that VLAN
 * (issue 9: an address is registered only if no one on the LAN holds it; an address belongs to
 * a VLAN, so a LAN host's 10.0.0.5 in VLAN 20 does not hold a guest's 10.0.0.5 in VLAN 10).
 *
 * Contract: bounded and allocation-free (typed arrays, fixed at construction). Addresses are
 * in their int32 form (wire/bytes.ts), MACs as 48-bit numbers, time in ms as the forwarder is
 * given it, `vid` 0..4094 (0 when not given). The table is set-associative: an address and its
 * VLAN hash to one bucket of WAYS slots;
 * `record` refreshes the address's slot, or takes an empty or aged one, or else the bucket's
 * oldest (so a LAN flooding ARP with made-up senders evicts only its own kind of entry, and a
 * recorded address never costs more than WAYS comparisons to find). An entry older than
 * LAN_HOLDER_AGE_MS is as good as absent. `find` returns the slot or -1; `mac(slot)` its MAC.
 */

/** How long an address seen on the LAN counts as held there (the kernel's ARP entries live minutes). */
export const LAN_HOLDER_AGE_MS = 300_000;

const BUCKETS = 256;
const WAYS = 4;

export class LanHolders {
  private readonly ips = new Int32Array(BUCKETS * WAYS);
  private readonly vids = new Uint16Array(BUCKETS * WAYS);
  private readonly macs = new Float64Array(BUCKETS * WAYS);
  /** Time last seen; NaN: empty. */
  private readonly seen = new Float64Array(BUCKETS * WAYS).fill(NaN);

  private static bucket(ip: number, vid: number): number {
    return (Math.imul(ip ^ Math.imul(vid, 0x85ebca6b), 0x9e3779b1) >>> 24) * WAYS;
  }

  record(ip: number, mac: number, now: number, vid = 0): void {
    const b = LanHolders.bucket(ip, vid);
    let victim = b;
    for (let i = b; i < b + WAYS; i++) {
      if (this.ips[i] === ip && this.vids[i] === vid && this.seen[i] === this.seen[i]) {
        victim = i;
        break;
      }
      // An empty (NaN) slot before any used one, then the oldest.
      const t = this.seen[i], v = this.seen[victim];
      if (t !== t) {
        if (v === v) victim = i;
      } else if (v === v && t < v) {
        victim = i;
      }
    }
    this.ips[victim] = ip;
    this.vids[victim] = vid;
    this.macs[victim] = mac;
    this.seen[victim] = now;
  }

  find(ip: number, now: number, vid = 0): number {
    const b = LanHolders.bucket(ip, vid);
    for (let i = b; i < b + WAYS; i++) {
      if (this.ips[i] === ip && this.vids[i] === vid && now - this.seen[i] < LAN_HOLDER_AGE_MS) return i;
    }
    return -1;
  }

  mac(slot: number): number {
    return this.macs[slot];
  }
}
