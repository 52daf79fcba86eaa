/**
 * AddressWatcher: reports the IPv4 and IPv6 addresses of named interfaces in named network namespaces
 * (a guest's NIC: "the guest configured an address", z/VM's SETIP), event-driven.
 *
 * watch(key, netns, ifname) starts watching (replacing any watch with the same key): an
 * initial report of the addresses present, then every change. unwatch(key) stops it (no
 * further events for that key). close() stops everything and ends the thread.
 * Events:
 *   'address' (key: string, ip: number, prefixLen: number, added: boolean, vid: number)
 *       vid: 0 for an address on the interface itself, N for one on its VLAN sub-device
 *       `ifname.N` (followed by name: address-watcher-worker.ts)
 *   'address6' (key: string, ip6: string, prefixLen: number, added: boolean, vid: number)   ip6: 32 hex digits;
 *       global, unique-local and link-local alike, once usable (not tentative, DAD not failed);
 *       vid as for 'address'
 *   'watch-error' (key: string, message: string)   e.g. the namespace does not exist
 * The interface need not exist yet: it is picked up when it appears, and an interface that is
 * deleted and re-created under the same name is followed (its old addresses reported deleted).
 *
 * The work happens on a small worker thread of its own (address-watcher-worker.ts) blocking in
 * epoll over one rtnetlink socket per watch; the main thread is never blocked. Messages reach
 * it through a MessagePort plus an eventfd. The thread is unref'd: it does not keep the process
 * alive by itself.
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { close, eventfd, eventfdSignal } from '../sys/libc.js';

type FromWatcher =
  | { ev: 'address'; key: string; ip: number; prefixLen: number; added: boolean; vid: number }
  | { ev: 'address6'; key: string; ip6: string; prefixLen: number; added: boolean; vid: number }
  | { ev: 'watch-error'; key: string; message: string };

export class AddressWatcher extends EventEmitter {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly wakeFd: number;
  private readonly watching = new Set<string>();
  private closed = false;
  private readonly exited: Promise<void>;

  constructor() {
    super();
    this.wakeFd = eventfd();
    const { port1, port2 } = new MessageChannel();
    this.port = port2;
    this.worker = new Worker(new URL('./address-watcher-worker.js', import.meta.url), {
      workerData: { wakeFd: this.wakeFd, control: port1 },
      transferList: [port1],
    });
    this.worker.unref();
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', () => {
        this.port.close();
        close(this.wakeFd);
        resolve();
      });
    });
    this.worker.on('error', (e) => {
      for (const key of this.watching) this.emit('watch-error', key, `address watcher thread failed: ${e.message}`);
    });
    this.worker.on('message', (m: FromWatcher) => {
      if (m.ev === 'address') {
        if (this.watching.has(m.key)) this.emit('address', m.key, m.ip, m.prefixLen, m.added, m.vid);
      } else if (m.ev === 'address6') {
        if (this.watching.has(m.key)) this.emit('address6', m.key, m.ip6, m.prefixLen, m.added, m.vid);
      } else if (m.ev === 'watch-error') {
        this.emit('watch-error', m.key, m.message);
      }
    });
  }

  private send(m: object): void {
    if (this.closed) return;
    this.port.postMessage(m);
    eventfdSignal(this.wakeFd);
  }

  /** Watch the addresses of `ifname` in namespace `netns` (null: this process's namespace). */
  watch(key: string, netns: string | null, ifname: string): void {
    this.watching.add(key);
    this.send({ op: 'watch', key, netns, ifname });
  }

  unwatch(key: string): void {
    this.watching.delete(key);
    this.send({ op: 'unwatch', key });
  }

  /** Stop every watch and end the thread. The returned promise resolves when it has ended. */
  close(): Promise<void> {
    if (!this.closed) {
      this.worker.ref(); // keep the process alive until the thread has ended
      this.send({ op: 'close' });
      this.closed = true;
      this.watching.clear();
    }
    return this.exited;
  }
}
