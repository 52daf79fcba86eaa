/**
 * The data-plane loop: one synchronous epoll loop that owns every port fd, every switch's
 * Forwarder, the frame memory and the counters. It runs on the data-plane worker thread and
 * blocks in epoll_wait; nothing else runs on that thread.
 *
 * Per wake-up: read the ready events from a preallocated koffi buffer; for the wake eventfd,
 * drain the control MessagePort (receiveMessageOnPort) and apply each message; for a port, flush
 * its output queue if writable, then read a batch (up to RX_SLOTS frames, until EAGAIN) and hand
 * each frame to its switch's Forwarder.input. The Forwarder calls Egress.send synchronously:
 * the loop's one FrameEgress (egress.ts) normalises the frame for the target port (virtio-net
 * header, checksum, segmentation), writes it straight to the port's fd (no queue, no copy for
 * frames in the frame memory) and counts the outcome. Forwarder.tick runs about once a second
 * (the epoll timeout). Whether the loop polls (epoll_wait with timeout 0, sched_yield after an
 * empty poll), sleeps on a timer (epoll_pwait2, timer slack 1 ns) or blocks is the PollPolicy's
 * call (poll-policy.ts): with LoopOptions.adaptivePoll (the worker's default) it adapts, without it never polls; with a
 * fixed busy-poll window (LoopOptions.busyPollUs) it polls that long after each wake-up that found work.
 *
 * Ports are built from the port-add message by their kind's entry in PORT_KINDS (port-kinds.ts),
 * which also says what the kind needs (vnet allowed, peer, the switch's queueBytes as its
 * queue bound). Port extras (all optional, see port.ts): a port that sets rxPending after
 * receive() is read again before the loop moves on (a stream port holding more complete frames
 * than one batch); a failed port's downReason becomes the 'port-down' reason; tick(now) runs
 * with the switches' ticks.
 *
 * Sparse reads (issue 14; LoopOptions.sparseReads, on unless VSWITCH_SPARSE_READS=0): a port
 * that reads one frame per syscall (Port.readsPerFrame: a TAP) is asked for one frame at a
 * time while its traffic is sparse, so a ping's wake-up costs one read, not a read and a
 * second that finds EAGAIN (each a syscall; on these VMs a few microseconds). epoll is
 * level-triggered, so a frame left behind makes the next epoll_wait return at once; a port
 * found ready again in the very next iteration after a one-frame read goes greedy (reads to
 * EAGAIN, up to RX_SLOTS) and stays greedy until a read finds at most one frame.
 *
 * Batched writes: a port may stage what the egress sends (Port.commit: a packet socket with
 * VSWITCH_SENDMMSG); the egress has them written after each batch is forwarded and at the end of
 * every wake-up (FrameEgress.commit), so nothing staged waits for the next frame. With
 * LoopOptions.loneDirect (VSWITCH_LONE_DIRECT=1; off by default: neutral when measured, README),
 * a batch of one received frame stages nothing (FrameEgress.batched false): its frame, a
 * ping's, is written at once.
 *
 * Traces: while a trace session watches the receiving port (trace-tap.ts), each frame is
 * recorded before the forwarder sees it and marked with its outcome after (the first of the
 * switch's input drop reasons that moved, or forwarded); the egress records what leaves.
 * Without an open session the only cost is one test per batch.
 *
 * MTU: each port knows its link's MTU (port.ts); the egress refuses larger frames as 'too-big'
 * and, on an IP-mode switch, answers them with ICMP errors sent back to the port the frame came
 * in on (egress.ts), so the loop tells it that port (egress.ingress) around each input.
 *
 * Ingress check: a frame read with a virtio-net header goes to the forwarder only if its
 * header passes vnetHeaderOk (vnet-check.ts: the kernel's rules, and a bound on the segments
 * one frame can make); one that fails is counted as the switch's 'bad-vnet-header' drop.
 *
 * Layer 2 (switch-add / port-add `policy`, switch-policy, port-policy): each policy goes to the
 * switch's forwarder (which refuses a bad one with a RangeError: a port-add with a bad policy
 * is refused like any port-add that cannot be honoured, a bad switch-policy or port-policy is
 * logged and changes nothing), and the VLAN each port carries untagged to the egress (which
 * tags the frames). On an ETHERNET-mode switch the uplink port, where its kind can
 * (Port.setUnicastFilter), registers every NIC's MAC with its interface as a unicast address
 * (the interface needs no promiscuous mode for them; the kernel makes a device that cannot
 * filter promiscuous by itself) and asks for all multicast. fdb-query answers with the
 * forwarder's learned MAC table (ETHERNET mode), as an 'fdb' message.
 *
 * Counting: rx frames/bytes (Ethernet bytes, header excluded) at the receiving port, rx errors
 * the port reports; tx frames/bytes/drops and the egress drop reasons are the egress's; the
 * loop's own (LoopCounter: wake-ups, receive batches, empty polls, sleeps, the thread's CPU
 * time, the last written once a second) at LOOP_BASE. Counters
 * of a port id survive its removal (the control plane numbers ports and decides when a number
 * is reused).
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
import { performance } from 'node:perf_hooks';
import {
  EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD,
  EPOLL_EVENT_SIZE, EINTR, allocBytes, close, epollCreate, epollCtl, errno, errnoName, eventfdDrain, raw,
  setTimerSlackNs, threadCpuNs, type ForeignBytes,
} from '../sys/libc.js';
import { DropReason, PortRole, type Egress, type Forwarder, type ForwarderEvents, type IpForwarder } from '../forward/api.js';
import { LoopCounter, MAX_PORTS, MAX_SWITCHES, PortCounter, SWITCH_SLOTS, dropSlot, loopSlot, portSlot } from '../forward/counters.js';
import {
  OPEN_PORT_POLICY, OPEN_SWITCH_POLICY, type FromWorker, type PortPolicy, type SwitchPolicy, type ToWorker,
} from '../protocol/dataplane.js';
import type { EthernetSwitch } from '../forward/ethernet-switch.js';
import type { Overlay } from '../forward/overlay.js';
import { portPolicyError, switchPolicyError } from '../forward/l2-policy.js';
import { FrameMemory, RX_SLOTS, type Port } from './port.js';
import { FrameEgress } from './egress.js';
import { openPort } from './port-kinds.js';
import { vnetHeaderOk } from './vnet-check.js';
import { TraceTap } from './trace-tap.js';
import { BLOCK, POLL, PollPolicy } from './poll-policy.js';
import { ip6FromHex, ip6HexOfWords, ip6Words } from '../wire/ipv6.js';
import { formatIpv4 } from '../wire/addr.js';

/**
 * The drop reasons a forwarder (or the loop's ingress check) counts for a received frame: how a
 * traced frame ended. The egress's reasons go with the frame's outbound record instead, and
 * notes beside a forwarded frame (LearnTableFull, GroupTableFull) and the control plane's
 * AddressConflict are no outcome.
 */
const INPUT_DROP_REASONS: readonly number[] = [
  DropReason.Malformed, DropReason.UnknownDestination, DropReason.NotIp, DropReason.LocalOnly, DropReason.Hairpin,
  DropReason.SpoofedSource, DropReason.ArpIgnored, DropReason.NoUplink, DropReason.BadSource, DropReason.NoGroupMember,
  DropReason.BadVnetHeader,
];

/** Creates one switch's forwarder. The worker supplies it (IpSwitch / EthernetSwitch, or a test's). */
export type ForwarderFactory = (sw: number, mode: 'IP' | 'ETHERNET', counters: Float64Array, egress: Egress,
  events: ForwarderEvents) => Forwarder;

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
   * window; nothing while idle. Capped at one second. Replaces adaptive polling.
   */
  busyPollUs?: number;
  /**
   * Adaptive polling (poll-policy.ts; absent: off, but the worker turns it on): poll right after work, through dense flows,
   * and around the predicted arrival of a steady flow's next frame; block otherwise. Off: the
   * loop blocks in epoll_wait whenever it has nothing to do (worker.ts: on unless VSWITCH_ADAPTIVE_POLL=0).
   */
  adaptivePoll?: boolean;
  /** Sparse reads (the file comment); default on. Off: every receive reads to EAGAIN. */
  sparseReads?: boolean;
  /** Lone frames written at once (the file comment, batched writes); default off: staged like any other. */
  loneDirect?: boolean;
}

/** The worker thread's name (/proc/PID/task/TID/comm, `top -H`; set by worker.ts): the benchmark finds the worker by it. */
export const WORKER_THREAD_NAME = 'vswitch-dp';

const MAX_EVENTS = 128;
const WAKE_TOKEN = 0xffffffff;
const TICK_MS = 1000;

interface SwitchState {
  readonly mode: 'IP' | 'ETHERNET';
  readonly fwd: Forwarder;
  /** QUEUESTORAGE: the output-queue bound of this switch's queueing ports (the QEMU ports). */
  readonly queueBytes: number;
  /** Port id -> how it was attached (to re-attach on a mode change), with its layer-2 policy. */
  readonly ports: Map<number, { role: PortRole; mac: number; policy: PortPolicy }>;
  /** The switch's layer-2 policy. */
  policy: SwitchPolicy;
}

export class DataPlaneLoop {
  private readonly counters: Float64Array;
  private readonly epfd: number;
  private readonly events: ForeignBytes;
  private readonly evView: DataView;
  private readonly mem = new FrameMemory();
  private readonly ports: (Port | undefined)[] = new Array<Port | undefined>(MAX_PORTS).fill(undefined);
  /** Port id -> EPOLLOUT currently in its interest set. */
  private readonly outArmed = new Uint8Array(MAX_PORTS);
  /** Port id -> its port-add MAC, and 1 for an uplink (the egress addresses ICMP errors with them). */
  private readonly portMac = new Float64Array(MAX_PORTS);
  private readonly portUplink = new Uint8Array(MAX_PORTS);
  /** Switch number -> 1 for an IP-mode switch. */
  private readonly ipMode = new Uint8Array(MAX_SWITCHES);
  /** Port id -> the VLAN it carries untagged (the egress tags the others). */
  private readonly untaggedVid = new Uint16Array(MAX_PORTS);
  private readonly switches: (SwitchState | undefined)[] = new Array<SwitchState | undefined>(MAX_SWITCHES).fill(undefined);
  /** Ports found dead during a batch, removed once the batch is done. */
  private readonly dead: Port[] = [];
  private running = true;
  private nextTick = 0;
  private readonly egress: FrameEgress;
  /** Open trace sessions (trace-tap.ts). */
  private readonly tap = new TraceTap();
  /** A switch's drop counters before a traced frame's input (to tell how it ended). */
  private readonly dropsBefore = new Float64Array(SWITCH_SLOTS);
  /** struct timespec scratch for the thread's CPU clock. */
  private readonly clock = allocBytes(16);
  /** When to poll, sleep or block (poll-policy.ts). */
  private readonly policy: PollPolicy;
  /** struct timespec for epoll_pwait2's timed sleeps. */
  private readonly timeout = allocBytes(16);
  /** Sparse reads (the file comment): on; port id -> 1 while it reads to EAGAIN; the iteration of its last one-frame read. */
  private readonly sparseReads: boolean;
  private readonly loneDirect: boolean;
  private readonly rxGreedy = new Uint8Array(MAX_PORTS);
  private readonly rxOneAt = new Float64Array(MAX_PORTS).fill(-2);
  /** Loop iterations so far (sparse reads tell "ready again at once" by it). */
  private iteration = 0;

  constructor(private readonly opts: LoopOptions) {
    this.counters = opts.counters;
    this.sparseReads = opts.sparseReads ?? true;
    this.loneDirect = opts.loneDirect ?? false;
    const bp = opts.busyPollUs ?? 0;
    this.policy = new PollPolicy(Number.isFinite(bp) && bp > 0 ? Math.min(bp, 1e6) / 1000 : 0, opts.adaptivePoll ?? false);
    this.epfd = epollCreate();
    this.events = allocBytes(MAX_EVENTS * EPOLL_EVENT_SIZE);
    this.evView = this.events.view;
    epollCtl(this.epfd, EPOLL_CTL_ADD, opts.wakeFd, EPOLLIN, WAKE_TOKEN);
    const self = this;
    this.egress = new FrameEgress(this.counters, this.mem, {
      ports: this.ports,
      outArmed: this.outArmed,
      portMac: this.portMac,
      portUplink: this.portUplink,
      ipMode: this.ipMode,
      untaggedVid: this.untaggedVid,
      syncOut(p: Port): void { self.syncOut(p); },
      portFailed(p: Port): void { self.dead.push(p); },
    }, this.tap);
    this.egress.batched = !this.loneDirect; // without the lever always; with it, set per batch (tick-made frames keep the last batch's: all is committed at the end of the wake-up anyway)
  }

  /** Run until a 'stop' message. Closes every port and the epoll fd before returning. */
  run(): void {
    const ev = this.evView;
    const evAddr = this.events.addr;
    const epfd = this.epfd;
    const clock = performance; // the module's binding: the global `performance` is an accessor, slow to look up
    this.nextTick = clock.now() + TICK_MS;
    this.drainControl(); // messages posted before the loop started
    const policy = this.policy;
    const c = this.counters;
    const wakeSlot = loopSlot(LoopCounter.Wakeups), emptySlot = loopSlot(LoopCounter.EmptyPolls), sleepSlot = loopSlot(LoopCounter.Sleeps);
    const ts = this.timeout.view, tsAddr = this.timeout.addr;
    setTimerSlackNs(1); // timed sleeps (the poll policy's) end when asked, not up to 50 us later
    while (this.running) {
      this.iteration++;
      const t0 = clock.now();
      let tickMs = this.nextTick - t0;
      if (tickMs < 0) tickMs = 0;
      const d = policy.next(t0);
      let n: number;
      let polled = false;
      if (d === POLL || tickMs === 0) {
        polled = d === POLL;
        n = raw.epoll_wait(epfd, evAddr, MAX_EVENTS, 0);
      } else if (d === BLOCK || d >= tickMs) {
        c[sleepSlot]++;
        n = raw.epoll_wait(epfd, evAddr, MAX_EVENTS, Math.ceil(tickMs));
      } else {
        c[sleepSlot]++;
        const ns = Math.round(d * 1e6);
        ts.setUint32(0, Math.floor(ns / 1e9), true);
        ts.setUint32(8, ns % 1e9, true);
        n = raw.epoll_pwait2(epfd, evAddr, MAX_EVENTS, tsAddr, 0);
      }
      const t1 = clock.now();
      if (n > 0) {
        c[wakeSlot]++;
        policy.work(t1);
      } else if (n === 0) {
        policy.idle(t1);
        if (polled) {
          c[emptySlot]++;
          raw.sched_yield(); // a runnable guest on this CPU goes first
        }
      }
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        this.log(`epoll_wait failed: ${errnoName(e)}`);
        break;
      }
      const tick = t1 >= this.nextTick;
      const now = n > 0 || tick ? Date.now() : 0; // the forwarders' time (wall clock, ms)
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
      if (tick) {
        this.nextTick = t1 + TICK_MS;
        c[loopSlot(LoopCounter.CpuNs)] = threadCpuNs(this.clock);
        c[loopSlot(LoopCounter.PredictHits)] = policy.hits;
        c[loopSlot(LoopCounter.PredictMisses)] = policy.misses;
        this.egress.tick();
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
      this.egress.commit(); // frames sent outside a batch (control messages, ticks)
      if (this.dead.length > 0) this.reapDead();
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
    const id = port.id;
    // Sparse reads (the file comment): one frame unless the port was ready again at once.
    let one = false;
    if (port.readsPerFrame === true && this.sparseReads && this.rxGreedy[id] === 0) {
      if (this.rxOneAt[id] === this.iteration - 1) this.rxGreedy[id] = 1;
      else one = true;
    }
    const n = port.receive(mem, one ? 1 : RX_SLOTS);
    if (one) { if (n === 1) this.rxOneAt[id] = this.iteration; } else if (n <= 1) this.rxGreedy[id] = 0;
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
    const bytes = mem.bytes;
    const rxh = mem.rxHdr, rxe = mem.rxEth, rxz = mem.rxEnd;
    let rxBytes = 0;
    for (let j = 0; j < n; j++) rxBytes += rxz[j] - rxe[j];
    c[portSlot(id, PortCounter.RxFrames)] += n;
    c[portSlot(id, PortCounter.RxBytes)] += rxBytes;
    c[loopSlot(LoopCounter.Batches)]++;
    if (st === undefined) return true;
    const fwd = st.fwd;
    const vnet = port.vnet;
    const egress = this.egress;
    egress.ingress = id;
    if (this.loneDirect) egress.batched = n > 1;
    const traced = this.tap.active !== 0 ? this.tap.watch(port.sw, id, this.portUplink[id] === 1) : 0;
    if (traced !== 0) return this.inputTraced(port, st, n, traced, now);
    for (let j = 0; j < n; j++) {
      if (vnet && !vnetHeaderOk(bytes, rxh[j], rxe[j], rxz[j])) {
        c[dropSlot(port.sw, DropReason.BadVnetHeader)]++;
        continue;
      }
      fwd.input(id, bytes, rxh[j], rxe[j], rxz[j], now);
      if (this.ports[id] !== port) { egress.ingress = -1; egress.commit(); return false; } // removed inside input (not expected)
    }
    egress.ingress = -1;
    egress.commit();
    if (this.dead.length > 0) this.reapDead();
    return this.ports[id] === port;
  }

  /** receiveBatch's forwarding while trace sessions (`mask`) watch the port: each frame recorded with its outcome. */
  private inputTraced(port: Port, st: SwitchState, n: number, mask: number, now: number): boolean {
    const c = this.counters;
    const mem = this.mem;
    const bytes = mem.bytes;
    const rxh = mem.rxHdr, rxe = mem.rxEth, rxz = mem.rxEnd;
    const tap = this.tap;
    const id = port.id;
    const base = dropSlot(port.sw, 0);
    const before = this.dropsBefore;
    const reasons = INPUT_DROP_REASONS;
    for (let j = 0; j < n; j++) {
      tap.recordIn(mask, id, bytes, mem.addr, rxe[j], rxz[j]);
      if (port.vnet && !vnetHeaderOk(bytes, rxh[j], rxe[j], rxz[j])) {
        c[base + DropReason.BadVnetHeader]++;
        tap.finishIn(mask, DropReason.BadVnetHeader + 1);
        continue;
      }
      for (let k = 0; k < reasons.length; k++) before[k] = c[base + reasons[k]];
      st.fwd.input(id, bytes, rxh[j], rxe[j], rxz[j], now);
      let drop = 0;
      for (let k = 0; k < reasons.length; k++) {
        if (c[base + reasons[k]] !== before[k]) { drop = reasons[k] + 1; break; }
      }
      tap.finishIn(mask, drop);
      if (this.ports[id] !== port) { this.egress.ingress = -1; this.egress.commit(); return false; }
    }
    this.egress.ingress = -1;
    this.egress.commit();
    if (this.dead.length > 0) this.reapDead();
    return this.ports[id] === port;
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
    this.untaggedVid[id] = 0;
    this.rxGreedy[id] = 0;
    this.rxOneAt[id] = -2;
    try { epollCtl(this.epfd, EPOLL_CTL_DEL, p.fd, 0, 0); } catch { /* already gone */ }
    p.close();
    if (st !== undefined && this.switches[p.sw] === st) this.syncUplinkFilter(st);
  }

  private addPort(m: Extract<ToWorker, { op: 'port-add' }>): void {
    const refuse = (reason: string): void => {
      close(m.fd);
      this.opts.post({ ev: 'port-down', port: m.port, errno: 0, reason });
    };
    if (!Number.isInteger(m.port) || m.port < 0 || m.port >= MAX_PORTS) { refuse('bad port number'); return; }
    const st = this.switches[m.sw];
    if (st === undefined) { refuse(`no switch ${m.sw}`); return; }
    const policy = m.policy ?? OPEN_PORT_POLICY;
    const bad = portPolicyError(policy);
    if (bad !== null) { refuse(bad); return; }
    if (this.ports[m.port] !== undefined) this.removePort(m.port);
    const p = openPort(m, st.queueBytes);
    if (typeof p === 'string') { refuse(p); return; }
    try {
      epollCtl(this.epfd, EPOLL_CTL_ADD, m.fd, EPOLLIN, m.port);
    } catch (e) {
      p.close(); // closes the fd and frees what the port allocated
      this.opts.post({ ev: 'port-down', port: m.port, errno: 0, reason: `epoll_ctl: ${(e as Error).message}` });
      return;
    }
    this.ports[m.port] = p;
    this.outArmed[m.port] = 0;
    this.portMac[m.port] = m.mac;
    this.portUplink[m.port] = m.role === 'uplink' ? 1 : 0;
    const role = m.role === 'uplink' ? PortRole.Uplink : m.role === 'overlay' ? PortRole.Overlay : PortRole.Nic;
    st.ports.set(m.port, { role, mac: m.mac, policy });
    st.fwd.addPort(m.port, role, m.mac);
    st.fwd.setPortPolicy(m.port, policy);
    this.syncEdges(st);
    this.syncUplinkFilter(st);
  }

  // ---- layer 2 ------------------------------------------------------------------------------

  /** The VLAN each port of the switch carries untagged, for the egress (the file comment). */
  private syncEdges(st: SwitchState): void {
    const aware = st.policy.vlanAware;
    for (const [id, a] of st.ports) {
      this.untaggedVid[id] = !aware ? 0 : a.role === PortRole.Uplink ? st.policy.nativeVid : a.policy.pvid;
    }
  }

  /** ETHERNET mode: the uplink's interface receives the NICs' MACs (and all multicast); otherwise nothing extra. */
  private syncUplinkFilter(st: SwitchState): void {
    let macs: number[] | null = null;
    if (st.mode === 'ETHERNET') {
      macs = [];
      for (const a of st.ports.values()) if (a.role === PortRole.Nic) macs.push(a.mac);
    }
    for (const [id, a] of st.ports) {
      const p = this.ports[id];
      if (a.role !== PortRole.Uplink || p === undefined || p.setUnicastFilter === undefined) continue;
      const err = p.setUnicastFilter(macs);
      if (err !== null) this.log(`uplink ${p.name}: ${err}`);
    }
  }

  private setSwitchPolicy(sw: number, policy: SwitchPolicy): void {
    const st = this.switches[sw];
    if (st === undefined) { this.log(`switch-policy: no switch ${sw}`); return; }
    const bad = switchPolicyError(policy);
    if (bad !== null) { this.log(`switch-policy ${sw}: ${bad}`); return; }
    st.policy = policy;
    st.fwd.setSwitchPolicy(policy);
    this.syncEdges(st);
  }

  private setPortPolicy(id: number, policy: PortPolicy): void {
    const p = this.ports[id];
    const st = p !== undefined ? this.switches[p.sw] : undefined;
    const a = st?.ports.get(id);
    if (st === undefined || a === undefined) { this.log(`port-policy: no port ${id}`); return; }
    const bad = portPolicyError(policy);
    if (bad !== null) { this.log(`port-policy ${id}: ${bad}`); return; }
    a.policy = policy;
    st.fwd.setPortPolicy(id, policy);
    this.syncEdges(st);
  }

  private fdbQuery(sw: number, req: number): void {
    const st = this.switches[sw];
    const entries = st !== undefined && st.mode === 'ETHERNET' ? (st.fwd as EthernetSwitch).fdb?.(Date.now()) ?? [] : [];
    this.opts.post({ ev: 'fdb', sw, req, entries });
  }

  private addSwitch(m: Extract<ToWorker, { op: 'switch-add' }>): void {
    if (!Number.isInteger(m.sw) || m.sw < 0 || m.sw >= MAX_SWITCHES) { this.log(`switch-add: bad switch number ${m.sw}`); return; }
    const old = this.switches[m.sw];
    const policy = m.policy ?? old?.policy ?? OPEN_SWITCH_POLICY;
    const bad = switchPolicyError(policy);
    if (bad !== null) { this.log(`switch-add ${m.sw}: ${bad}`); return; }
    if (old !== undefined && old.mode === m.mode) { this.setSwitchPolicy(m.sw, policy); return; }
    const sw = m.sw;
    const post = this.opts.post;
    const events: ForwarderEvents = {
      sawAddress(port: number, ip: number, vid: number): void {
        post({ ev: 'saw-address', sw, port, ip, vid });
      },
      joinedGroup(port: number, group: number): void {
        post({ ev: 'group-join', sw, port, group });
      },
      leftGroup(port: number, group: number): void {
        post({ ev: 'group-leave', sw, port, group });
      },
      lanHolder(ip: number, mac: number, vid: number): void {
        post({ ev: 'lan-holder', sw, ip, mac, vid });
      },
      sawAddress6(port: number, w0: number, w1: number, w2: number, w3: number, vid: number): void {
        post({ ev: 'saw-address6', sw, port, ip6: ip6HexOfWords(w0, w1, w2, w3), vid });
      },
      joinedGroup6(port: number, w0: number, w1: number, w2: number, w3: number): void {
        post({ ev: 'group6-join', sw, port, group6: ip6HexOfWords(w0, w1, w2, w3) });
      },
      leftGroup6(port: number, w0: number, w1: number, w2: number, w3: number): void {
        post({ ev: 'group6-leave', sw, port, group6: ip6HexOfWords(w0, w1, w2, w3) });
      },
    };
    let fwd: Forwarder;
    try {
      fwd = this.opts.makeForwarder(sw, m.mode, this.counters, this.egress, events);
    } catch (e) {
      this.log(`switch-add ${sw}: ${(e as Error).message}`);
      return;
    }
    try {
      fwd.setSwitchPolicy(policy);
    } catch (e) {
      this.log(`switch-add ${sw}: ${(e as Error).message}`);
      return;
    }
    const st: SwitchState = { mode: m.mode, fwd, queueBytes: m.queueBytes, ports: old?.ports ?? new Map(), policy };
    this.switches[sw] = st;
    this.ipMode[sw] = m.mode === 'IP' ? 1 : 0;
    if (old !== undefined) {
      // Mode change: the ports move to the new forwarder.
      for (const [id, a] of st.ports) {
        old.fwd.removePort(id);
        fwd.addPort(id, a.role, a.mac);
        fwd.setPortPolicy(id, a.policy);
      }
    }
    this.syncEdges(st);
    this.syncUplinkFilter(st);
  }

  private removeSwitch(sw: number): void {
    const st = this.switches[sw];
    if (st === undefined) return;
    for (const id of [...st.ports.keys()]) {
      this.removePort(id);
    }
    this.switches[sw] = undefined;
    this.ipMode[sw] = 0;
  }

  /** An IPv6 LAN IP table message; a malformed address is logged and ignored. */
  private applyIp6(m: Extract<ToWorker, { op: 'ip6-set' | 'ip6-clear' | 'announce6' }>): void {
    const f = this.ipForwarder(m.sw);
    const a = typeof m.ip6 === 'string' ? ip6FromHex(m.ip6) : null;
    if (f === undefined) return;
    if (a === null) { this.log(`${m.op}: bad address ${String(m.ip6)}`); return; }
    const [w0, w1, w2, w3] = ip6Words(a);
    const vid = m.vid ?? 0;
    if (m.op === 'ip6-set') f.setAddress6(vid, w0, w1, w2, w3, m.port, m.localOnly);
    else if (m.op === 'ip6-clear') f.clearAddress6(vid, w0, w1, w2, w3);
    else f.announce6(vid, w0, w1, w2, w3);
  }

  private ipForwarder(sw: number): IpForwarder | undefined {
    const st = this.switches[sw];
    return st !== undefined && st.mode === 'IP' ? (st.fwd as IpForwarder) : undefined;
  }

  /** The VXLAN overlay of IP-mode switch `sw` (src/forward/overlay.ts). */
  private overlayOf(sw: number): Overlay | undefined {
    const f = this.ipForwarder(sw);
    return (f as { overlay?: Overlay } | undefined)?.overlay;
  }

  /** A remote guest's address on a switch's overlay (IPv4 or IPv6); a malformed or refused one is logged and ignored. */
  private applyOverlay(m: Extract<ToWorker, { op: 'overlay-set' | 'overlay-clear' }>): void {
    const o = this.overlayOf(m.sw);
    if (o === undefined) return;
    if (m.ip6 === undefined) {
      if (typeof m.ip !== 'number') this.log(`${m.op}: neither ip nor ip6`);
      else if (m.op === 'overlay-set') {
        if (!o.setRemote(m.ip >>> 0, m.mac)) this.log(`overlay-set: ${formatIpv4(m.ip >>> 0)} refused (the remote table is full)`);
      }
      else o.clearRemote(m.ip >>> 0);
      return;
    }
    const a = typeof m.ip6 === 'string' ? ip6FromHex(m.ip6) : null;
    if (a === null) { this.log(`${m.op}: bad address ${String(m.ip6)}`); return; }
    const [w0, w1, w2, w3] = ip6Words(a);
    if (m.op === 'overlay-clear') o.clearRemote6(w0, w1, w2, w3);
    else if (!o.setRemote6(w0, w1, w2, w3, m.mac)) this.log(`overlay-set: ${m.ip6} does not cross the overlay (link-local, multicast or table full)`);
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
      case 'switch-policy': this.setSwitchPolicy(m.sw, m.policy); break;
      case 'switch-remove': this.removeSwitch(m.sw); break;
      case 'port-add': this.addPort(m); break;
      case 'port-policy': this.setPortPolicy(m.port, m.policy); break;
      case 'port-remove': this.removePort(m.port); break;
      case 'ip-set': this.ipForwarder(m.sw)?.setAddress(m.ip >>> 0, m.port, m.localOnly, m.vid ?? 0); break;
      case 'ip-clear': this.ipForwarder(m.sw)?.clearAddress(m.ip >>> 0, m.vid ?? 0); break;
      case 'announce': this.ipForwarder(m.sw)?.announce(m.ip >>> 0, m.vid ?? 0); break;
      case 'overlay-set': case 'overlay-clear': this.applyOverlay(m); break;
      case 'ip6-set': case 'ip6-clear': case 'announce6': this.applyIp6(m); break;
      case 'trace-start': {
        const refused = this.tap.start(m);
        if (refused !== null) this.opts.post({ ev: 'trace-stopped', trace: m.trace, reason: refused });
        break;
      }
      case 'trace-stop':
        this.tap.stop(m.trace);
        this.opts.post({ ev: 'trace-stopped', trace: m.trace });
        break;
      case 'probe': this.ipForwarder(m.sw)?.probe(m.ip >>> 0, m.vid ?? 0); break;
      case 'stop': this.running = false; break;
      case 'fdb-query': this.fdbQuery(m.sw, m.req); break;
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
