/**
 * Where the data plane runs and where the kernel runs the guests' receive work (issue 14,
 * VSWITCH_TAP_RPS=1; off by default). Main thread, control plane side: no per-frame code.
 *
 * When the switch writes a frame to a namespace guest's TAP, the kernel runs that guest's whole
 * receive stack (IP, UDP, the socket) inside the write, on the data-plane thread: about a third
 * of the worker's time with 64-byte frames (the bench's --profile, "receiver's stack"). With
 * this lever the worker is pinned to one CPU (the last online one: trafgen and most single
 * tasks start on the first) and every TAP the daemon makes gets Receive Packet Steering to the
 * other CPUs (/sys/class/net/DEV/queues/rx-0/rps_cpus): the kernel queues the written frame to
 * another CPU's backlog and that CPU runs the guest's stack, so the worker only forwards.
 *
 *  - `placement()`: null when the lever is off or there is one CPU; else the worker's CPU and
 *    the rps_cpus mask (hex, comma-grouped as the kernel writes it) of every other online CPU.
 *  - `setRps(netns, dev, mask)`: write the mask for a TAP's queue. A namespace's devices are in
 *    its own sysfs, so for a TAP in a namespace it runs `nsenter --net=NS unshare -m` with a
 *    private sysfs mount (nothing leaks into the daemon's mounts). Throws with the command's
 *    error when it cannot.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { netnsFile } from '../sys/netns.js';

export interface Placement {
  /** The CPU the data-plane worker pins itself to. */
  workerCpu: number;
  /** rps_cpus for the TAPs: every other online CPU. */
  rpsMask: string;
}

/** The online CPUs, from a list like "0-3,8" (/sys/devices/system/cpu/online). */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`bad CPU list ${JSON.stringify(list)}`);
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

/** A CPU set as the kernel writes cpumask files: hex, in 32-bit groups separated by commas. */
export function cpuMask(cpus: number[]): string {
  let m = 0n;
  for (const c of cpus) m |= 1n << BigInt(c);
  let hex = m.toString(16);
  const groups: string[] = [];
  while (hex.length > 8) { groups.unshift(hex.slice(-8)); hex = hex.slice(0, -8); }
  groups.unshift(hex);
  return groups.join(',');
}

/** The placement for a machine with these online CPUs when the lever is on (null: one CPU). */
export function placementFor(online: number[]): Placement | null {
  if (online.length < 2) return null;
  const workerCpu = online[online.length - 1]!;
  return { workerCpu, rpsMask: cpuMask(online.filter((c) => c !== workerCpu)) };
}

let cached: Placement | null | undefined;

/** This daemon's placement (the file comment); read once. */
export function placement(): Placement | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.env.VSWITCH_TAP_RPS === '1') {
    try { cached = placementFor(parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'))); } catch { cached = null; }
  }
  return cached;
}

/** Receive Packet Steering for TAP `dev` in `netns` (null: the daemon's own namespace). */
export function setRps(netns: string | null, dev: string, mask: string): void {
  if (!/^[0-9a-f,]+$/.test(mask) || !/^[A-Za-z0-9_.:@+-]{1,15}$/.test(dev)) throw new Error(`bad RPS request ${dev} ${mask}`);
  if (netns === null) {
    writeFileSync(`/sys/class/net/${dev}/queues/rx-0/rps_cpus`, mask);
    return;
  }
  execFileSync('nsenter', [`--net=${netnsFile(netns)}`, 'unshare', '-m', 'sh', '-c',
    'mount -t sysfs sysfs /sys && printf %s "$2" > "/sys/class/net/$1/queues/rx-0/rps_cpus"', 'sh', dev, mask],
  { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}
