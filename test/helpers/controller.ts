/**
 * Test-only handle on a real vswitch-controller: bin/vswitch-controller started with
 * `nsenter --net` in the daemon's network namespace (it manages the same interfaces), on the
 * daemon's socket. `start()` waits until QUERY CONTROLLER lists it; `kill9()` kills it and
 * waits for the process to be gone; `stop()` ends it (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, type Daemon } from './daemon.js';
import { sleep } from './netlab.js';

export const VSWITCH_CONTROLLER = join(ROOT, 'bin/vswitch-controller');

export class Controller {
  private child: ChildProcess | null = null;
  stderr = '';

  constructor(readonly name: string, private readonly netns: string, private readonly daemon: Daemon) {}

  get pid(): number { return this.child?.pid ?? -1; }

  async start(timeoutMs = 10_000): Promise<void> {
    this.stderr = '';
    const child = spawn('nsenter', [`--net=/run/netns/${this.netns}`, VSWITCH_CONTROLLER, '--name', this.name, '--socket', this.daemon.socket],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => { this.stderr += d; });
    this.child = child;
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (child.exitCode !== null) throw new Error(`vswitch-controller exited ${child.exitCode}: ${this.stderr}`);
      const r = this.daemon.cli('QUERY', 'CONTROLLER', this.name);
      if (r.code === 0 && r.stdout.includes(`PID: ${child.pid}`)) return;
      await sleep(50);
    }
    throw new Error(`vswitch-controller ${this.name} did not register within ${timeoutMs} ms: ${this.stderr}`);
  }

  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}
