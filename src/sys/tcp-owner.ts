/**
 * Who is at the other end of a loopback TCP connection: the uid that owns the peer's socket,
 * read from the kernel's socket tables (/proc/net/tcp and /proc/net/tcp6 of this process's
 * network namespace), the way identd answers. A TCP peer has no SO_PEERCRED; on one host the
 * table still says whose socket the connection comes from.
 *
 * Contract: `tcpPeerUid(conn)` takes the connection as this end sees it (local and remote
 * address and port) and returns the uid of the socket whose local end is our remote end and
 * whose remote end is our local end, or null when the peer is not on this host's loopback
 * (an address not 127.0.0.0/8, ::1 or ::ffff:127.x), or no such socket is listed (it closed, or
 * it lives in another network namespace). Synchronous: it reads two small files; call it once
 * per connection, never per packet. `encodeProcAddress` is the tables' address format (exported
 * for its unit test).
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { endianness } from 'node:os';

export interface TcpConnection { localAddress: string; localPort: number; remoteAddress: string; remotePort: number }

const LITTLE = endianness() === 'LE';

/** 16 bytes of an IPv6 address (no zone). */
function ipv6Bytes(addr: string): number[] {
  let text = addr;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    text = `${v4[1]}0:0`;
    tail.push(...v4[2]!.split('.').map(Number));
  }
  const [head, rest] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const r = rest === undefined ? [] : rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  const bytes = groups.flatMap((g) => { const n = parseInt(g, 16); return [n >> 8, n & 0xff]; });
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** An address as the kernel prints it in /proc/net/tcp{,6}: 32-bit words in host byte order, in hex. */
export function encodeProcAddress(addr: string): string {
  const bytes = isIPv4(addr) ? addr.split('.').map(Number) : ipv6Bytes(addr);
  let out = '';
  for (let w = 0; w < bytes.length; w += 4) {
    const word = bytes.slice(w, w + 4);
    if (LITTLE) word.reverse();
    out += word.map((b) => b.toString(16).padStart(2, '0')).join('');
  }
  return out.toUpperCase();
}

function isLoopback(addr: string): boolean {
  if (isIPv4(addr)) return addr.startsWith('127.');
  if (!isIPv6(addr)) return false;
  const a = addr.toLowerCase();
  return a === '::1' || /^::ffff:127\./.test(a);
}

/** The uid in `table` (a /proc/net/tcp{,6} text) of the socket local=`local`, remote=`remote` ("ADDR:PORT" encoded). */
function uidIn(table: string, local: string, remote: string): number | null {
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length > 7 && f[1] === local && f[2] === remote) return Number(f[7]);
  }
  return null;
}

const hexPort = (p: number): string => p.toString(16).toUpperCase().padStart(4, '0');

export function tcpPeerUid(c: TcpConnection): number | null {
  if (!isLoopback(c.remoteAddress)) return null;
  const forms: Array<[string, string, string]> = [];
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
  const plain = (a: string): string => mapped.exec(a)?.[1] ?? a;
  // A peer connected to an IPv6 listener from an IPv4 socket shows as ::ffff:a.b.c.d here and as a.b.c.d in its own table.
  if (isIPv4(plain(c.remoteAddress)) && isIPv4(plain(c.localAddress))) forms.push(['/proc/net/tcp', plain(c.remoteAddress), plain(c.localAddress)]);
  if (isIPv6(c.remoteAddress) && isIPv6(c.localAddress)) forms.push(['/proc/net/tcp6', c.remoteAddress, c.localAddress]);
  for (const [file, peer, us] of forms) {
    let table: string;
    try { table = readFileSync(file, 'utf8'); } catch { continue; }
    const uid = uidIn(table, `${encodeProcAddress(peer)}:${hexPort(c.remotePort)}`, `${encodeProcAddress(us)}:${hexPort(c.localPort)}`);
    if (uid !== null) return uid;
  }
  return null;
}
