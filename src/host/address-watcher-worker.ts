/**
 * The address watcher's thread (worker_threads entry, started by AddressWatcher).
 *
 * workerData { wakeFd: number, control: MessagePort }. Control messages (drained with
 * receiveMessageOnPort after the eventfd wakes the loop): { op: 'watch', key, netns, ifname },
 * { op: 'unwatch', key }, { op: 'close' }. Posts { ev: 'address', key, ip, prefixLen, added },
 * { ev: 'address6', key, ip6, prefixLen, added } (ip6: 32 hex digits) and
 * { ev: 'watch-error', key, message }. An IPv6 address is reported only while usable: not
 * tentative (DAD running) and not DAD-failed; one that becomes so is reported deleted.
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

interface Watch {
  readonly key: string;
  readonly token: number;
  readonly fd: number;
  readonly ifname: string;
  ifindex: number;
  /** Reported addresses: "ip/prefix" -> [ip, prefixLen] (ip: uint32 IPv4, or IPv6 as 32 hex digits). */
  readonly known: Map<string, [Addr, number]>;
  /** Dump state: null when idle. */
  dump: null | { phase: 'link' | 'addr'; seq: number; found: Map<string, [Addr, number]> };
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

/** An address as reported: uint32 IPv4, or IPv6 as 32 hex digits. */
type Addr = number | string;

function report(w: Watch, ip: Addr, prefixLen: number, added: boolean): void {
  if (typeof ip === 'string') post({ ev: 'address6', key: w.key, ip6: ip, prefixLen, added });
  else post({ ev: 'address', key: w.key, ip, prefixLen, added });
}

function addrKey(ip: Addr, prefixLen: number): string {
  return `${ip}/${prefixLen}`;
}

function forgetAll(w: Watch): void {
  for (const [, [ip, pl]] of w.known) report(w, ip, pl, false);
  w.known.clear();
}

function startDump(w: Watch): void {
  if (w.dump !== null) { w.resync = true; return; }
  w.resync = false;
  const seq = nextSeq++;
  w.dump = { phase: 'link', seq, found: new Map() };
  send(w, dumpRequest(RTM_GETLINK, seq));
}

function startAddrDump(w: Watch): void {
  const seq = nextSeq++;
  w.dump = { phase: 'addr', seq, found: new Map() };
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
      if (ours && d!.phase === 'link') {
        if (e.added && e.name === w.ifname) adoptIndex(w, e.index, false);
        return;
      }
      if (!live) return; // an answer to an older request
      if (e.added && e.name === w.ifname && e.index !== w.ifindex) {
        adoptIndex(w, e.index, true);
      } else if (e.index === w.ifindex && (!e.added || (e.name !== null && e.name !== w.ifname))) {
        forgetAll(w);
        w.ifindex = -1;
      }
      return;
    }
    case 'addr':
    case 'addr6': {
      const ip: Addr = e.kind === 'addr' ? e.ip : e.ip6;
      // An IPv6 address held only once usable (a tentative or DAD-failed one is not the guest's).
      const held = e.added && (e.kind === 'addr' || e.usable);
      const k = addrKey(ip, e.prefixLen);
      if (ours && d!.phase === 'addr') {
        if (held && e.index === w.ifindex) d!.found.set(k, [ip, e.prefixLen]);
        return;
      }
      if (!live || e.index !== w.ifindex || w.ifindex < 0) return;
      if (held) {
        if (!w.known.has(k)) { w.known.set(k, [ip, e.prefixLen]); report(w, ip, e.prefixLen, true); }
        if (d !== null && d.phase === 'addr') d.found.set(k, [ip, e.prefixLen]);
      } else {
        if (w.known.delete(k)) report(w, ip, e.prefixLen, false);
        if (d !== null && d.phase === 'addr') d.found.delete(k);
      }
      return;
    }
    case 'done': {
      if (!ours) return;
      if (d!.phase === 'link') {
        if (!linkSeen.has(w)) { forgetAll(w); w.ifindex = -1; }
        linkSeen.delete(w);
        startAddrDump(w);
        return;
      }
      // Address dump complete: report the difference.
      for (const [k, [ip, pl]] of w.known) {
        if (!d!.found.has(k)) { w.known.delete(k); report(w, ip, pl, false); }
      }
      for (const [k, v] of d!.found) {
        if (!w.known.has(k)) { w.known.set(k, v); report(w, v[0], v[1], true); }
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
  forgetAll(w);
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
  const w: Watch = { key, token: nextToken++, fd, ifname, ifindex: -1, known: new Map(), dump: null, resync: false };
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
