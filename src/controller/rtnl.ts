/**
 * The controller's rtnetlink (NETLINK_ROUTE) access to the uplink interfaces: read a link's
 * state (flags, carrier, MTU, MAC), set it up, and follow link changes.
 *
 * - `Rtnl` holds one blocking request socket (1 s receive timeout) for RTM_GETLINK and
 *   RTM_NEWLINK(IFF_UP) with an acknowledgement; its calls are short and synchronous (the
 *   controller does nothing else meanwhile; it is never in the data path). It also programs a
 *   link's multicast filter (addMulticast / delMulticast: SIOCADDMULTI / SIOCDELMULTI on a UDP
 *   socket, struct ifreq with sa_family AF_UNSPEC and the MAC in sa_data). Those are the
 *   kernel's "global" entries (dev_mc_add_global): not tied to the socket or the process, so
 *   they survive a controller's death (the adapter keeps accepting the groups' frames: no
 *   traffic lost), adding one twice is one entry, and deleting one removes only that entry
 *   (memberships the host's own IP stack holds stay).
 * - `LinkMonitor` holds a second socket bound to RTMGRP_LINK; poll(2) (200 ms timeout) runs on
 *   libuv's thread pool (koffi async) and the non-blocking reads on the main thread, so link
 *   changes arrive as events at once. A receive error (ENOBUFS overrun included) is reported as
 *   'resync' so the caller re-reads every link it follows.
 * Parsing checks every length against the datagram (untrusted bytes; malformed parts are
 * skipped, nothing throws). The sockets belong to the network namespace of the calling thread
 * when they are made: run the controller in the daemon's namespace.
 */
import { EventEmitter } from 'node:events';
import {
  AF_INET, AF_NETLINK, ARPHRD_ETHER, EAGAIN, EINTR, ENODEV, ENOENT, NETLINK_ROUTE, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW, SOL_SOCKET, allocBytes, bind, close, errno, errnoName,
  ifNameToIndex, ifreq, ioctlPtr, raw, setsockoptBuf, socket, strerror, type ForeignBytes,
} from '../sys/libc.js';
import {
  AF_UNSPEC, IFF_LOWER_UP, IFF_UP, IFINFOMSG_LEN, IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, NLMSG_DONE, NLMSG_ERROR,
  NLMSG_HDRLEN, NLM_F_ACK, NLM_F_REQUEST, RTMGRP_LINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, sockaddrNl,
} from '../sys/netlink.js';
import { formatMac, writeMac } from '../wire/addr.js';

const SO_RCVTIMEO = 20;
const SIOCADDMULTI = 0x8931;
const SIOCDELMULTI = 0x8932;
const RECV_LEN = 65536;

export interface LinkState {
  index: number;
  name: string;
  /** ARPHRD type (1: Ethernet). */
  type: number;
  up: boolean;
  carrier: boolean;
  mtu: number;
  /** "aa:bb:cc:dd:ee:ff", or "" if the link has no 6-byte address. */
  mac: string;
}

export type LinkMessage = { added: true; link: LinkState } | { added: false; index: number; name: string | null };

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Parse the RTM_NEWLINK / RTM_DELLINK messages (and NLMSG_ERROR / DONE) in b[0..len). */
export function parseLinkMessages(b: Uint8Array, len: number, on: (m: LinkMessage | { error: number; seq: number } | { done: true }) => void): void {
  const dv = new DataView(b.buffer, b.byteOffset, Math.min(len, b.length));
  let off = 0;
  while (off + NLMSG_HDRLEN <= dv.byteLength) {
    const mlen = dv.getUint32(off, true);
    const type = dv.getUint16(off + 4, true);
    const seq = dv.getUint32(off + 8, true);
    if (mlen < NLMSG_HDRLEN || off + mlen > dv.byteLength) return;
    const body = off + NLMSG_HDRLEN;
    const end = off + mlen;
    if (type === NLMSG_ERROR && end - body >= 4) {
      on({ error: -dv.getInt32(body, true), seq });
    } else if (type === NLMSG_DONE) {
      on({ done: true });
    } else if ((type === RTM_NEWLINK || type === RTM_DELLINK) && end - body >= IFINFOMSG_LEN) {
      const ltype = dv.getUint16(body + 2, true);
      const index = dv.getInt32(body + 4, true);
      const flags = dv.getUint32(body + 8, true);
      let name: string | null = null;
      let mtu = 0;
      let mac = '';
      let a = body + IFINFOMSG_LEN;
      while (a + 4 <= end) {
        const alen = dv.getUint16(a, true);
        const at = dv.getUint16(a + 2, true) & 0x3fff;
        if (alen < 4 || a + alen > end) break;
        const p = a + 4;
        const plen = alen - 4;
        if (at === IFLA_IFNAME) {
          let n = 0;
          while (n < plen && b[p + n] !== 0) n++;
          name = Buffer.from(b.buffer, b.byteOffset + p, n).toString('utf8');
        } else if (at === IFLA_MTU && plen >= 4) {
          mtu = dv.getUint32(p, true);
        } else if (at === IFLA_ADDRESS && plen === 6) {
          let m = 0;
          for (let i = 0; i < 6; i++) m = m * 256 + b[p + i];
          mac = formatMac(m, ':');
        }
        a += align4(alen);
      }
      if (type === RTM_DELLINK) on({ added: false, index, name });
      else if (name !== null) on({ added: true, link: { index, name, type: ltype, up: (flags & IFF_UP) !== 0, carrier: (flags & IFF_LOWER_UP) !== 0, mtu, mac } });
    }
    off += align4(mlen);
  }
}

function ifinfomsg(type: number, flags: number, seq: number, index: number, ifiFlags: number, ifiChange: number, name?: string): Buffer {
  const nameBytes = name === undefined ? null : Buffer.from(`${name}\0`, 'utf8');
  const attrLen = nameBytes ? align4(4 + nameBytes.length) : 0;
  const b = Buffer.alloc(NLMSG_HDRLEN + IFINFOMSG_LEN + attrLen);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  b[16] = 0; // AF_UNSPEC
  b.writeInt32LE(index, 20);
  b.writeUInt32LE(ifiFlags >>> 0, 24);
  b.writeUInt32LE(ifiChange >>> 0, 28);
  if (nameBytes) {
    b.writeUInt16LE(4 + nameBytes.length, 32);
    b.writeUInt16LE(IFLA_IFNAME, 34);
    nameBytes.copy(b, 36);
  }
  return b;
}

export class RtnlError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Synchronous rtnetlink requests about links. */
export class Rtnl {
  private readonly fd: number;
  /** A UDP socket for the interface ioctls (SIOCADDMULTI / SIOCDELMULTI). */
  private readonly ioFd: number;
  private seq = 1;
  private readonly buf = Buffer.alloc(RECV_LEN);

  constructor() {
    this.ioFd = socket(AF_INET, SOCK_DGRAM, 0);
    this.fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(1n, 0); // 1 s
    setsockoptBuf(this.fd, SOL_SOCKET, SO_RCVTIMEO, tv);
    bind(this.fd, sockaddrNl(0));
  }

  close(): void {
    close(this.fd);
    close(this.ioFd);
  }

  /** Put `mac` (48-bit number) in the link's multicast filter (SIOCADDMULTI); idempotent. Throws SysError. */
  addMulticast(name: string, mac: number): void {
    ioctlPtr(this.ioFd, SIOCADDMULTI, mcastIfreq(name, mac), `SIOCADDMULTI ${name} ${formatMac(mac)}`);
  }

  /** Take `mac` out of the link's multicast filter (SIOCDELMULTI); an entry already gone is fine. Throws SysError. */
  delMulticast(name: string, mac: number): void {
    try {
      ioctlPtr(this.ioFd, SIOCDELMULTI, mcastIfreq(name, mac), `SIOCDELMULTI ${name} ${formatMac(mac)}`);
    } catch (e) {
      if ((e as { errno?: number }).errno !== ENOENT) throw e;
    }
  }

  /** Send one request and collect the answer for its sequence number. */
  private request(msg: Buffer, seq: number): { links: LinkState[]; error: number } {
    if (raw.send(this.fd, msg, msg.length, 0) < 0) {
      const e = errno();
      throw new RtnlError(errnoName(e), `rtnetlink send: ${strerror(e)}`);
    }
    const links: LinkState[] = [];
    for (;;) {
      const n = Number(raw.recv(this.fd, this.buf, this.buf.length, 0));
      if (n < 0) {
        const e = errno();
        throw new RtnlError(errnoName(e), `rtnetlink receive: ${strerror(e)}`);
      }
      let error: number | null = null;
      let done = false;
      parseLinkMessages(this.buf, n, (m) => {
        if ('error' in m) { if (m.seq === seq) error = m.error; }
        else if ('done' in m) done = true;
        else if (m.added) links.push(m.link);
      });
      if (error !== null) return { links, error };
      if (links.length > 0 || done) return { links, error: 0 };
    }
  }

  /** The link's state, or null if there is no such interface. */
  get(name: string): LinkState | null {
    const seq = this.seq++;
    const r = this.request(ifinfomsg(RTM_GETLINK, NLM_F_REQUEST, seq, 0, 0, 0, name), seq);
    if (r.error === ENODEV) return null;
    if (r.error !== 0) throw new RtnlError(errnoName(r.error), `RTM_GETLINK ${name}: ${strerror(r.error)}`);
    return r.links.find((l) => l.name === name) ?? null;
  }

  /** Set the link administratively up (RTM_NEWLINK with IFF_UP), acknowledged. */
  setUp(name: string): void {
    const index = ifNameToIndex(name);
    if (index === 0) throw new RtnlError('ENODEV', `${name}: no such interface`);
    const seq = this.seq++;
    const r = this.request(ifinfomsg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, index, IFF_UP, IFF_UP), seq);
    if (r.error !== 0) throw new RtnlError(errnoName(r.error), `set ${name} up: ${strerror(r.error)}`);
  }
}

/** struct ifreq for SIOC{ADD,DEL}MULTI: name, then ifr_hwaddr (sa_family AF_UNSPEC, the MAC in sa_data). */
function mcastIfreq(name: string, mac: number): Buffer {
  const q = ifreq(name);
  q.writeUInt16LE(AF_UNSPEC, 16);
  writeMac(q, 18, mac);
  return q;
}

/** Is this link usable as an uplink data device? */
export function isEthernet(l: LinkState): boolean {
  return l.type === ARPHRD_ETHER && l.mac !== '';
}

/** poll(2) runs on the thread pool (raw.pollAt.async) and returns within POLL_MS, so a thread is never held forever (exit joins them). */
const POLL_MS = 200;
const POLLIN = 1;

/**
 * Link change notifications. Events: 'link' (LinkMessage), 'resync' (reason: string) after a
 * receive overrun (ENOBUFS) or error (the caller re-reads its links). A poll(2) with a 200 ms
 * timeout waits on libuv's thread pool; the reads are non-blocking, on the main thread.
 * close() stops it.
 */
export class LinkMonitor extends EventEmitter {
  private readonly fd: number;
  private readonly mem: ForeignBytes;
  private readonly pfd: ForeignBytes;
  private closed = false;

  constructor() {
    super();
    this.fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE);
    bind(this.fd, sockaddrNl(RTMGRP_LINK));
    this.mem = allocBytes(RECV_LEN);
    this.pfd = allocBytes(8);
    this.pfd.view.setInt32(0, this.fd, true);
    this.pfd.view.setInt16(4, POLLIN, true);
    this.arm();
  }

  private arm(): void {
    if (this.closed) return;
    this.pfd.view.setInt16(6, 0, true);
    raw.pollAt.async(this.pfd.addr, 1, POLL_MS, (err: unknown, n: number) => {
      if (this.closed) return;
      if (err || n < 0) {
        setTimeout(() => this.arm(), 20).unref?.();
        return;
      }
      if (n > 0) this.drain();
      this.arm();
    });
  }

  private drain(): void {
    for (;;) {
      const n = Number(raw.recvAt(this.fd, this.mem.addr, RECV_LEN, 0));
      if (n < 0) {
        const e = errno();
        if (e === EAGAIN || e === EINTR) return;
        this.emit('resync', `link monitor receive: ${errnoName(e)}`);
        return;
      }
      parseLinkMessages(this.mem.bytes, n, (m) => { if (!('error' in m) && !('done' in m)) this.emit('link', m); });
    }
  }

  close(): void {
    this.closed = true;
    close(this.fd);
  }
}
