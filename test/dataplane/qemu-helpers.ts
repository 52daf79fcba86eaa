/**
 * Test helpers for the QEMU socket ports (real kernel, no mocks):
 *  - StreamPeer: a unix stream server that behaves like QEMU's `-netdev stream,server=on`
 *    (one connection at a time, each frame behind a 4-byte big-endian length), records what it
 *    receives, checks the framing, and can answer ARP and ICMP echo for one MAC/IP (a "host").
 *  - DgramPeer: QEMU's side of `-netdev dgram` (a unix datagram socket bound to QEMU's path,
 *    sending to the daemon's path), through koffi since Node has no unix datagram sockets.
 *  - Capture: an AF_PACKET socket on an interface inside a namespace, to see the frames the
 *    daemon writes into a TAP and to inject frames (optionally with a virtio-net header, e.g. a
 *    TSO super-frame) as the namespace's stack would.
 *  - Frame builders and an independent checksum (not src/wire) to check segments.
 */
import net from 'node:net';
import koffi from 'koffi';
import { openUplink, bindQemuDgram } from '../../src/host/devices.js';
import { EAGAIN, close, errno, raw, sockaddrUn } from '../../src/sys/libc.js';

const lib = koffi.load('libc.so.6');
const sendtoBuf = lib.func('sendto', 'intptr_t', ['int', 'void *', 'size_t', 'int', 'void *', 'uint32_t']);

export const ETH_ARP = 0x0806;
export const ETH_IP = 0x0800;
export const ETH_TEST = 0x88b5; // IEEE local experimental ethertype

export function macBytes(mac: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(mac, 0, 6);
  return b;
}

/** An Ethernet frame: dst, src, type, payload. */
export function ethFrame(dst: number, src: number, type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  h.writeUIntBE(dst, 0, 6);
  h.writeUIntBE(src, 6, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

/** A test frame (ETH_TEST) carrying a 32-bit sequence number and `size` bytes in all. */
export function testFrame(dst: number, src: number, seq: number, size = 64): Buffer {
  const p = Buffer.alloc(Math.max(size - 14, 4));
  p.writeUInt32BE(seq >>> 0, 0);
  for (let i = 4; i < p.length; i++) p[i] = (seq + i) & 0xff;
  return ethFrame(dst, src, ETH_TEST, p);
}

export function testSeq(f: Buffer): number {
  return f.length >= 18 && f.readUInt16BE(12) === ETH_TEST ? f.readUInt32BE(14) : -1;
}

/** Internet checksum over b[start..end) plus an initial sum; an independent implementation. */
export function csum(b: Buffer, start: number, end: number, initial = 0): number {
  let s = initial;
  for (let i = start; i + 1 < end; i += 2) s += b.readUInt16BE(i);
  if ((end - start) & 1) s += b[end - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** True when an IPv4/TCP frame's IP header and TCP checksums are both correct. */
export function tcp4ChecksumsOk(f: Buffer): boolean {
  const ip = 14;
  const ihl = (f[ip] & 0x0f) * 4;
  const total = f.readUInt16BE(ip + 2);
  if (csum(f, ip, ip + ihl) !== 0) return false;
  const tcpLen = total - ihl;
  let pseudo = f.readUInt16BE(ip + 12) + f.readUInt16BE(ip + 14) + f.readUInt16BE(ip + 16) + f.readUInt16BE(ip + 18);
  pseudo += 6 + tcpLen;
  return csum(f, ip + ihl, ip + ihl + tcpLen, pseudo) === 0;
}

/** An IPv4 address string -> Buffer(4). */
export function ip4(s: string): Buffer {
  return Buffer.from(s.split('.').map(Number));
}

/**
 * The answer of a host with (mac, ip) to a frame, or null: ARP requests for ip get a reply,
 * ICMP echo requests to ip get an echo reply.
 */
export function hostAnswer(f: Buffer, mac: number, ipAddr: Buffer): Buffer | null {
  if (f.length < 42) return null;
  const type = f.readUInt16BE(12);
  const src = f.readUIntBE(6, 6);
  if (type === ETH_ARP && f.readUInt16BE(20) === 1 && f.subarray(38, 42).equals(ipAddr)) {
    const a = Buffer.alloc(28);
    a.writeUInt16BE(1, 0); a.writeUInt16BE(0x0800, 2); a[4] = 6; a[5] = 4; a.writeUInt16BE(2, 6);
    macBytes(mac).copy(a, 8); ipAddr.copy(a, 14);
    f.copy(a, 18, 22, 28); f.copy(a, 24, 28, 32);
    return ethFrame(src, mac, ETH_ARP, a);
  }
  if (type === ETH_IP && f[23] === 1 && f.subarray(30, 34).equals(ipAddr)) {
    const ihl = (f[14] & 0x0f) * 4;
    const total = f.readUInt16BE(16);
    const icmp = 14 + ihl;
    if (f[icmp] !== 8) return null;
    const r = Buffer.from(f.subarray(0, 14 + total));
    r.writeUIntBE(src, 0, 6); r.writeUIntBE(mac, 6, 6);
    f.copy(r, 26, 30, 34); f.copy(r, 30, 26, 30);
    r[22] = 64; r.writeUInt16BE(0, 24); r.writeUInt16BE(csum(r, 14, 14 + ihl), 24);
    r[icmp] = 0; r.writeUInt16BE(0, icmp + 2); r.writeUInt16BE(csum(r, icmp, 14 + total), icmp + 2);
    return r;
  }
  return null;
}

/** A QEMU-like stream server (see the file comment). */
export class StreamPeer {
  readonly server: net.Server;
  conn: net.Socket | null = null;
  connections = 0;
  readonly frames: Buffer[] = [];
  /** Framing violations seen in what the daemon sent (must stay 0). */
  framingErrors = 0;
  closedByDaemon = 0;
  private buf: Buffer = Buffer.alloc(0);
  /** When set, the peer answers ARP / ICMP echo as this host. */
  host: { mac: number; ip: Buffer } | null = null;

  private constructor(readonly path: string) {
    this.server = net.createServer((c) => this.accept(c));
  }

  static async listen(path: string): Promise<StreamPeer> {
    const p = new StreamPeer(path);
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(path, () => resolve());
    });
    return p;
  }

  private accept(c: net.Socket): void {
    if (this.conn !== null) { c.destroy(); return; } // one connection at a time, as QEMU
    this.conn = c;
    this.connections++;
    this.buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => this.onData(d));
    c.on('error', () => { /* reset by the daemon: treated as close */ });
    c.on('close', () => {
      if (this.conn === c) { this.conn = null; this.closedByDaemon++; }
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let pos = 0;
    while (this.buf.length - pos >= 4) {
      const len = this.buf.readUInt32BE(pos);
      if (len < 14 || len > 65535 + 14) { this.framingErrors++; this.conn?.destroy(); return; }
      if (this.buf.length - pos - 4 < len) break;
      const f = Buffer.from(this.buf.subarray(pos + 4, pos + 4 + len));
      pos += 4 + len;
      this.frames.push(f);
      if (this.host !== null) {
        const a = hostAnswer(f, this.host.mac, this.host.ip);
        if (a !== null) this.send(a);
      }
    }
    this.buf = this.buf.subarray(pos);
  }

  async connected(timeoutMs = 3000): Promise<net.Socket> {
    const end = Date.now() + timeoutMs;
    while (this.conn === null) {
      if (Date.now() > end) throw new Error('the daemon did not connect');
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.conn;
  }

  static encode(frames: Buffer[]): Buffer {
    const parts: Buffer[] = [];
    for (const f of frames) {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(f.length, 0);
      parts.push(h, f);
    }
    return Buffer.concat(parts);
  }

  send(frame: Buffer): void {
    this.conn?.write(StreamPeer.encode([frame]));
  }

  sendRaw(bytes: Buffer): void {
    this.conn?.write(bytes);
  }

  close(): Promise<void> {
    this.conn?.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** QEMU's side of a dgram NIC: bound to qemuPath, sending to daemonPath. */
export class DgramPeer {
  readonly fd: number;
  private readonly dest: { addr: Buffer; len: number };
  private readonly rx = Buffer.alloc(70000);

  constructor(readonly qemuPath: string, readonly daemonPath: string) {
    this.fd = bindQemuDgram(qemuPath, daemonPath); // the same binding, mirrored
    this.dest = sockaddrUn(daemonPath);
  }

  /** Send one datagram; returns 0 or the errno. */
  send(frame: Buffer): number {
    const r = sendtoBuf(this.fd, frame, frame.length, 0, this.dest.addr, this.dest.len) as number;
    return r >= 0 ? 0 : errno();
  }

  /** Everything queued now, one Buffer per datagram. */
  drain(): Buffer[] {
    const out: Buffer[] = [];
    for (;;) {
      const r = raw.recv(this.fd, this.rx, this.rx.length, 0) as number;
      if (r < 0) { if (errno() === EAGAIN) return out; throw new Error(`recv errno ${errno()}`); }
      out.push(Buffer.from(this.rx.subarray(0, r)));
    }
  }

  close(): void {
    close(this.fd);
  }
}

/** AF_PACKET on an interface in a namespace (frames the daemon writes into that TAP, and injection). */
export class Capture {
  readonly fd: number;
  private readonly rx = Buffer.alloc(70000);
  constructor(ns: string, ifname: string, readonly vnet = false) {
    this.fd = openUplink(ifname, { netns: ns, vnet }).fd;
  }
  drain(): Buffer[] {
    const out: Buffer[] = [];
    for (;;) {
      const r = raw.read(this.fd, this.rx, this.rx.length) as number;
      if (r < 0) { if (errno() === EAGAIN) return out; throw new Error(`read errno ${errno()}`); }
      out.push(Buffer.from(this.rx.subarray(this.vnet ? 10 : 0, r)));
    }
  }
  /** Send bytes as they are (with a virtio-net header first when vnet). Returns 0 or errno. */
  send(bytes: Buffer): number {
    for (;;) {
      const r = raw.write(this.fd, bytes, bytes.length) as number;
      if (r >= 0) return 0;
      const e = errno();
      if (e !== EAGAIN) return e;
    }
  }
  close(): void {
    close(this.fd);
  }
}

/** Collect frames from a capture until `done(all)` or timeout; returns what was seen. */
export async function collect(cap: Capture, done: (all: Buffer[]) => boolean, timeoutMs = 3000): Promise<Buffer[]> {
  const all: Buffer[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    all.push(...cap.drain());
    if (done(all) || Date.now() > end) return all;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A TCP/IPv4 super-frame with a virtio-net header asking for TSO (GSO_TCPV4, NEEDS_CSUM), as a
 * stack with offloads hands it to a device. Returns the header+frame bytes and the payload.
 */
export function tsoFrame(dst: number, src: number, srcIp: Buffer, dstIp: Buffer, payloadLen: number, mss: number,
  seq: number): { bytes: Buffer; payload: Buffer } {
  const payload = Buffer.alloc(payloadLen);
  for (let i = 0; i < payloadLen; i++) payload[i] = (i * 7 + (i >> 8)) & 0xff;
  const ipHdr = Buffer.alloc(20);
  ipHdr[0] = 0x45; ipHdr.writeUInt16BE(20 + 20 + payloadLen > 0xffff ? 0 : 20 + 20 + payloadLen, 2);
  ipHdr.writeUInt16BE(0x1234, 4); ipHdr.writeUInt16BE(0x4000, 6); ipHdr[8] = 64; ipHdr[9] = 6;
  srcIp.copy(ipHdr, 12); dstIp.copy(ipHdr, 16);
  ipHdr.writeUInt16BE(csum(ipHdr, 0, 20), 10);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(40000, 0); tcp.writeUInt16BE(5001, 2); tcp.writeUInt32BE(seq >>> 0, 4); tcp.writeUInt32BE(1, 8);
  tcp[12] = 5 << 4; tcp[13] = 0x18; tcp.writeUInt16BE(65535, 14);
  // Partial checksum as Linux leaves it for TSO: the pseudo-header sum without the length.
  let ps = srcIp.readUInt16BE(0) + srcIp.readUInt16BE(2) + dstIp.readUInt16BE(0) + dstIp.readUInt16BE(2) + 6;
  while (ps > 0xffff) ps = (ps & 0xffff) + (ps >>> 16);
  tcp.writeUInt16BE(ps, 16);
  const frame = ethFrame(dst, src, ETH_IP, Buffer.concat([ipHdr, tcp, payload]));
  const vh = Buffer.alloc(10);
  vh[0] = 1; // NEEDS_CSUM
  vh[1] = 1; // GSO_TCPV4
  vh.writeUInt16LE(54, 2); // hdr_len
  vh.writeUInt16LE(mss, 4); // gso_size
  vh.writeUInt16LE(34, 6); // csum_start
  vh.writeUInt16LE(16, 8); // csum_offset
  return { bytes: Buffer.concat([vh, frame]), payload };
}

/** Check segments of tsoFrame(...) as received: returns the reassembled payload. */
export function reassembleTcp(frames: Buffer[], seq0: number): { payload: Buffer; maxLen: number; badSum: number } {
  let maxLen = 0;
  let badSum = 0;
  const parts: Array<[number, Buffer]> = [];
  for (const f of frames) {
    maxLen = Math.max(maxLen, f.length);
    if (!tcp4ChecksumsOk(f)) badSum++;
    const ihl = (f[14] & 0x0f) * 4;
    const total = f.readUInt16BE(16);
    const tcpOff = 14 + ihl;
    const doff = (f[tcpOff + 12] >> 4) * 4;
    const seq = f.readUInt32BE(tcpOff + 4);
    parts.push([(seq - seq0) >>> 0, f.subarray(tcpOff + doff, 14 + total)]);
  }
  parts.sort((a, b) => a[0] - b[0]);
  const chunks: Buffer[] = [];
  let next = 0;
  for (const [off, data] of parts) {
    if (off !== next) throw new Error(`segment at offset ${off}, expected ${next}`);
    chunks.push(data);
    next += data.length;
  }
  return { payload: Buffer.concat(chunks), maxLen, badSum };
}
