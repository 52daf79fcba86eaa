/**
 * Test-only: a real etcd cluster (Debian's etcd-server 3.4, v3 API) whose members run inside
 * test network namespaces, each on its own address (client port 2379, peer port 2380) with its
 * own data directory under one temp directory. `EtcdCluster.start(members)` starts them all
 * with one fresh cluster token and waits until every member answers healthy; `kill(name)`
 * SIGKILLs one member (its data stays), `restart(name)` starts it again on its data and waits
 * until it is healthy, `stop()` ends them all and removes the data (call it from `after`; it
 * never throws). `ctl(...)` runs etcdctl (ETCDCTL_API=3) inside a member's namespace against
 * every endpoint. The namespaces belong to the caller (a NetLab removes them even on failure);
 * on amd64 etcd 3.4 needs no ETCD_UNSUPPORTED_ARCH.
 *
 * Timing: heartbeat 100 ms and election timeout 1000 ms (etcd's defaults): a leader lost to
 * kill() is replaced about a second later, even on a loaded 2-core machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Program } from './process.js';
import { run, sleep, type NetLab, type RunResult } from './netlab.js';

export interface EtcdMemberSpec {
  /** The member's etcd name (also its data directory's name). */
  name: string;
  /** The network namespace it runs in. */
  netns: string;
  /** Its address there (client and peer URLs are on it). */
  ip: string;
}

export class EtcdCluster {
  private readonly programs = new Map<string, Program>();
  private readonly down = new Set<string>();

  private constructor(readonly members: EtcdMemberSpec[], readonly dir: string, private readonly token: string) {}

  /** Client URLs of all members, in order: what `vswitchd --cluster` takes, comma-joined. */
  get endpoints(): string[] {
    return this.members.map((m) => clientUrl(m));
  }

  static async start(members: EtcdMemberSpec[], timeoutMs = 30_000): Promise<EtcdCluster> {
    const c = new EtcdCluster(members, mkdtempSync(join(tmpdir(), 'vswetcd-')), `vsw-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      for (const m of members) c.launch(m);
      await c.waitHealthy(members.map((m) => m.name), timeoutMs);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  private spec(name: string): EtcdMemberSpec {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no etcd member ${name}`);
    return m;
  }

  private launch(m: EtcdMemberSpec): void {
    const p = this.programs.get(m.name) ?? new Program();
    this.programs.set(m.name, p);
    const initial = this.members.map((x) => `${x.name}=http://${x.ip}:2380`).join(',');
    this.down.delete(m.name);
    p.start(m.netns, '/usr/bin/etcd', [
      '--name', m.name, '--data-dir', join(this.dir, m.name),
      '--listen-client-urls', clientUrl(m), '--advertise-client-urls', clientUrl(m),
      '--listen-peer-urls', `http://${m.ip}:2380`, '--initial-advertise-peer-urls', `http://${m.ip}:2380`,
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', this.token,
      '--log-level', 'warn', '--logger', 'zap',
    ]);
  }

  /** etcdctl (v3 API) in the first running member's namespace (or `via`'s), against every endpoint. */
  ctl(args: string[], via?: string): RunResult {
    const m = via !== undefined ? this.spec(via) : this.members.find((x) => this.running(x.name)) ?? this.members[0];
    return run('ip', ['netns', 'exec', m.netns, 'env', 'ETCDCTL_API=3', '/usr/bin/etcdctl', '--dial-timeout=2s', '--command-timeout=4s',
      `--endpoints=${this.endpoints.join(',')}`, ...args], { timeoutMs: 15_000 });
  }

  /** Is the member's process running? */
  running(name: string): boolean {
    const p = this.programs.get(name);
    return p !== undefined && p.pid > 0 && p.exitCode === null && !this.down.has(name);
  }

  /** Does this member answer healthy (it has a leader and serves a quorum read)? */
  healthy(name: string): boolean {
    const m = this.spec(name);
    const r = run('ip', ['netns', 'exec', m.netns, 'env', 'ETCDCTL_API=3', '/usr/bin/etcdctl', '--dial-timeout=1s', '--command-timeout=2s',
      `--endpoints=${clientUrl(m)}`, 'endpoint', 'health'], { timeoutMs: 10_000 });
    return r.code === 0 && (r.stdout + r.stderr).includes('is healthy');
  }

  private async waitHealthy(names: string[], timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const sick = names.filter((n) => !this.healthy(n));
      if (sick.length === 0) return;
      for (const n of sick) {
        const p = this.programs.get(n);
        if (p && p.exitCode !== null) throw new Error(`etcd member ${n} exited ${p.exitCode}: ${p.stderr.slice(-2000)}`);
      }
      if (Date.now() > end) throw new Error(`etcd members ${sick.join(', ')} not healthy within ${timeoutMs} ms: ${sick.map((n) => this.programs.get(n)?.stderr.slice(-1000)).join('\n')}`);
      await sleep(200);
    }
  }

  /** SIGKILL one member and wait until it is gone; its data directory stays. */
  async kill(name: string): Promise<void> {
    await this.programs.get(this.spec(name).name)?.kill9();
    this.down.add(name);
  }

  /** Start a killed member again on its data and wait until it is healthy (needs a quorum with it). */
  async restart(name: string, timeoutMs = 30_000): Promise<void> {
    await this.kill(name);
    this.launch(this.spec(name));
    await this.waitHealthy([name], timeoutMs);
  }

  /** End every member and remove the data directories. Never throws. */
  async stop(): Promise<void> {
    for (const p of this.programs.values()) {
      try { await p.kill9(); } catch { /* gone */ }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function clientUrl(m: EtcdMemberSpec): string {
  return `http://${m.ip}:2379`;
}

/** What `clusterNet` made: the hosts' namespaces (h1, h2, h3 ...), their management addresses, and the bridge namespace. */
export interface ClusterNet {
  /** The namespace of the switch between the hosts (bridge `mgmt`: the hosts' management network). */
  bridgeNs: string;
  hosts: EtcdMemberSpec[];
}

/**
 * `count` host namespaces on one management network: each host's `mgmt0` (address
 * `${net}.${i}/24`) is a veth into the bridge namespace's bridge `mgmt`. Names come from the
 * NetLab (unique, removed by its cleanup even when a test fails). The etcd member of host i
 * is named `e${i}`.
 */
export function clusterNet(lab: NetLab, net: string, count = 3): ClusterNet {
  const bridgeNs = lab.netns('br');
  lab.ip(bridgeNs, 'link', 'add', 'mgmt', 'type', 'bridge');
  lab.ip(bridgeNs, 'link', 'set', 'mgmt', 'up');
  const hosts: EtcdMemberSpec[] = [];
  for (let i = 1; i <= count; i++) {
    const ns = lab.netns(`h${i}`);
    lab.veth(ns, 'mgmt0', bridgeNs, `m${i}`);
    lab.ip(bridgeNs, 'link', 'set', `m${i}`, 'master', 'mgmt');
    lab.ip(ns, 'addr', 'add', `${net}.${i}/24`, 'dev', 'mgmt0');
    hosts.push({ name: `e${i}`, netns: ns, ip: `${net}.${i}` });
  }
  return { bridgeNs, hosts };
}
