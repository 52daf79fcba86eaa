/**
 * Test-only handle on one long-running program of ours (vswitchd, vswitch-controller) started
 * with `nsenter --net` in a test namespace: nsenter execs it, so the child's pid is the
 * program's. Not `ip netns exec`: that also gives the program a private mount namespace, so
 * namespaces it creates (DEFINE GUEST ... NETNS) would be invisible outside.
 * stderr is collected for failure messages; `kill9()` crashes it and waits until it is gone;
 * `stop()` asks it to end (SIGTERM) and kills it after `graceMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export class Program {
  private child: ChildProcess | null = null;
  stderr = '';

  get pid(): number { return this.child?.pid ?? -1; }

  /** Exit code once it has exited by itself, else null. */
  get exitCode(): number | null { return this.child?.exitCode ?? null; }

  /** Start it; `env` is added to the test's own environment. */
  start(netns: string, path: string, args: string[], env?: Record<string, string>): void {
    this.stderr = '';
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, path, ...args],
      { stdio: ['ignore', 'ignore', 'pipe'], env: env === undefined ? process.env : { ...process.env, ...env } });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => { this.stderr += d; });
    this.child = child;
  }

  private running(): ChildProcess | null {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? c : null;
  }

  async kill9(): Promise<void> {
    const c = this.running();
    if (!c) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  }

  async stop(graceMs: number): Promise<void> {
    const c = this.running();
    if (!c) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }
}
