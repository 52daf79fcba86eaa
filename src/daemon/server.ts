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
 * A connection whose first line is a controller's Register is handed to `onController` (and
 * the limits below no longer apply to it).
 *
 * Bounds (ConnectionLimits, DEFAULT_LIMITS), so that no client can grow the daemon: a client
 * that sends commands without reading the replies (pipelining) is served until its unread
 * replies pass `replyQueueBytes`; then its further commands are not read (they wait in the
 * kernel's socket buffer, then the client's write blocks) until the replies drain. A connection
 * whose replies do not drain within `stallMs` is closed, as is one with no traffic for
 * `idleMs`; at most `maxConnections` connections are open at once (more are closed as they
 * come). Fairness: once a connection's commands have taken `turnMs` in one turn of the event
 * loop, it stops reading until the next turn, so a client streaming commands cannot starve the
 * others, nor the daemon's own I/O (the journal's compaction): connections take turns.
 * The CLI sends one command and reads its reply at once, so it never meets these.
 * Memory per connection is then at most replyQueueBytes + one reply + MAX_LINE + one read.
 *
 * Who is asking: each accepted connection's peer is resolved once (SO_PEERCRED, src/daemon/peer.ts)
 * into a Principal, which every command of the connection is run for (the handler decides what
 * it may do: src/control/privilege.ts) and which a controller registration is handed with (only
 * the system may register: src/control/controllers.ts). A peer whose credentials cannot be read
 * gets one error line and is closed. The socket file is mode 0666: anyone may connect, the
 * authority is SO_PEERCRED's alone (guests' owners are ordinary users, and a group the
 * administrator would have to keep in step with the OWNERs is a second list of who may do what).
 * Because anyone may connect, a peer that is not the system may hold at most
 * `perUserConnections` connections at once (more are refused as they come), so no user can
 * take every connection from the administrator.
 */
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Reply } from '../control/controlplane.js';
import { MSG } from '../control/messages.js';
import { looksLikeRegister } from '../protocol/controller.js';
import type { Principal } from '../control/privilege.js';
import { DEFAULT_ADMIN_GROUP, identify } from './peer.js';

export const MAX_LINE = 64 * 1024;

export interface ConnectionLimits {
  /** Unread reply bytes beyond which a connection's next commands wait (are not read). */
  replyQueueBytes: number;
  /** A connection whose unread replies do not drain within this time is closed. */
  stallMs: number;
  /** A connection with nothing received or sent for this long is closed. */
  idleMs: number;
  /** Connections open at once (control and controller); more are closed as they come. */
  maxConnections: number;
  /** A connection's command time in one event-loop turn after which it waits for the next turn. */
  turnMs: number;
  /** Connections one uid that is not the system may have open at once. */
  perUserConnections: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  replyQueueBytes: 1024 * 1024,
  stallMs: 10_000,
  idleMs: 60_000,
  maxConnections: 256,
  turnMs: 20,
  perUserConnections: 32,
};

/** The mode of the control socket file: anyone may connect, SO_PEERCRED decides what they may do. */
export const SOCKET_MODE = 0o666;

/**
 * Runs one command for the connection's peer: its reply, or (a cluster's shared definition:
 * src/daemon/cluster) its promise: the connection reads on once it is settled, so replies keep their order.
 */
export type Handler = (command: string, who: Principal) => Reply | Promise<Reply>;

/**
 * Takes over a connection whose first line is a controller's Register (src/protocol/controller.ts):
 * gets the socket, that line, whatever followed it, and who the peer is; the command server leaves it alone.
 */
export type ControllerHandler = (sock: Socket, firstLine: string, rest: string, who: Principal, pid: number) => void;

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

function serveConnection(sock: Socket, who: Principal, pid: number, handle: Handler, log: Logger, onController: ControllerHandler, limits: ConnectionLimits): void {
  let buf = '';
  let closed = false;
  let first = true;
  /** Waiting for the client to read its replies (reading paused); closed when it does not within stallMs. */
  let stalled: NodeJS.Timeout | null = null;
  /** Waiting for the next event-loop turn (its command time in this one is used up). */
  let yielding = false;
  /** Waiting for a command's reply that is a promise (reading paused until it settles). */
  let waiting = false;
  /** The client ended its side. */
  let ended = false;
  /** When its command work in this event-loop turn began (the turn is closed by a setImmediate). */
  const turn = { open: false, start: 0 };
  const turnElapsed = (): number => {
    const now = performance.now();
    if (!turn.open) {
      turn.open = true;
      turn.start = now;
      setImmediate(() => { turn.open = false; });
    }
    return now - turn.start;
  };
  sock.setEncoding('utf8');
  sock.setTimeout(limits.idleMs);
  const drop = (why: string): void => {
    log.info({ reason: why, queuedBytes: sock.writableLength }, 'control connection closed');
    closed = true;
    buf = '';
    if (stalled) clearTimeout(stalled);
    stalled = null;
    sock.destroy();
  };
  const send = (obj: object): void => {
    if (!closed && sock.writable) sock.write(`${JSON.stringify(obj)}\n`);
  };
  /** Read on, unless waiting for the client to read or for the next turn. */
  const resume = (): void => {
    if (!closed && stalled === null && !yielding && !waiting) sock.resume();
  };
  /** Answer the complete requests in buf, in order, while the client keeps up with its replies. */
  const pump = (): void => {
    let nl: number;
    while (!closed && !waiting && (nl = buf.indexOf('\n')) >= 0) {
      if (turnElapsed() > limits.turnMs) {
        if (!yielding) {
          yielding = true;
          sock.pause();
          setImmediate(() => { yielding = false; pump(); resume(); });
        }
        return;
      }
      if (sock.writableLength > limits.replyQueueBytes) {
        // Back-pressure: read nothing more until the replies drain ('drain' calls pump again).
        sock.pause();
        stalled ??= setTimeout(() => drop(`the client did not read its replies within ${limits.stallMs} ms`), limits.stallMs);
        return;
      }
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() === '') continue;
      if (first && looksLikeRegister(line)) {
        closed = true;
        sock.setTimeout(0);
        sock.removeAllListeners('data');
        sock.removeAllListeners('end');
        sock.removeAllListeners('error');
        sock.removeAllListeners('drain');
        sock.removeAllListeners('timeout');
        // The controller link sees the socket as a plain one: its peer's end ends it.
        sock.on('end', () => sock.end());
        onController(sock, line, buf, who, pid);
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
      const failed = (e: unknown): Reply => {
        log.error({ err: String(e), stack: (e as Error).stack, command: req.command.slice(0, 200) }, 'command failed unexpectedly');
        return { ok: false, lines: [`${MSG.INTERNAL} internal error: ${String(e).split('\n')[0]}`] };
      };
      let reply: Reply | Promise<Reply>;
      try {
        reply = handle(req.command, who);
      } catch (e) {
        reply = failed(e);
      }
      if (reply instanceof Promise) {
        waiting = true;
        sock.pause();
        reply.catch(failed).then((r) => {
          waiting = false;
          send({ id: req.id, ...r });
          pump();
          resume();
        });
        return;
      }
      send({ id: req.id, ...reply });
    }
    if (waiting) return;
    if (!closed && Buffer.byteLength(buf) > MAX_LINE) {
      send({ id: null, ok: false, lines: [`${MSG.SYNTAX} request longer than ${MAX_LINE} bytes; connection closed`] });
      closed = true;
      buf = '';
      sock.end();
      setTimeout(() => sock.destroy(), 1000).unref();
      return;
    }
    finish();
  };
  /** The client has ended its side and every complete request is answered: end ours. */
  const finish = (): void => {
    if (!ended || closed || waiting || buf.indexOf('\n') >= 0) return;
    if (buf.trim() !== '') log.debug({ bytes: buf.length }, 'half request at end of connection dropped');
    buf = '';
    closed = true;
    sock.end();
  };
  sock.on('data', (chunk: string) => {
    if (closed) return;
    buf += chunk;
    pump();
  });
  sock.on('drain', () => {
    if (closed || stalled === null) return;
    clearTimeout(stalled);
    stalled = null;
    pump();
    resume();
  });
  sock.on('timeout', () => drop(`idle for ${limits.idleMs} ms`));
  // The client may end its side with requests still waiting (back-pressure, its turn): they
  // are answered first (the server is allowHalfOpen), then the connection is ended.
  sock.on('end', () => {
    ended = true;
    finish();
  });
  sock.on('error', (e) => {
    log.debug({ err: String(e) }, 'control connection error');
    closed = true;
    if (stalled) clearTimeout(stalled);
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

/** Who may do what on the socket: the administrators' group (class B besides root). */
export interface ListenOptions {
  adminGroup: string;
}

/** Listen on `path` (a stale socket file is replaced; a live one is an error). */
export async function listen(path: string, handle: Handler, log: Logger, onController: ControllerHandler, limits: ConnectionLimits = DEFAULT_LIMITS,
  opts: ListenOptions = { adminGroup: DEFAULT_ADMIN_GROUP }): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (existsSync(path)) {
    if (await socketAlive(path)) throw new Error(`another vswitchd is listening at ${path}`);
    unlinkSync(path);
  }
  const perUser = new Map<number, number>();
  const accept = (sock: Socket): void => {
    const id = identify(sock, opts.adminGroup);
    if (!id.ok) {
      log.warn({ err: id.error }, 'control connection refused');
      sock.end(`${JSON.stringify({ id: null, ok: false, lines: [`${MSG.NOT_AUTHORIZED} not authorized: ${id.error}`] })}\n`);
      return;
    }
    const { who } = id;
    if (!who.system) {
      const n = perUser.get(who.uid) ?? 0;
      if (n >= limits.perUserConnections) {
        log.warn({ uid: who.uid, user: who.user, open: n }, 'control connection refused: too many connections of this user');
        sock.end(`${JSON.stringify({ id: null, ok: false, lines: [`${MSG.NOT_AUTHORIZED} too many connections of uid ${who.uid} (at most ${limits.perUserConnections})`] })}\n`);
        return;
      }
      perUser.set(who.uid, n + 1);
      sock.once('close', () => {
        const left = (perUser.get(who.uid) ?? 1) - 1;
        if (left <= 0) perUser.delete(who.uid);
        else perUser.set(who.uid, left);
      });
    }
    serveConnection(sock, who, id.pid, handle, log, onController, limits);
  };
  const server = createServer({ allowHalfOpen: true }, accept);
  server.maxConnections = limits.maxConnections;
  server.on('error', (e) => log.error({ err: String(e) }, 'control socket error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
  chmodSync(path, SOCKET_MODE);
  return server;
}
