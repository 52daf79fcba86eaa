/**
 * UDP header (RFC 768): src port [0], dst port [2], length [4], checksum [6]; 8 bytes.
 * The IP forwarder reads one field, the destination port (a guest's DHCP discover from 0.0.0.0
 * is let through to the LAN by it); tests and benchmarks build UDP frames with the emitter.
 */

import { readU16, writeU16 } from './bytes.js';

export const UDP_HLEN = 8;
/** The DHCP server's port (RFC 2131): where a client's discover from 0.0.0.0 goes. */
export const DHCP_SERVER_PORT = 67;

/** The destination port of the UDP header at `off` (the caller checked that 8 bytes are there). */
export function udpDstPort(b: Uint8Array, off: number): number {
  return readU16(b, off + 2);
}

/** Write a UDP header (checksum 0) at `off` for `payloadLen` bytes of data; returns off + 8. */
export function emitUdp(b: Uint8Array, off: number, srcPort: number, dstPort: number, payloadLen: number): number {
  writeU16(b, off, srcPort);
  writeU16(b, off + 2, dstPort);
  writeU16(b, off + 4, UDP_HLEN + payloadLen);
  writeU16(b, off + 6, 0);
  return off + UDP_HLEN;
}
