/**
 * The address watcher's thread (worker_threads entry, started by AddressWatcher).
 *
 * workerData { wakeFd: number, control: MessagePort }. Control messages (drained with
 * receiveMessageOnPort after the eventfd wakes the loop): { op: 'watch', key, netns, ifname },
 * { op: 'unwatch', key }, { op: 'close' }. Posts { ev: 'address', key, ip, prefixLen, added, vid },
 * { ev: 'address6', key, ip6, prefixLen, added, vid } (ip6: 32 hex digits) and
 * { ev: 'watch-error', key, message }. An IPv6 address is reported only while usable: not
 * tentative (DAD running) and not DAD-failed; one that becomes so is reported deleted.
 *
 * VLAN sub-devices (issue 10): a watch also follows the interfaces named `IFNAME.N` (N 1-4094),
 * the name `ip link add link enc600 name enc600.20 type vlan id 20` gives a trunk guest's VLAN
 * device, and reports their addresses (IPv4 and IPv6 alike) with vid N (vid 0: the interface itself). The VLAN id is
 * taken from the `.N` name, not from IFLA_LINKINFO: a VLAN device named otherwise is not
 * followed, and any interface so named counts as VLAN N (what the switch then does with the
 * address depends on the port's VLANs: src/control/policy.ts addressVid).
 *
 * One NETLINK_ROUTE socket per watch, created while this thread is setns'd into the watch's
 * namespace (so it sees that namespace), bound to RTMGRP_LINK | RTMGRP_IPV4_IFADDR |
 * RTMGRP_IPV6_IFADDR. A watch first dumps links (to learn the interface's index by name), then
 * addresses (both families), and reports
 * the difference against what it reported before (all adds at first). Then live messages:
 * RTM_NEWADDR/DELADDR on the interface's index; RTM_NEWLINK with the name and a new index (the
 * interface was re-created or renamed into place) or RTM_DELLINK / a rename away: the known
 * addresses are reported deleted and addresses re-dumped. A receive overrun (ENOBUFS) or a
 * refused dump triggers a full re-sync (link dump, then address dump, then diff), retried each
 * second while it fails. Malformed messages are skipped (src/sys/netlink.ts).
 *
 * The thread blocks in epoll_wait (1 s timeout for retries) and never returns to its event loop
 * until 'close'.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import {
  AF_NETLINK, EAGAIN, EINTR, ENOBUFS, EPOLLIN, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_EVENT_SIZE, NETLINK_ROUTE,
  SOCK_NONBLOCK, SOCK_RAW, SOL_SOCKET, SO_RCVBUFFORCE, allocBytes, bind, close, epollCreate, epollCtl, errno, errnoName,
  eventfdDrain, raw, setsockoptInt, socket,
} from '../sys/libc.js';
import { withNetns } from '../sys/netns.js';
import {
  RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK, RTM_GETADDR, RTM_GETLINK, dumpRequest, parseMessages, sockaddrNl, type NetlinkEvent,
} from '../sys/netlink.js';

interface Input { wakeFd: number; control: MessagePort }
type Control =
  | { op: 'watch'; key: string; netns: string | null; ifname: string }
  | { op: 'unwatch'; key: string }
  | { op: 'close' };

const input = workerData as Input;
const parent = parentPort!;

const WAKE = 0xffffffff;
const RECV_LEN = 65536;

/**
 * A reported address: ip (uint32 IPv4, or IPv6 as 32 hex digits), prefix length, and the VLAN
 * sub-device it is on (0: the interface itself).
 */
type Addr = [ip: number | string, prefixLen: number, vid: number];

interface Watch {
  readonly key: string;
  readonly token: number;
  readonly fd: number;
  readonly ifname: string;
  ifindex: number;
  /** VLAN sub-devices `ifname.N`: interface index -> N. */
  subs: Map<number, number>;
  /** Reported addresses: "vid/ip/prefix" -> Addr. */
  readonly known: Map<string, Addr>;
  /** Dump state: null when idle. subs: the sub-devices the link dump showed. */
  dump: null | { phase: 'link' | 'addr'; seq: number; found: Map<string, Addr>; subs: Map<number, number> };
  /** A re-sync is wanted once the current dump ends (or when the last one failed). */
  resync: boolean;
}

const epfd = epollCreate();
const events = allocBytes(64 * EPOLL_EVENT_SIZE);
const recvBuf = Buffer.alloc(RECV_LEN);
epollCtl(epfd, EPOLL_CTL_ADD, input.wakeFd, EPOLLIN, WAKE);

const byKey = new Map<string, Watch>();
const byToken = new Map<number, Watch>();
let nextToken = 1;
let nextSeq = 1;
let running = true;

function post(m: unknown): void {
  parent.postMessage(m);
}

function report(w: Watch, [ip, prefixLen, vid]: Addr, added: boolean): void {
  if (typeof ip === 'string') post({ ev: 'address6', key: w.key, ip6: ip, prefixLen, added, vid });
  else post({ ev: 'address', key: w.key, ip, prefixLen, added, vid });
}

function addrKey(ip: number | string, prefixLen: number, vid: number): string {
  return `${vid}/${ip}/${prefixLen}`;
}

/** Report the known addresses gone: all, or those of VLAN sub-device `vid` only. */
function forgetAll(w: Watch, vid: number | null = null): void {
  for (const [k, a] of w.known) {
    if (vid !== null && a[2] !== vid) continue;
    report(w, a, false);
    w.known.delete(k);
  }
}

/** The VLAN id of a sub-device name `ifname.N` of the watched interface, or 0. */
function subVid(w: Watch, name: string | null): number {
  if (name === null || name.length <= w.ifname.length + 1 || !name.startsWith(`${w.ifname}.`)) return 0;
  const n = name.slice(w.ifname.length + 1);
  if (!/^[1-9]\d{0,3}$/.test(n)) return 0;
  const v = Number(n);
  return v <= 4094 ? v : 0;
}

/** The vid an address on interface `index` is reported with, or -1 when that interface is not watched. */
function vidOn(w: Watch, index: number): number {
  if (index === w.ifindex && w.ifindex >= 0) return 0;
  return w.subs.get(index) ?? -1;
}

function startDump(w: Watch): void {
  if (w.dump !== null) { w.resync = true; return; }
  w.resync = false;
  const seq = nextSeq++;
  w.dump = { phase: 'link', seq, found: new Map(), subs: new Map() };
  send(w, dumpRequest(RTM_GETLINK, seq));
}

function startAddrDump(w: Watch): void {
  const seq = nextSeq++;
  w.dump = { phase: 'addr', seq, found: new Map(), subs: new Map() };
  send(w, dumpRequest(RTM_GETADDR, seq));
}

function send(w: Watch, b: Buffer): void {
  if (raw.send(w.fd, b, b.length, 0) < 0) {
    // EBUSY (a dump still running) or a full socket: retry on the next timer pass.
    w.dump = null;
    w.resync = true;
  }
}

function onEvent(w: Watch, e: NetlinkEvent): void {
  const d = w.dump;
  // A dump answer carries NLM_F_MULTI and our seq; everything else is a live notification.
  const ours = d !== null && e.seq === d.seq && (e.kind === 'done' || e.kind === 'error' || e.kind === 'overrun' || e.multi);
  const live = (e.kind === 'link' || e.kind === 'addr' || e.kind === 'addr6') && !e.multi;
  switch (e.kind) {
    case 'link': {
      const vid = subVid(w, e.name);
      if (ours && d!.phase === 'link') {
        if (e.added && e.name === w.ifname) adoptIndex(w, e.index, false);
        if (e.added && vid > 0) d!.subs.set(e.index, vid);
        return;
      }
      if (!live) return; // an answer to an older request
      if (e.added && e.name === w.ifname && e.index !== w.ifindex) {
        adoptIndex(w, e.index, true);
      } else if (e.index === w.ifindex && (!e.added || (e.name !== null && e.name !== w.ifname))) {
        forgetAll(w, 0);
        w.ifindex = -1;
      }
      const was = w.subs.get(e.index);
      if (e.added && vid > 0 && was !== vid) {
        // A VLAN sub-device made (or renamed into place): it may already carry addresses.
        if (was !== undefined) forgetAll(w, was);
        w.subs.set(e.index, vid);
        if (w.dump === null) startAddrDump(w); else w.resync = true;
      } else if (was !== undefined && (!e.added || (e.name !== null && vid !== was))) {
        w.subs.delete(e.index);
        forgetAll(w, was);
      }
      return;
    }
    case 'addr':
    case 'addr6': {
      const ip = e.kind === 'addr' ? e.ip : e.ip6;
      const on = vidOn(w, e.index);
      const vid = on;
      // An IPv6 address held only once usable (a tentative or DAD-failed one is not the guest's).
      const held = e.added && (e.kind === 'addr' || e.usable);
      const a: Addr = [ip, e.prefixLen, vid];
      const k = addrKey(ip, e.prefixLen, vid);
      if (ours && d!.phase === 'addr') {
        if (held && vid >= 0) d!.found.set(k, a);
        return;
      }
      if (!live || vid < 0) return;
      if (held) {
        if (!w.known.has(k)) { w.known.set(k, a); report(w, a, true); }
        if (d !== null && d.phase === 'addr') d.found.set(k, a);
      } else {
        if (w.known.delete(k)) report(w, a, false);
        if (d !== null && d.phase === 'addr') d.found.delete(k);
      }
      return;
    }
    case 'done': {
      if (!ours) return;
      if (d!.phase === 'link') {
        if (!linkSeen.has(w)) { forgetAll(w, 0); w.ifindex = -1; }
        linkSeen.delete(w);
        w.subs = d!.subs; // addresses of sub-devices gone are reported gone by the address dump's difference
        startAddrDump(w);
        return;
      }
      // Address dump complete: report the difference.
      for (const [k, a] of w.known) {
        if (!d!.found.has(k)) { w.known.delete(k); report(w, a, false); }
      }
      for (const [k, a] of d!.found) {
        if (!w.known.has(k)) { w.known.set(k, a); report(w, a, true); }
      }
      w.dump = null;
      if (w.resync) startDump(w);
      return;
    }
    case 'error':
      if (ours) { w.dump = null; w.resync = true; }
      return;
    case 'overrun':
      w.dump = null;
      w.resync = true;
      return;
  }
}

/** Watches whose current link dump has shown the interface. */
const linkSeen = new Set<Watch>();

function adoptIndex(w: Watch, index: number, live: boolean): void {
  if (!live) linkSeen.add(w);
  if (index === w.ifindex) return;
  forgetAll(w, 0);
  w.ifindex = index;
  if (live) {
    // Re-created or renamed into place: it may already carry addresses.
    if (w.dump === null) startAddrDump(w); else w.resync = true;
  }
}

function readWatch(w: Watch): void {
  for (;;) {
    const n = raw.recv(w.fd, recvBuf, RECV_LEN, 0);
    if (n < 0) {
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return;
      if (e === ENOBUFS) { w.dump = null; linkSeen.delete(w); startDump(w); continue; }
      post({ ev: 'watch-error', key: w.key, message: `netlink recv: ${errnoName(e)}` });
      return;
    }
    if (n === 0) return;
    try {
      parseMessages(recvBuf, n, (ev) => onEvent(w, ev));
    } catch (err) {
      post({ ev: 'watch-error', key: w.key, message: `netlink parse: ${(err as Error).message}` });
    }
  }
}

function watch(key: string, netns: string | null, ifname: string): void {
  unwatch(key);
  let fd = -1;
  try {
    fd = withNetns(netns, () => {
      const s = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE);
      try {
        try { setsockoptInt(s, SOL_SOCKET, SO_RCVBUFFORCE, 1 << 20); } catch { /* keep the default */ }
        bind(s, sockaddrNl(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR));
      } catch (e) {
        close(s);
        throw e;
      }
      return s;
    });
  } catch (e) {
    post({ ev: 'watch-error', key, message: (e as Error).message });
    return;
  }
  const w: Watch = { key, token: nextToken++, fd, ifname, ifindex: -1, subs: new Map(), known: new Map(), dump: null, resync: false };
  epollCtl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN, w.token);
  byKey.set(key, w);
  byToken.set(w.token, w);
  startDump(w);
}

function unwatch(key: string): void {
  const w = byKey.get(key);
  if (w === undefined) return;
  byKey.delete(key);
  byToken.delete(w.token);
  linkSeen.delete(w);
  try { epollCtl(epfd, EPOLL_CTL_DEL, w.fd, 0, 0); } catch { /* closing anyway */ }
  close(w.fd);
}

function drainControl(): void {
  for (;;) {
    const r = receiveMessageOnPort(input.control);
    if (r === undefined) return;
    const m = r.message as Control;
    if (m.op === 'watch') watch(m.key, m.netns, m.ifname);
    else if (m.op === 'unwatch') unwatch(m.key);
    else if (m.op === 'close') { running = false; return; }
  }
}

drainControl();
while (running) {
  const n = raw.epoll_wait(epfd, events.addr, 64, 1000);
  if (n < 0) {
    if (errno() === EINTR) continue;
    break;
  }
  for (let i = 0; i < n && running; i++) {
    const token = events.view.getUint32(i * EPOLL_EVENT_SIZE + 4, true);
    if (token === WAKE) {
      eventfdDrain(input.wakeFd);
      drainControl();
      continue;
    }
    const w = byToken.get(token);
    if (w !== undefined) readWatch(w);
  }
  for (const w of byKey.values()) if (w.resync && w.dump === null) startDump(w);
}
for (const key of [...byKey.keys()]) unwatch(key);
close(epfd);
input.control.close();
