/**
 * ETHERNET-mode forwarder: a learning bridge (after Click's EtherSwitch and Open vSwitch's
 * mac-learning), VLAN-aware, with no I/O and no clock.
 *
 * Rules, per received frame:
 * - Shorter than an Ethernet header (ethHeaderFits), or from a port not attached here: Malformed.
 * - Its VLAN (L2Policy.classify, l2-policy.ts): a frame its port may not send in a VLAN is
 *   dropped as VlanNotAllowed or TaggedOnAccess; a tagged frame's tag is removed in place
 *   (src/wire/vlan.ts; a partial checksum that starts inside the tag: Malformed) and every send
 *   carries the frame's TCI, so the egress tags it per port. VLAN-unaware: VLAN 0, tags untouched.
 * - Source MAC multicast/broadcast or all zero: dropped as BadSource (not learned).
 * - MACPROTECT on the port and a source MAC that is not its assigned MAC: SpoofedMac. A source
 *   MAC whose entry sits on the protected NIC that owns it is not moved: SpoofedMac too.
 * - Otherwise the source is learned as (VLAN, MAC) on the ingress port (MacTable; a full-table
 *   eviction is counted as LearnTableFull and the frame still goes on).
 * - Destination multicast/broadcast, or unknown unicast: flooded to every other port of the
 *   frame's VLAN. Known unicast (in the frame's VLAN): sent to its port; if that is the
 *   ingress port: Hairpin. A flood with no other port to go to is a Hairpin drop too.
 * - ISOLATION: a frame from a NIC reaches no other NIC: a unicast to one is Isolated, a flood
 *   goes to the uplink only (Isolated when there is none).
 * - Promiscuous NICs of the frame's VLAN get a copy of every frame forwarded (mirror), unless
 *   they sent it or already got it; a dropped frame is not copied.
 * - The uplink is a port like any other; frames pass with their MACs unchanged.
 * tick(now) ages the table. Every frame is either sent at least once or counted as one drop.
 * MACs are read through src/wire as 24-bit halves (ethSrcHi/ethSrcLo, ...), the form the
 * MacTable's hot-path methods take, so no 48-bit double crosses a call.
 */

import { Egress, Forwarder, PortRole, DropReason } from './api.js';
import { dropSlot, MAX_PORTS } from './counters.js';
import { MacTable, LEARN_EVICTED, LEARN_PROTECTED } from './mac-table.js';
import { L2Policy } from './l2-policy.js';
import { mirrorTo, sendToMembers } from './send-each.js';
import type { FdbEntry, PortPolicy, SwitchPolicy } from '../protocol/dataplane.js';
import * as ethernet from '../wire/ethernet.js';
import * as vlan from '../wire/vlan.js';

// The wire helpers called per frame, as module constants (why: see ip-switch.ts).
const { ethDstHi, ethDstIsGroup, ethDstLo, ethSrcHi, ethSrcIsBad, ethSrcLo, ethHeaderFits, ethIsTagged } = ethernet;
const { csumStartInTag, untagFrame } = vlan;


export interface EthernetSwitchOptions {
  /** Learning table size bound (default 8192). */
  maxEntries?: number;
  /** Idle time after which a learned MAC expires, ms (default 300000). */
  agingMs?: number;
}

export class EthernetSwitch implements Forwarder {
  readonly mode = 'ETHERNET' as const;
  readonly table: MacTable;
  readonly l2 = new L2Policy();
  private readonly ports: number[] = [];
  private readonly attached = new Uint8Array(MAX_PORTS);
  private readonly dropBase: number;

  constructor(readonly sw: number, private readonly counters: Float64Array, private readonly egress: Egress,
    opts?: EthernetSwitchOptions) {
    this.table = new MacTable(opts?.maxEntries ?? 8192, opts?.agingMs ?? 300000);
    this.dropBase = dropSlot(sw, 0);
  }

  addPort(port: number, role: PortRole, mac: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= MAX_PORTS) throw new RangeError(`port ${port} out of range`);
    if (this.attached[port] === 1) return;
    this.attached[port] = 1;
    this.ports.push(port);
    this.l2.addPort(port, role, mac);
  }

  removePort(port: number): void {
    if (this.attached[port] !== 1) return;
    this.attached[port] = 0;
    this.ports.splice(this.ports.indexOf(port), 1);
    this.table.flushPort(port);
    this.table.protect(port, -1);
    this.l2.removePort(port);
  }

  setSwitchPolicy(p: SwitchPolicy): void {
    const wasAware = this.l2.vlanAware;
    this.l2.setSwitch(p);
    // Entries were learned under the old VLAN rules (VLAN 0 when unaware): start again.
    if (wasAware !== this.l2.vlanAware) for (const q of this.ports) this.table.flushPort(q);
  }

  setPortPolicy(port: number, p: PortPolicy): void {
    if (this.attached[port] !== 1) return;
    this.l2.setPort(port, p);
    this.table.protect(port, p.macProtect ? this.l2.macHi[port] * 0x1000000 + this.l2.macLo[port] : -1);
    this.table.flushPort(port); // its VLANs may have changed
  }

  /** The learned entries (control plane: QUERY VSWITCH DETAILS, fdb-query), ages at `now`. */
  fdb(now: number): FdbEntry[] {
    const out: FdbEntry[] = [];
    this.table.forEach((mac, port, used, vid) => out.push({ mac, vid, port, ageMs: Math.max(0, now - used) }));
    return out;
  }

  /** Attached ports (control-plane use). */
  portList(): readonly number[] {
    return this.ports;
  }

  input(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, now: number): void {
    if (this.attached[port] !== 1 || !ethHeaderFits(buf, eth, end)) {
      this.counters[this.dropBase + DropReason.Malformed]++;
      return;
    }
    const l2 = this.l2;
    let tci = 0;
    if (l2.vlanAware) {
      tci = l2.classify(port, buf, eth, end);
      if (tci < 0) {
        this.counters[this.dropBase - 1 - tci]++;
        return;
      }
      if (ethIsTagged(buf, eth)) {
        if (csumStartInTag(buf, hdr, eth)) {
          this.counters[this.dropBase + DropReason.Malformed]++;
          return;
        }
        const e = untagFrame(buf, hdr, eth);
        hdr += e - eth;
        eth = e;
      }
    }
    if (ethSrcIsBad(buf, eth)) {
      this.counters[this.dropBase + DropReason.BadSource]++;
      return;
    }
    const hi = ethSrcHi(buf, eth), lo = ethSrcLo(buf, eth);
    if (l2.protect[port] === 1 && l2.spoofed(port, hi, lo)) {
      this.counters[this.dropBase + DropReason.SpoofedMac]++;
      return;
    }
    const vid = tci & 0x0fff;
    const learned = this.table.learnHL(hi, lo, vid, port, now);
    if (learned === LEARN_PROTECTED) {
      this.counters[this.dropBase + DropReason.SpoofedMac]++;
      return;
    }
    if (learned === LEARN_EVICTED) this.counters[this.dropBase + DropReason.LearnTableFull]++;
    if (!ethDstIsGroup(buf, eth)) {
      const out = this.table.lookupHL(ethDstHi(buf, eth), ethDstLo(buf, eth), vid);
      if (out >= 0) {
        if (out === port) this.counters[this.dropBase + DropReason.Hairpin]++;
        else if (l2.isolation && l2.isolated(port, out)) this.counters[this.dropBase + DropReason.Isolated]++;
        else {
          this.egress.send(out, buf, hdr, eth, end, tci);
          if (l2.nPromisc !== 0) mirrorTo(this.egress, l2, port, out, vid, buf, hdr, eth, end, tci);
        }
        return;
      }
    }
    this.flood(port, vid, buf, hdr, eth, end, tci);
  }

  /** To every other port of VLAN vid that isolation lets the frame reach; the mirrors after. */
  private flood(port: number, vid: number, buf: Uint8Array, hdr: number, eth: number, end: number, tci: number): void {
    const l2 = this.l2;
    const isolating = l2.isolation && l2.kind[port] === 1;
    if (sendToMembers(this.egress, l2, this.ports, this.ports.length, port, vid, buf, hdr, eth, end, tci) === 0) {
      this.counters[this.dropBase + (isolating ? DropReason.Isolated : DropReason.Hairpin)]++;
      return;
    }
    // Without isolation the flood reached every member, mirrors included.
    if (isolating && l2.nPromisc !== 0) mirrorTo(this.egress, l2, port, -1, vid, buf, hdr, eth, end, tci);
  }

  tick(now: number): void {
    this.table.expire(now);
  }
}
