/**
 * The control plane's handle on the data-plane worker (main thread).
 *
 * DataPlane.start() spawns the worker (dist/src/dataplane/worker.js: the worker thread's own folder) with the
 * shared counter buffer, a wake eventfd and a MessagePort, and resolves once the worker reports
 * 'ready'. post() sends a ToWorker message and writes the eventfd so the worker's epoll_wait
 * wakes; it never blocks. Events: 'port-down', 'saw-address', 'group-join', 'group-leave', 'lan-holder', 'saw-address6', 'group6-join', 'group6-leave' and
 * 'trace-stopped' (the FromWorker message objects), 'error' (the worker died without being asked to stop; the daemon must listen).
 * `counters` is read live without stopping the loop (see src/forward/counters.ts).
 * stop() asks the worker to close every port and exit; resolves when the thread has ended.
 * The host owns the eventfd and closes it after the worker has ended.
 *
 * openTrace(filter) opens a trace session in the worker (the frames of one switch, or one port
 * of it, or its uplink, copied into a ring: layout in src/protocol/dataplane.ts) and returns
 * its TraceReader: drain() hands over the records the worker has published (the frame bytes are
 * a view valid during the callback only) and frees their room; `written` / `lost` are the
 * worker's counts (lost: not copied because the ring was full). close() ends the session and
 * frees the ring once the worker has let go of it; a session the worker refused ends at once
 * with `refused` set. The ring is foreign memory (allocBytes) the worker writes through its
 * address; it is freed only after 'trace-stopped' or the worker's end.
 */
import { placement } from './cpu-placement.js';
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { newCounterBuffer } from '../forward/counters.js';
import { allocBytes, close, eventfd, eventfdSignal, freeBytes, type ForeignBytes } from '../sys/libc.js';
import {
  TRACE_CTL_BYTES, TRACE_FRAME, TRACE_HEAD, TRACE_LOST, TRACE_RECORDS, TRACE_RECORD_HEADER, TRACE_TAIL,
  type FromWorker, type ToWorker,
} from '../protocol/dataplane.js';

/** What a trace session copies (trace-start's fields). */
export interface TraceFilter {
  sw: number;
  /** One port, or -1: every port of the switch. */
  port: number;
  /** Only the switch's uplink (whatever its port number). */
  uplink: boolean;
  /** Only frames with an 802.1Q tag of this VLAN id, or -1: all. */
  vlan: number;
  /** Bytes kept of each frame. */
  snaplen: number;
}

/** One traced frame, as drain() hands it over. */
export interface TraceRecord {
  port: number;
  /** TRACE_IN or TRACE_OUT (of the port). */
  direction: number;
  /** 0: not dropped; DropReason + 1; TRACE_REFUSED: the kernel refused the write. */
  drop: number;
  /** Microseconds since the epoch. */
  micros: number;
  origLen: number;
  /** The captured bytes: a view of the ring, valid during the callback only. */
  data: Uint8Array;
}

/** Ring bytes of a trace session unless the caller says otherwise. */
export const TRACE_RING_BYTES = 4 << 20;

export class TraceReader {
  /** Why the worker refused the session, once it did (the session is then closed). */
  refused: string | null = null;
  private readonly ctl32: Int32Array;
  private readonly ctl64: Float64Array;
  private closing: Promise<void> | null = null;
  private freed = false;

  constructor(private readonly dp: DataPlane, readonly id: number, private readonly ring: ForeignBytes,
    private readonly size: number, ctl: SharedArrayBuffer, private readonly stopped: Promise<string | undefined>) {
    this.ctl32 = new Int32Array(ctl, 0, 2);
    this.ctl64 = new Float64Array(ctl, 0, 4);
    void stopped.then((reason) => {
      if (reason !== undefined && this.closing === null) this.refused = reason;
      this.free();
    });
  }

  /** Records the worker wrote, and frames it could not copy (the ring was full). */
  get written(): number { return this.ctl64[TRACE_RECORDS]; }
  get lost(): number { return this.ctl64[TRACE_LOST]; }

  /**
   * Hand each published record to `fn`, oldest first, at most `max`; `fn` returning false stops
   * early (that record counts as consumed). Returns how many records were handed over.
   */
  drain(fn: (r: TraceRecord) => boolean, max = Infinity): number {
    if (this.freed || this.closing !== null) return 0;
    const head = Atomics.load(this.ctl32, TRACE_HEAD) >>> 0;
    let tail = this.ctl32[TRACE_TAIL] >>> 0;
    const bytes = this.ring.bytes;
    const view = this.ring.view;
    const mask = this.size - 1;
    let n = 0;
    while (tail !== head && n < max) {
      const off = tail & mask;
      const len = view.getUint32(off, true);
      if (len < 8 || len > this.size) break; // cannot happen with a sane worker; stop rather than loop
      tail = (tail + len) >>> 0;
      if (bytes[off + 4] !== TRACE_FRAME) continue;
      n++;
      const cap = view.getUint32(off + 16, true);
      const more = fn({
        port: view.getUint32(off + 8, true), direction: bytes[off + 5], drop: bytes[off + 6],
        micros: view.getFloat64(off + 24, true), origLen: view.getUint32(off + 12, true),
        data: bytes.subarray(off + TRACE_RECORD_HEADER, off + TRACE_RECORD_HEADER + cap),
      });
      if (!more) break;
    }
    Atomics.store(this.ctl32, TRACE_TAIL, tail | 0);
    return n;
  }

  /** End the session; resolves once the worker has let go of the ring (which is then freed). */
  close(): Promise<void> {
    if (this.closing === null) {
      this.closing = this.freed ? Promise.resolve() : this.stopped.then(() => {});
      if (!this.freed) this.dp.post({ op: 'trace-stop', trace: this.id });
    }
    return this.closing;
  }

  private free(): void {
    if (this.freed) return;
    this.freed = true;
    freeBytes(this.ring);
  }
}

export interface DataPlaneOptions {
  /** Module URL exporting `createForwarder: ForwarderFactory` (tests); default IpSwitch/EthernetSwitch. */
  forwarders?: string;
  /** The loop's busy-poll window in microseconds (LoopOptions.busyPollUs); 0 or absent: off. */
  busyPollUs?: number;
}

export class DataPlane extends EventEmitter {
  readonly counters: Float64Array;
  private stopping = false;
  private exited = false;
  private readonly exitPromise: Promise<void>;
  private nextTrace = 1;

  private constructor(private readonly worker: Worker, private readonly port: MessagePort, private readonly wakeFd: number,
    counters: SharedArrayBuffer) {
    super();
    this.counters = new Float64Array(counters);
    this.exitPromise = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.exited = true;
        this.port.close();
        close(this.wakeFd);
        if (!this.stopping) this.emit('error', new Error(`data-plane worker exited unexpectedly (code ${code})`));
        resolve();
      });
    });
    worker.on('message', (m: FromWorker) => {
      if (m.ev === 'port-down' || m.ev === 'saw-address' || m.ev === 'group-join' || m.ev === 'group-leave' || m.ev === 'lan-holder' || m.ev === 'trace-stopped' || m.ev === 'fdb' || m.ev === 'saw-address6' || m.ev === 'group6-join' || m.ev === 'group6-leave') this.emit(m.ev, m);
    });
    worker.on('error', (e) => {
      if (!this.stopping && this.listenerCount('error') > 0) this.emit('error', e);
    });
  }

  static start(opts: DataPlaneOptions = {}): Promise<DataPlane> {
    const counters = newCounterBuffer();
    const wakeFd = eventfd();
    const { port1, port2 } = new MessageChannel();
    let worker: Worker;
    try {
      worker = new Worker(new URL('../dataplane/worker.js', import.meta.url), {
        workerData: { counters, wakeFd, control: port1, forwarders: opts.forwarders, busyPollUs: opts.busyPollUs ?? 0, cpu: placement()?.workerCpu ?? -1 },
        transferList: [port1],
      });
    } catch (e) {
      close(wakeFd);
      throw e;
    }
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker): void => {
        if (m.ev !== 'ready') return;
        cleanup();
        resolve(new DataPlane(worker, port2, wakeFd, counters));
      };
      const onError = (e: Error): void => { cleanup(); close(wakeFd); void worker.terminate(); reject(e); };
      const onExit = (code: number): void => { cleanup(); close(wakeFd); reject(new Error(`data-plane worker exited during start (code ${code})`)); };
      const cleanup = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  /** Open a trace session (see the file comment). */
  openTrace(filter: TraceFilter, ringBytes = TRACE_RING_BYTES): TraceReader {
    const id = this.nextTrace++;
    const ring = allocBytes(ringBytes);
    const ctl = new SharedArrayBuffer(TRACE_CTL_BYTES);
    const stopped = new Promise<string | undefined>((resolve) => {
      const onStop = (m: Extract<FromWorker, { ev: 'trace-stopped' }>): void => {
        if (m.trace !== id) return;
        this.off('trace-stopped', onStop);
        resolve(m.reason);
      };
      this.on('trace-stopped', onStop);
      void this.exitPromise.then(() => { this.off('trace-stopped', onStop); resolve(undefined); });
    });
    const reader = new TraceReader(this, id, ring, ringBytes, ctl, stopped);
    this.post({ op: 'trace-start', trace: id, ...filter, ring: ring.addr, ringBytes, ctl });
    return reader;
  }

  /** Send a message to the worker and wake it. Dropped silently after the worker has ended. */
  post(msg: ToWorker): void {
    if (this.exited) return;
    this.port.postMessage(msg);
    eventfdSignal(this.wakeFd);
  }

  async stop(): Promise<void> {
    if (!this.exited) {
      this.stopping = true;
      this.post({ op: 'stop' });
    }
    const t = setTimeout(() => { void this.worker.terminate(); }, 5000);
    await this.exitPromise;
    clearTimeout(t);
  }
}
