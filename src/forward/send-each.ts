/**
 * Flooding, shared by the forwarders: send one frame, unchanged, to each of a set of ports but
 * one (the ingress). Synchronous like Egress.send; allocates nothing.
 */
import type { Egress } from './api.js';

/** To each of ports[0 .. count) but `except`, unchanged; returns how many were sent. */
export function sendToEach(egress: Egress, ports: ArrayLike<number>, count: number, except: number,
  buf: Uint8Array, hdr: number, eth: number, end: number): number {
  let sent = 0;
  for (let i = 0; i < count; i++) {
    const q = ports[i];
    if (q !== except) {
      egress.send(q, buf, hdr, eth, end);
      sent++;
    }
  }
  return sent;
}
