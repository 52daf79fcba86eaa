/**
 * Test helpers for the io_uring lever (issue 14): what this process holds of io_uring, read from
 * /proc/self: its ring fds (anon_inode:[io_uring]) and its threads named iou-* (io-wq workers,
 * SQPOLL threads), which the data plane's rings must never start (their requests complete inline).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** How many io_uring fds this process has open. */
export function ioUringFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try { if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[io_uring]') n++; } catch { /* closed meanwhile */ }
  }
  return n;
}

/** The names of this process's iou-* threads. */
export function iouThreads(): string[] {
  const out: string[] = [];
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const comm = readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
      if (comm.startsWith('iou-')) out.push(comm);
    } catch { /* the thread ended */ }
  }
  return out;
}
