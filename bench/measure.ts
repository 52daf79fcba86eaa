/**
 * The three measurements every path gets, on the same harness: TCP throughput (iperf3, client
 * in the source namespace, figure = bits received by the server), 64-byte UDP frame rate
 * (trafgen in the source namespace; figure = growth of the receiver interface's rx_packets
 * counter per second while trafgen runs) and ICMP round-trip latency (ping; p50 and p99 of
 * the individual replies). Each function is one repetition; the caller takes medians.
 * An endpoint's address says its family: with IPv6 addresses (a path's IPv6 row) iperf3 and
 * ping run with -6 and the 64-byte frame is IPv6 UDP (14 + 40 + 8 + 2 bytes, trafgen's checksum).
 * Everything runs inside namespaces the benchmark made.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sh, sleep, percentile, type Scope, type Proc } from './lib.js';
import { parseIpv6 } from '../src/wire/ipv6.js';

/** One end of a measured path: an interface with an IPv4 or IPv6 address inside a namespace. */
export interface Endpoint { ns: string; dev: string; ip: string }

/** True for an IPv6 address (the family the measurers use). */
export function isIpv6(ip: string): boolean {
  return ip.includes(':');
}

/** ping's and iperf3's family option for an address. */
function familyArgs(ip: string): string[] {
  return isIpv6(ip) ? ['-6'] : [];
}

export interface Topology { src: Endpoint; dst: Endpoint }

export interface Durations {
  tcpSeconds: number;
  framesSeconds: number;
  pings: number;
  /** trafgen worker processes (its --cpus). */
  txCpus: number;
}

/** rx packets of an interface as its namespace sees them. */
export async function rxPackets(e: Endpoint): Promise<number> {
  const j = JSON.parse(await sh('ip', ['-n', e.ns, '-s', '-j', 'link', 'show', 'dev', e.dev])) as any[];
  return Number(j[0].stats64.rx.packets);
}

/** True once `count` pings from src to dst are answered (one try). */
export async function pingOnce(src: Endpoint, dstIp: string, count = 1): Promise<boolean> {
  return (await run('ip', ['netns', 'exec', src.ns, 'ping', ...familyArgs(dstIp), '-c', String(count), '-i', '0.2', '-W', '1', '-q', dstIp], { timeoutMs: 10_000 })).code === 0;
}

/** Start an iperf3 server in the destination namespace (killed with the scope). */
export async function startIperfServer(scope: Scope, dst: Endpoint): Promise<Proc> {
  const p = scope.spawn(dst.ns, 'iperf3', ['-s', '-B', dst.ip]);
  for (let i = 0; i < 50; i++) {
    const r = await run('ip', ['netns', 'exec', dst.ns, 'ss', '-Hltn', 'sport = :5201']);
    if (r.code === 0 && r.stdout.includes('5201')) return p;
    if (!p.running) break;
    await sleep(100);
  }
  throw new Error(`iperf3 server did not start: ${p.stderr.trim()}`);
}

/** One TCP run: Gbit/s received by the server. */
export async function tcpOnce(t: Topology, seconds: number): Promise<number> {
  const args = ['netns', 'exec', t.src.ns, 'iperf3', ...familyArgs(t.dst.ip), '-c', t.dst.ip, '-t', String(seconds), '-J'];
  if (seconds >= 3) args.push('-O', '1');
  const r = await run('ip', args, { timeoutMs: (seconds + 30) * 1000 });
  let j: any;
  try { j = JSON.parse(r.stdout); } catch { throw new Error(`iperf3 gave no JSON (exit ${r.code}): ${r.stderr.trim()}`); }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const bps = Number(j.end?.sum_received?.bits_per_second);
  if (!Number.isFinite(bps)) throw new Error('iperf3: no sum_received in its report');
  return bps / 1e9;
}

/** A MAC as trafgen bytes ("0x02, 0x00, ..."). */
export function macBytes(mac: string): string {
  return mac.split(':').map((b) => `0x${b}`).join(', ');
}
function ipBytes(ip: string): string {
  return ip.split('.').join(', ');
}

/** The trafgen body of one 64-byte UDP frame after the MACs, for the addresses' family. */
function udpFrame(srcIp: string, dstIp: string): string {
  if (!isIpv6(srcIp)) return udpFrame4(srcIp, ipBytes(dstIp));
  return udpFrame6(srcIp, dstIp);
}

/**
 * The IPv4 body of udpFrame with the destination address given as trafgen's four byte
 * expressions (e.g. "10, 200, 1, dinc(0, 255)": trafgen then recomputes the checksum per frame).
 */
export function udpFrame4(srcIp: string, dstBytes: string): string {
  return `  c16(0x0800),
  0x45, 0x00, c16(50), c16(0), c16(0x4000), 64, 17, csumip(14, 33),
  ${ipBytes(srcIp)},
  ${dstBytes},
  c16(40000), c16(9), c16(30), c16(0),
  fill(0x00, 22)`;
}

function udpFrame6(srcIp: string, dstIp: string): string {
  const bytes = (ip: string): string => {
    const a = parseIpv6(ip);
    if (a === null) throw new Error(`not an IPv6 address: ${ip}`);
    return [...a].join(', ');
  };
  // IPv6 UDP needs its checksum: trafgen's csumudp6 (IPv6 header at 14, UDP at 54).
  return `  c16(0x86dd),
  0x60, 0x00, 0x00, 0x00, c16(10), 17, 64,
  ${bytes(srcIp)},
  ${bytes(dstIp)},
  c16(40000), c16(9), c16(10), csumudp6(14, 54),
  fill(0x00, 2)`;
}

/**
 * The Ethernet destination the source's own stack would use for dst (after a ping has
 * resolved it): the neighbour entry of the route's gateway, or of dst itself.
 */
export async function nextHopMac(src: Endpoint, dstIp: string): Promise<string> {
  const route = JSON.parse(await sh('ip', ['-n', src.ns, ...familyArgs(dstIp), '-j', 'route', 'get', dstIp])) as any[];
  const hop: string = route[0]?.gateway ?? dstIp;
  const neigh = JSON.parse(await sh('ip', ['-n', src.ns, ...familyArgs(dstIp), '-j', 'neigh', 'show', hop, 'dev', src.dev])) as any[];
  const mac = neigh[0]?.lladdr as string | undefined;
  if (!mac) throw new Error(`no neighbour entry for ${hop} on ${src.ns}/${src.dev}`);
  return mac;
}

export async function linkMac(e: Endpoint): Promise<string> {
  const j = JSON.parse(await sh('ip', ['-n', e.ns, '-j', 'link', 'show', 'dev', e.dev])) as any[];
  return j[0].address as string;
}

/**
 * Write a trafgen configuration for one 64-byte frame (14 Ethernet + 20 IPv4 + 8 UDP + 22
 * payload, or 14 + 40 IPv6 + 8 UDP + 2; the 4-byte FCS is not part of what trafgen writes)
 * from src to dst, UDP port 9.
 */
export async function writeTrafgenConfig(dir: string, t: Topology): Promise<string> {
  return writeTrafgenConfigTo(dir, t.src, [t.dst]);
}

/**
 * The same with one such frame per destination: trafgen sends them in turn, so the flows
 * spread evenly over `dsts`. Each destination is pinged first (its neighbour entry resolved).
 */
export async function writeTrafgenConfigTo(dir: string, src: Endpoint, dsts: Endpoint[]): Promise<string> {
  const srcMac = await linkMac(src);
  const frames: string[] = [];
  for (const dst of dsts) {
    await pingOnce(src, dst.ip, 2);
    const dstMac = await nextHopMac(src, dst.ip);
    frames.push(`/* 64-byte UDP frame ${src.ip} -> ${dst.ip} */
{
  ${macBytes(dstMac)},
  ${macBytes(srcMac)},
${udpFrame(src.ip, dst.ip)}
}
`);
  }
  const path = join(dir, `trafgen-${src.ns}-${dsts.length}.cfg`);
  writeFileSync(path, frames.join(''));
  return path;
}

/**
 * One frame-rate run: trafgen (`txCpus` workers, no system-wide socket-memory tuning) sends as fast
 * as it can; after a warm-up the receiver's rx_packets (or what `delivered` counts) are sampled over `seconds`.
 * Returns delivered frames per second.
 */
export async function framesOnce(scope: Scope, t: Topology, cfgPath: string, seconds: number, txCpus: number,
  delivered: () => Promise<number> = () => rxPackets(t.dst)): Promise<number> {
  const s = scope.child('trafgen');
  try {
    const p = s.spawn(t.src.ns, 'trafgen', ['--dev', t.src.dev, '--conf', cfgPath, '--cpus', String(txCpus),
      '--no-sock-mem', '--notouch-irq', '--no-cpu-stats']);
    await sleep(700);
    if (!p.running) throw new Error(`trafgen exited: ${p.stderr.trim() || p.stdout.trim()}`);
    const c0 = await delivered(); const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const c1 = await delivered(); const t1 = process.hrtime.bigint();
    if (!p.running) throw new Error(`trafgen exited early: ${p.stderr.trim()}`);
    await p.stop('SIGINT');
    return (c1 - c0) / (Number(t1 - t0) / 1e9);
  } finally {
    s.close();
  }
}

/** One latency run: `count` pings 10 ms apart; p50 and p99 of the replies in ms. */
export async function pingRun(t: Topology, count: number): Promise<{ p50: number; p99: number; lost: number }> {
  const r = await run('ip', ['netns', 'exec', t.src.ns, 'ping', ...familyArgs(t.dst.ip), '-c', String(count), '-i', '0.01', '-W', '1', '-n', t.dst.ip],
    { timeoutMs: (count * 0.01 + 20) * 1000 });
  const rtts: number[] = [];
  for (const m of r.stdout.matchAll(/time=([\d.]+) ms/g)) rtts.push(Number(m[1]));
  if (rtts.length === 0) throw new Error(`ping got no replies: ${(r.stderr || r.stdout).trim().slice(-300)}`);
  return { p50: percentile(rtts, 50), p99: percentile(rtts, 99), lost: count - rtts.length };
}
