/**
 * Benchmark plumbing: running commands, uniquely named network namespaces and a cleanup
 * registry that undoes everything the benchmark made (processes, namespaces, stray
 * interfaces, temp dirs) in reverse order, synchronously, so it also works from a signal
 * handler or after an exception. Nothing here touches an interface or namespace it did not
 * create; names all start with the run's tag (prefix + pid).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult { code: number; stdout: string; stderr: string }

/**
 * Run a command to completion, capturing output; never throws. Asynchronous on purpose: a
 * signal that arrives while Node is inside spawnSync is lost (measured on Node 20), and the
 * benchmark must clean up on Ctrl-C at any moment.
 */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolveRun) => {
    let stdout = '', stderr = '';
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => { stdout += d; });
    child.stderr!.on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { stderr += `\n(timed out after ${opts.timeoutMs ?? 60_000} ms)`; child.kill('SIGKILL'); }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => { stderr += String(e); });
    child.on('close', (code) => { clearTimeout(timer); resolveRun({ code: code ?? -1, stdout, stderr }); });
  });
}

/** Run a command that must succeed; rejects with its output otherwise. */
export async function sh(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} -> exit ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** Synchronous run, for the cleanup path only (which must work from a signal handler). */
export function runSync(cmd: string, args: string[]): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Block the thread (for the synchronous cleanup path only). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** True while the process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch { return false; }
}

/**
 * SIGTERM to the process group led by `pid` (every child is spawned as a group leader, so
 * helpers it forked, such as trafgen's workers, go too), wait up to `graceMs` for the leader,
 * then SIGKILL to the group. Synchronous; never throws.
 */
export function killGroup(pid: number, graceMs = 3000): void {
  if (!(pid > 0)) return;
  try { process.kill(-pid, 'SIGTERM'); } catch { return; /* no such group: all gone */ }
  const end = Date.now() + graceMs;
  while (Date.now() < end && alive(pid)) sleepSync(20);
  try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
}

type Undo = { what: string; fn: () => void };

/**
 * A scope owns things to undo. `close()` runs the undo actions newest first, each in its own
 * try, and is idempotent. Child scopes close with their parent.
 */
export class Scope {
  private undo: Undo[] = [];
  private closed = false;
  readonly errors: string[] = [];

  /** The run's tag (the root scope's): every name the run makes starts with it. */
  readonly runTag: string;

  constructor(readonly tag: string, parent?: Scope) {
    this.runTag = parent?.runTag ?? tag;
    parent?.defer(`scope ${tag}`, () => this.close());
  }

  defer(what: string, fn: () => void): void {
    if (this.closed) { fn(); return; }
    this.undo.push({ what, fn });
  }

  child(tag: string): Scope { return new Scope(tag, this); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    while (this.undo.length > 0) {
      const u = this.undo.pop()!;
      try { u.fn(); } catch (e) { this.errors.push(`${u.what}: ${(e as Error).message}`); }
    }
  }

  /** A network namespace with loopback up; its processes killed and it deleted at close. */
  async netns(name: string): Promise<string> {
    if (name.length > 15) throw new Error(`name ${name} too long`);
    await sh('ip', ['netns', 'add', name]);
    this.defer(`netns ${name}`, () => deleteNetns(name));
    await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** A temp directory /tmp/vswbench-<run tag>-<kind>-XXXXXX, removed at close. */
  tempDir(kind: string): string {
    const d = mkdtempSync(join(tmpdir(), `vswbench-${this.runTag}-${kind}-`));
    this.defer(`dir ${d}`, () => rmSync(d, { recursive: true, force: true }));
    return d;
  }

  /**
   * A long-running process, optionally inside a namespace (`ip netns exec` execs the command,
   * so the child's pid is the command's). Killed at close. stderr is kept (last 64 KB).
   */
  spawn(ns: string | null, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' } = {}): Proc {
    const argv = ns ? ['netns', 'exec', ns, cmd, ...args] : args;
    const child = spawn(ns ? 'ip' : cmd, argv, {
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, detached: true,
    });
    const p = new Proc(child, `${cmd} ${args.join(' ')}`);
    this.defer(`process ${cmd}`, () => killGroup(child.pid ?? -1));
    return p;
  }
}

/** A spawned child with its captured output. */
export class Proc {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess, readonly what: string) {
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => { this.stdout = (this.stdout + d).slice(-65536); });
    child.stderr!.on('data', (d: string) => { this.stderr = (this.stderr + d).slice(-65536); });
    child.on('error', (e) => { this.stderr += String(e); });
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  get running(): boolean { return this.child.exitCode === null && this.child.signalCode === null; }
  get pid(): number { return this.child.pid ?? -1; }

  /** Send a signal to its process group and wait (bounded) for the leader's exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', waitMs = 5000): Promise<void> {
    const group = (sig: NodeJS.Signals) => { try { process.kill(-this.pid, sig); } catch { /* gone */ } };
    if (this.running) {
      group(signal);
      const t = setTimeout(() => group('SIGKILL'), waitMs);
      await this.exited;
      clearTimeout(t);
    }
    group('SIGKILL');
  }
}

/** Kill whatever still runs in a namespace (only ever one the benchmark made), then delete it. */
export function deleteNetns(name: string): void {
  const pids = runSync('ip', ['netns', 'pids', name]).stdout.split(/\s+/).map(Number).filter((n) => n > 0);
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  runSync('ip', ['netns', 'del', name]);
}

/**
 * Remove what a benchmark run left behind: namespaces and initial-namespace interfaces whose
 * names start with `prefix` and temp dirs /tmp/vswbench-<prefix>... `isMine(name)` decides (the
 * current run: its own tag; the start-up sweep: tags of runs whose process is gone).
 */
export function sweep(prefix: string, isMine: (name: string) => boolean): string[] {
  const removed: string[] = [];
  for (const line of runSync('ip', ['netns', 'list']).stdout.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    if (ns.startsWith(prefix) && isMine(ns)) { deleteNetns(ns); removed.push(`netns ${ns}`); }
  }
  try {
    for (const l of JSON.parse(runSync('ip', ['-j', 'link', 'show']).stdout || '[]') as Array<{ ifname: string }>) {
      if (l.ifname.startsWith(prefix) && isMine(l.ifname)) { runSync('ip', ['link', 'del', l.ifname]); removed.push(`link ${l.ifname}`); }
    }
  } catch { /* unreadable listing: nothing to do */ }
  for (const d of readdirSync(tmpdir())) {
    if (d.startsWith(`vswbench-${prefix}`) && isMine(d.slice('vswbench-'.length))) {
      rmSync(join(tmpdir(), d), { recursive: true, force: true });
      removed.push(`dir ${d}`);
    }
  }
  return removed;
}

/** Median of a non-empty list (mean of the two middle values for even lengths). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length, Math.max(1, rank)) - 1]!;
}

/** Poll `check` until it returns true or the time is up. */
export async function waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, stepMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(stepMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
