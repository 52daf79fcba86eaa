/**
 * Smoke test of the socket-path benchmark (issue 14): `node dist/bench/run.js --only sockets
 * --quick` on the real kernel (bench/sockets.ts: vswitchd with a STREAM and a DGRAM QEMU NIC,
 * the stand-in QEMUs of bench/qemu-peer.ts on their sockets, trafgen in namespace guests),
 * results into a temporary directory (--out). Every row must come up and give numbers: status
 * ok, a delivered and an offered rate, the worker's ns per frame, the peer named; the report
 * has the section; nothing the run made is left (no namespace with its tag). No figure is
 * judged: any number passes. Needs root and trafgen; about 15-40 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { quickBench } from './bench-run.js';
import type { SocketsResult } from '../../bench/sockets.js';

test('npm run bench --only sockets --quick: both socket transports, both directions, the larger dgram queue and the reference row have numbers', async () => {
  await quickBench('sockets', 180_000, (out, tail) => {
    const s = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { sockets: SocketsResult }).sockets;
    assert.equal(s.status, 'ok', `sockets: ${s.status}: ${s.reason ?? ''}\n${tail}`);
    assert.deepEqual(s.rows.map((x) => x.name).sort(), ['dgram-to-guest', 'dgram-to-guest-qlen', 'guest-to-dgram', 'guest-to-dgram-qlen', 'guest-to-guest', 'guest-to-stream', 'stream-to-guest']);
    for (const row of s.rows) {
      assert.equal(row.status, 'ok', `${row.name}: ${row.reason ?? ''}`);
      for (const [what, v] of [['delivered', row.framesPerSec.median], ['offered', row.offeredPerSec.median], ['ns/frame', row.nsPerFrame.median]] as const) {
        assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${row.name} ${what}: ${v}`);
      }
      assert.ok(row.peer.length > 0, `${row.name} names its peer`);
    }
    assert.match(readFileSync(join(out, 'report.txt'), 'utf8'), /QEMU socket paths at full rate/);
  });
});
