/**
 * Running a piece of synchronous code with the calling thread inside a network namespace, named
 * (`ip netns` style: NAME is /var/run/netns/NAME) or given by path (an absolute path to a
 * namespace file, as container runtimes pass it: /proc/PID/ns/net, /run/netns/cni-...).
 *
 * setns(CLONE_NEWNET) changes the namespace of the calling OS thread only. Sockets, TAP files
 * and if_nametoindex lookups made meanwhile belong to the target namespace and keep it for life.
 * `withNetns` always switches back to the thread's original namespace (an fd of
 * /proc/thread-self/ns/net opened when this module loads, i.e. once per thread that imports it),
 * also when `fn` throws. If switching back fails the thread is in an unknown namespace and
 * nothing it does next can be trusted: that is fatal and the process aborts.
 * `name` null means "the thread's own namespace" and runs `fn` directly. `withNetnsFd` does the
 * same for a namespace given as an open fd (the data-plane worker asks a TAP fd for its own).
 * A namespace reference (`ref` below) is a name, or a path when it starts with '/'.
 */
import { existsSync } from 'node:fs';
import { CLONE_NEWNET, O_RDONLY, close, open, setns } from './libc.js';
import { NETNS_PATH_RE, isNetnsPath } from '../protocol/names.js';

export { isNetnsPath };

const NETNS_DIR = '/var/run/netns';

/** The thread's own namespace, kept open for the thread's life. */
const homeFd = open('/proc/thread-self/ns/net', O_RDONLY);

export function netnsPath(name: string): string {
  if (!/^[A-Za-z0-9_.@+-]{1,64}$/.test(name) || name === '.' || name === '..') {
    throw Object.assign(new Error(`bad network namespace name ${JSON.stringify(name)}`), { code: 'EINVAL' });
  }
  return `${NETNS_DIR}/${name}`;
}

export function netnsExists(ref: string): boolean {
  return existsSync(netnsFile(ref));
}

/** The file of a namespace reference: the path itself, or /var/run/netns/NAME (validated). */
export function netnsFile(ref: string): string {
  if (!isNetnsPath(ref)) return netnsPath(ref);
  if (!NETNS_PATH_RE.test(ref) || ref.split('/').includes('..')) {
    throw Object.assign(new Error(`bad network namespace path ${JSON.stringify(ref)}`), { code: 'EINVAL' });
  }
  return ref;
}

export function withNetns<T>(name: string | null, fn: () => T): T {
  if (name === null) return fn();
  const nsFd = open(netnsFile(name), O_RDONLY);
  try {
    return withNetnsFd(nsFd, fn);
  } finally {
    close(nsFd);
  }
}

/** withNetns for a namespace given as an open fd (e.g. from SIOCGSKNS); the fd stays the caller's. */
export function withNetnsFd<T>(nsFd: number, fn: () => T): T {
  setns(nsFd, CLONE_NEWNET);
  try {
    return fn();
  } finally {
    try {
      setns(homeFd, CLONE_NEWNET);
    } catch (e) {
      process.stderr.write(`vswitch: FATAL: cannot return to the original network namespace: ${String(e)}\n`);
      process.abort();
    }
  }
}
