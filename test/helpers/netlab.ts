/**
 * Test-only network lab: uniquely named network namespaces and veth links on the real kernel,
 * all removed by `cleanup()` (call it from `after`, it never throws). Traffic made through a
 * NetLab stays inside its namespaces. Nothing here touches the host's own interfaces or routes.
 *
 * A test process killed before its `after` ran (SIGKILL, a CI timeout) cannot clean up, so every
 * namespace a lab creates or adopts is written to a ledger (/run/vswitch-tests/netns/<name>,
 * holding the owner's pid and start time); the first lab of each process deletes the namespaces
 * whose owner is no longer running, and only those (a live owner's, even another checkout's,
 * are left alone; namespaces not in the ledger are never touched).
 */
import { execFileSync, spawnSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

let serial = 0;

export interface RunResult { code: number; stdout: string; stderr: string }

/** Run a command, capturing output; never throws. */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(cmd, args, { input: opts.input, encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** Run a command that must succeed; throws with its stderr otherwise. */
export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const LEDGER = '/run/vswitch-tests/netns';

/** "pid starttime" of a process (start time in clock ticks, /proc/PID/stat field 22), or undefined if it is gone. */
function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${pid} ${fields[19]}`;
  } catch {
    return undefined;
  }
}

const SELF = processIdentity(process.pid) ?? `${process.pid} ?`;
let swept = false;

/** Delete a namespace after killing what still runs in it; never throws. */
function removeNamespace(ns: string): void {
  run('ip', ['netns', 'pids', ns]).stdout.split('\n').filter(Boolean).forEach((pid) => {
    try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
  });
  run('ip', ['netns', 'del', ns]);
  rmSync(join(LEDGER, ns), { force: true });
}

/** Remove the ledger's namespaces whose owning process has exited (once per process). */
function sweepOrphans(): void {
  if (swept) return;
  swept = true;
  let names: string[];
  try { names = readdirSync(LEDGER); } catch { return; }
  for (const ns of names) {
    let owner: string;
    try { owner = readFileSync(join(LEDGER, ns), 'utf8').trim(); } catch { continue; }
    const pid = Number(owner.split(' ')[0]);
    if (Number.isInteger(pid) && pid > 0 && processIdentity(pid) === owner) continue;
    removeNamespace(ns);
  }
}

/** Note in the ledger that this process owns namespace ns. */
function recordOwnership(ns: string): void {
  try {
    mkdirSync(LEDGER, { recursive: true });
    writeFileSync(join(LEDGER, ns), `${SELF}\n`);
  } catch { /* no ledger: only the sweep is lost */ }
}

export class NetLab {
  /** Short unique tag: interface names must stay under 16 bytes. */
  readonly tag: string;
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  constructor(prefix: string) {
    sweepOrphans();
    this.tag = `${prefix}${(process.pid % 10000).toString(36)}${(serial++).toString(36)}`;
  }

  /** Name unique to this lab (for namespaces and interfaces; keep `part` short). */
  name(part: string): string {
    const n = `${this.tag}${part}`;
    if (n.length > 15) throw new Error(`name ${n} too long for an interface`);
    return n;
  }

  /** Create a namespace (loopback up) and remember it for cleanup. */
  netns(part: string): string {
    const ns = this.name(part);
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    recordOwnership(ns);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Remember a namespace something else created (e.g. the daemon's DEFINE GUEST ... NETNS). */
  adopt(ns: string): string {
    if (!this.namespaces.includes(ns)) {
      this.namespaces.push(ns);
      recordOwnership(ns);
    }
    return ns;
  }

  /** A veth pair with ends `a` in namespace nsA and `b` in nsB, both up. */
  veth(nsA: string, a: string, nsB: string, b: string): void {
    sh('ip', ['-n', nsA, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', nsB]);
    sh('ip', ['-n', nsA, 'link', 'set', a, 'up']);
    sh('ip', ['-n', nsB, 'link', 'set', b, 'up']);
  }

  /**
   * A LAN that several uplinks reach: a veth per uplink from namespace hostNs (ends named
   * `uplinks`) into lanNs (ends lan1, lan2, ...), the lanNs ends in one bridge br0 holding
   * the LAN host's address `cidr`. Taking a lanN end down takes that uplink's carrier.
   */
  bridgedLan(hostNs: string, uplinks: string[], lanNs: string, cidr: string): void {
    uplinks.forEach((u, i) => this.veth(hostNs, u, lanNs, `lan${i + 1}`));
    this.ip(lanNs, 'link', 'add', 'br0', 'type', 'bridge');
    uplinks.forEach((_, i) => this.ip(lanNs, 'link', 'set', `lan${i + 1}`, 'master', 'br0'));
    this.ip(lanNs, 'link', 'set', 'br0', 'up');
    this.ip(lanNs, 'addr', 'add', cidr, 'dev', 'br0');
  }

  /** `ip netns exec ns cmd args...`, captured. */
  exec(ns: string, cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /** `ip -n ns args...`, must succeed. */
  ip(ns: string, ...args: string[]): string {
    return sh('ip', ['-n', ns, ...args]);
  }

  /** A guest configures its NIC as on any LAN: the addresses (CIDR; extra `ip addr` words allowed), then link up. */
  configureNic(ns: string, dev: string, ...addrs: string[]): void {
    for (const a of addrs) this.ip(ns, 'addr', 'add', ...a.split(' '), 'dev', dev);
    this.ip(ns, 'link', 'set', dev, 'up');
  }

  /** A long-running process inside ns; killed at cleanup. */
  spawn(ns: string, cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  cleanup(): void {
    for (const c of this.children) {
      try { c.kill('SIGKILL'); } catch { /* already gone */ }
    }
    for (const ns of this.namespaces.reverse()) removeNamespace(ns);
    this.namespaces.length = 0;
  }
}

/** Resolve after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `check` until it returns a truthy value or `timeoutMs` passes; returns the last value. */
export async function waitFor<T>(check: () => T, timeoutMs = 5000, stepMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = check();
  while (!v && Date.now() < end) {
    await sleep(stepMs);
    v = check();
  }
  return v;
}
