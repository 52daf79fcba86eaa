/**
 * The control socket: a unix stream socket speaking newline-delimited JSON, one command per
 * request, answered in order.
 *
 * Request:  {"id": any?, "command": "Q VSWITCH SW1 DETAILS"}   (or "words": ["Q", "VSWITCH", ...])
 * Response: {"id": same, "ok": true|false, "lines": ["..."], "data": {...}?}
 *
 * Bad input never takes the daemon down: a line that is not JSON or not a request gets an error
 * response; a line longer than MAX_LINE bytes gets an error response and the connection is
 * closed; a half request at EOF is dropped; socket errors are logged and the connection closed.
 * A connection whose first line is a controller's Register is handed to `onController`.
 */
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Reply } from '../control/controlplane.js';
import { MSG } from '../control/messages.js';
import { looksLikeRegister } from '../protocol/controller.js';

export const MAX_LINE = 64 * 1024;

export type Handler = (command: string) => Reply;

/**
 * Takes over a connection whose first line is a controller's Register (src/protocol/controller.ts):
 * gets the socket, that line and whatever followed it; the command server leaves it alone.
 */
export type ControllerHandler = (sock: Socket, firstLine: string, rest: string) => void;

function decode(line: string): { id: unknown; command: string } | { id: unknown; error: string } {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch (e) {
    return { id: null, error: `request is not JSON: ${(e as Error).message}` };
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return { id: null, error: 'request is not a JSON object' };
  const o = r as Record<string, unknown>;
  const id = o.id ?? null;
  if (typeof o.command === 'string') return { id, command: o.command };
  if (Array.isArray(o.words) && o.words.every((w) => typeof w === 'string')) return { id, command: (o.words as string[]).join(' ') };
  return { id, error: 'request has no "command" string (or "words" array of strings)' };
}

function serveConnection(sock: Socket, handle: Handler, log: Logger, onController: ControllerHandler): void {
  let buf = '';
  let closed = false;
  let first = true;
  sock.setEncoding('utf8');
  const send = (obj: object): void => {
    if (!closed && sock.writable) sock.write(`${JSON.stringify(obj)}\n`);
  };
  sock.on('data', (chunk: string) => {
    if (closed) return;
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() === '') continue;
      if (first && looksLikeRegister(line)) {
        closed = true;
        sock.removeAllListeners('data');
        sock.removeAllListeners('end');
        sock.removeAllListeners('error');
        onController(sock, line, buf);
        return;
      }
      first = false;
      if (Buffer.byteLength(line) > MAX_LINE) {
        send({ id: null, ok: false, lines: [`${MSG.SYNTAX} request longer than ${MAX_LINE} bytes`] });
        continue;
      }
      const req = decode(line);
      if ('error' in req) {
        send({ id: req.id, ok: false, lines: [`${MSG.SYNTAX} ${req.error}`] });
        continue;
      }
      let reply: Reply;
      try {
        reply = handle(req.command);
      } catch (e) {
        log.error({ err: String(e), stack: (e as Error).stack, command: req.command.slice(0, 200) }, 'command failed unexpectedly');
        reply = { ok: false, lines: [`${MSG.INTERNAL} internal error: ${String(e).split('\n')[0]}`] };
      }
      send({ id: req.id, ...reply });
    }
    if (Buffer.byteLength(buf) > MAX_LINE) {
      send({ id: null, ok: false, lines: [`${MSG.SYNTAX} request longer than ${MAX_LINE} bytes; connection closed`] });
      closed = true;
      buf = '';
      sock.end();
      setTimeout(() => sock.destroy(), 1000).unref();
    }
  });
  sock.on('end', () => {
    if (buf.trim() !== '') log.debug({ bytes: buf.length }, 'half request at end of connection dropped');
    buf = '';
    if (!closed) sock.end();
  });
  sock.on('error', (e) => {
    log.debug({ err: String(e) }, 'control connection error');
    closed = true;
    sock.destroy();
  });
}

/** Is something answering on this unix socket path? */
export function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** Listen on `path` (a stale socket file is replaced; a live one is an error). */
export async function listen(path: string, handle: Handler, log: Logger, onController: ControllerHandler): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (existsSync(path)) {
    if (await socketAlive(path)) throw new Error(`another vswitchd is listening at ${path}`);
    unlinkSync(path);
  }
  const server = createServer((sock) => serveConnection(sock, handle, log, onController));
  server.on('error', (e) => log.error({ err: String(e) }, 'control socket error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
  chmodSync(path, 0o660);
  return server;
}
