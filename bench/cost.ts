/**
 * What a vswitch path costs (issue 14): the data-plane worker's CPU time and what it did, read
 * around each measurement, and what the benchmark ran on.
 *
 *  - `probeDaemon(ns, pid, port)` finds the daemon's worker thread by its name (WORKER_THREAD_NAME,
 *    set by the worker with PR_SET_NAME) and returns a `Probe`: a function reading the thread's
 *    CPU time (/proc/PID/task/TID/schedstat, nanoseconds of run time) and the daemon's
 *    /metrics (curl inside the daemon's namespace): frames the switch received (every NIC and
 *    the uplink), loop wake-ups, receive batches, empty polls, sleeps.
 *  - `probeProcess(pid, ends)` the same for a single-threaded peer switch (vde_switch): its
 *    CPU time, and the frames it received and sent as the guests' interfaces count them (what
 *    a guest sent the switch received); it has no loop counters, so those figures stay empty.
 *  - `costOf(a, b, wallNs)` turns two samples into the figures: worker CPU ns per forwarded
 *    frame, frames per batch and per wake-up, the worker's CPU share of the wall time.
 *  - `machine()` kernel, CPU model, cores, Node version, load average at the start: with other
 *    work on the machine absolute figures are noisy; compare rows of one run.
 * Read only: nothing here changes the daemon.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { run } from './lib.js';

/** The data-plane worker's name (src/dataplane/loop.ts WORKER_THREAD_NAME; kept in step by hand: the bench does not load the data plane). */
export const WORKER_THREAD = 'vswitch-dp';

export interface Sample {
  /** process.hrtime in ns when the sample was taken. */
  at: number;
  /** Worker thread CPU time, ns. */
  cpuNs: number;
  /** Frames the switch received from all its ports, and sent out of them. */
  frames: number;
  txFrames: number;
  wakeups: number;
  batches: number;
  emptyPolls: number;
  sleeps: number;
}

export interface Probe {
  (): Promise<Sample>;
  /** The daemon's pid and its worker thread's tid. */
  readonly pid: number;
  readonly tid: number;
}

/** What one measurement (a test or the idle interval) cost the worker. */
export interface Cost {
  wallMs: number;
  cpuMs: number;
  /** Worker CPU time / wall time. */
  cpuShare: number;
  frames: number;
  /** Worker CPU ns per frame the switch received (null with no frames). */
  nsPerFrame: number | null;
  framesPerBatch: number | null;
  framesPerWakeup: number | null;
  emptyPolls: number;
  sleeps: number;
}

/** The tid of the thread of `pid` named `name`, or null. */
export function threadByName(pid: number, name: string): number | null {
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try { if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === name) return Number(tid); } catch { /* gone */ }
    }
  } catch { /* process gone */ }
  return null;
}

/** Run time of one thread in ns (schedstat's first field), or NaN when it is gone. */
export function threadCpuNs(pid: number, tid: number): number {
  try { return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]); } catch { return NaN; }
}

/** Sum of the samples of `name` in Prometheus text (any labels). */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** A probe of the daemon `pid` (in namespace `ns`, /metrics on 127.0.0.1:`port` there). */
export function probeDaemon(ns: string, pid: number, port: number): Probe {
  const tid = threadByName(pid, WORKER_THREAD);
  if (tid === null) throw new Error(`no thread named ${WORKER_THREAD} in process ${pid}`);
  const probe = async (): Promise<Sample> => {
    const r = await run('ip', ['netns', 'exec', ns, 'curl', '-sf', '--max-time', '10', `http://127.0.0.1:${port}/metrics`], { timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`metrics of ${ns}: curl exit ${r.code} ${r.stderr.trim()}`);
    const t = r.stdout;
    const cpuNs = threadCpuNs(pid, tid);
    const at = Number(process.hrtime.bigint());
    return {
      at, cpuNs,
      frames: metricSum(t, 'vswitch_nic_receive_frames_total') + metricSum(t, 'vswitch_uplink_receive_frames_total'),
      txFrames: metricSum(t, 'vswitch_nic_transmit_frames_total') + metricSum(t, 'vswitch_uplink_transmit_frames_total'),
      wakeups: metricSum(t, 'vswitch_dataplane_wakeups_total'), batches: metricSum(t, 'vswitch_dataplane_loop_batches_total'),
      emptyPolls: metricSum(t, 'vswitch_dataplane_empty_polls_total'), sleeps: metricSum(t, 'vswitch_dataplane_sleeps_total'),
    };
  };
  return Object.assign(probe, { pid, tid });
}

/** Packet counters of a guest's interface, from its namespace: [tx, rx]. */
async function linkPackets(e: { ns: string; dev: string }): Promise<[number, number]> {
  const r = await run('ip', ['-n', e.ns, '-s', '-j', 'link', 'show', 'dev', e.dev], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`counters of ${e.dev} in ${e.ns}: ${r.stderr.trim()}`);
  const st = (JSON.parse(r.stdout) as Array<{ stats64: { tx: { packets: number }; rx: { packets: number } } }>)[0]!.stats64;
  return [st.tx.packets, st.rx.packets];
}

/** A probe of a single-threaded switch process `pid` whose guests are `ends` (the file comment). */
export function probeProcess(pid: number, ends: Array<{ ns: string; dev: string }>): Probe {
  const probe = async (): Promise<Sample> => {
    const counts = await Promise.all(ends.map(linkPackets));
    const cpuNs = threadCpuNs(pid, pid);
    const at = Number(process.hrtime.bigint());
    let frames = 0, txFrames = 0;
    for (const [tx, rx] of counts) { frames += tx; txFrames += rx; }
    return { at, cpuNs, frames, txFrames, wakeups: 0, batches: 0, emptyPolls: 0, sleeps: 0 };
  };
  return Object.assign(probe, { pid, tid: pid });
}

export function costOf(a: Sample, b: Sample): Cost {
  const frames = b.frames - a.frames;
  const cpu = b.cpuNs - a.cpuNs;
  const wall = b.at - a.at;
  const per = (x: number): number | null => (x > 0 ? frames / x : null);
  return {
    wallMs: wall / 1e6, cpuMs: cpu / 1e6, cpuShare: wall > 0 ? cpu / wall : 0, frames,
    nsPerFrame: frames > 0 ? cpu / frames : null,
    framesPerBatch: per(b.batches - a.batches), framesPerWakeup: per(b.wakeups - a.wakeups),
    emptyPolls: b.emptyPolls - a.emptyPolls, sleeps: b.sleeps - a.sleeps,
  };
}

export interface Machine {
  kernel: string;
  cpuModel: string;
  cores: number;
  node: string;
  loadavg: number[];
}

export function machine(): Machine {
  let cpuModel = 'unknown';
  try { cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel; } catch { /* keep */ }
  return { kernel: release(), cpuModel, cores: availableParallelism(), node: process.version, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) };
}

export function machineText(m: Machine): string {
  return `ran on: kernel ${m.kernel}, CPU ${m.cpuModel}, ${m.cores} cores, Node ${m.node}, load average ${m.loadavg.join(' ')} at the start`;
}
