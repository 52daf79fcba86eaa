/**
 * Smoke test of the benchmark's own set-up (issue 14): `node dist/bench/run.js --only vswitch-ip
 * --quick` on the real kernel, as `npm run bench` runs it (bench/paths.ts writes its SYSTEM
 * CONFIG, starts vswitchd and the controller, makes the guests), results into a temporary
 * directory (--out). The vswitch row must come up and give numbers: status ok, a TCP rate, a
 * 64-byte rate, a ping p50 and the worker's cost per frame, none n/a. (A SET VSWITCH GRANT in
 * the bench's config once left every vswitch row n/a and no test noticed.) Afterwards nothing
 * the run made is left: no namespace with its tag. No figure is judged: any number passes.
 * Needs root, iperf3 and trafgen (scripts/setup.sh installs them); about 30-60 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { quickBench } from './bench-run.js';

interface Row {
  name: string; status: string; reason?: string;
  tcpGbps: { median: number | null }; framesPerSec: { median: number | null }; pingP50Ms: { median: number | null };
  cost?: { frames: Array<{ nsPerFrame: number | null }> };
}

test('npm run bench --only vswitch-ip --quick: the bench\'s switch comes up and its row has numbers', async () => {
  await quickBench('vswitch-ip', 240_000, (out) => {
    const j = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { paths: Row[] };
    const row = j.paths.find((p) => p.name === 'vswitch-ip');
    assert.ok(row, 'a vswitch-ip row');
    assert.equal(row.status, 'ok', `vswitch-ip is ${row.status}: ${row.reason ?? ''}`);
    for (const [what, v] of [['TCP Gbit/s', row.tcpGbps.median], ['64-byte frames/s', row.framesPerSec.median], ['ping p50 ms', row.pingP50Ms.median]] as const) {
      assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${what}: ${v}`);
    }
    const ns = row.cost?.frames[0]?.nsPerFrame;
    assert.ok(typeof ns === 'number' && ns > 0, `worker ns per 64-byte frame: ${ns}`);
    assert.match(readFileSync(join(out, 'report.txt'), 'utf8'), /vswitch, IP mode, guest to guest/);
  });
});
