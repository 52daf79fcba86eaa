/**
 * Test helpers for the real-kernel data-plane tests: unique namespace names, shell commands,
 * a namespace-scoped child process, and cleanup that never touches the host's interfaces
 * (everything the tests create lives in namespaces they made and delete).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

let counter = 0;
/** A unique short name: prefix + pid + counter (interface names must stay under 16 bytes). */
export function uniq(prefix: string): string {
  return `${prefix}${process.pid % 100000}${(counter++).toString(36)}`;
}

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function ip(...args: string[]): string {
  return sh('ip', args);
}

export function inNs(ns: string, cmd: string, ...args: string[]): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

export function addNs(name: string): void {
  ip('netns', 'add', name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
}

export function delNs(name: string): void {
  try { ip('netns', 'del', name); } catch { /* already gone */ }
}

export function spawnInNs(ns: string, cmd: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Wait for a child to exit; resolves with its stdout, rejects on non-zero exit or timeout. */
export function finished(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout?.on('data', (d) => { out += String(d); });
    child.stderr?.on('data', (d) => { err += String(d); });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timeout; stderr: ${err}`)); }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out); else reject(new Error(`exit ${code}; stderr: ${err}; stdout: ${out}`));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `fn` until it returns true or the time is up. */
export async function until(fn: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (fn()) return true;
    await sleep(stepMs);
  }
  return fn();
}

const SERVER = `
const net = require('net'), crypto = require('crypto');
const [host, port] = process.argv.slice(1);
const h = crypto.createHash('sha256'); let n = 0;
const s = net.createServer((c) => {
  c.on('data', (d) => { h.update(d); n += d.length; });
  c.on('end', () => { console.log(n + ' ' + h.digest('hex')); c.end(); s.close(); });
});
s.listen(Number(port), host, () => console.log('listening'));
`;
const CLIENT = `
const net = require('net'), crypto = require('crypto');
const [host, port, size] = process.argv.slice(1);
const b = crypto.randomBytes(Number(size));
const c = net.connect(Number(port), host, () => c.end(b));
c.on('data', () => {});
c.on('close', () => console.log(b.length + ' ' + crypto.createHash('sha256').update(b).digest('hex')));
`;

/** Send `size` random bytes over TCP from clientNs to serverNs:host; returns what both sides saw. */
export async function tcpTransfer(serverNs: string, clientNs: string, host: string, size: number): Promise<[string, string]> {
  const srv = spawnInNs(serverNs, process.execPath, ['-e', SERVER, host, '5201']);
  const srvDone = finished(srv, 30000);
  await new Promise<void>((resolve, reject) => {
    srv.stdout!.once('data', () => resolve());
    srv.once('exit', () => reject(new Error('server exited early')));
  });
  const cli = spawnInNs(clientNs, process.execPath, ['-e', CLIENT, host, '5201', String(size)]);
  const [got, sent] = await Promise.all([srvDone, finished(cli, 30000)]);
  return [got.replace('listening\n', '').trim(), sent.trim()];
}

/**
 * Turn transmit checksum offload (and with it TSO/GSO) off on an interface in a namespace, as
 * `ethtool -K IF tx off` does (ETHTOOL_STXCSUM through SIOCETHTOOL; no ethtool binary needed).
 */
export async function txOffloadOff(ns: string, ifname: string): Promise<void> {
  const koffi = (await import('koffi')).default;
  const { withNetns } = await import('../../src/sys/netns.js');
  const libc = await import('../../src/sys/libc.js');
  const val = koffi.alloc('uint8_t', 8) as bigint;
  try {
    const v = new DataView(koffi.view(val, 8));
    withNetns(ns, () => {
      const s = libc.socket(libc.AF_INET, libc.SOCK_DGRAM, 0);
      try {
        for (const cmd of [0x17 /* ETHTOOL_STXCSUM */, 0x1f /* ETHTOOL_STSO */, 0x24 /* ETHTOOL_SGSO */]) {
          v.setUint32(0, cmd, true);
          v.setUint32(4, 0, true);
          const ifr = libc.ifreq(ifname);
          ifr.writeBigUInt64LE(val, 16);
          libc.ioctlPtr(s, 0x8946 /* SIOCETHTOOL */, ifr);
        }
      } finally {
        libc.close(s);
      }
    });
  } finally {
    koffi.free(val);
  }
}
