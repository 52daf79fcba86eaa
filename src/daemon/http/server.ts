/**
 * The HTTP listeners of vswitchd (--metrics, --http): node:http with limits, so that bad or
 * hostile clients are answered or closed and never reach the rest of the daemon.
 *
 * Contract:
 * - Read-only: GET and HEAD only (anything else: 405 and the connection closed); a path that
 *   is not a route: 404; the routes are a fixed table (nothing is looked up on the filesystem
 *   from a request). The query string is ignored.
 * - Limits (LIMITS): at most `maxConnections` connections (more are closed at once); request
 *   line plus headers at most `maxHeaderBytes` (431, closed); headers complete within
 *   `headersTimeoutMs` (408, closed: this is what ends idle and slow connections), the whole
 *   request within `requestTimeoutMs`; an idle keep-alive connection closes after
 *   `keepAliveTimeoutMs`; a malformed request gets 400 and is closed.
 * - Streams (server-sent events, `/events`): at most `maxStreams` at once (more: 503); a
 *   stream whose client reads too slowly (over `maxStreamBacklogBytes` unsent) is closed.
 * `listenHttp` resolves once listening (rejects on EADDRINUSE and the like); `close()` ends
 * every connection, streams included.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ListenAddress } from './listen-address.js';

export const LIMITS = {
  maxConnections: 64,
  maxHeaderBytes: 8 * 1024,
  headersTimeoutMs: 4000,
  requestTimeoutMs: 8000,
  keepAliveTimeoutMs: 5000,
  maxStreams: 16,
  maxStreamBacklogBytes: 1 << 20,
} as const;

/** A route answers one GET (or HEAD: node drops the body). */
export type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** Headers every answer carries: no sniffing, nothing from elsewhere, no framing. */
const COMMON_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
};

export function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** One listener serving `routes` (path -> route). */
export class HttpListener {
  private readonly sockets = new Set<Socket>();

  private constructor(readonly server: Server, readonly address: ListenAddress) {}

  static listen(at: ListenAddress, routes: ReadonlyMap<string, Route>, log: Logger): Promise<HttpListener> {
    const server = createServer({
      maxHeaderSize: LIMITS.maxHeaderBytes,
      headersTimeout: LIMITS.headersTimeoutMs,
      requestTimeout: LIMITS.requestTimeoutMs,
      keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
      connectionsCheckingInterval: 500,
    }, (req, res) => answer(req, res, routes, log));
    server.maxConnections = LIMITS.maxConnections;
    server.on('clientError', (err: NodeJS.ErrnoException, sock: Socket) => {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT' ? 408 : 400;
      if (!sock.writable || sock.writableEnded) {
        sock.destroy();
        return;
      }
      const text = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
      sock.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => sock.destroy());
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: at.host, port: at.port }, () => {
        server.off('error', reject);
        server.on('error', (e) => log.warn({ err: String(e) }, 'http listener error'));
        const a = server.address();
        const l = new HttpListener(server, { host: at.host, port: typeof a === 'object' && a !== null ? a.port : at.port });
        server.on('connection', (s: Socket) => {
          l.sockets.add(s);
          s.on('close', () => l.sockets.delete(s));
        });
        resolve(l);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}

function answer(req: IncomingMessage, res: ServerResponse, routes: ReadonlyMap<string, Route>, log: Logger): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain; charset=utf-8', 'read-only: GET and HEAD only\n', { Allow: 'GET, HEAD', Connection: 'close' });
    return;
  }
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const route = routes.get(q < 0 ? url : url.slice(0, q));
  if (route === undefined) {
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    return;
  }
  try {
    route(req, res);
  } catch (e) {
    log.error({ err: String(e), path: url }, 'http route failed');
    if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
    else res.destroy();
  }
}
