/**
 * The control plane's handle on the data-plane worker (main thread).
 *
 * DataPlane.start() spawns the worker (dist/src/dataplane/worker.js: the worker thread's own folder) with the
 * shared counter buffer, a wake eventfd and a MessagePort, and resolves once the worker reports
 * 'ready'. post() sends a ToWorker message and writes the eventfd so the worker's epoll_wait
 * wakes; it never blocks. Events: 'port-down', 'saw-address', 'group-join', 'group-leave' and 'lan-holder' (the FromWorker message
 * objects), 'error' (the worker died without being asked to stop; the daemon must listen).
 * `counters` is read live without stopping the loop (see src/forward/counters.ts).
 * stop() asks the worker to close every port and exit; resolves when the thread has ended.
 * The host owns the eventfd and closes it after the worker has ended.
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { newCounterBuffer } from '../forward/counters.js';
import { close, eventfd, eventfdSignal } from '../sys/libc.js';
import type { FromWorker, ToWorker } from '../protocol/dataplane.js';

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
      if (m.ev === 'port-down' || m.ev === 'saw-address' || m.ev === 'group-join' || m.ev === 'group-leave' || m.ev === 'lan-holder') this.emit(m.ev, m);
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
        workerData: { counters, wakeFd, control: port1, forwarders: opts.forwarders, busyPollUs: opts.busyPollUs ?? 0 },
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
