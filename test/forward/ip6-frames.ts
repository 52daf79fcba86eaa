/**
 * IPv6 frame builders for the forwarding-core tests: NDP, MLD and UDP frames laid out as the
 * data plane hands them over (10-byte zero virtio-net header, then the Ethernet frame), with
 * correct ICMPv6 checksums, and readers of what the switch sent.
 */
import { emitEthernet, EtherType } from '../../src/wire/ethernet.js';
import { emitIpv6, parseIpv6, ip6Words, formatIpv6 } from '../../src/wire/ipv6.js';
import { fillIcmpv6Checksum, Icmp6 } from '../../src/wire/icmpv6.js';
import { writeMac, readMac } from '../../src/wire/addr.js';
import type { Frame } from './helpers.js';

const VNET = 10;

export function a6(s: string): Uint8Array {
  const a = parseIpv6(s);
  if (!a) throw new Error(`bad test address ${s}`);
  return a;
}

export function w6(s: string): [number, number, number, number] {
  return ip6Words(a6(s));
}

/** The solicited-node group of an address. */
export function solicited(s: string): string {
  const a = a6(s);
  const g = a6('ff02::1:ff00:0');
  g[13] = a[13]; g[14] = a[14]; g[15] = a[15];
  return formatIpv6(g);
}

export function groupMacOf(s: string): number {
  const a = a6(s);
  return 0x333300000000 + (a[12] * 0x1000000 + a[13] * 0x10000 + a[14] * 0x100 + a[15]);
}

/** An IPv6 frame with `payload` after the header (next header `nh`), hop limit `hop`. */
export function ip6Frame(dstMac: number, srcMac: number, src: string, dst: string, nh: number, payload: Uint8Array, hop = 64): Frame {
  const buf = new Uint8Array(VNET + 14 + 40 + payload.length);
  const l3 = emitEthernet(buf, VNET, dstMac, srcMac, EtherType.Ipv6);
  const l4 = emitIpv6(buf, l3, a6(src), a6(dst), nh, payload.length, hop);
  buf.set(payload, l4);
  if (nh === Icmp6.NextHeader) fillIcmpv6Checksum(buf, l3, l4, buf.length);
  return { buf, hdr: 0, eth: VNET, end: buf.length };
}

function lla(type: number, mac: number): number[] {
  const o = new Uint8Array(8);
  o[0] = type; o[1] = 1;
  writeMac(o, 2, mac);
  return [...o];
}

export function icmp(type: number, body: number[]): Uint8Array {
  return new Uint8Array([type, 0, 0, 0, ...body]);
}

/** A Neighbor Solicitation for `target` from `src` (:: for DAD: no SLLA), to its solicited-node group unless `dst`. */
export function ns(srcMac: number, src: string, target: string, opts: { dst?: string; dstMac?: number; sll?: boolean } = {}): Frame {
  const dst = opts.dst ?? solicited(target);
  const sll = opts.sll ?? src !== '::';
  return ip6Frame(opts.dstMac ?? groupMacOf(dst), srcMac, src, dst, Icmp6.NextHeader,
    icmp(Icmp6.NeighborSolicit, [0, 0, 0, 0, ...a6(target), ...(sll ? lla(1, srcMac) : [])]), 255);
}

/** A Neighbor Advertisement for `target` (flags byte) with TLLA `tll` (undefined: none). */
export function na(dstMac: number, srcMac: number, src: string, dst: string, target: string, flags: number, tll?: number): Frame {
  return ip6Frame(dstMac, srcMac, src, dst, Icmp6.NextHeader,
    icmp(Icmp6.NeighborAdvert, [flags, 0, 0, 0, ...a6(target), ...(tll === undefined ? [] : lla(2, tll))]), 255);
}

export function rs(srcMac: number, src: string): Frame {
  return ip6Frame(0x333300000002, srcMac, src, 'ff02::2', Icmp6.NextHeader, icmp(Icmp6.RouterSolicit, [0, 0, 0, 0, ...lla(1, srcMac)]), 255);
}

/** A Router Advertisement from `src` with lifetime `life` s, an SLLA and a /64 prefix option for `prefix`. */
export function ra(srcMac: number, src: string, life: number, prefix = '2001:db8:1::', dst = 'ff02::1'): Frame {
  const pio = [3, 4, 64, 0xc0, 0, 0, 0x0e, 0x10, 0, 0, 0x0e, 0x10, 0, 0, 0, 0, ...a6(prefix)];
  return ip6Frame(dst === 'ff02::1' ? 0x333300000001 : 0x020000000001, srcMac, src, dst, Icmp6.NextHeader,
    icmp(Icmp6.RouterAdvert, [64, 0, life >> 8, life & 0xff, 0, 0, 0, 0, 0, 0, 0, 0, ...lla(1, srcMac), ...pio]), 255);
}

/** A Redirect to `dst` (the guest) saying `destination` is reached through `target` at `tll`. */
export function redirect(dstMac: number, srcMac: number, src: string, dst: string, target: string, destination: string, tll: number): Frame {
  return ip6Frame(dstMac, srcMac, src, dst, Icmp6.NextHeader,
    icmp(Icmp6.Redirect, [0, 0, 0, 0, ...a6(target), ...a6(destination), ...lla(2, tll)]), 255);
}

/** An MLDv1 report (131) or done (132) for `group`. */
export function mld1(srcMac: number, src: string, type: number, group: string): Frame {
  const dst = type === Icmp6.MldDone ? 'ff02::2' : group;
  return ip6Frame(groupMacOf(dst), srcMac, src, dst, Icmp6.NextHeader, icmp(type, [0, 0, 0, 0, ...a6(group)]), 1);
}

/** An MLDv2 report with one record per [type, group] (no sources). */
export function mld2(srcMac: number, src: string, records: Array<[number, string]>): Frame {
  const body: number[] = [0, 0, 0, records.length];
  for (const [t, g] of records) body.push(t, 0, 0, 0, ...a6(g));
  return ip6Frame(0x333300000016, srcMac, src, 'ff02::16', Icmp6.NextHeader, icmp(Icmp6.Mld2Report, body), 1);
}

/** A UDP datagram (checksum left zero: the switch does not read it). */
export function udp6(dstMac: number, srcMac: number, src: string, dst: string, len = 8): Frame {
  const p = new Uint8Array(len);
  p[1] = 7; p[3] = 9; p[5] = len;
  return ip6Frame(dstMac, srcMac, src, dst, 17, p);
}

/** Readers of a sent frame (starting at its Ethernet header). */
export const dstMac = (f: Uint8Array): number => readMac(f, 0);
export const srcMac = (f: Uint8Array): number => readMac(f, 6);
export const srcIp = (f: Uint8Array): string => formatIpv6(f, 22);
export const dstIp = (f: Uint8Array): string => formatIpv6(f, 38);
export const icmpType = (f: Uint8Array): number => f[54];
/** The NDP target of a sent NS/NA. */
export const target = (f: Uint8Array): string => formatIpv6(f, 62);
/** The MAC of the first link-layer option of `type` in a sent NDP message at option offset `at` (from the ICMPv6 start). */
export function optMac(f: Uint8Array, at: number): number {
  return readMac(f, 54 + at + 2);
}
