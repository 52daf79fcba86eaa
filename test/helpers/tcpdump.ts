/**
 * Test-only: tcpdump on an interface inside a namespace, its lines collected. `tcpdump(spawnIn,
 * ns, dev, filter)` resolves once tcpdump says it is listening (so traffic sent afterwards is
 * seen); `stop()` waits a moment for the last frames, ends it (SIGINT) and gives every line it
 * printed. Lines are tcpdump's `-n -l -e` format (link-level header and VLAN tag included).
 * `senderOf(line)` reads the sending IPv4 address of an ARP or IPv4 line, or null.
 */
import assert from 'node:assert/strict';
import type { SpawnIn } from './vlan-devices.js';

export interface Capture {
  /** The lines so far. */
  readonly lines: string[];
  stop(): Promise<string[]>;
}

export async function tcpdump(spawnIn: SpawnIn, ns: string, dev: string, filter: string): Promise<Capture> {
  const c = spawnIn(ns, 'tcpdump', ['-n', '-l', '-e', '-i', dev, filter]);
  const lines: string[] = [];
  let buf = '';
  let err = '';
  c.stdout!.on('data', (d) => {
    buf += String(d);
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  c.stderr!.on('data', (d) => { err += String(d); });
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  const end = Date.now() + 15_000;
  while (!/listening on/.test(err) && c.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.ok(/listening on/.test(err), `tcpdump on ${dev} in ${ns} started: ${err}`);
  return {
    lines,
    async stop(): Promise<string[]> {
      await new Promise((r) => setTimeout(r, 300));
      c.kill('SIGINT');
      await exited;
      if (buf !== '') lines.push(buf);
      return lines;
    },
  };
}

/** The sender of a tcpdump line: ARP request "tell X", ARP reply "X is-at", IPv4 "X > Y"; else null. */
export function senderOf(line: string): string | null {
  const m = /tell (\d+\.\d+\.\d+\.\d+)/.exec(line) ?? /Reply (\d+\.\d+\.\d+\.\d+) is-at/.exec(line)
    ?? /(\d+\.\d+\.\d+\.\d+) > \d+\.\d+\.\d+\.\d+: /.exec(line);
  return m ? m[1] : null;
}
