/**
 * Self-test of the benchmark's arithmetic and report (bench/lib.ts statistics, bench/report.ts):
 * medians and percentiles, the best userspace peer per metric, goal verdicts from ratios, and
 * the table and SVG for rows that were not measured. Pure: no network, no processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, percentile } from '../../bench/lib.js';
import { bestPeer, goals, table, svg, type PathResult, type Metric } from '../../bench/report.js';

const m = (v: number | null): Metric => ({ values: v === null ? [] : [v], median: v });

function row(name: string, kind: PathResult['kind'], tcp: number | null, fps: number | null, p50: number | null, p99: number | null): PathResult {
  return {
    name, label: `<${name}>`, kind, status: tcp === null ? 'n/a' : 'ok', ...(tcp === null ? { reason: 'not here' } : {}),
    tcpGbps: m(tcp), framesPerSec: m(fps), pingP50Ms: m(p50), pingP99Ms: m(p99), pingLost: [],
  };
}

test('median and nearest-rank percentile', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const xs = Array.from({ length: 200 }, (_, i) => i + 1); // 1..200
  assert.equal(percentile(xs, 50), 100);
  assert.equal(percentile(xs, 99), 198);
  assert.equal(percentile([5], 99), 5);
});

const paths: PathResult[] = [
  row('bridge', 'kernel', 18, 400e3, 0.1, 0.2),
  row('vde', 'peer', 1.8, 177e3, 0.18, 0.5),
  row('ovs', 'peer', 1.3, 136e3, 0.15, 0.9),
  row('vswitch-ip', 'vswitch', 17, 280e3, 0.14, 0.3),
  row('vswitch-eth', 'vswitch', null, null, null, null),
  row('vswitch-lan', 'vswitch', 15, 200e3, 0.2, 0.4),
  row('router', 'prior', 9, 150e3, 0.05, 0.1),
];

test('best userspace peer: highest rate, lowest latency, only peers', () => {
  assert.deepEqual(bestPeer(paths, 'tcpGbps'), { name: 'vde', value: 1.8 });
  assert.deepEqual(bestPeer(paths, 'pingP50Ms'), { name: 'ovs', value: 0.15 });
  assert.equal(bestPeer(paths.filter((p) => p.kind !== 'peer'), 'tcpGbps'), null);
});

test('goal verdicts follow the ratios; missing rows are not measured, never met', () => {
  const gs = goals(paths, { status: 'ok', figures: { ipSwitchFps: 12e6, ethernetSwitchFps: 8e6 } }, 'later');
  const find = (s: string) => gs.find((g) => g.goal.startsWith(s))!;
  assert.equal(find('TCP guest to guest (IP mode)').met, true);            // 17/18 = 0.94
  assert.equal(find('TCP guest to guest (ETHERNET mode)').met, null);
  assert.equal(find('TCP guest to LAN through the uplink >= 0.8').met, true); // 15/18 = 0.83
  assert.equal(find('TCP guest to LAN through the uplink >= 2').met, false);  // 15/9 = 1.67
  assert.equal(find('64-byte frames guest to guest (IP mode) >= 1.5').met, true); // 280/177 = 1.58
  assert.equal(find('64-byte frames guest to guest (IP mode), aim').met, false);  // 0.7
  assert.equal(find('ping p50 (guest to guest, IP)').met, true);  // 1.4
  assert.equal(find('ping p50 (guest to LAN)').met, false);       // 2.0
  assert.equal(find('forwarding core alone (ipSwitchFps)').met, true);
  assert.equal(find('forwarding core alone (ethernetSwitchFps)').met, false);
  assert.equal(find('scale').met, null);
  const none = goals(paths, { status: 'n/a', reason: 'absent' }, 'later');
  assert.equal(none.find((g) => g.goal.startsWith('forwarding core'))!.met, null);
});

test('table shows n/a rows with their reason; svg escapes labels and draws one bar per figure', () => {
  const t = table(paths);
  assert.match(t, /<vswitch-eth>\s+\|\s+n\/a/);
  assert.match(t, /<vswitch-eth>: n\/a: not here/);
  assert.match(t, /<vswitch-ip>\s+\|\s+17\.00\s+0\.94x\s+9\.44x/);
  const s = svg(paths, 'a & b');
  assert.ok(s.startsWith('<svg') && s.trimEnd().endsWith('</svg>'));
  assert.ok(s.includes('a &amp; b') && s.includes('&lt;vswitch-ip&gt;') && !s.includes('<vswitch-ip>'));
  const bars = (s.match(/<rect x="300"/g) ?? []).length;
  assert.equal(bars, 6 * 4); // 6 measured rows x 4 metrics; the n/a row has none
});
