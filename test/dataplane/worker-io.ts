/**
 * The in-process data-plane thread (its tid) and its syscall counts, as the kernel keeps them
 * (/proc/self/task/TID/io: `syscr` read-type syscalls: read, readv, recvfrom on a file...;
 * `syscw` write-type: write, writev; sendmmsg and recvmmsg are not counted there). For tests
 * that check how many syscalls a lever saves; this process must run one data plane at a time.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { WORKER_THREAD_NAME } from '../../src/dataplane/loop.js';

/** The in-process data-plane thread's tid (asserts there is exactly one). */
export function workerTid(): string {
  const tids = readdirSync('/proc/self/task').filter((t) => {
    try { return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === WORKER_THREAD_NAME; } catch { return false; }
  });
  assert.equal(tids.length, 1, 'one data-plane thread');
  return tids[0]!;
}

export function workerSyscalls(): { reads: number; writes: number } {
  const io = readFileSync(`/proc/self/task/${workerTid()}/io`, 'utf8');
  const r = /^syscr: (\d+)$/m.exec(io), w = /^syscw: (\d+)$/m.exec(io);
  assert.ok(r && w, 'syscr and syscw in /proc/.../io');
  return { reads: Number(r[1]), writes: Number(w[1]) };
}
