/**
 * Test-only handle on a real vswitchd: started from bin/vswitchd inside a given network
 * namespace (its "host"), with its own socket and state directory, driven through bin/vswitch
 * exactly as a user would (or, for big set-ups, `batch()` over one socket connection).
 * `kill9()` simulates a crash; `restart()` starts it again on the same state; `stop()` ends it
 * (SIGTERM, then SIGKILL). `args` adds vswitchd options.
 */
import { Program } from './process.js';
import { createConnection } from 'node:net';
import { onJsonLines } from './json-lines.js';
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
  /** More vswitchd options (e.g. --metrics ADDR:PORT, --compact-after N). */
  args?: string[];
  /** Environment added to the test's own (e.g. NOTIFY_SOCKET). */
  env?: Record<string, string>;
}

export class Daemon {
  readonly dir: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly configPath: string;
  private readonly program = new Program();

  constructor(private readonly opts: DaemonOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'vswtest-'));
    this.socket = join(this.dir, 'vswitchd.sock');
    this.stateDir = opts.stateDir ?? join(this.dir, 'state');
    this.configPath = join(this.dir, 'system.config');
    writeFileSync(this.configPath, opts.config ?? '* empty\n');
  }

  get pid(): number { return this.program.pid; }

  /** What it wrote to stderr (its log) since the last start. */
  get stderr(): string { return this.program.stderr; }

  /** Start and wait until the command socket answers. */
  async start(timeoutMs = 15_000): Promise<void> {
    this.program.start(this.opts.netns, VSWITCHD,
      ['--config', this.configPath, '--socket', this.socket, '--state-dir', this.stateDir, ...(this.opts.args ?? [])], this.opts.env);
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.program.exitCode !== null) throw new Error(`vswitchd exited ${this.program.exitCode}: ${this.stderr}`);
      if (existsSync(this.socket) && this.cli('QUERY', 'VSWITCH', 'ALL').code === 0) {
        await new Promise((r) => setImmediate(r)); // the event loop reads what it logged meanwhile (the CLI call blocked it)
        return;
      }
      await sleep(100);
    }
    throw new Error(`vswitchd did not answer within ${timeoutMs} ms: ${this.stderr}`);
  }

  /** One CP command through bin/vswitch. */
  cli(...words: string[]): RunResult {
    return run(VSWITCH, ['--socket', this.socket, ...words]);
  }

  /** CP commands, one per string, each through bin/vswitch; throws on the first that fails. */
  commands(cmds: string[]): void {
    for (const cmd of cmds) {
      const r = this.cli(...cmd.split(' '));
      if (r.code !== 0) throw new Error(`${cmd}: ${r.stdout}${r.stderr}`);
    }
  }

  /**
   * Many CP commands over one connection to the socket (no CLI process each: for set-ups of
   * hundreds of definitions); resolves with the replies in order, rejects on the first refusal.
   */
  batch(cmds: string[]): Promise<Array<{ ok: boolean; lines: string[] }>> {
    return new Promise((resolve, reject) => {
      const c = createConnection(this.socket);
      const replies: Array<{ ok: boolean; lines: string[] }> = [];
      c.on('connect', () => c.end(cmds.map((command) => `${JSON.stringify({ command })}\n`).join('')));
      onJsonLines(c, (v) => {
        const r = v as { ok: boolean; lines: string[] };
        if (!r.ok) { c.destroy(); reject(new Error(`${cmds[replies.length]}: ${r.lines.join(' ')}`)); return; }
        replies.push(r);
      });
      c.on('error', reject);
      c.on('close', () => (replies.length === cmds.length ? resolve(replies) : reject(new Error(`connection closed after ${replies.length} of ${cmds.length} replies`))));
    });
  }

  /** One QUERY through bin/vswitch --json, parsed. */
  json(...words: string[]): any {
    const r = run(VSWITCH, ['--socket', this.socket, '--json', ...words]);
    if (r.code !== 0) throw new Error(`vswitch ${words.join(' ')}: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** Crash it: SIGKILL, and wait for the process to be gone. */
  async kill9(): Promise<void> {
    await this.program.kill9();
  }

  async restart(): Promise<void> {
    await this.kill9();
    await this.start();
  }

  async stop(): Promise<void> {
    if (this.program.pid < 0 || this.program.exitCode !== null) return;
    await this.program.stop(5000);
    run('rm', ['-rf', this.dir]);
  }
}
