/**
 * The data-plane loop: one synchronous epoll loop that owns every port fd, every switch's
 * Forwarder, the frame memory and the counters. It runs on the data-plane worker thread and
 * blocks in epoll_wait; nothing else runs on that thread.
 *
 * Per wake-up: read the ready events from a preallocated koffi buffer; for the wake eventfd,
 * drain the control MessagePort (receiveMessageOnPort) and apply each message; for a port, flush
 * its output queue if writable, then read a batch (up to RX_SLOTS frames, until EAGAIN) and hand
 * each frame to its switch's Forwarder.input. The Forwarder calls Egress.send synchronously,
 * which writes straight to the target port's fd (no queue, no copy for frames in the frame
 * memory). Forwarder.tick runs about once a second (the epoll timeout). With a busy-poll window
 * (LoopOptions.busyPollUs) the loop polls without blocking for that long after each wake-up
 * that found work.
 *
 * Egress normalisation (what the target port's framing needs):
 *   vnet port, frame without header -> a zero header is written into the 10 bytes before eth;
 *   plain port, frame with NEEDS_CSUM -> checksum completed in place (flag cleared);
 *   plain port, GSO frame -> software TCP segmentation (src/wire/segment.ts); other GSO types
 *   are dropped as BadOffload.
 * Frames the forwarder built in its own buffers are copied into the transmit slot first.
 *
 * Port extras (all optional, see port.ts): a port that sets rxPending after receive() is read
 * again before the loop moves on (a stream port holding more complete frames than one batch);
 * a failed port's downReason becomes the 'port-down' reason; tick(now) runs with the switches'
 * ticks. QEMU ports ('qemu-stream', 'qemu-dgram') are plain (vnet must be false) and get their
 * switch's queueBytes as the bound of their output queue; 'qemu-dgram' needs `peer`.
 *
 * Counting: rx frames/bytes (Ethernet bytes, header excluded) at the receiving port; tx
 * frames/bytes at the sending port; a refused or full write counts TxDrops at the port and, for
 * EAGAIN/ENOBUFS, QueueFull at the port's switch. Counters of a port id survive its removal (the
 * control plane numbers ports and decides when a number is reused).
 *
 * Failure: a port whose receive reports a fatal error, or whose fd reports EPOLLERR/EPOLLHUP
 * without anything to read, or whose send found the fd dead, is removed from its switch, closed
 * and reported with a 'port-down' message. A control message naming an unknown switch or a
 * port-add that cannot be honoured closes the fd and reports 'port-down' too, so an fd handed
 * over is never leaked. Nothing here throws out of run() for bad input or a failed port.
 *
 * No allocation per frame: frame memory, event buffer and offsets are preallocated; the egress
 * is one object created with the loop.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import {
  EAGAIN, ENOBUFS, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD,
  EPOLL_EVENT_SIZE, EINTR, allocBytes, close, epollCreate, epollCtl, errno, errnoName, eventfdDrain, raw,
  type ForeignBytes,
} from '../sys/libc.js';
import { DropReason, PortRole, type Egress, type Forwarder, type ForwarderEvents, type IpForwarder } from '../forward/api.js';
import { MAX_PORTS, MAX_SWITCHES, PortCounter, dropSlot, portSlot } from '../forward/counters.js';
import { SEGMENT_SCRATCH_LEN, finishChecksum, segmentTcp } from '../wire/segment.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN, VNET_HDR_LEN } from '../wire/vnet.js';
import type { FromWorker, ToWorker } from '../protocol/dataplane.js';
import { FrameMemory, HEADROOM, MAX_FRAME, RX_SLOTS, type Port } from './port.js';
import { TapPort } from './tap-port.js';
import { AfPacketPort } from './afpacket-port.js';
import { QemuStreamPort } from './qemu-stream-port.js';
import { QemuDgramPort } from './qemu-dgram-port.js';

/** Creates one switch's forwarder. The worker supplies it (IpSwitch / EthernetSwitch, or a test's). */
export type ForwarderFactory = (sw: number, mode: 'IP' | 'ETHERNET', counters: Float64Array, egress: Egress,
  events: ForwarderEvents, queueBytes: number) => Forwarder;

export interface LoopOptions {
  counters: Float64Array;
  /** Non-blocking eventfd the main thread writes after each post. The loop does not close it. */
  wakeFd: number;
  /** Main -> worker messages (never started: read with receiveMessageOnPort). */
  control: MessagePort;
  /** Worker -> main messages. */
  post(msg: FromWorker): void;
  makeForwarder: ForwarderFactory;
  /** Logger for events worth a line (never per frame). */
  log?(msg: string): void;
  /**
   * Busy-poll window in microseconds; 0 or absent: off (the default). After an epoll_wait that
   * found work, the loop keeps polling (epoll_wait with timeout 0, sched_yield between polls)
   * for this long before it blocks again, so a frame arriving within the window does not pay
   * for waking a sleeping thread (measured: about half of a guest-to-guest ping's round trip
   * on these VMs). The price: one CPU kept busy while frames arrive closer together than the
   * window; nothing while idle. Capped at one second.
   */
  busyPollUs?: number;
}

const MAX_EVENTS = 128;
const WAKE_TOKEN = 0xffffffff;
const TICK_MS = 1000;

interface SwitchState {
  readonly mode: 'IP' | 'ETHERNET';
  readonly fwd: Forwarder;
  /** QUEUESTORAGE: the output-queue bound of this switch's queueing ports (the QEMU ports). */
  readonly queueBytes: number;
  /** Port id -> how it was attached (to re-attach on a mode change). */
  readonly ports: Map<number, { role: PortRole; mac: number }>;
}

export class DataPlaneLoop {
  private readonly counters: Float64Array;
  private readonly epfd: number;
  private readonly events: ForeignBytes;
  private readonly evView: DataView;
  private readonly mem = new FrameMemory();
  private readonly segMem: ForeignBytes;
  private readonly segScratch: Uint8Array;
  private readonly ports: (Port | undefined)[] = new Array<Port | undefined>(MAX_PORTS).fill(undefined);
  /** Port id -> EPOLLOUT currently in its interest set. */
  private readonly outArmed = new Uint8Array(MAX_PORTS);
  private readonly switches: (SwitchState | undefined)[] = new Array<SwitchState | undefined>(MAX_SWITCHES).fill(undefined);
  /** Ports found dead during a batch, removed once the batch is done. */
  private readonly dead: Port[] = [];
  private running = true;
  private nextTick = 0;
  /** The port a segmented frame is being sent to (segEmit's target). */
  private segPort: Port | undefined = undefined;
  readonly egress: Egress;
  /** LoopOptions.busyPollUs in milliseconds (0: off). */
  private readonly busyPollMs: number;

  constructor(private readonly opts: LoopOptions) {
    this.counters = opts.counters;
    const bp = opts.busyPollUs ?? 0;
    this.busyPollMs = Number.isFinite(bp) && bp > 0 ? Math.min(bp, 1e6) / 1000 : 0;
    this.epfd = epollCreate();
    this.events = allocBytes(MAX_EVENTS * EPOLL_EVENT_SIZE);
    this.evView = this.events.view;
    this.segMem = allocBytes(SEGMENT_SCRATCH_LEN + HEADROOM);
    this.segScratch = this.segMem.bytes.subarray(HEADROOM, HEADROOM + SEGMENT_SCRATCH_LEN);
    epollCtl(this.epfd, EPOLL_CTL_ADD, opts.wakeFd, EPOLLIN, WAKE_TOKEN);
    const self = this;
    this.egress = {
      send(port: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
        self.send(port, buf, hdr, eth, end);
      },
    };
    this.segEmit = this.segEmit.bind(this);
  }

  /** Run until a 'stop' message. Closes every port and the epoll fd before returning. */
  run(): void {
    const ev = this.evView;
    const evAddr = this.events.addr;
    const epfd = this.epfd;
    this.nextTick = Date.now() + TICK_MS;
    this.drainControl(); // messages posted before the loop started
    const pollMs = this.busyPollMs;
    let pollUntil = 0;
    let polling = false;
    while (this.running) {
      let timeout = this.nextTick - Date.now();
      if (timeout < 0) timeout = 0;
      if (pollMs > 0) {
        polling = performance.now() < pollUntil;
        if (polling) timeout = 0;
      }
      const n = raw.epoll_wait(epfd, evAddr, MAX_EVENTS, timeout);
      if (pollMs > 0) {
        if (n > 0) pollUntil = performance.now() + pollMs;
        else if (polling) raw.sched_yield(); // a runnable guest on this CPU goes first
      }
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        this.log(`epoll_wait failed: ${errnoName(e)}`);
        break;
      }
      const now = Date.now();
      for (let i = 0; i < n && this.running; i++) {
        const mask = ev.getUint32(i * EPOLL_EVENT_SIZE, true);
        const token = ev.getUint32(i * EPOLL_EVENT_SIZE + 4, true);
        if (token === WAKE_TOKEN) {
          eventfdDrain(this.opts.wakeFd);
          this.drainControl();
          continue;
        }
        const port = this.ports[token];
        if (port === undefined) continue; // removed earlier in this batch
        this.service(port, mask, now);
        if (this.dead.length > 0) this.reapDead();
      }
      if (now >= this.nextTick) {
        this.nextTick = now + TICK_MS;
        for (let s = 0; s < MAX_SWITCHES; s++) {
          const st = this.switches[s];
          if (st !== undefined) st.fwd.tick(now);
        }
        const ports = this.ports;
        for (let id = 0; id < MAX_PORTS; id++) {
          const p = ports[id];
          if (p !== undefined && p.tick !== undefined) p.tick(now);
        }
      }
    }
    this.shutdown();
  }

  private service(port: Port, mask: number, now: number): void {
    if ((mask & EPOLLOUT) !== 0) {
      const r = port.flush();
      if (r < 0) { this.fail(port, -r, 'write failed'); return; }
      this.syncOut(port);
    }
    if ((mask & (EPOLLIN | EPOLLERR | EPOLLHUP)) === 0) return;
    // A stream port may hold complete frames beyond one batch; it asks to be read again.
    while (this.receiveBatch(port, mask, now) && port.rxPending === true) { /* next batch */ }
  }

  /** Read one batch from the port and forward it. False when the port is gone or had nothing. */
  private receiveBatch(port: Port, mask: number, now: number): boolean {
    const c = this.counters;
    const mem = this.mem;
    const n = port.receive(mem, RX_SLOTS);
    const errs = port.rxErrors;
    if (errs !== 0) {
      c[portSlot(port.id, PortCounter.RxErrors)] += errs;
      port.rxErrors = 0;
    }
    if (n < 0) { this.fail(port, -n, 'read failed'); return false; }
    if (n === 0) {
      if ((mask & (EPOLLERR | EPOLLHUP)) !== 0 && errs === 0 && port.rxPending !== true) {
        this.fail(port, 0, (mask & EPOLLHUP) !== 0 ? 'EPOLLHUP' : 'EPOLLERR');
      }
      return port.rxPending === true && this.ports[port.id] === port;
    }
    const st = this.switches[port.sw];
    const id = port.id;
    const bytes = mem.bytes;
    const rxh = mem.rxHdr, rxe = mem.rxEth, rxz = mem.rxEnd;
    let rxBytes = 0;
    for (let j = 0; j < n; j++) rxBytes += rxz[j] - rxe[j];
    c[portSlot(id, PortCounter.RxFrames)] += n;
    c[portSlot(id, PortCounter.RxBytes)] += rxBytes;
    if (st === undefined) return true;
    const fwd = st.fwd;
    for (let j = 0; j < n; j++) {
      fwd.input(id, bytes, rxh[j], rxe[j], rxz[j], now);
      if (this.ports[id] !== port) return false; // removed by a control action inside input (not expected)
    }
    if (this.dead.length > 0) this.reapDead();
    return this.ports[id] === port;
  }

  // ---- egress -------------------------------------------------------------------------------

  private send(portId: number, buf: Uint8Array, hdr: number, eth: number, end: number): void {
    const p = this.ports[portId];
    if (p === undefined || p.failed !== 0) return;
    const c = this.counters;
    const mem = this.mem;
    const b = mem.bytes;
    if (buf !== b) {
      if (buf.buffer === b.buffer) {
        const d = buf.byteOffset - b.byteOffset;
        hdr += d; eth += d; end += d;
      } else {
        // A frame the forwarder built in its own buffer: copy it into the transmit slot.
        const hl = eth - hdr;
        const len = end - hdr;
        if ((hl !== 0 && hl !== VNET_HDR_LEN) || end - eth > MAX_FRAME || len < 0 || hdr < 0 || end > buf.length) {
          c[portSlot(portId, PortCounter.TxDrops)]++;
          c[dropSlot(p.sw, DropReason.Malformed)]++;
          return;
        }
        const dst = mem.txSlot + HEADROOM + VNET_HDR_LEN - hl;
        if (len <= 256) {
          for (let i = 0; i < len; i++) b[dst + i] = buf[hdr + i];
        } else {
          b.set(buf.subarray(hdr, end), dst);
        }
        hdr = dst; eth = dst + hl; end = dst + len;
      }
    }
    let start: number;
    if (p.vnet) {
      if (hdr === eth) {
        start = eth - VNET_HDR_LEN;
        for (let i = start; i < eth; i++) b[i] = 0;
      } else {
        start = hdr;
      }
    } else {
      if (hdr !== eth) {
        const gso = b[hdr + 1] & ~VIRTIO_NET_HDR_GSO_ECN & 0xff;
        if (gso !== 0) {
          this.segPort = p;
          const r = segmentTcp(b, hdr, eth, end, this.segEmit, this.segScratch);
          this.segPort = undefined;
          if (r < 0) {
            c[portSlot(portId, PortCounter.TxDrops)]++;
            c[dropSlot(p.sw, DropReason.BadOffload)]++;
          }
          return;
        }
        if ((b[hdr] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0 && !finishChecksum(b, hdr, eth, end)) {
          c[portSlot(portId, PortCounter.TxDrops)]++;
          c[dropSlot(p.sw, DropReason.BadOffload)]++;
          return;
        }
      }
      start = eth;
    }
    this.transmit(p, mem, start, end, end - eth);
  }

  /** Emit callback for segmentTcp: scratch[start..end) is a plain frame (zero header before it). */
  private segEmit(scratch: Uint8Array, start: number, end: number): void {
    const p = this.segPort;
    if (p === undefined || p.failed !== 0) return;
    // segEmit only runs for plain ports, with our scratch; translate to the segMem address space.
    if (scratch !== this.segScratch) return;
    const base = HEADROOM;
    this.transmit(p, this.segMem, base + start, base + end, end - start);
  }

  /** Send m.bytes[start..end) (the frame memory, or the segmentation scratch) and count it. */
  private transmit(p: Port, m: { readonly bytes: Uint8Array; readonly addr: number }, start: number, end: number, ethBytes: number): void {
    this.account(p, p.send(m.bytes, m.addr, start, end), ethBytes);
  }

  private account(p: Port, r: number, ethBytes: number): void {
    const c = this.counters;
    if (r === 0) {
      c[portSlot(p.id, PortCounter.TxFrames)]++;
      c[portSlot(p.id, PortCounter.TxBytes)] += ethBytes;
    } else {
      c[portSlot(p.id, PortCounter.TxDrops)]++;
      if (r === EAGAIN || r === ENOBUFS) c[dropSlot(p.sw, DropReason.QueueFull)]++;
      if (p.failed !== 0) this.dead.push(p);
    }
    if (p.wantsWrite !== (this.outArmed[p.id] === 1)) this.syncOut(p);
  }

  private syncOut(p: Port): void {
    const want = p.wantsWrite ? 1 : 0;
    if (this.outArmed[p.id] === want) return;
    try {
      epollCtl(this.epfd, EPOLL_CTL_MOD, p.fd, EPOLLIN | (want ? EPOLLOUT : 0), p.id);
      this.outArmed[p.id] = want;
    } catch (e) {
      p.failed = (e as { errno?: number }).errno ?? 9;
      this.dead.push(p);
    }
  }

  // ---- port lifecycle -----------------------------------------------------------------------

  private fail(port: Port, e: number, reason: string): void {
    if (this.ports[port.id] !== port) return;
    if (port.downReason !== undefined) reason = port.downReason;
    this.removePort(port.id);
    this.opts.post({ ev: 'port-down', port: port.id, errno: e, reason: e !== 0 ? `${reason}: ${errnoName(e)}` : reason });
  }

  private reapDead(): void {
    while (this.dead.length > 0) {
      const p = this.dead.pop()!;
      this.fail(p, p.failed, 'write failed');
    }
  }

  private removePort(id: number): void {
    const p = this.ports[id];
    if (p === undefined) return;
    this.ports[id] = undefined;
    this.outArmed[id] = 0;
    const st = this.switches[p.sw];
    if (st !== undefined) {
      st.ports.delete(id);
      st.fwd.removePort(id);
    }
    try { epollCtl(this.epfd, EPOLL_CTL_DEL, p.fd, 0, 0); } catch { /* already gone */ }
    p.close();
  }

  private addPort(m: Extract<ToWorker, { op: 'port-add' }>): void {
    const refuse = (reason: string): void => {
      close(m.fd);
      this.opts.post({ ev: 'port-down', port: m.port, errno: 0, reason });
    };
    if (!Number.isInteger(m.port) || m.port < 0 || m.port >= MAX_PORTS) { refuse('bad port number'); return; }
    const st = this.switches[m.sw];
    if (st === undefined) { refuse(`no switch ${m.sw}`); return; }
    if (this.ports[m.port] !== undefined) this.removePort(m.port);
    let p: Port;
    switch (m.kind) {
      case 'tap': p = new TapPort(m.port, m.sw, m.name, m.fd, m.vnet); break;
      case 'afpacket': p = new AfPacketPort(m.port, m.sw, m.name, m.fd, m.vnet); break;
      case 'qemu-stream':
      case 'qemu-dgram':
        if (m.vnet) { refuse(`${m.kind} ports carry no virtio-net header (vnet must be false)`); return; }
        if (m.kind === 'qemu-stream') {
          p = new QemuStreamPort(m.port, m.sw, m.name, m.fd, st.queueBytes);
        } else {
          if (typeof m.peer !== 'string') { refuse('qemu-dgram port-add needs peer (QEMU\'s socket path)'); return; }
          try {
            p = new QemuDgramPort(m.port, m.sw, m.name, m.fd, m.peer, st.queueBytes);
          } catch (e) {
            refuse(`qemu-dgram: ${(e as Error).message}`);
            return;
          }
        }
        break;
      default: refuse(`port kind ${m.kind as string} not supported by this data plane`); return;
    }
    try {
      epollCtl(this.epfd, EPOLL_CTL_ADD, m.fd, EPOLLIN, m.port);
    } catch (e) {
      p.close(); // closes the fd and frees what the port allocated
      this.opts.post({ ev: 'port-down', port: m.port, errno: 0, reason: `epoll_ctl: ${(e as Error).message}` });
      return;
    }
    this.ports[m.port] = p;
    this.outArmed[m.port] = 0;
    const role = m.role === 'uplink' ? PortRole.Uplink : PortRole.Nic;
    st.ports.set(m.port, { role, mac: m.mac });
    st.fwd.addPort(m.port, role, m.mac);
  }

  private addSwitch(m: Extract<ToWorker, { op: 'switch-add' }>): void {
    if (!Number.isInteger(m.sw) || m.sw < 0 || m.sw >= MAX_SWITCHES) { this.log(`switch-add: bad switch number ${m.sw}`); return; }
    const old = this.switches[m.sw];
    if (old !== undefined && old.mode === m.mode) return;
    const sw = m.sw;
    const post = this.opts.post;
    const events: ForwarderEvents = {
      sawAddress(port: number, ip: number): void {
        post({ ev: 'saw-address', sw, port, ip });
      },
      joinedGroup(port: number, group: number): void {
        post({ ev: 'group-join', sw, port, group });
      },
      leftGroup(port: number, group: number): void {
        post({ ev: 'group-leave', sw, port, group });
      },
    };
    let fwd: Forwarder;
    try {
      fwd = this.opts.makeForwarder(sw, m.mode, this.counters, this.egress, events, m.queueBytes);
    } catch (e) {
      this.log(`switch-add ${sw}: ${(e as Error).message}`);
      return;
    }
    const st: SwitchState = { mode: m.mode, fwd, queueBytes: m.queueBytes, ports: old?.ports ?? new Map() };
    this.switches[sw] = st;
    if (old !== undefined) {
      // Mode change: the ports move to the new forwarder.
      for (const [id, a] of st.ports) {
        old.fwd.removePort(id);
        fwd.addPort(id, a.role, a.mac);
      }
    }
  }

  private removeSwitch(sw: number): void {
    const st = this.switches[sw];
    if (st === undefined) return;
    for (const id of [...st.ports.keys()]) {
      this.removePort(id);
    }
    this.switches[sw] = undefined;
  }

  private ipForwarder(sw: number): IpForwarder | undefined {
    const st = this.switches[sw];
    return st !== undefined && st.mode === 'IP' ? (st.fwd as IpForwarder) : undefined;
  }

  private drainControl(): void {
    for (;;) {
      const r = receiveMessageOnPort(this.opts.control);
      if (r === undefined) return;
      try {
        this.apply(r.message as ToWorker);
      } catch (e) {
        this.log(`control message failed: ${(e as Error).stack ?? String(e)}`);
      }
      if (!this.running) return;
    }
  }

  private apply(m: ToWorker): void {
    switch (m.op) {
      case 'switch-add': this.addSwitch(m); break;
      case 'switch-remove': this.removeSwitch(m.sw); break;
      case 'port-add': this.addPort(m); break;
      case 'port-remove': this.removePort(m.port); break;
      case 'ip-set': this.ipForwarder(m.sw)?.setAddress(m.ip >>> 0, m.port, m.localOnly); break;
      case 'ip-clear': this.ipForwarder(m.sw)?.clearAddress(m.ip >>> 0); break;
      case 'announce': this.ipForwarder(m.sw)?.announce(m.ip >>> 0); break;
      case 'stop': this.running = false; break;
      default: this.log(`unknown control message ${JSON.stringify(m)}`);
    }
  }

  private shutdown(): void {
    for (let s = 0; s < MAX_SWITCHES; s++) if (this.switches[s] !== undefined) this.removeSwitch(s);
    for (let id = 0; id < MAX_PORTS; id++) if (this.ports[id] !== undefined) this.removePort(id);
    close(this.epfd);
  }

  private log(msg: string): void {
    this.opts.log?.(msg);
  }
}
