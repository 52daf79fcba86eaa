/**
 * Test-only handle on a real vswitch-controller: bin/vswitch-controller started with
 * `nsenter --net` in the daemon's network namespace (it manages the same interfaces), on the
 * daemon's socket. `start()` waits until QUERY CONTROLLER lists it; `kill9()` kills it and
 * waits for the process to be gone; `stop()` ends it (SIGTERM, then SIGKILL).
 */
import { Program } from './process.js';
import { join } from 'node:path';
import { ROOT, type Daemon } from './daemon.js';
import { sleep } from './netlab.js';

export const VSWITCH_CONTROLLER = join(ROOT, 'bin/vswitch-controller');

export class Controller {
  private readonly program = new Program();

  constructor(readonly name: string, private readonly netns: string, private readonly daemon: Daemon) {}

  get pid(): number { return this.program.pid; }

  get stderr(): string { return this.program.stderr; }

  async start(timeoutMs = 10_000): Promise<void> {
    this.program.start(this.netns, VSWITCH_CONTROLLER, ['--name', this.name, '--socket', this.daemon.socket]);
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.program.exitCode !== null) throw new Error(`vswitch-controller exited ${this.program.exitCode}: ${this.stderr}`);
      const r = this.daemon.cli('QUERY', 'CONTROLLER', this.name);
      if (r.code === 0 && r.stdout.includes(`PID: ${this.program.pid}`)) return;
      await sleep(50);
    }
    throw new Error(`vswitch-controller ${this.name} did not register within ${timeoutMs} ms: ${this.stderr}`);
  }

  async kill9(): Promise<void> {
    await this.program.kill9();
  }

  async stop(): Promise<void> {
    await this.program.stop(3000);
  }
}
