/**
 * One command to vswitchd's control socket and its answer (src/daemon/server.ts protocol: one
 * JSON request line, one JSON response line), for the CLI and the CNI plugin (src/cni).
 *
 * Contract: resolves with the daemon's response (ok or not); rejects with the connection's
 * error (code 'ENOENT' / 'ECONNREFUSED': no daemon, 'EACCES'), with code 'ETIMEDOUT' when no
 * answer came within timeoutMs, or when the answer is not JSON or the daemon hung up first.
 */
import { createConnection } from 'node:net';

export interface Response { id?: unknown; ok: boolean; lines: string[]; data?: unknown }

export function request(socket: string, command: string, timeoutMs: number): Promise<Response> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let buf = '';
    const timer = setTimeout(() => { c.destroy(); reject(Object.assign(new Error(`no answer from the daemon at ${socket} within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })); }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${JSON.stringify({ id: 1, command })}\n`));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Response);
      } catch (e) {
        reject(new Error(`bad answer from the daemon: ${(e as Error).message}`));
      }
    });
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
    c.on('end', () => { clearTimeout(timer); if (buf.indexOf('\n') < 0) reject(new Error(`the daemon at ${socket} closed the connection without answering`)); });
  });
}
