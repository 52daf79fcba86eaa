/**
 * The data-plane worker thread's entry (worker_threads). Started by DataPlane (src/host/dataplane.ts) with
 * workerData { counters: SharedArrayBuffer, wakeFd: number, control: MessagePort,
 * forwarders?: string, busyPollUs: number, cpu?: number }. It builds the DataPlaneLoop, posts { ev: 'ready' }, and runs the loop
 * on this thread until a 'stop' message; then it posts { ev: 'stopped' } and ends.
 * `forwarders` is an optional module URL exporting `createForwarder: ForwarderFactory` (tests
 * use a hub); without it the production IpSwitch / EthernetSwitch are used.
 * The thread names itself WORKER_THREAD_NAME ('vswitch-dp').
 * Log lines go straight to fd 2 (the thread never returns to its event loop while running).
 * busyPollUs (microseconds, 0 = off) is the loop's busy-poll window (LoopOptions.busyPollUs):
 * lower latency for one CPU kept busy under traffic; vswitchd sets it from --busy-poll-us.
 * Adaptive polling (LoopOptions.adaptivePoll) is on unless the environment has
 * VSWITCH_ADAPTIVE_POLL=0 (the benchmark compares both: --compare VSWITCH_ADAPTIVE_POLL=0). Two
 * runs at load 0.5-1 (2026-12-01, issue 14's note), on vs off: ping p50 guest to guest 0.144 vs
 * 0.181 and 0.158 vs 0.171 ms, guest to LAN 0.189 vs 0.213 and 0.184 vs 0.224 ms; TCP equal or
 * better; p99 mixed (guest to LAN 10-50% worse); the worker's CPU during a 100/s ping 3-4% vs 1%;
 * idle CPU the same (1.5-2.1 ms in 10 s).
 * Sparse reads (LoopOptions.sparseReads, loop.ts) are on unless VSWITCH_SPARSE_READS=0; lone
 * frames are written at once (LoopOptions.loneDirect) with VSWITCH_LONE_DIRECT=1.
 * `cpu` >= 0 (VSWITCH_TAP_RPS=1, src/host/cpu-placement.ts): the thread pins itself to that CPU
 * (sched_setaffinity); the TAPs' receive work is steered to the others.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import { DataPlaneLoop, WORKER_THREAD_NAME, type ForwarderFactory } from './loop.js';
import { pinThread, setThreadName } from '../sys/libc.js';
import { createForwarder } from './forwarders.js';
import type { FromWorker } from '../protocol/dataplane.js';

interface WorkerInput {
  counters: SharedArrayBuffer;
  wakeFd: number;
  control: MessagePort;
  forwarders?: string;
  busyPollUs: number;
  /** The CPU to pin this thread to (VSWITCH_TAP_RPS: src/host/cpu-placement.ts); -1: none. */
  cpu?: number;
}

const input = workerData as WorkerInput;
const parent = parentPort!;
const post = (msg: FromWorker): void => parent.postMessage(msg);
const log = (msg: string): void => {
  try { writeSync(2, `vswitch data plane: ${msg}\n`); } catch { /* nowhere to report */ }
};

setThreadName(WORKER_THREAD_NAME);
if (input.cpu !== undefined && input.cpu >= 0 && !pinThread(input.cpu)) log(`could not pin the data-plane thread to CPU ${input.cpu}`);

let factory: ForwarderFactory = createForwarder;
if (input.forwarders !== undefined) {
  const mod = (await import(input.forwarders)) as { createForwarder?: ForwarderFactory };
  if (typeof mod.createForwarder !== 'function') throw new Error(`${input.forwarders} exports no createForwarder`);
  factory = mod.createForwarder;
}

const loop = new DataPlaneLoop({
  counters: new Float64Array(input.counters),
  wakeFd: input.wakeFd,
  control: input.control,
  post,
  makeForwarder: factory,
  log,
  busyPollUs: input.busyPollUs,
  adaptivePoll: process.env.VSWITCH_ADAPTIVE_POLL !== '0',
  sparseReads: process.env.VSWITCH_SPARSE_READS !== '0',
  loneDirect: process.env.VSWITCH_LONE_DIRECT === '1',
});
post({ ev: 'ready' });
loop.run();
post({ ev: 'stopped' });
input.control.close();
