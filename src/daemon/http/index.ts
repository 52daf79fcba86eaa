/**
 * What vswitchd shows over HTTP (issue 12): `/metrics` (--metrics ADDR:PORT) and the live page
 * (--http ADDR:PORT): `/` the page, `/page.js` and `/page.css` its assets (served from this
 * daemon only: no CDN), `/view.json` one snapshot, `/events` the same snapshot every second
 * as server-sent events (`event: view`, data: { view: ObservedView, events: PageEvent[] }).
 * The same ADDR:PORT for both options: one listener serves every route. The page's routes
 * answer only root and the administrators' group (or anyone with --http-open): page-access.ts.
 *
 * Contract: `startObserving` resolves once every listener listens (rejects, having closed what
 * it opened, when one cannot); with neither option it starts nothing. Every second it polls the
 * EventLog (so failover counts are exact) and pushes the snapshot to the open streams. It only
 * reads: the state, the RuntimeView, the data plane's shared counters (never stopping it).
 * `close()` closes the listeners and streams and stops the timer.
 * The page's script is src/daemon/http/page/page.ts, compiled next to this file.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { RuntimeView } from '../../control/commands/types.js';
import type { ControllerManager } from '../../control/controllers.js';
import type { State } from '../../control/state.js';
import { EventLog } from './events.js';
import { urlOf, type ObserveOptions } from './listen-address.js';
import { Metrics } from './metrics.js';
import { INDEX_HTML, PAGE_CSS } from './page-shell.js';
import { HttpListener, LIMITS, send, type Route } from './server.js';
import { observe, type ViewSource } from './view.js';
import { pageAccess } from './page-access.js';

export const TICK_MS = 1000;

export interface Observing {
  /** The URLs listened on ('metrics' ends in /metrics). */
  readonly urls: { metrics: string | null; page: string | null };
  close(): Promise<void>;
}

export async function startObserving(o: ObserveOptions & {
  state: State;
  runtime: RuntimeView;
  /** Its refusals go to the page's events. */
  controllers: ControllerManager;
  /** The administrators' group: with root, the only ones shown the page unless httpOpen (page-access.ts). */
  adminGroup: string;
  log: Logger;
}): Promise<Observing> {
  if (o.metrics === null && o.http === null) return { urls: { metrics: null, page: null }, close: async () => {} };
  const src: ViewSource = { state: o.state, runtime: o.runtime };
  const events = new EventLog();
  o.controllers.onRefusal((r) => events.refused(r));
  const streams = new Set<ServerResponse>();
  const snapshot = (): string => {
    events.poll(src);
    return JSON.stringify({ view: observe(src, Date.now()), events: events.recent() });
  };

  const metricRoutes = new Map<string, Route>();
  if (o.metrics !== null) {
    const metrics = new Metrics();
    metricRoutes.set('/metrics', (_req, res) => {
      events.poll(src);
      metrics.text(observe(src, Date.now()), events).then(
        (text) => send(res, 200, metrics.contentType, text, { 'Cache-Control': 'no-store' }),
        (e) => { o.log.error({ err: String(e) }, 'metrics failed'); send(res, 500, 'text/plain; charset=utf-8', 'metrics failed\n'); });
    });
  }
  const pageRoutes = new Map<string, Route>();
  const guard = pageAccess(o.httpOpen, o.adminGroup);
  const guarded = (route: Route): Route => (req, res) => {
    const refusal = guard(req);
    if (refusal === null) route(req, res);
    else send(res, 403, 'text/plain; charset=utf-8', refusal);
  };
  if (o.http !== null) {
    if (o.httpOpen) o.log.warn({ http: o.http }, '--http-open: the live page (every guest\'s addresses) is shown to anyone who can connect');
    const script = readFileSync(new URL('./page/page.js', import.meta.url));
    pageRoutes.set('/', (_req, res) => send(res, 200, 'text/html; charset=utf-8', INDEX_HTML));
    pageRoutes.set('/page.css', (_req, res) => send(res, 200, 'text/css; charset=utf-8', PAGE_CSS));
    pageRoutes.set('/page.js', (_req, res) => send(res, 200, 'text/javascript; charset=utf-8', script));
    pageRoutes.set('/favicon.ico', (_req, res) => { res.writeHead(204); res.end(); });
    pageRoutes.set('/view.json', (_req, res) => send(res, 200, 'application/json', snapshot(), { 'Cache-Control': 'no-store' }));
    pageRoutes.set('/events', (req, res) => {
      if (streams.size >= LIMITS.maxStreams) {
        send(res, 503, 'text/plain; charset=utf-8', 'too many event streams\n', { 'Retry-After': '5' });
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
      if (req.method === 'HEAD') { res.end(); return; }
      streams.add(res);
      res.on('close', () => streams.delete(res));
      res.write(`retry: 2000\nevent: view\ndata: ${snapshot()}\n\n`);
    });
    // Every route of the page answers only those pageAccess admits (the favicon is nothing to see).
    for (const [path, route] of pageRoutes) if (path !== '/favicon.ico') pageRoutes.set(path, guarded(route));
  }

  const listeners: HttpListener[] = [];
  const urls: { metrics: string | null; page: string | null } = { metrics: null, page: null };
  try {
    const same = o.metrics !== null && o.http !== null && o.metrics.host === o.http.host && o.metrics.port === o.http.port;
    if (same) {
      const l = await HttpListener.listen(o.http!, new Map([...pageRoutes, ...metricRoutes]), o.log);
      listeners.push(l);
      urls.page = `${urlOf(l.address)}/`;
      urls.metrics = `${urlOf(l.address)}/metrics`;
    } else {
      if (o.metrics !== null) {
        const l = await HttpListener.listen(o.metrics, metricRoutes, o.log);
        listeners.push(l);
        urls.metrics = `${urlOf(l.address)}/metrics`;
      }
      if (o.http !== null) {
        const l = await HttpListener.listen(o.http, pageRoutes, o.log);
        listeners.push(l);
        urls.page = `${urlOf(l.address)}/`;
      }
    }
  } catch (e) {
    await Promise.all(listeners.map((l) => l.close()));
    throw e;
  }

  const timer = setInterval(() => {
    if (streams.size === 0) {
      events.poll(src);
      return;
    }
    const data = `event: view\ndata: ${snapshot()}\n\n`;
    for (const res of streams) {
      if (res.writableLength > LIMITS.maxStreamBacklogBytes) res.destroy();
      else res.write(data);
    }
  }, TICK_MS);
  timer.unref();
  o.log.info(urls, 'observing over HTTP');
  return {
    urls,
    close: async () => {
      clearInterval(timer);
      for (const res of streams) res.destroy();
      await Promise.all(listeners.map((l) => l.close()));
    },
  };
}
