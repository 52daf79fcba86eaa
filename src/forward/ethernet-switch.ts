/**
 * ETHERNET-mode forwarder: a learning bridge (after Click's EtherSwitch and Open vSwitch's
 * mac-learning), with no I/O and no clock.
 *
 * Rules, per received frame:
 * - Shorter than an Ethernet header (ethHeaderFits), or from a port not attached here: Malformed.
 * - Source MAC multicast/broadcast or all zero: dropped as BadSource (not learned).
 * - Otherwise the source is learned on the ingress port (MacTable; a full-table eviction is
 *   counted as LearnTableFull and the frame still goes on).
 * - Destination multicast/broadcast, or unknown unicast: flooded to every other port.
 *   Known unicast: sent to its port; if that is the ingress port: Hairpin.
 *   A flood with no other port to go to is a Hairpin drop too.
 * - The uplink is a port like any other; frames pass unchanged (no header rewriting).
 * tick(now) ages the table. Every frame is either sent at least once or counted as one drop.
 * MACs are read through src/wire as 24-bit halves (ethSrcHi/ethSrcLo, ...), the form the
 * MacTable's hot-path methods take, so no 48-bit double crosses a call.
 */

import { Egress, Forwarder, PortRole, DropReason } from './api.js';
import { dropSlot, MAX_PORTS } from './counters.js';
import { MacTable, LEARN_EVICTED } from './mac-table.js';
import * as ethernet from '../wire/ethernet.js';
import { sendToEach } from './send-each.js';

// The wire helpers called per frame, as module constants (why: see ip-switch.ts).
const { ethDstHi, ethDstIsGroup, ethDstLo, ethSrcHi, ethSrcIsBad, ethSrcLo, ethHeaderFits } = ethernet;

export interface EthernetSwitchOptions {
  /** Learning table size bound (default 8192). */
  maxEntries?: number;
  /** Idle time after which a learned MAC expires, ms (default 300000). */
  agingMs?: number;
}

export class EthernetSwitch implements Forwarder {
  readonly mode = 'ETHERNET' as const;
  readonly table: MacTable;
  private readonly ports: number[] = [];
  private readonly attached = new Uint8Array(MAX_PORTS);
  private readonly dropBase: number;

  constructor(readonly sw: number, private readonly counters: Float64Array, private readonly egress: Egress,
    opts?: EthernetSwitchOptions) {
    this.table = new MacTable(opts?.maxEntries ?? 8192, opts?.agingMs ?? 300000);
    this.dropBase = dropSlot(sw, 0);
  }

  addPort(port: number, _role: PortRole, _mac: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= MAX_PORTS) throw new RangeError(`port ${port} out of range`);
    if (this.attached[port] === 1) return;
    this.attached[port] = 1;
    this.ports.push(port);
  }

  removePort(port: number): void {
    if (this.attached[port] !== 1) return;
    this.attached[port] = 0;
    this.ports.splice(this.ports.indexOf(port), 1);
    this.table.flushPort(port);
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
    if (ethSrcIsBad(buf, eth)) {
      this.counters[this.dropBase + DropReason.BadSource]++;
      return;
    }
    if (this.table.learnHL(ethSrcHi(buf, eth), ethSrcLo(buf, eth), port, now) === LEARN_EVICTED) {
      this.counters[this.dropBase + DropReason.LearnTableFull]++;
    }
    if (!ethDstIsGroup(buf, eth)) {
      const out = this.table.lookupHL(ethDstHi(buf, eth), ethDstLo(buf, eth));
      if (out >= 0) {
        if (out === port) this.counters[this.dropBase + DropReason.Hairpin]++;
        else this.egress.send(out, buf, hdr, eth, end);
        return;
      }
    }
    if (sendToEach(this.egress, this.ports, this.ports.length, port, buf, hdr, eth, end) === 0) {
      this.counters[this.dropBase + DropReason.Hairpin]++;
    }
  }

  tick(now: number): void {
    this.table.expire(now);
  }
}
