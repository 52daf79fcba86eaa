/**
 * Test-only TCP transfer with a checked payload between two namespaces: a receiver in `toNs`
 * hashes everything it gets; a sender in `fromNs` writes `bytes` of random data. Both are
 * plain Node processes run with `ip netns exec`, so the traffic is real kernel TCP.
 * `receiver` is the receiving half alone, for a sender elsewhere (a VM's `nc`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetLab } from './netlab.js';

const RECEIVER = `
const net = require('node:net'); const crypto = require('node:crypto');
const srv = net.createServer((s) => { const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex') }) + '\\n'); s.end(); srv.close(); }); });
srv.listen(Number(process.argv[1]), process.argv[2], () => process.stdout.write('listening\\n'));
setTimeout(() => { process.stderr.write('receiver timeout\\n'); process.exit(3); }, 60000);
`;

const SENDER = `
const net = require('node:net'); const fs = require('node:fs');
const data = fs.readFileSync(process.argv[3]);
const s = net.connect(Number(process.argv[1]), process.argv[2], () => { s.end(data); });
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(2); });
s.on('close', () => process.exit(0));
setTimeout(() => { process.stderr.write('sender timeout\\n'); process.exit(3); }, 60000);
`;

export interface TransferResult { sentSha256: string; receivedSha256: string; bytes: number; receivedBytes: number }

/**
 * A receiver listening on toIp:port in namespace `toNs`; resolves once it listens, with what it
 * will have received (bytes and sha256) when the sender closes.
 */
export async function receiver(lab: NetLab, toNs: string, toIp: string, port: number): Promise<{ received: Promise<{ bytes: number; sha256: string }> }> {
  const rx = lab.spawn(toNs, process.execPath, ['-e', RECEIVER, String(port), toIp]);
  let out = '';
  rx.stdout!.setEncoding('utf8');
  const received = new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
    rx.stdout!.on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    rx.on('exit', (code) => reject(new Error(`receiver exited ${code}: ${out}`)));
  });
  received.catch(() => undefined); // a caller that stops waiting must not crash the process
  await new Promise<void>((resolve, reject) => {
    const check = () => (out.includes('listening') ? resolve() : setTimeout(check, 20));
    rx.on('exit', (code) => reject(new Error(`receiver exited ${code}`)));
    check();
  });
  return { received };
}

/** `connectIp`: what the sender connects to when it differs from where the receiver listens (an IPv6 link-local address's zone). */
export async function tcpTransfer(lab: NetLab, fromNs: string, toNs: string, toIp: string, bytes: number, port = 5001, connectIp = toIp): Promise<TransferResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vswtcp-'));
  try {
    const file = join(dir, 'payload');
    const data = randomBytes(bytes);
    writeFileSync(file, data);
    const sentSha256 = createHash('sha256').update(data).digest('hex');
    const rx = await receiver(lab, toNs, toIp, port);
    const tx = lab.exec(fromNs, process.execPath, ['-e', SENDER, String(port), connectIp, file], { timeoutMs: 70_000 });
    if (tx.code !== 0) throw new Error(`sender failed (${tx.code}): ${tx.stderr}`);
    const r = await rx.received;
    return { sentSha256, receivedSha256: r.sha256, bytes, receivedBytes: r.bytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
