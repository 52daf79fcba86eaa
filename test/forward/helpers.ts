/**
 * Test doubles and frame builders for the forwarding-core tests: a recording Egress (the I/O
 * side replaced by a list), a counter array, and builders that lay frames out as the data plane
 * does (10-byte virtio-net header, then the Ethernet frame).
 */
import type { Egress } from '../../src/forward/api.js';
import { newCounterBuffer, dropSlot } from '../../src/forward/counters.js';
import { DROP_REASON_NAMES } from '../../src/forward/api.js';
import { emitEthernet, emitEthernetVlan, EtherType } from '../../src/wire/ethernet.js';
import { emitArp } from '../../src/wire/arp.js';
import { emitIpv4, IpProto } from '../../src/wire/ipv4.js';
import { emitUdp } from '../../src/wire/udp.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { tagFrame } from '../../src/wire/vlan.js';

export interface Sent {
  port: number;
  /** Copy of buf[eth..end) at send time. */
  frame: Uint8Array;
  /** Copy of buf[hdr..eth). */
  vnet: Uint8Array;
  /** The TCI the forwarder passed (0: none). */
  tci: number;
}

export class RecordingEgress implements Egress {
  sent: Sent[] = [];
  send(port: number, buf: Uint8Array, hdr: number, eth: number, end: number, tci = 0): void {
    this.sent.push({ port, frame: buf.slice(eth, end), vnet: buf.slice(hdr, eth), tci });
  }
  clear(): void {
    this.sent = [];
  }
}

/**
 * The forwarders' rule for one input frame, as the property tests check it: it was sent (at
 * least once) and nothing was dropped, or it was counted as exactly one drop and nothing was
 * sent; except that a frame dropped for no neighbour may leave behind the switch's own Neighbor
 * Solicitation for its destination, out the uplink `uplink` (ip6-switch.ts solicit). Drop reasons
 * in `ignore` are not counted (a join the group table had no room for is counted and still sent).
 */
export function sentOrOneDrop(eg: RecordingEgress, c: Float64Array, sw: number, dropsBefore: Record<string, number>, uplink: number,
  ignore: readonly string[] = []): boolean {
  const now = drops(c, sw);
  const rose = (k: string): number => (now[k] ?? 0) - (dropsBefore[k] ?? 0);
  const dropped = Object.keys({ ...now, ...dropsBefore }).filter((k) => !ignore.includes(k)).reduce((n, k) => n + rose(k), 0);
  if (eg.sent.length > 0 && dropped === 0) return true;
  if (eg.sent.length === 0 && dropped === 1) return true;
  const f = eg.sent[0]?.frame;
  return dropped === 1 && rose('no-neighbour') === 1 && eg.sent.length === 1 && eg.sent[0].port === uplink
    && f !== undefined && f[12] === 0x86 && f[13] === 0xdd && f[54] === 135;
}

export function counters(): Float64Array {
  return new Float64Array(newCounterBuffer());
}

/** Drop counts of switch `sw` by reason name, only the non-zero ones. */
export function drops(c: Float64Array, sw: number): Record<string, number> {
  const r: Record<string, number> = {};
  for (let i = 0; i < DROP_REASON_NAMES.length; i++) {
    const v = c[dropSlot(sw, i)];
    if (v !== 0) r[DROP_REASON_NAMES[i]] = v;
  }
  return r;
}

export function totalDrops(c: Float64Array, sw: number, exclude: number[] = []): number {
  let n = 0;
  for (let i = 0; i < 32; i++) if (!exclude.includes(i)) n += c[dropSlot(sw, i)];
  return n;
}

export const ip = parseIpv4;

export interface Frame {
  buf: Uint8Array;
  hdr: number;
  eth: number;
  end: number;
}

const VNET = 10;

/** A 64-byte-class IPv4 UDP frame with a zero virtio-net header. */
export function udpFrame(dst: number, src: number, srcIp: number, dstIp: number, payload = 18): Frame {
  const buf = new Uint8Array(VNET + 14 + 20 + 8 + payload);
  const eth = VNET;
  const l3 = emitEthernet(buf, eth, dst, src, EtherType.Ipv4);
  const l4 = emitIpv4(buf, l3, srcIp, dstIp, IpProto.Udp, 8 + payload);
  emitUdp(buf, l4, 1000, 2000, payload);
  return { buf, hdr: 0, eth, end: buf.length };
}

export function arpFrame(dst: number, src: number, op: number, sha: number, spa: number, tha: number, tpa: number): Frame {
  const buf = new Uint8Array(VNET + 60);
  const eth = VNET;
  const a = emitEthernet(buf, eth, dst, src, EtherType.Arp);
  emitArp(buf, a, op, sha, spa, tha, tpa);
  return { buf, hdr: 0, eth, end: buf.length };
}

export function vlanFrame(dst: number, src: number): Frame {
  const buf = new Uint8Array(VNET + 64);
  const l3 = emitEthernetVlan(buf, VNET, dst, src, 10, 0, EtherType.Ipv4);
  emitIpv4(buf, l3, ip('10.0.0.1'), ip('10.0.0.2'), IpProto.Udp, 8);
  return { buf, hdr: 0, eth: VNET, end: buf.length };
}

export function ipv6Frame(dst: number, src: number): Frame {
  const buf = new Uint8Array(VNET + 14 + 40 + 8);
  const l3 = emitEthernet(buf, VNET, dst, src, EtherType.Ipv6);
  const a = new Uint8Array(16); a[0] = 0xfd; a[15] = 1;
  const b = new Uint8Array(16); b[0] = 0xfd; b[15] = 2;
  emitUdp(buf, emitIpv6(buf, l3, a, b, IpProto.Udp, 8), 1, 2, 0);
  return { buf, hdr: 0, eth: VNET, end: buf.length };
}

export function hexOf(b: Uint8Array, start = 0, end = b.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += b[i].toString(16).padStart(2, '0');
  return s;
}

/** The frame with an 802.1Q tag (tpid 0x8100 unless given) in front of its payload, 4 bytes of room kept before. */
export function tag(fr: Frame, tci: number, tpid = 0x8100): Frame {
  const buf = new Uint8Array(fr.end + 4);
  buf.set(fr.buf.subarray(0, fr.end), 4);
  const eth = tagFrame(buf, 4, fr.eth + 4, tci);
  buf[eth + 12] = tpid >> 8; buf[eth + 13] = tpid & 0xff;
  return { buf, hdr: eth - (fr.eth - fr.hdr), eth, end: buf.length };
}
