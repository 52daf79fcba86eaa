/**
 * Test-only handle on a real vswitchd: started from bin/vswitchd inside a given network
 * namespace (its "host"), with its own socket and state directory, driven through bin/vswitch
 * exactly as a user would. `kill9()` simulates a crash; `restart()` starts it again on the
 * same state; `stop()` ends it (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, sleep, type RunResult } from './netlab.js';

/** The repository root (dist/test/helpers -> ../../..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const VSWITCHD = join(ROOT, 'bin/vswitchd');
export const VSWITCH = join(ROOT, 'bin/vswitch');

export interface DaemonOptions {
  /** Network namespace the daemon runs in (uplink interfaces live there). */
  netns: string;
  /** SYSTEM CONFIG text; written to a temp file. */
  config?: string;
  /** Reuse a state dir (restart); default a fresh temp dir. */
  stateDir?: string;
}

export class Daemon {
  readonly dir: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly configPath: string;
  private child: ChildProcess | null = null;
  stderr = '';

  constructor(private readonly opts: DaemonOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'vswtest-'));
    this.socket = join(this.dir, 'vswitchd.sock');
    this.stateDir = opts.stateDir ?? join(this.dir, 'state');
    this.configPath = join(this.dir, 'system.config');
    writeFileSync(this.configPath, opts.config ?? '* empty\n');
  }

  get pid(): number { return this.child?.pid ?? -1; }

  /** Start and wait until the command socket answers. */
  async start(timeoutMs = 15_000): Promise<void> {
    this.stderr = '';
    // nsenter --net, not `ip netns exec`: the latter also gives the daemon a private mount
    // namespace, so namespaces it creates (DEFINE GUEST ... NETNS) would be invisible outside.
    const child = spawn('nsenter', [`--net=/run/netns/${this.opts.netns}`, VSWITCHD,
      '--config', this.configPath, '--socket', this.socket, '--state-dir', this.stateDir],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => { this.stderr += d; });
    this.child = child;
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (child.exitCode !== null) throw new Error(`vswitchd exited ${child.exitCode}: ${this.stderr}`);
      if (existsSync(this.socket) && this.cli('QUERY', 'VSWITCH', 'ALL').code === 0) return;
      await sleep(100);
    }
    throw new Error(`vswitchd did not answer within ${timeoutMs} ms: ${this.stderr}`);
  }

  /** One CP command through bin/vswitch. */
  cli(...words: string[]): RunResult {
    return run(VSWITCH, ['--socket', this.socket, ...words]);
  }

  /** One QUERY through bin/vswitch --json, parsed. */
  json(...words: string[]): any {
    const r = run(VSWITCH, ['--socket', this.socket, '--json', ...words]);
    if (r.code !== 0) throw new Error(`vswitch ${words.join(' ')}: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** Crash it: SIGKILL, and wait for the process to be gone. */
  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    // nsenter execs the daemon, so the child pid is the daemon's.
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  }

  async restart(): Promise<void> {
    await this.kill9();
    await this.start();
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
    run('rm', ['-rf', this.dir]);
  }
}
