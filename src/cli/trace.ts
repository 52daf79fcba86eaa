/**
 * `vswitch trace SWITCH [NIC userid vdev | UPLINK] [--vlan N] [--count N] [--snaplen N] [-w FILE]`
 * (issue 12): asks vswitchd for a trace session on its trace socket (the control socket's path
 * plus ".trace"; the protocol is src/daemon/trace.ts's) and writes the pcapng stream it gets to
 * stdout, or to FILE with -w, so `vswitch trace SW1 | tcpdump -n -r -` and `| tshark -r -` work.
 * Standard output must not be a terminal (a binary stream): give -w or a pipe.
 *
 * The trace ends when --count frames were written, on Ctrl-C (SIGINT) or SIGTERM (the daemon is
 * asked to stop, sends what it still holds and the summary), when the reader of stdout goes
 * away (EPIPE: quietly, as Unix tools do), or when the daemon stops. At the end one line on
 * stderr says how many frames were captured and how many the data plane could not copy because
 * this reader fell behind (the data path itself is never slowed by a trace).
 * Keywords (NIC, UPLINK) are case blind in ASCII only. Exit status: 0 the trace ran; 1 refused
 * by the daemon; 2 usage; 3 the daemon is not there or broke off.
 */
import { createConnection, type Socket } from 'node:net';
import { closeSync, openSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { TraceRequest } from '../daemon/trace.js';

export const TRACE_USAGE = 'usage: vswitch trace SWITCH [NIC userid vdev | UPLINK] [--vlan N] [--count N] [--snaplen N] [-w FILE]';

const CHUNK_PCAPNG = 1;
const CHUNK_END = 2;

class UsageError extends Error {}

/** The request the words ask for, and where the stream goes (null: stdout). */
export function parseTraceArgs(args: readonly string[]): { req: TraceRequest; file: string | null } {
  const pos: string[] = [];
  const req: TraceRequest = { switch: '' };
  let file: string | null = null;
  const num = (flag: string, v: string | undefined): number => {
    if (v === undefined || !/^\d{1,15}$/.test(v)) throw new UsageError(`${flag} needs a whole number`);
    return Number(v);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--vlan') req.vlan = num(a, args[++i]);
    else if (a === '--count' || a === '-c') req.count = num(a, args[++i]);
    else if (a === '--snaplen' || a === '-s') req.snaplen = num(a, args[++i]);
    else if (a === '-w') {
      file = args[++i] ?? null;
      if (file === null || file === '') throw new UsageError('-w needs a file name');
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
    else pos.push(a);
  }
  if (pos.length === 0) throw new UsageError('no switch named');
  req.switch = pos[0];
  const rest = pos.slice(1);
  if (rest.length === 3 && /^nic$/i.test(rest[0])) req.nic = { userid: rest[1], vdev: rest[2] };
  else if (rest.length === 1 && /^uplink$/i.test(rest[0])) req.uplink = true;
  else if (rest.length !== 0) throw new UsageError(`after the switch: NIC userid vdev, or UPLINK (not '${rest.join(' ')}')`);
  return { req, file };
}

/** Write all of `b` to fd, waiting out EAGAIN; false when the reader went away (EPIPE). */
function writeAll(fd: number, b: Buffer): boolean {
  let off = 0;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (off < b.length) {
    try {
      off += writeSync(fd, b, off, b.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') { Atomics.wait(pause, 0, 0, 2); continue; }
      if (code === 'EPIPE') return false;
      throw e;
    }
  }
  return true;
}

/** Run a trace; resolves with the exit status. */
export async function runTrace(socketPath: string, args: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseTraceArgs>;
  try {
    parsed = parseTraceArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`vswitch: ${e.message}\n${TRACE_USAGE}\n`);
    return 2;
  }
  if (parsed.file === null && isatty(1)) {
    process.stderr.write('vswitch: will not write a pcapng stream to a terminal: pipe it (| tcpdump -n -r -) or give -w FILE\n');
    return 2;
  }
  const out = parsed.file === null ? 1 : openSync(parsed.file, 'w', 0o600);
  try {
    return await stream(`${socketPath}.trace`, parsed.req, out);
  } finally {
    if (out !== 1) closeSync(out);
  }
}

function stream(path: string, req: TraceRequest, out: number): Promise<number> {
  return new Promise((resolve) => {
    const sock: Socket = createConnection(path);
    let answered = false;
    let buf: Buffer = Buffer.alloc(0);
    /** The chunk being read: its kind and the bytes of it still to come (0: a chunk header is next). */
    let kind = 0;
    let remaining = 0;
    let done = false;
    let stopAsked = false;
    const finish = (code: number, line?: string): void => {
      if (done) return;
      done = true;
      if (line !== undefined) process.stderr.write(`${line}\n`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      sock.destroy();
      resolve(code);
    };
    const onSignal = (): void => {
      if (stopAsked || !answered) { finish(0); return; }
      stopAsked = true;
      sock.write('stop\n');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    sock.on('connect', () => sock.write(`${JSON.stringify({ trace: req })}\n`));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') finish(3, `vswitch: daemon not running (no trace socket at ${path})`);
      else finish(3, `vswitch: ${e.message}`);
    });
    sock.on('close', () => finish(3, 'vswitch: the daemon ended the trace without a summary'));
    sock.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      if (!answered) {
        const nl = buf.indexOf(0x0a);
        if (nl < 0) return;
        let r: { ok: boolean; lines: string[] };
        try {
          r = JSON.parse(buf.subarray(0, nl).toString('utf8')) as { ok: boolean; lines: string[] };
        } catch {
          finish(3, 'vswitch: bad answer from the daemon');
          return;
        }
        if (!r.ok) { finish(1, `vswitch: ${(r.lines ?? []).join(' ') || 'trace refused'}`); return; }
        answered = true;
        process.stderr.write(`vswitch: ${r.lines.join(' ')}\n`);
        buf = buf.subarray(nl + 1);
      }
      // Chunks: pcapng bytes go out as they arrive (a chunk is not gathered first); the end is small.
      while (buf.length > 0) {
        if (remaining === 0) {
          if (buf.length < 5) break;
          kind = buf[0];
          remaining = buf.readUInt32BE(1);
          buf = buf.subarray(5);
          if (remaining === 0) continue;
        }
        if (kind === CHUNK_PCAPNG) {
          const n = Math.min(remaining, buf.length);
          remaining -= n;
          const part = buf.subarray(0, n);
          buf = buf.subarray(n);
          if (!writeAll(out, part)) { finish(0); return; } // the reader of the stream went away
        } else {
          if (buf.length < remaining) break;
          const payload = buf.subarray(0, remaining);
          buf = buf.subarray(remaining);
          remaining = 0;
          if (kind === CHUNK_END) {
            const s = JSON.parse(payload.toString('utf8')) as { captured: number; lost: number; reason: string };
            const lost = s.lost > 0 ? `, ${s.lost} lost (this reader fell behind; the data path was not slowed)` : ', 0 lost';
            finish(0, `vswitch: ${s.captured} frames captured${lost}; ${s.reason}`);
            return;
          }
        }
      }
    });
  });
}
