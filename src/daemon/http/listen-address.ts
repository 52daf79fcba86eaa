/**
 * The `--metrics ADDR:PORT` and `--http ADDR:PORT` options of vswitchd: their parseArgs entries
 * and their parsing into listen addresses.
 *
 * Forms: `PORT` (loopback, 127.0.0.1), `IPv4:PORT`, `[IPv6]:PORT`. ADDR is an IP literal (no
 * host names: nothing is looked up); PORT 0 to 65535 (0: the kernel picks one, logged). Both
 * options absent: nothing listens. The same address for both: one listener serves both.
 */
import { isIP } from 'node:net';

export interface ListenAddress { host: string; port: number }

/** parseArgs option entries (node:util) for vswitchd's option table. */
export const OBSERVE_OPTIONS = {
  metrics: { type: 'string' },
  http: { type: 'string' },
  'http-open': { type: 'boolean' },
} as const;

/** What --metrics and --http asked for (null: absent). */
export interface ObserveOptions {
  metrics: ListenAddress | null;
  http: ListenAddress | null;
  /** --http-open: the live page for anyone who can connect (default: the system only, src/daemon/http/page-access.ts). */
  httpOpen: boolean;
}

/** The options' values (parseArgs) -> listen addresses; throws with a one-line reason. */
export function observeOptions(v: { metrics?: string; http?: string; 'http-open'?: boolean }): ObserveOptions {
  if (v['http-open'] === true && v.http === undefined) throw new Error('--http-open is about the live page: give --http ADDR:PORT too');
  return {
    httpOpen: v['http-open'] === true,
    metrics: v.metrics === undefined ? null : parseListenAddress('metrics', v.metrics),
    http: v.http === undefined ? null : parseListenAddress('http', v.http),
  };
}

/** `1.2.3.4:80`, `[::1]:80`, `9464` -> a listen address; throws with a one-line reason. */
export function parseListenAddress(option: string, text: string): ListenAddress {
  const m = /^(?:(?:\[([^\]]+)\]|([^:[\]]+)):)?(\d{1,5})$/.exec(text);
  const host = m === null ? '' : (m[1] ?? m[2] ?? '127.0.0.1');
  const port = m === null ? -1 : Number(m[3]);
  if (m === null || port > 65535) throw new Error(`--${option} takes ADDR:PORT, [IPv6]:PORT or PORT, not '${text}'`);
  const family = isIP(host);
  if (family === 0 || (family === 6) !== (m[1] !== undefined)) {
    throw new Error(`--${option}: '${host}' is not an IPv4 address or a bracketed IPv6 address`);
  }
  return { host, port };
}

/** `http://127.0.0.1:9464` or `http://[::1]:9464`. */
export function urlOf(a: ListenAddress): string {
  return `http://${isIP(a.host) === 6 ? `[${a.host}]` : a.host}:${a.port}`;
}
