/**
 * The daemon's side of `vswitch trace` (issue 12): a unix stream socket of its own, next to the
 * control socket (TRACE_SOCKET_SUFFIX appended to its path), where each connection is one trace
 * session streamed back as pcapng.
 *
 * Who may trace: the system (class B) only: root and the members of the administrators' group,
 * the same check as the control socket's (src/daemon/peer.ts: SO_PEERCRED on the connection;
 * anyone else is refused before anything is read, and logged). The socket file is mode 0666
 * like the control socket's: the peer check is the authority.
 *
 * Protocol. The client sends one line of JSON:
 *   {"trace": {"switch": "SW1", "nic": {"userid": "LINUX1", "vdev": "0600"} | null, "uplink": false,
 *              "vlan": N | null, "count": N | null, "snaplen": N | null}}
 * and gets one line back: {"ok": true, "lines": [...]} or {"ok": false, "lines": ["VSWnnnnE ..."]}
 * (then the connection closes). After an ok, the daemon sends chunks, each a kind byte and a
 * big-endian u32 length, then that many bytes: TRACE_CHUNK_PCAPNG (the next bytes of one pcapng
 * stream: a section header, an interface description per port as it first appears, named
 * "USERID VDEV" or "UPLINK rdev", and one enhanced packet block per frame with its direction
 * in epb_flags and, for a dropped frame, a comment "dropped: REASON"), and last TRACE_CHUNK_END
 * (JSON {"captured": n, "lost": n, "reason": "..."}: frames streamed, frames the data plane could
 * not copy because this session fell behind, and why the trace ended). The trace ends when
 * `count` frames were streamed, when the client sends anything (a polite stop) or closes, or
 * when the daemon stops.
 *
 * Frames: those of the switch's ports, or of one NIC's port, or of the switch's uplink (whatever
 * RDEV is active), each as received (inbound) and as sent (outbound, after rewriting); a frame
 * the switch dropped is there once, with the reason. --vlan keeps only frames tagged with that
 * VLAN id.
 *
 * Back-pressure: the session's ring in the data plane is drained every DRAIN_MS (for up to
 * DRAIN_BUDGET_MS of the main thread) while the socket has less than HIGH_WATER bytes waiting; a reader that does not keep up makes the ring
 * fill, and the data plane then counts frames as lost instead of copying them: it never waits
 * for the reader, and the daemon never buffers more than about HIGH_WATER plus one drain.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import { identify } from './peer.js';
import { SOCKET_MODE } from './server.js';
import { DROP_REASON_NAMES } from '../forward/api.js';
import { TRACE_IN, TRACE_REFUSED } from '../protocol/dataplane.js';
import type { TraceFilter, TraceReader, TraceRecord } from '../host/dataplane.js';
import type { RuntimeView } from '../control/commands/types.js';
import type { State } from '../control/state.js';
import { hex4 } from '../control/grammar.js';
import { MSG } from '../control/messages.js';
import { PCAPNG_INBOUND, PCAPNG_OUTBOUND, enhancedPacket, interfaceDescription, sectionHeader } from './pcapng.js';

export const TRACE_SOCKET_SUFFIX = '.trace';
export const TRACE_CHUNK_PCAPNG = 1;
export const TRACE_CHUNK_END = 2;
/** Bytes kept of each frame unless the client says otherwise (as tcpdump's default). */
export const DEFAULT_SNAPLEN = 262144;

const DRAIN_MS = 20;
const HIGH_WATER = 1 << 20;
/** Records handed over per chunk at most, and the time one timer tick may drain for. */
const DRAIN_MAX = 2048;
const DRAIN_BUDGET_MS = 10;
const MAX_REQUEST = 4096;

/** What a trace request asks for, as the client sends it. */
export interface TraceRequest {
  switch: string;
  nic?: { userid: string; vdev: string } | null;
  uplink?: boolean;
  vlan?: number | null;
  count?: number | null;
  snaplen?: number | null;
}

/** What the trace server needs of the daemon. */
export interface TraceDeps {
  state: State;
  runtime: RuntimeView;
  openTrace(filter: TraceFilter): TraceReader;
  log: Logger;
  /** The administrators' group (vswitchd --admin-group): its members may trace besides root. */
  adminGroup: string;
}

export interface TraceServer {
  /** Stop listening and end every open session (each client gets its end chunk). */
  close(): Promise<void>;
}

/** Listen for trace sessions at `path` (a stale socket file is replaced). */
export async function listenTrace(path: string, deps: TraceDeps): Promise<TraceServer> {
  if (existsSync(path)) unlinkSync(path);
  const sessions = new Set<Session>();
  const server: Server = createServer((sock) => {
    let session: Session | null = null;
    try {
      session = new Session(sock, deps, () => { if (session !== null) sessions.delete(session); });
      sessions.add(session);
    } catch (e) {
      deps.log.error({ err: String(e) }, 'trace connection failed');
      sock.destroy();
    }
  });
  server.on('error', (e) => deps.log.error({ err: String(e) }, 'trace socket error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
  chmodSync(path, SOCKET_MODE);
  return {
    async close(): Promise<void> {
      server.close();
      try { unlinkSync(path); } catch { /* already gone */ }
      await Promise.all([...sessions].map((s) => s.finish('the daemon is stopping')));
    },
  };
}

/** Check a request against the state; the filter (without sw) and what it traces, or an error line. */
export function resolveTrace(req: unknown, state: State, runtime: RuntimeView):
  { ok: true; filter: TraceFilter; count: number; what: string } | { ok: false; error: string } {
  const r = (req as { trace?: TraceRequest } | null)?.trace;
  if (typeof r !== 'object' || r === null || typeof r.switch !== 'string') return { ok: false, error: `${MSG.SYNTAX} not a trace request` };
  const name = r.switch.toUpperCase();
  if (!state.switches.has(name)) return { ok: false, error: `${MSG.SWITCH_MISSING} VSWITCH ${name} does not exist` };
  const sw = runtime.switchNumber(name);
  if (sw === null) return { ok: false, error: `${MSG.SWITCH_MISSING} VSWITCH ${name} has no data plane yet` };
  const int = (v: unknown, lo: number, hi: number, what: string): number | string => {
    if (v === undefined || v === null) return -1;
    return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : `${MSG.SYNTAX} ${what} must be a whole number from ${lo} to ${hi}`;
  };
  const vlan = int(r.vlan, 0, 4094, '--vlan');
  const count = int(r.count, 1, Number.MAX_SAFE_INTEGER, '--count');
  const snaplen = int(r.snaplen, 1, DEFAULT_SNAPLEN, '--snaplen');
  for (const v of [vlan, count, snaplen]) if (typeof v === 'string') return { ok: false, error: v };
  const filter: TraceFilter = { sw, port: -1, uplink: r.uplink === true, vlan: vlan as number, snaplen: snaplen as number };
  if (filter.snaplen < 0) filter.snaplen = DEFAULT_SNAPLEN;
  let what = `VSWITCH ${name}`;
  if (r.nic !== undefined && r.nic !== null) {
    if (filter.uplink) return { ok: false, error: `${MSG.SYNTAX} trace either a NIC or the UPLINK, not both` };
    const userid = String(r.nic.userid ?? '').toUpperCase();
    const vdevText = String(r.nic.vdev ?? '');
    if (!/^[0-9A-Fa-f]{1,4}$/.test(vdevText)) return { ok: false, error: `${MSG.SYNTAX} bad virtual device number '${vdevText.slice(0, 20)}'` };
    const vdev = parseInt(vdevText, 16);
    const nic = state.guests.get(userid)?.nics.get(vdev);
    if (nic === undefined) return { ok: false, error: `${MSG.NIC_MISSING} NIC ${hex4(vdev)} of ${userid} does not exist` };
    if (nic.coupled !== name) return { ok: false, error: `${MSG.NIC_NOT_COUPLED} NIC ${hex4(vdev)} of ${userid} is not coupled to VSWITCH ${name}` };
    const port = runtime.nicPort(userid, vdev);
    if (port === null) return { ok: false, error: `${MSG.NIC_NOT_COUPLED} NIC ${hex4(vdev)} of ${userid} has no data path yet` };
    filter.port = port;
    what = `NIC ${hex4(vdev)} of ${userid} on VSWITCH ${name}`;
  } else if (filter.uplink) {
    what = `the UPLINK of VSWITCH ${name}`;
  }
  if (filter.vlan >= 0) what += `, VLAN ${filter.vlan}`;
  return { ok: true, filter, count: count as number, what };
}

/** One connection: request, checks, then the stream. */
class Session {
  private buf = '';
  private reader: TraceReader | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ended: Promise<void> | null = null;
  private captured = 0;
  private count = -1;
  private swName = '';
  /** Port -> pcapng interface number, in the order their descriptions were sent. */
  private readonly ifaces = new Map<number, number>();
  private snaplen = DEFAULT_SNAPLEN;

  constructor(private readonly sock: Socket, private readonly deps: TraceDeps, private readonly gone: () => void) {
    sock.on('error', () => { void this.finish('the reader went away', false); });
    sock.on('close', () => { void this.finish('the reader went away', false); });
    const id = identify(sock, deps.adminGroup);
    if (!id.ok || !id.who.system) {
      deps.log.warn(id.ok ? { uid: id.who.uid, user: id.who.user } : { err: id.error }, 'trace refused: not the system');
      this.refuse(`${MSG.NOT_AUTHORIZED} not authorized: tracing is for the system administrator (class B): root or the group ${deps.adminGroup}`);
      return;
    }
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
  }

  private onData(d: string): void {
    if (this.reader !== null) { void this.finish('stopped by the reader'); return; }
    if (this.ended !== null) return;
    this.buf += d;
    const nl = this.buf.indexOf('\n');
    if (nl < 0) {
      if (this.buf.length > MAX_REQUEST) this.refuse(`${MSG.SYNTAX} request longer than ${MAX_REQUEST} bytes`);
      return;
    }
    let req: unknown;
    try {
      req = JSON.parse(this.buf.slice(0, nl));
    } catch (e) {
      this.refuse(`${MSG.SYNTAX} request is not JSON: ${(e as Error).message}`);
      return;
    }
    const r = resolveTrace(req, this.deps.state, this.deps.runtime);
    if (!r.ok) { this.refuse(r.error); return; }
    this.swName = (req as { trace: TraceRequest }).trace.switch.toUpperCase();
    this.count = r.count;
    this.snaplen = r.filter.snaplen;
    this.reader = this.deps.openTrace(r.filter);
    this.deps.log.info({ trace: r.what, count: r.count }, 'trace started');
    this.sock.write(`${JSON.stringify({ ok: true, lines: [`Tracing ${r.what}`] })}\n`);
    this.chunk(TRACE_CHUNK_PCAPNG, sectionHeader());
    this.timer = setInterval(() => this.drain(), DRAIN_MS);
  }

  /** Answer with an error line and close (what the client still sends is read and ignored, so it gets the line). */
  private refuse(line: string): void {
    this.ended = Promise.resolve();
    this.sock.removeAllListeners('data');
    this.sock.on('data', () => {});
    if (this.sock.writable) this.sock.end(`${JSON.stringify({ ok: false, lines: [line] })}\n`);
    else this.sock.destroy();
    setImmediate(this.gone);
  }

  /** One chunk: its kind and length, then the payload's parts (written together, not copied into one). */
  private chunk(kind: number, ...parts: Buffer[]): void {
    let len = 0;
    for (const p of parts) len += p.length;
    const h = Buffer.alloc(5);
    h[0] = kind;
    h.writeUInt32BE(len, 1);
    this.sock.cork();
    this.sock.write(h);
    for (const p of parts) this.sock.write(p);
    this.sock.uncork();
  }

  /** Move what the data plane published to the socket, unless the socket is behind. */
  private drain(): void {
    const reader = this.reader;
    if (reader === null || this.ended !== null) return;
    if (reader.refused !== null) { void this.finish(`refused by the data plane: ${reader.refused}`); return; }
    // Drain for up to DRAIN_BUDGET_MS while the socket keeps up; a reader that is behind
    // leaves the ring to fill, and the data plane counts the loss.
    const until = performance.now() + DRAIN_BUDGET_MS;
    while (this.sock.writableLength <= HIGH_WATER && this.forward(reader) === DRAIN_MAX && performance.now() < until
      && (this.count < 0 || this.captured < this.count)) { /* more */ }
    if (this.count >= 0 && this.captured >= this.count) void this.finish(`${this.count} frames captured`, false);
  }

  /** One drain's worth of records (up to `count`) to the socket as one pcapng chunk; how many. */
  private forward(reader: TraceReader): number {
    const blocks: Buffer[] = [];
    const n = reader.drain((rec) => {
      blocks.push(...this.packet(rec));
      this.captured++;
      return this.count < 0 || this.captured < this.count;
    }, DRAIN_MAX);
    if (blocks.length > 0) this.chunk(TRACE_CHUNK_PCAPNG, ...blocks);
    return n;
  }

  /** The pcapng blocks of one record: the port's interface description first if it is new. */
  private packet(rec: TraceRecord): Buffer[] {
    const out: Buffer[] = [];
    let iface = this.ifaces.get(rec.port);
    if (iface === undefined) {
      iface = this.ifaces.size;
      this.ifaces.set(rec.port, iface);
      out.push(interfaceDescription(this.portName(rec.port), this.snaplen));
    }
    const comment = rec.drop === 0 ? undefined
      : `dropped: ${rec.drop === TRACE_REFUSED ? 'refused by the kernel' : DROP_REASON_NAMES[rec.drop - 1] ?? `reason ${rec.drop - 1}`}`;
    out.push(enhancedPacket(iface, rec.micros, rec.data, rec.origLen, rec.direction === TRACE_IN ? PCAPNG_INBOUND : PCAPNG_OUTBOUND, comment));
    return out;
  }

  /** "USERID VDEV" for a NIC's port, "UPLINK rdev" for the uplink, else "port N". */
  private portName(port: number): string {
    const { state, runtime } = this.deps;
    const up = runtime.uplink(this.swName);
    if (up.port === port) return `UPLINK ${up.active ?? ''}`.trim();
    for (const g of state.guests.values()) {
      for (const n of g.nics.values()) {
        if (n.coupled === this.swName && runtime.nicPort(g.userid, n.vdev) === port) return `${g.userid} ${hex4(n.vdev)}`;
      }
    }
    return `port ${port}`;
  }

  /**
   * End the session (idempotent): with `flush`, what the ring still holds goes out first; then
   * the summary, and the connection is closed.
   */
  finish(reason: string, flush = true): Promise<void> {
    if (this.ended !== null) return this.ended;
    this.ended = (async () => {
      if (this.timer !== null) clearInterval(this.timer);
      const reader = this.reader;
      if (reader !== null) {
        if (flush && this.sock.writable) this.forward(reader);
        const lost = reader.lost;
        await reader.close();
        this.deps.log.info({ captured: this.captured, lost, reason }, 'trace ended');
        if (this.sock.writable) {
          this.chunk(TRACE_CHUNK_END, Buffer.from(JSON.stringify({ captured: this.captured, lost, reason })));
          this.sock.end();
        }
      } else {
        this.sock.destroy();
      }
      this.gone();
    })();
    return this.ended;
  }
}
