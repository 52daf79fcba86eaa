/**
 * Test-only: HTTP and raw TCP to a listener inside a test network namespace, from the test
 * process (which stays in its own namespace). A bridge process runs in the namespace
 * (`nsenter --net`, this same file as its program): it listens on a unix socket (paths are
 * not per namespace) and joins each connection to a new TCP connection to HOST:PORT there,
 * closing one side when the other closes. So every test connection is one real TCP connection
 * the daemon sees, and a connection the daemon closes is closed for the test too.
 * `get()` is one HTTP request on a fresh connection; `connect()` a raw socket; `close()` ends
 * the bridge.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface HttpAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

export class NetnsHttp {
  private constructor(private readonly child: ChildProcess, readonly socketPath: string, private readonly dir: string,
    private readonly hostHeader: string) {}

  static async start(netns: string, host: string, port: number): Promise<NetnsHttp> {
    const dir = mkdtempSync(join(tmpdir(), 'vswhttp-'));
    const path = join(dir, 'bridge.sock');
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, process.execPath, fileURLToPath(import.meta.url), path, host, String(port)],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`netns HTTP bridge exited ${code}`)));
      child.stdout!.once('data', () => resolve());
    });
    return new NetnsHttp(child, path, dir, `${host}:${port}`);
  }

  /** GET (or another method) `path` on a fresh connection. */
  get(path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, method: opts.method ?? 'GET', agent: false,
        headers: { Host: this.hostHeader, ...opts.headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  /** A raw connection (one TCP connection inside the namespace). */
  connect(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = createConnection(this.socketPath, () => resolve(s));
      s.once('error', reject);
    });
  }

  /** Send `data` on a fresh connection; resolves with what came back once the far side closes (or after `waitMs`). */
  async exchange(data: string | Buffer, waitMs = 3000): Promise<{ text: string; closed: boolean }> {
    const s = await this.connect();
    return new Promise((resolve) => {
      let text = '';
      const t = setTimeout(() => { s.destroy(); resolve({ text, closed: false }); }, waitMs);
      s.setEncoding('latin1');
      s.on('data', (d: string) => { text += d; });
      s.on('close', () => { clearTimeout(t); resolve({ text, closed: true }); });
      s.on('error', () => { /* close follows */ });
      s.write(data);
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null) {
      const gone = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The bridge program: argv = unix path, host, port. Prints one line once it listens. */
function bridge(path: string, host: string, port: number): void {
  const server = createServer({ allowHalfOpen: true }, (local) => {
    const remote = createConnection({ host, port, allowHalfOpen: true });
    // Ends travel through the pipes; a closed side ends the other once its data is written; a reset resets both.
    const reset = (): void => { local.destroy(); remote.destroy(); };
    local.pipe(remote);
    remote.pipe(local);
    local.on('error', reset).on('close', () => remote.end());
    remote.on('error', reset).on('close', () => local.end());
  });
  server.listen(path, () => process.stdout.write('ready\n'));
  process.on('SIGTERM', () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) bridge(process.argv[2], process.argv[3], Number(process.argv[4]));
