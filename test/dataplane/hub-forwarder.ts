/**
 * A test forwarder: a hub. Every frame goes to every other port of its switch, unchanged;
 * layer-2 policies are accepted and ignored.
 * Used by the data-plane tests so they exercise the loop, ports and egress without depending on
 * the real forwarders. Exports `createForwarder` (the ForwarderFactory shape the worker loads).
 */
import type { Egress, Forwarder, ForwarderEvents, PortRole } from '../../src/forward/api.js';
import type { PortPolicy, SwitchPolicy } from '../../src/protocol/dataplane.js';

export class Hub implements Forwarder {
  readonly mode = 'ETHERNET' as const;
  private readonly ports: number[] = [];
  ticks = 0;
  constructor(private readonly egress: Egress) {}
  addPort(port: number, _role: PortRole, _mac: number): void {
    if (!this.ports.includes(port)) this.ports.push(port);
  }
  setSwitchPolicy(_p: SwitchPolicy): void { /* a hub has no policy */ }
  setPortPolicy(_port: number, _p: PortPolicy): void { /* a hub has no policy */ }
  removePort(port: number): void {
    const i = this.ports.indexOf(port);
    if (i >= 0) this.ports.splice(i, 1);
  }
  input(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, _now: number): void {
    const ps = this.ports;
    for (let i = 0; i < ps.length; i++) if (ps[i] !== port) this.egress.send(ps[i], buf, hdr, eth, end);
  }
  tick(_now: number): void {
    this.ticks++;
  }
}

export function createForwarder(_sw: number, _mode: 'IP' | 'ETHERNET', _counters: Float64Array, egress: Egress,
  _events: ForwarderEvents): Forwarder {
  return new Hub(egress);
}
