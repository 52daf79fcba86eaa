/**
 * TCP header view (RFC 9293) at the start of the TCP header.
 *
 * Layout at `off`: src port [0], dst port [2], seq [4], ack [8], data offset (high nibble) [12],
 * flags [13], window [14], checksum [16], urgent pointer [18], options [20..doff*4).
 * `checkTcp` validates untrusted input once and returns the header length; accessors are plain
 * reads after that.
 */

import { readU32, writeU16, writeU32 } from './bytes.js';
import { internetChecksum, pseudoSum4, pseudoSum6 } from './checksum.js';
import { IpProto } from './ipv4.js';

export const TCP_MIN_HLEN = 20;
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

/** Header length of the TCP segment at b[off..end) (data offset >= 5, fits); -1 if not. */
export function checkTcp(b: Uint8Array, off: number, end: number): number {
  if (off < 0 || end > b.length || end - off < TCP_MIN_HLEN) return -1;
  const hl = tcpHeaderLen(b, off);
  if (hl < TCP_MIN_HLEN || hl > end - off) return -1;
  return hl;
}

export function tcpSeq(b: Uint8Array, off: number): number { return readU32(b, off + 4); }
/** Header length in bytes (data offset * 4). */
export function tcpHeaderLen(b: Uint8Array, off: number): number { return (b[off + 12] >>> 4) << 2; }
export function tcpFlags(b: Uint8Array, off: number): number { return b[off + 13]; }

export function setTcpSeq(b: Uint8Array, off: number, v: number): void { writeU32(b, off + 4, v >>> 0); }
export function setTcpFlags(b: Uint8Array, off: number, v: number): void { b[off + 13] = v & 0xff; }

/** Write a 20-byte TCP header (no options, checksum 0); returns off + 20. */
export function emitTcp(b: Uint8Array, off: number, srcPort: number, dstPort: number, seq: number, ack: number,
  flags: number, window: number): number {
  writeU16(b, off, srcPort);
  writeU16(b, off + 2, dstPort);
  writeU32(b, off + 4, seq);
  writeU32(b, off + 8, ack);
  b[off + 12] = 5 << 4; b[off + 13] = flags & 0xff;
  writeU16(b, off + 14, window);
  writeU32(b, off + 16, 0);
  return off + TCP_MIN_HLEN;
}

/** Compute and write the TCP checksum over b[tcp..end) with the pseudo-header of the IP header at `ip`. */
export function fillTcpChecksum(b: Uint8Array, ip: number, tcp: number, end: number, ipv6: boolean): void {
  writeU16(b, tcp + 16, 0);
  const len = end - tcp;
  const ps = ipv6 ? pseudoSum6(b, ip, IpProto.Tcp, len) : pseudoSum4(b, ip, IpProto.Tcp, len);
  writeU16(b, tcp + 16, internetChecksum(b, tcp, end, ps));
}
