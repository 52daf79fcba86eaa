/**
 * A stand-in for QEMU's side of a vswitch QEMU NIC, fast enough to load the socket path
 * (issue 14, bench/sockets.ts): it speaks exactly what QEMU's backends speak and nothing else,
 * and instead of a guest behind it, it generates or counts 64-byte frames.
 *
 *   node dist/bench/qemu-peer.js stream QEMU_PATH - SRC_MAC SRC_IP DST_MAC DST_IP
 *   node dist/bench/qemu-peer.js dgram  QEMU_PATH DAEMON_PATH SRC_MAC SRC_IP DST_MAC DST_IP
 *
 *  - stream (`-netdev stream,server=on`): listens on QEMU_PATH (node:net, one connection, the
 *    daemon's); every frame is a 4-byte big-endian length and the frame. Sending writes 64 KiB
 *    chunks of back-to-back records (libuv write(); the daemon's reading paces it).
 *  - dgram (`-netdev dgram` with unix sockets): binds QEMU_PATH and sends each datagram to
 *    DAEMON_PATH without connect(), as QEMU 7.2's net/dgram.c does (bind, then sendto per frame).
 *    That matters: Linux takes at most net.unix.max_dgram_qlen datagrams into a socket's receive
 *    queue from a sender the socket is not connected to, so the daemon's sends meet that bound at
 *    this socket as they do at QEMU's, while the daemon's socket, connected to this one, takes
 *    what its sender's buffer allows. One frame per datagram. A worker thread runs blocking
 *    sendmmsg / recvmmsg batches of BATCH datagrams (koffi, src/sys/libc.ts); a full queue at
 *    the daemon blocks the sender, so the daemon's reading paces it.
 *
 * The frame it sends: Ethernet SRC_MAC -> DST_MAC, IPv4 SRC_IP -> DST_IP, UDP 40000 -> 9, 22
 * zero bytes (64 bytes without FCS, the frame bench/measure.ts has trafgen send). Once the
 * daemon is connected it sends a gratuitous ARP for SRC_IP (how a QEMU guest's address gets
 * registered: the switch sees it used). Every frame it receives is counted (frames, bytes).
 *
 * stdin, one command a line; stdout, one line each:
 *   announce   the gratuitous ARP again                           -> ok
 *   start      start sending as fast as the socket takes frames   -> ok
 *   stop       stop sending                                        -> ok
 *   count      -> {"rx":frames,"rxBytes":n,"tx":frames,"at":ns,"cpuNs":ns}  (at: CLOCK_MONOTONIC
 *              as process.hrtime; cpuNs: this process's CPU time, every thread)
 * "ready" is printed once the socket is connected. It exits when stdin closes.
 */
import { createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { AF_UNIX, EAGAIN, EINTR, SOCK_DGRAM, SOL_SOCKET, IOVEC_SIZE, MMSGHDR_SIZE, MSG_DONTWAIT, allocBytes, bind, errno, raw, setsockoptBuf, socket, sockaddrUn } from '../src/sys/libc.js';
import { emitEthernet, EtherType } from '../src/wire/ethernet.js';
import { emitIpv4 } from '../src/wire/ipv4.js';
import { emitUdp } from '../src/wire/udp.js';
import { emitArpFrame } from '../src/wire/arp.js';
import { BROADCAST_MAC, parseIpv4, parseMac } from '../src/wire/addr.js';

export const FRAME_LEN = 64;
/** Datagrams per sendmmsg / recvmmsg call. */
const BATCH = 64;
const SO_RCVTIMEO = 20;
const SO_SNDTIMEO = 21;
const MSG_WAITFORONE = 0x10000;
/** Receive slot: any frame the switch sends (it sends at most 65535 + 14 to a QEMU NIC). */
const RX_SLOT = 65_600;

interface Args { transport: 'stream' | 'dgram'; qemu: string; daemon: string; srcMac: number; srcIp: number; dstMac: number; dstIp: number }

/** The 64-byte UDP frame. */
export function udpFrame(srcMac: number, srcIp: number, dstMac: number, dstIp: number): Uint8Array {
  const b = new Uint8Array(FRAME_LEN);
  const payload = FRAME_LEN - 14 - 20 - 8;
  emitUdp(b, emitIpv4(b, emitEthernet(b, 0, dstMac, srcMac, EtherType.Ipv4), srcIp, dstIp, 17, 8 + payload), 40000, 9, payload);
  return b;
}

/** A gratuitous ARP request for `ip` from `mac` (42 bytes). */
export function garp(mac: number, ip: number): Uint8Array {
  const b = new Uint8Array(42);
  emitArpFrame(b, 0, BROADCAST_MAC, mac, 1, mac, ip, 0, ip);
  return b;
}

/** Counters shared by the threads: rx frames, rx bytes, tx frames; control: [0] sending, [1] garp wanted. */
interface Shared { counts: BigInt64Array; ctl: Int32Array }

function shared(): Shared {
  return { counts: new BigInt64Array(new SharedArrayBuffer(3 * 8)), ctl: new Int32Array(new SharedArrayBuffer(2 * 4)) };
}

function timeval(ms: number): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  b.writeBigInt64LE(BigInt((ms % 1000) * 1000), 8);
  return b;
}

function setAddr(v: DataView, off: number, x: number): void {
  v.setBigUint64(off, BigInt(x), true);
}

/**
 * The dgram loop (worker thread): receive batches (blocking up to 50 ms, SO_RCVTIMEO) and, while
 * ctl[0] is set, send batches of the frame (blocking up to 50 ms when the daemon's queue is full).
 */
function dgramLoop(a: Args, s: Shared, ready: () => void): void {
  const fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  try { unlinkSync(a.qemu); } catch { /* not there */ }
  const own = sockaddrUn(a.qemu);
  bind(fd, own.addr.subarray(0, own.len));
  // The daemon's address, for every send (QEMU does not connect() its socket either).
  const d = sockaddrUn(a.daemon);
  const dst = allocBytes(d.addr.length);
  dst.bytes.set(d.addr);
  setsockoptBuf(fd, SOL_SOCKET, SO_RCVTIMEO, timeval(50));
  setsockoptBuf(fd, SOL_SOCKET, SO_SNDTIMEO, timeval(50));
  // Send side: BATCH headers, all pointing at one copy of the frame.
  const tx = allocBytes(BATCH * (MMSGHDR_SIZE + IOVEC_SIZE) + FRAME_LEN);
  const txData = tx.addr + BATCH * (MMSGHDR_SIZE + IOVEC_SIZE);
  tx.bytes.set(udpFrame(a.srcMac, a.srcIp, a.dstMac, a.dstIp), BATCH * (MMSGHDR_SIZE + IOVEC_SIZE));
  const rx = allocBytes(BATCH * (MMSGHDR_SIZE + IOVEC_SIZE) + BATCH * RX_SLOT);
  const rxData = rx.addr + BATCH * (MMSGHDR_SIZE + IOVEC_SIZE);
  for (let i = 0; i < BATCH; i++) {
    for (const [m, data, len] of [[tx, txData, FRAME_LEN], [rx, rxData + i * RX_SLOT, RX_SLOT]] as const) {
      const iov = BATCH * MMSGHDR_SIZE + i * IOVEC_SIZE;
      setAddr(m.view, i * MMSGHDR_SIZE + 16, m.addr + iov); // msg_iov
      setAddr(m.view, i * MMSGHDR_SIZE + 24, 1); // msg_iovlen
      setAddr(m.view, iov, data); // iov_base
      setAddr(m.view, iov + 8, len); // iov_len
    }
    setAddr(tx.view, i * MMSGHDR_SIZE, dst.addr); // msg_name: the daemon's socket
    tx.view.setUint32(i * MMSGHDR_SIZE + 8, d.len, true); // msg_namelen
  }
  const g = allocBytes(42);
  g.bytes.set(garp(a.srcMac, a.srcIp));
  const sendGarp = (): boolean => (raw.sendtoAt(fd, g.addr, 42, 0, dst.addr, d.len) as number) === 42;
  while (!sendGarp()) Atomics.wait(s.ctl, 1, s.ctl[1]!, 100); // the daemon's socket not bound yet
  ready();
  for (;;) {
    if (Atomics.exchange(s.ctl, 1, 0) === 1) sendGarp();
    if (Atomics.load(s.ctl, 0) === 1) {
      const n = raw.sendmmsgAt(fd, tx.addr, BATCH, 0) as number;
      if (n > 0) Atomics.add(s.counts, 2, BigInt(n));
      else if (errno() !== EAGAIN && errno() !== EINTR) Atomics.wait(s.ctl, 1, 0, 10); // the daemon's socket gone for now
    }
    // While sending, only take what is waiting (the guest's rare answers); otherwise wait for frames.
    const r = raw.recvmmsgAt(fd, rx.addr, BATCH, Atomics.load(s.ctl, 0) === 1 ? MSG_DONTWAIT : MSG_WAITFORONE, 0) as number;
    if (r > 0) {
      let bytes = 0;
      for (let i = 0; i < r; i++) bytes += rx.view.getUint32(i * MMSGHDR_SIZE + 56, true);
      Atomics.add(s.counts, 0, BigInt(r));
      Atomics.add(s.counts, 1, BigInt(bytes));
    }
  }
}

/** The stream side (main thread): listen, take the daemon's connection, count and send records. */
function streamPeer(a: Args, s: Shared, ready: () => void): void {
  const frame = udpFrame(a.srcMac, a.srcIp, a.dstMac, a.dstIp);
  const rec = 4 + FRAME_LEN;
  const perChunk = Math.floor(65536 / rec);
  const chunk = Buffer.alloc(perChunk * rec);
  for (let i = 0; i < perChunk; i++) { chunk.writeUInt32BE(FRAME_LEN, i * rec); chunk.set(frame, i * rec + 4); }
  const g = garp(a.srcMac, a.srcIp);
  const garpRec = Buffer.alloc(4 + g.length);
  garpRec.writeUInt32BE(g.length, 0);
  garpRec.set(g, 4);
  let conn: Socket | null = null;
  // Receive parser state: the length word so far, and bytes of the frame still to come.
  const hdr = Buffer.alloc(4);
  let hdrHave = 0, body = 0;
  let rxFrames = 0n, rxBytes = 0n;
  const pump = (): void => {
    if (conn === null || Atomics.load(s.ctl, 0) !== 1) return;
    for (let i = 0; i < 64; i++) {
      if (!conn.write(chunk)) { conn.once('drain', pump); return; }
    }
    setImmediate(pump); // let stdin in
  };
  try { unlinkSync(a.qemu); } catch { /* not there */ }
  const srv = createServer((c) => {
    if (conn !== null) { c.destroy(); return; }
    conn = c;
    c.on('data', (d: Buffer) => {
      let i = 0;
      while (i < d.length) {
        if (body === 0) {
          const take = Math.min(4 - hdrHave, d.length - i);
          d.copy(hdr, hdrHave, i, i + take);
          hdrHave += take; i += take;
          if (hdrHave === 4) { body = hdr.readUInt32BE(0); hdrHave = 0; rxBytes += BigInt(body); if (body === 0) rxFrames++; }
          continue;
        }
        const take = Math.min(body, d.length - i);
        body -= take; i += take;
        if (body === 0) rxFrames++;
      }
      Atomics.store(s.counts, 0, rxFrames);
      Atomics.store(s.counts, 1, rxBytes);
    });
    c.on('error', () => { /* the daemon went away */ });
    c.on('close', () => { if (conn === c) conn = null; });
    c.write(garpRec);
    ready();
  });
  srv.listen(a.qemu);
  let announced = 1; // gratuitous ARP records written (one at the connection)
  streamHooks = {
    pump,
    announce: () => { if (conn) { conn.write(garpRec); announced++; } },
    // tx frames: whole frame records the socket has written (bytesWritten counts what left the process).
    tx: () => (conn ? Math.max(0, Math.floor((conn.bytesWritten - announced * garpRec.length) / rec)) : 0),
  };
}

/** The stream side's entry points for the command loop (null for dgram). */
let streamHooks: { pump: () => void; announce: () => void; tx: () => number } | null = null;

function parseArgs(argv: string[]): Args {
  const [transport, qemu, daemon, srcMac, srcIp, dstMac, dstIp] = argv;
  if ((transport !== 'stream' && transport !== 'dgram') || !qemu || !daemon || !srcMac || !srcIp || !dstMac || !dstIp) {
    throw new Error('usage: qemu-peer.js stream|dgram QEMU_PATH DAEMON_PATH|- SRC_MAC SRC_IP DST_MAC DST_IP');
  }
  if (transport === 'dgram' && daemon === '-') throw new Error('dgram needs the daemon socket path');
  return { transport, qemu, daemon, srcMac: parseMac(srcMac), srcIp: parseIpv4(srcIp), dstMac: parseMac(dstMac), dstIp: parseIpv4(dstIp) };
}

function main(): void {
  const a = parseArgs(process.argv.slice(2));
  const s = shared();
  const ready = (): void => { process.stdout.write('ready\n'); };
  if (a.transport === 'stream') streamPeer(a, s, ready);
  else {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { a, s } });
    w.on('message', (m) => { if (m === 'ready') ready(); });
    w.on('error', (e) => { process.stderr.write(`qemu-peer: ${e.stack ?? e}\n`); process.exit(1); });
    w.unref();
  }
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'start') { Atomics.store(s.ctl, 0, 1); streamHooks?.pump(); }
    else if (cmd === 'stop') Atomics.store(s.ctl, 0, 0);
    else if (cmd === 'announce') { if (streamHooks) streamHooks.announce(); else { Atomics.store(s.ctl, 1, 1); Atomics.notify(s.ctl, 1); } }
    else if (cmd === 'count') {
      const u = process.cpuUsage();
      process.stdout.write(JSON.stringify({
        rx: Number(Atomics.load(s.counts, 0)), rxBytes: Number(Atomics.load(s.counts, 1)), tx: streamHooks ? streamHooks.tx() : Number(Atomics.load(s.counts, 2)),
        at: Number(process.hrtime.bigint()), cpuNs: (u.user + u.system) * 1000,
      }) + '\n');
      return;
    } else { process.stdout.write(`error: unknown command ${JSON.stringify(cmd)}\n`); return; }
    process.stdout.write('ok\n');
  });
  rl.on('close', () => process.exit(0));
}

if (isMainThread) {
  if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) main();
} else {
  const { a, s } = workerData as { a: Args; s: Shared };
  dgramLoop(a, s, () => parentPort!.postMessage('ready'));
}
