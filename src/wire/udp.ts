/**
 * UDP header (RFC 768): src port [0], dst port [2], length [4], checksum [6]; 8 bytes.
 * Only the emitter lives here: nothing in vswitch reads UDP headers yet (the forwarders switch on
 * IP, segmentation is TCP only); tests and benchmarks build UDP frames with it.
 */

import { writeU16 } from './bytes.js';

export const UDP_HLEN = 8;

/** Write a UDP header (checksum 0) at `off` for `payloadLen` bytes of data; returns off + 8. */
export function emitUdp(b: Uint8Array, off: number, srcPort: number, dstPort: number, payloadLen: number): number {
  writeU16(b, off, srcPort);
  writeU16(b, off + 2, dstPort);
  writeU16(b, off + 4, UDP_HLEN + payloadLen);
  writeU16(b, off + 6, 0);
  return off + UDP_HLEN;
}
