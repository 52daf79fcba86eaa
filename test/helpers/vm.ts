/**
 * Test-only handle on a real Linux VM in QEMU (TCG; KVM does not work on these machines).
 *
 * The image (a Debian kernel and a busybox initramfs) comes from scripts/vm-image.sh, run once
 * per process (`Vm.image()`; the script itself is idempotent across runs). The VM's init
 * configures eth0 from the kernel command line (`vsw.ip=A.B.C.D/N vsw.gw=A.B.C.D
 * vsw.ip6=X::Y/N vsw.mtu=N vsw.ipv6=off`, see the script) and then runs commands sent on its
 * serial port, which QEMU connects to this process's pipes (`-serial stdio`).
 *
 * Contract:
 *   - `Vm.boot(opts)` starts qemu-system-x86_64 and resolves when the VM's init prints its
 *     ready line (network configured); rejects (and kills QEMU) on exit or timeout, with the
 *     console log in the error. `opts.netdevArgs` / `opts.deviceArgs` are the values of QEMU's
 *     `-netdev` / `-device` options, one element per option (elements equal to '-netdev' or
 *     '-device' are skipped, so `['-netdev', 'stream,...']` also works). QEMU runs with
 *     -nodefaults: no NIC unless given (the same as `-nic none`).
 *   - `run(cmd, timeoutMs)` runs `cmd` with `sh` in the VM (fresh shell each time, stdin
 *     /dev/null, stderr merged into stdout) and resolves `{ code, output }`, output exactly as
 *     printed. Commands run one at a time, in call order. The VM kills a command after
 *     timeoutMs (code 137); if no answer arrives even then, run() rejects.
 *   - `shutdown()` kills QEMU and waits for it; never throws; safe to call twice. Every VM
 *     still running when the process exits is killed (exit hook, SIGINT/SIGTERM handlers, and
 *     QEMU runs under `setpriv --pdeathsig KILL`, so even a SIGKILLed test leaves no QEMU);
 *     a running VM does not by itself keep the process alive.
 *   - QEMU 7.2's `-netdev stream,server=off` does not fail when nothing listens: the VM boots
 *     with a dead link. Start the listening side first.
 *   - `Vm.attach(opts)` is the same handle on a VM someone else started (libvirt): its serial
 *     console is a unix socket QEMU listens on and a log file QEMU writes everything to
 *     (`<serial type='unix'><source mode='bind' path=.../><log file=.../>`); it resolves once
 *     the log shows the ready line and the socket is connected. `shutdown()` calls the given
 *     `kill` (e.g. `virsh destroy`); the console closing is the VM's end.
 *   - Live migration (issue 15, VMRELOCATE): `opts.qmp` gives the VM a QMP socket (a unix
 *     socket QEMU listens on). `Vm.incoming(opts, uri)` starts QEMU with `-incoming uri` (the
 *     same options as the source: same -m, kernel, devices; its own -netdev paths) and resolves
 *     once its QMP answers; it prints no ready line (the guest is already up). `vm.migrate(uri)`
 *     runs QMP `migrate` on the source (bandwidth unthrottled, downtime limit 300 ms) and
 *     resolves when `query-migrate` says completed, with QEMU's figures (total and down time,
 *     ms); rejects when it failed or takes longer than timeoutMs. The incoming handle's run()
 *     then reaches the guest (its serial port is the new QEMU's stdio); the source QEMU stays
 *     paused until shutdown().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { resolve, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (dist/test/helpers -> ../../..). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const IMAGE_SCRIPT = join(ROOT, 'scripts/vm-image.sh');
const PDEATHSIG = existsSync('/usr/bin/setpriv');

export interface VmImage { kernel: string; initrd: string; kver: string }

export interface VmBootOptions {
  /** Name for QEMU (-name) and error messages. */
  name: string;
  /** Values of -netdev options, e.g. 'stream,id=n0,server=off,addr.type=unix,addr.path=/x.sock'. */
  netdevArgs: string[];
  /** Values of -device options, e.g. 'virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01'. */
  deviceArgs: string[];
  /** Extra kernel command line, e.g. 'vsw.ip=10.1.0.21/24 vsw.gw=10.1.0.1'. */
  cmdline?: string;
  /** Guest memory in MiB (default 256). */
  memMb?: number;
  /** How long to wait for the ready line (default 90 s; TCG with several VMs on 2 cores). */
  bootTimeoutMs?: number;
  /** Further raw QEMU arguments. */
  extraArgs?: string[];
  /** Run QEMU in this named network namespace (`nsenter --net`; a TAP it opens lives there). */
  netns?: string;
  /** A QMP socket path QEMU listens on (for migrate / -incoming). */
  qmp?: string;
}

/** What QEMU said of a completed migration (query-migrate), in ms. */
export interface MigrationStats { totalMs: number; downtimeMs: number; setupMs: number }

export interface VmRunResult { code: number; output: string }

export interface VmAttachOptions {
  name: string;
  /** The unix socket QEMU's serial port listens on. */
  socket: string;
  /** The file QEMU logs the serial port's output to. */
  consoleLog: string;
  /** How to end the VM (shutdown, the exit hook): synchronous. */
  kill(): void;
  /** How long to wait for the ready line (default 90 s). */
  readyTimeoutMs?: number;
}

/** How the handle reaches its VM: the serial console's input, the QEMU process id, and its end. */
interface Console {
  readonly pid: number;
  write(line: string): void;
  kill(): void;
}

const READY = '@@VSW-READY@@';
const LOG_LIMIT = 256 * 1024;
const live = new Set<Vm>();
let exitHookInstalled = false;
let imagePromise: Promise<VmImage> | null = null;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => { for (const vm of live) vm.killNow(); });
  // On SIGINT/SIGTERM: kill the VMs, then die of the same signal as without this handler.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const h = (): void => {
      for (const vm of live) vm.killNow();
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, h);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, h);
  }
}

interface Pending {
  id: string;
  resolve: (r: VmRunResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class Vm {
  /** Everything the serial console printed (the last LOG_LIMIT characters). */
  log = '';
  /** QEMU's stderr. */
  stderr = '';
  /** Milliseconds from spawning QEMU to the ready line. */
  bootMs = 0;

  private buf = '';
  private seq = 0;
  private readonly nonce = randomBytes(4).toString('hex');
  private pending: Pending | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly exited: Promise<void>;
  private markExited: () => void = () => undefined;
  private exitInfo: string | null = null;
  private onReady: (() => void) | null = null;

  private constructor(readonly name: string, private readonly console: Console) {
    this.exited = new Promise((res) => { this.markExited = res; });
  }

  /** The VM has ended (QEMU exited, its console closed). */
  private gone(info: string): void {
    if (this.exitInfo !== null) return;
    this.exitInfo = info;
    live.delete(this);
    this.failPending(new Error(`VM ${this.name}: ${info}\n${this.tail()}`));
    this.markExited();
  }

  /** A QEMU child of this process: console on its stdio. */
  private static ofChild(name: string, child: ChildProcess): Vm {
    const vm = new Vm(name, {
      get pid() { return child.pid ?? -1; },
      write: (line) => { child.stdin!.write(line); },
      kill: () => { child.kill('SIGKILL'); },
    });
    child.once('exit', (code, signal) => vm.gone(`qemu exited (code ${code}, signal ${signal})`));
    child.once('error', (e) => vm.gone(`qemu failed to start: ${e.message}`));
    child.stdout!.setEncoding('latin1');
    child.stdout!.on('data', (d: string) => vm.onData(d));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => { vm.stderr = (vm.stderr + d).slice(-LOG_LIMIT); });
    child.stdin!.on('error', () => { /* QEMU gone: reported through 'exit' */ });
    return vm;
  }

  /** A VM someone else started; see the contract above. */
  static async attach(opts: VmAttachOptions): Promise<Vm> {
    const started = Date.now();
    const end = started + (opts.readyTimeoutMs ?? 90_000);
    const readLog = (): string => { try { return readFileSync(opts.consoleLog, 'latin1'); } catch { return ''; } };
    while (!readLog().includes(READY)) {
      if (Date.now() > end) throw new Error(`VM ${opts.name}: not ready in time\n--- console (tail) ---\n${readLog().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const sock: Socket = await new Promise((res, rej) => {
      const c = createConnection(opts.socket);
      c.once('connect', () => res(c));
      c.once('error', rej);
    });
    installExitHook();
    const vm = new Vm(opts.name, { pid: -1, write: (line) => { sock.write(line); }, kill: opts.kill });
    vm.log = readLog().slice(-LOG_LIMIT);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => vm.onData(d));
    sock.on('error', () => { /* reported through 'close' */ });
    sock.once('close', () => vm.gone('serial console closed'));
    sock.unref();
    live.add(vm);
    vm.bootMs = Date.now() - started;
    return vm;
  }

  /** Build (or reuse) the kernel and initramfs; once per process. */
  static image(): Promise<VmImage> {
    imagePromise ??= new Promise<VmImage>((res, rej) => {
      const p = spawn('bash', [IMAGE_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
      p.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
      p.once('error', rej);
      p.once('exit', (code) => {
        const kv = new Map<string, string>();
        for (const line of out.split('\n')) {
          const i = line.indexOf('=');
          if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
        }
        const kernel = kv.get('kernel');
        const initrd = kv.get('initrd');
        const kver = kv.get('kver');
        if (code !== 0 || !kernel || !initrd || !kver) {
          rej(new Error(`scripts/vm-image.sh failed (exit ${code}):\n${err}${out}`));
        } else {
          res({ kernel, initrd, kver });
        }
      });
    });
    // A failed build is retried by the next caller.
    imagePromise.catch(() => { imagePromise = null; });
    return imagePromise;
  }

  /** Start a VM and wait until its init is ready for commands. */
  static async boot(opts: VmBootOptions): Promise<Vm> {
    return Vm.start(opts, null);
  }

  /** Start QEMU `-incoming uri` for a migration from a VM booted with the same options; see the contract. */
  static async incoming(opts: VmBootOptions, uri: string): Promise<Vm> {
    if (opts.qmp === undefined) throw new Error('Vm.incoming needs opts.qmp');
    return Vm.start(opts, uri);
  }

  private static async start(opts: VmBootOptions, incoming: string | null): Promise<Vm> {
    const img = await Vm.image();
    const args = [
      '-name', opts.name,
      '-accel', 'tcg',
      '-nodefaults', '-display', 'none', '-no-reboot',
      '-m', String(opts.memMb ?? 256),
      '-serial', 'stdio',
      '-kernel', img.kernel,
      '-initrd', img.initrd,
      '-append', `console=ttyS0 quiet panic=-1 ${opts.cmdline ?? ''}`.trim(),
    ];
    for (const v of opts.netdevArgs) if (v !== '-netdev') args.push('-netdev', v);
    for (const v of opts.deviceArgs) if (v !== '-device') args.push('-device', v);
    args.push(...(opts.extraArgs ?? []));
    if (opts.qmp !== undefined) args.push('-qmp', `unix:${opts.qmp},server=on,wait=off`);
    if (incoming !== null) args.push('-incoming', incoming);

    installExitHook();
    const started = Date.now();
    // setpriv --pdeathsig: QEMU dies with this process even when it is SIGKILLed.
    const inNs = opts.netns !== undefined ? ['nsenter', `--net=/run/netns/${opts.netns}`] : [];
    const argv = [...inNs, ...(PDEATHSIG ? ['setpriv', '--pdeathsig', 'KILL', '--'] : []), 'qemu-system-x86_64', ...args];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    // A forgotten VM must not keep the test process alive (the exit hook then kills it);
    // pending boots and commands hold timers, which keep the process alive while needed.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as Socket | null)?.unref();
    const vm = Vm.ofChild(opts.name, child);
    vm.qmpPath = opts.qmp ?? null;
    live.add(vm);
    const timeoutMs = opts.bootTimeoutMs ?? 90_000;
    if (incoming !== null) {
      try {
        await vm.qmp([{ execute: 'query-status' }], timeoutMs);
      } catch (e) {
        await vm.shutdown();
        throw e;
      }
      vm.bootMs = Date.now() - started;
      return vm;
    }
    try {
      await new Promise<void>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(
          `VM ${opts.name}: not ready after ${timeoutMs} ms\n${vm.tail()}`)), timeoutMs);
        vm.onReady = () => { clearTimeout(timer); res(); };
        void vm.exited.then(() => {
          clearTimeout(timer);
          rej(new Error(`VM ${opts.name}: ${vm.exitInfo} before ready\n${vm.tail()}`));
        });
      });
    } catch (e) {
      await vm.shutdown();
      throw e;
    }
    vm.bootMs = Date.now() - started;
    return vm;
  }

  get pid(): number { return this.console.pid; }

  private qmpPath: string | null = null;

  /**
   * Run QMP commands in order on a fresh connection (capabilities negotiated first); the
   * answers' `return` values. Rejects on an `error` answer, QEMU's exit, or after timeoutMs.
   */
  async qmp(cmds: Array<{ execute: string; arguments?: unknown }>, timeoutMs = 30_000): Promise<unknown[]> {
    const path = this.qmpPath;
    if (path === null) throw new Error(`VM ${this.name} has no QMP socket`);
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await qmpSession(path, cmds, Math.max(1000, end - Date.now()));
      } catch (e) {
        // QEMU may not listen yet (just started): try again until the deadline.
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > end || this.exitInfo !== null) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Migrate this VM to an incoming QEMU at `uri`; see the contract. */
  async migrate(uri: string, timeoutMs = 120_000): Promise<MigrationStats> {
    await this.qmp([
      { execute: 'migrate-set-parameters', arguments: { 'max-bandwidth': 4 * 1024 * 1024 * 1024, 'downtime-limit': 300 } },
      { execute: 'migrate', arguments: { uri } },
    ]);
    const end = Date.now() + timeoutMs;
    for (;;) {
      const [st] = await this.qmp([{ execute: 'query-migrate' }]) as Array<{ status?: string; 'total-time'?: number; downtime?: number; 'setup-time'?: number; 'error-desc'?: string }>;
      if (st.status === 'completed') return { totalMs: st['total-time'] ?? -1, downtimeMs: st.downtime ?? -1, setupMs: st['setup-time'] ?? -1 };
      if (st.status === 'failed' || st.status === 'cancelled') throw new Error(`VM ${this.name}: migration ${st.status}: ${st['error-desc'] ?? ''}`);
      if (Date.now() > end) throw new Error(`VM ${this.name}: migration not completed after ${timeoutMs} ms (${st.status})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Run a shell command in the VM; see the contract above. */
  run(cmd: string, timeoutMs = 30_000): Promise<VmRunResult> {
    const next = this.queue.then(() => this.runNow(cmd, timeoutMs));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private runNow(cmd: string, timeoutMs: number): Promise<VmRunResult> {
    if (this.exitInfo) return Promise.reject(new Error(`VM ${this.name}: ${this.exitInfo}`));
    const id = `${this.nonce}-${++this.seq}`;
    const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
    return new Promise<VmRunResult>((res, rej) => {
      // The VM kills the command after `secs`; allow its answer some time on a busy TCG host.
      const timer = setTimeout(() => {
        this.pending = null;
        rej(new Error(`VM ${this.name}: no answer to ${JSON.stringify(cmd)} after ${timeoutMs + 15_000} ms\n${this.tail()}`));
      }, timeoutMs + 15_000);
      this.pending = { id, resolve: res, reject: rej, timer };
      this.console.write(`${id} ${secs} ${Buffer.from(cmd, 'utf8').toString('base64')}\n`);
      this.scan();
    });
  }

  /** Kill QEMU and wait for it to exit. Never throws. */
  async shutdown(): Promise<void> {
    if (this.exitInfo === null) {
      this.killNow();
      // A ref'd timer: QEMU and its pipes are unref'd, so it keeps the process alive meanwhile.
      let timer: NodeJS.Timeout | undefined;
      const t = new Promise<void>((res) => { timer = setTimeout(res, 5000); });
      await Promise.race([this.exited, t]);
      clearTimeout(timer);
    }
    live.delete(this);
  }

  /** Synchronous SIGKILL (used by shutdown and the process exit hook). */
  killNow(): void {
    try { this.console.kill(); } catch { /* already gone */ }
  }

  /** The end of the console log and QEMU's stderr, for error messages. */
  tail(): string {
    return `--- console (tail) ---\n${this.log.slice(-4000)}\n--- qemu stderr ---\n${this.stderr.slice(-2000)}`;
  }

  private onData(d: string): void {
    this.log = (this.log + d).slice(-LOG_LIMIT);
    this.buf += d;
    if (this.onReady) {
      const i = this.buf.indexOf(READY);
      if (i < 0) {
        this.buf = this.buf.slice(-READY.length);
        return;
      }
      this.buf = this.buf.slice(i + READY.length);
      const f = this.onReady;
      this.onReady = null;
      f();
    }
    this.scan();
  }

  /** Complete the pending command if its end marker has arrived. */
  private scan(): void {
    const p = this.pending;
    if (!p) {
      // Nothing expected: keep only a tail in case a marker spans two chunks.
      if (!this.onReady) this.buf = this.buf.slice(-4096);
      return;
    }
    const begin = `@@VSW-BEGIN ${p.id}@@\n`;
    const b = this.buf.indexOf(begin);
    if (b < 0) return;
    const endRe = new RegExp(`\\n@@VSW-END ${p.id} (\\d+)@@\\n`);
    const rest = this.buf.slice(b + begin.length);
    const m = endRe.exec(rest);
    if (!m) return;
    const output = Buffer.from(rest.slice(0, m.index), 'latin1').toString('utf8');
    this.buf = rest.slice(m.index + m[0].length);
    clearTimeout(p.timer);
    this.pending = null;
    p.resolve({ code: Number(m[1]), output });
  }

  private failPending(e: Error): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = null;
    p.reject(e);
  }
}

/** One QMP connection: greeting, qmp_capabilities, then `cmds` in order; their `return` values. */
function qmpSession(path: string, cmds: Array<{ execute: string; arguments?: unknown }>, timeoutMs: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const results: unknown[] = [];
    const queue = [{ execute: 'qmp_capabilities' }, ...cmds];
    let buf = '';
    let greeted = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`QMP ${path}: no answer in ${timeoutMs} ms`)); }, timeoutMs);
    const done = (e: Error | null): void => {
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e); else resolve(results.slice(1));
    };
    const send = (): void => {
      const c = queue[results.length];
      if (c === undefined) { done(null); return; }
      sock.write(`${JSON.stringify(c)}\n`);
    };
    sock.setEncoding('utf8');
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line === '') continue;
        const m = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc?: string }; event?: string };
        if (m.QMP !== undefined && !greeted) { greeted = true; send(); continue; }
        if (m.event !== undefined) continue;
        if (m.error !== undefined) { done(new Error(`QMP ${queue[results.length]?.execute}: ${m.error.desc ?? JSON.stringify(m.error)}`)); return; }
        results.push(m.return);
        send();
      }
    });
  });
}
