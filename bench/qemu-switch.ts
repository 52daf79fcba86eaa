/**
 * The switch the QEMU benchmarks run on (bench/vm.ts, bench/sockets.ts): vswitchd in the
 * namespace `ns` (a namespace of the Scope's), IP mode, its SYSTEM CONFIG defining, granting
 * and coupling namespace guests (`DEFINE GUEST u NETNS ns`, NIC 0600 TYPE QDIO) and QEMU guests
 * (`DEFINE GUEST u QEMU STREAM | DGRAM | TAP`, NIC 0600), with --metrics on its loopback so the
 * data-plane worker can be probed (bench/cost.ts).
 *
 *  - `startQemuSwitch(o)` resolves once the command socket answers; throws with the daemon's
 *    last lines when it exits or does not answer. The handle runs CLI commands (`cli`), reads a
 *    NIC's `Q NIC 0600 DETAILS` JSON (`nic`), has the worker probe (null, and a line logged, when
 *    the worker thread is not found) and `alive()`, which throws once the daemon is gone.
 *  - `guestUp(ns, ip)` waits for enc600 in a namespace guest, gives it ip/24 and sets it up.
 * The daemon is killed with the Scope.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sh, waitFor, type RunResult, type Scope } from './lib.js';
import { probeDaemon, type Probe } from './cost.js';
import type { Endpoint } from './measure.js';

/** vswitchd's --metrics port, on the loopback of the daemon's namespace. */
const METRICS_PORT = 9464;

export interface QemuSwitch {
  readonly pid: number;
  cli(...words: string[]): Promise<RunResult>;
  /** `Q NIC 0600 DETAILS FOR user` as JSON (its nics[0]). */
  nic(user: string): Promise<any>;
  readonly probe: Probe | null;
  alive(): void;
}

export interface QemuSwitchOptions {
  scope: Scope;
  ns: string;
  repoRoot: string;
  log: (msg: string) => void;
  /** The switch's name and what wrote the config (its first comment line). */
  name: string;
  writer: string;
  netnsGuests: Array<readonly [string, string]>;
  qemuGuests: Array<readonly [string, 'STREAM' | 'DGRAM' | 'TAP']>;
}

export async function startQemuSwitch(o: QemuSwitchOptions): Promise<QemuSwitch> {
  const dir = o.scope.tempDir('qsw');
  const config = join(dir, 'system.config');
  const socket = join(dir, 'vswitchd.sock');
  const couple = (u: string) => [`MODIFY VSWITCH ${o.name} GRANT ${u}`, `COUPLE 0600 TO SYSTEM ${o.name} FOR ${u}`];
  writeFileSync(config, [
    `* vswitch benchmark: written by ${o.writer}, removed after the run`,
    `DEFINE VSWITCH ${o.name} IP`,
    ...o.netnsGuests.flatMap(([u, ns]) => [`DEFINE GUEST ${u} NETNS ${ns}`, `DEFINE NIC 0600 TYPE QDIO FOR ${u}`, ...couple(u)]),
    ...o.qemuGuests.flatMap(([u, t]) => [`DEFINE GUEST ${u} QEMU ${t}`, `DEFINE NIC 0600 FOR ${u}`, ...couple(u)]),
    '',
  ].join('\n'));
  const d = o.scope.spawn(o.ns, join(o.repoRoot, 'bin/vswitchd'), ['--config', config, '--socket', socket, '--state-dir', join(dir, 'state'),
    '--metrics', `127.0.0.1:${METRICS_PORT}`]);
  const tail = () => d.stderr.trim().split('\n').slice(-3).join(' | ');
  const cli = (...words: string[]) => run(join(o.repoRoot, 'bin/vswitch'), ['--socket', socket, ...words], { timeoutMs: 10_000 });
  try {
    await waitFor('vswitchd command socket', 20_000, async () => !d.running || (existsSync(socket) && (await cli('Q', 'VSWITCH', 'ALL')).code === 0));
  } catch { throw new Error(`vswitchd did not answer: ${tail()}`); }
  if (!d.running) throw new Error(`vswitchd exited: ${tail()}`);
  let probe: Probe | null = null;
  try { probe = probeDaemon(o.ns, d.pid, METRICS_PORT); } catch (e) { o.log(`${o.writer}: no worker cost: ${(e as Error).message}`); }
  return {
    pid: d.pid, cli, probe,
    nic: async (user) => JSON.parse((await cli('--json', 'Q', 'NIC', '0600', 'DETAILS', 'FOR', user)).stdout).nics[0],
    alive: () => { if (!d.running) throw new Error(`vswitchd exited during the run: ${tail()}`); },
  };
}

export async function guestUp(ns: string, ip: string): Promise<Endpoint> {
  await waitFor(`enc600 in ${ns}`, 10_000, async () => (await run('ip', ['-n', ns, 'link', 'show', 'dev', 'enc600'])).code === 0);
  await sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'enc600']);
  await sh('ip', ['-n', ns, 'link', 'set', 'enc600', 'up']);
  return { ns, dev: 'enc600', ip };
}
