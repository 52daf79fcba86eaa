/**
 * rtnetlink (NETLINK_ROUTE) message building and parsing, for the address watcher and the controller: dump
 * requests for links and addresses, and parsers for RTM_NEWLINK/DELLINK, RTM_NEWADDR/DELADDR
 * (IPv4: 'addr'; IPv6: 'addr6', with whether the address is usable: not tentative, DAD not
 * failed), NLMSG_DONE, NLMSG_ERROR.
 *
 * Parsing is for untrusted bytes: every length is checked against what is left of the buffer;
 * a message or attribute that does not fit ends the walk (the rest of the datagram is ignored)
 * and nothing throws. Host byte order is little-endian (x86-64).
 * Not a hot path: parsers return small objects.
 */

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_MULTI = 0x2;
export const NLM_F_DUMP = 0x300;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

export const RTMGRP_LINK = 0x1;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV6_IFADDR = 0x100;

export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
/** ifinfomsg flags: administratively up; carrier (lower layer) up. */
export const IFF_UP = 0x1;
export const IFF_LOWER_UP = 0x10000;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_FLAGS = 8;
/** ifa_flags: DAD has not finished; DAD failed (the address is not the host's). */
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_DADFAILED = 0x08;

export const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
export const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** A dump request (RTM_GETLINK or RTM_GETADDR) for all links / all addresses (IPv4 and IPv6). */
export function dumpRequest(type: typeof RTM_GETLINK | typeof RTM_GETADDR, seq: number): Buffer {
  const body = type === RTM_GETLINK ? IFINFOMSG_LEN : IFADDRMSG_LEN;
  const b = Buffer.alloc(NLMSG_HDRLEN + body);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  b.writeUInt32LE(0, 12);
  b[16] = AF_UNSPEC;
  return b;
}

/** struct sockaddr_nl for bind(): family, pad, pid 0 (kernel assigns), groups. */
export function sockaddrNl(groups: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(16, 0); // AF_NETLINK
  b.writeUInt32LE(0, 4);
  b.writeUInt32LE(groups >>> 0, 8);
  return b;
}

/**
 * `multi`: NLM_F_MULTI was set, i.e. the message is part of a dump answer. Notifications never
 * set it (their seq is the seq of whoever made the change, so seq alone cannot tell them apart).
 */
export type NetlinkEvent =
  | { kind: 'link'; seq: number; multi: boolean; added: boolean; index: number; name: string | null }
  | { kind: 'addr'; seq: number; multi: boolean; added: boolean; index: number; ip: number; prefixLen: number }
  /** ip6: 32 hex digits (wire/ipv6.ts ip6Hex). usable: neither tentative nor DAD-failed. */
  | { kind: 'addr6'; seq: number; multi: boolean; added: boolean; index: number; ip6: string; prefixLen: number; usable: boolean }
  | { kind: 'done'; seq: number }
  | { kind: 'error'; seq: number; errno: number }
  | { kind: 'overrun'; seq: number };

/** Walk the netlink messages in b[0..len) and call `on` for each one this module understands. */
export function parseMessages(b: Uint8Array, len: number, on: (e: NetlinkEvent) => void): void {
  const dv = new DataView(b.buffer, b.byteOffset, Math.min(len, b.length));
  const total = dv.byteLength;
  let off = 0;
  while (off + NLMSG_HDRLEN <= total) {
    const mlen = dv.getUint32(off, true);
    const type = dv.getUint16(off + 4, true);
    const multi = (dv.getUint16(off + 6, true) & NLM_F_MULTI) !== 0;
    const seq = dv.getUint32(off + 8, true);
    if (mlen < NLMSG_HDRLEN || off + mlen > total) return; // malformed: stop
    const body = off + NLMSG_HDRLEN;
    const end = off + mlen;
    switch (type) {
      case NLMSG_DONE:
        on({ kind: 'done', seq });
        break;
      case NLMSG_ERROR:
        if (end - body >= 4) {
          const err = dv.getInt32(body, true);
          if (err !== 0) on({ kind: 'error', seq, errno: -err });
        }
        break;
      case NLMSG_OVERRUN:
        on({ kind: 'overrun', seq });
        break;
      case RTM_NEWLINK:
      case RTM_DELLINK: {
        if (end - body < IFINFOMSG_LEN) break;
        const index = dv.getInt32(body + 4, true);
        let name: string | null = null;
        walkAttrs(dv, body + IFINFOMSG_LEN, end, (t, a, alen) => {
          if (t === IFLA_IFNAME) name = cString(b, a, alen);
        });
        on({ kind: 'link', seq, multi, added: type === RTM_NEWLINK, index, name });
        break;
      }
      case RTM_NEWADDR:
      case RTM_DELADDR: {
        if (end - body < IFADDRMSG_LEN) break;
        if (dv.getUint8(body) === AF_INET6) {
          addr6(dv, b, body, end, type === RTM_NEWADDR, seq, multi, on);
          break;
        }
        if (dv.getUint8(body) !== AF_INET) break;
        const prefixLen = dv.getUint8(body + 1);
        const index = dv.getUint32(body + 4, true);
        let local = -1;
        let address = -1;
        walkAttrs(dv, body + IFADDRMSG_LEN, end, (t, a, alen) => {
          if (alen !== 4) return;
          if (t === IFA_LOCAL) local = dv.getUint32(a, false);
          else if (t === IFA_ADDRESS) address = dv.getUint32(a, false);
        });
        const ip = local >= 0 ? local : address;
        if (ip >= 0 && prefixLen <= 32) on({ kind: 'addr', seq, multi, added: type === RTM_NEWADDR, index, ip, prefixLen });
        break;
      }
      default:
        break;
    }
    off += align4(mlen);
  }
}

/** An AF_INET6 RTM_NEWADDR / DELADDR whose ifaddrmsg is at `body`. */
function addr6(dv: DataView, b: Uint8Array, body: number, end: number, added: boolean, seq: number, multi: boolean,
  on: (e: NetlinkEvent) => void): void {
  const prefixLen = dv.getUint8(body + 1);
  let flags = dv.getUint8(body + 2);
  const index = dv.getUint32(body + 4, true);
  let local = -1, address = -1;
  walkAttrs(dv, body + IFADDRMSG_LEN, end, (t, a, alen) => {
    if (t === IFA_ADDRESS && alen === 16) address = a;
    else if (t === IFA_LOCAL && alen === 16) local = a; // a point-to-point address: IFA_ADDRESS is the peer's
    else if (t === IFA_FLAGS && alen === 4) flags = dv.getUint32(a, true);
  });
  const at = local >= 0 ? local : address;
  if (at < 0 || prefixLen > 128) return;
  let ip6 = '';
  for (let i = 0; i < 16; i++) ip6 += b[at + i].toString(16).padStart(2, '0');
  on({ kind: 'addr6', seq, multi, added, index, ip6, prefixLen, usable: (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) === 0 });
}

/** Walk rtattrs in [start, end): callback gets type (nested flag stripped), payload offset and length. */
function walkAttrs(dv: DataView, start: number, end: number, on: (type: number, at: number, len: number) => void): void {
  let off = start;
  while (off + 4 <= end) {
    const alen = dv.getUint16(off, true);
    const type = dv.getUint16(off + 2, true) & 0x3fff;
    if (alen < 4 || off + alen > end) return;
    on(type, off + 4, alen - 4);
    off += align4(alen);
  }
}

function cString(b: Uint8Array, at: number, len: number): string {
  let n = 0;
  while (n < len && b[at + n] !== 0) n++;
  return Buffer.from(b.buffer, b.byteOffset + at, n).toString('utf8');
}
