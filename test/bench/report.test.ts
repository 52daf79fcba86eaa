/**
 * Self-test of the benchmark's arithmetic and report (bench/lib.ts statistics, bench/report.ts):
 * medians and percentiles, the best userspace peer per metric, goal verdicts from ratios, the
 * table and SVG for rows that were not measured, and the data-plane worker's cost figures. Pure: no network, no processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, percentile } from '../../bench/lib.js';
import { bestPeer, costTable, goals, table, svg, type PathResult, type Metric } from '../../bench/report.js';
import { costOf } from '../../bench/cost.js';
import { scaleGoals, scaleText, type ScaleResult } from '../../bench/scale.js';

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
  const gs = goals(paths, { status: 'ok', figures: { ipSwitchFps: 12e6, ethernetSwitchFps: 8e6 } }, scaleGoals(null, null));
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
  const none = goals(paths, { status: 'n/a', reason: 'absent' }, []);
  assert.equal(none.find((g) => g.goal.startsWith('forwarding core'))!.met, null);
});

test('scale goals: all connected, QUERY under 200 ms, memory reported, flat lookup', () => {
  const s: ScaleResult = {
    status: 'ok', nics: 1000, connected: 1000, accepted: 1000, defineSeconds: 3, connectSeconds: 4,
    rssBeforeKB: 80_000, rssAfterKB: 100_000, memPerNicKB: 20,
    queryCliMs: m(150), queryDaemonMs: m(30), cliBaselineMs: m(90), queryLines: 1006,
    addresses: { perNic: 12, expected: 12000, registered: 12000, seconds: 2, queryCliMs: m(250), queryDaemonMs: m(120), rssKB: 110_000 },
  };
  const gs = scaleGoals(s, { at10: 10, at100k: 25 });
  const find = (x: string) => gs.find((g) => g.goal.includes(x))!;
  assert.equal(find('coupled to one switch').met, true);
  assert.equal(find('with 1000 NICs < 200').met, true);
  assert.equal(find('12000 LAN IP addresses').met, false);
  assert.equal(find('memory per NIC').met, true);
  assert.match(find('memory per NIC').measured, /^20\.0 kB per NIC/);
  assert.equal(find('flat lookup').met, false); // 2.5x
  assert.equal(scaleGoals({ ...s, connected: 999 }, { at10: 10, at100k: 12 }).find((g) => g.goal.includes('coupled'))!.met, false);
  assert.equal(scaleGoals({ ...s, connected: 999 }, { at10: 10, at100k: 12 }).find((g) => g.goal.includes('flat'))!.met, true);
  assert.ok(scaleGoals(null, null).every((g) => g.met === null));
  assert.match(scaleText(s, { at10: 10, at100k: 25 }), /20\.0 kB per NIC/);
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

test('worker cost: ns per frame, shares, batch sizes from two samples; the cost table takes medians', () => {
  const a = { at: 0, cpuNs: 1e9, frames: 1000, txFrames: 900, wakeups: 10, batches: 20, emptyPolls: 5, sleeps: 7 };
  const b = { at: 2e9, cpuNs: 1.5e9, frames: 101_000, txFrames: 100_900, wakeups: 1010, batches: 1020, emptyPolls: 5, sleeps: 8 };
  const c = costOf(a, b);
  assert.equal(c.nsPerFrame, 5000); // 0.5 s of CPU for 100,000 frames
  assert.equal(c.cpuShare, 0.25);
  assert.equal(c.framesPerBatch, 100);
  assert.equal(c.framesPerWakeup, 100);
  assert.equal(c.emptyPolls, 0);
  assert.equal(costOf(a, { ...a, at: 1e9 }).nsPerFrame, null, 'no frames: no per-frame figure');
  const r = row('vswitch-ip', 'vswitch', 1, 1, 1, 1);
  const idle = costOf(a, { ...a, at: 10e9, cpuNs: a.cpuNs + 2e6 });
  r.cost = { tcp: [c, costOf(a, { ...b, cpuNs: 2e9 }), c], frames: [c], ping: [], idle };
  const t = costTable([r, row('bridge', 'kernel', 1, 1, 1, 1)], 10);
  const line = t.split('\n').find((l) => l.startsWith('<vswitch-ip>'))!;
  assert.match(line, /^<vswitch-ip>\s+\|\s+5000 \|\s+25% \|\s+5000 \|.*\|\s+n\/a \|\s+n\/a \|\s+2\.0$/);
  assert.ok(!t.includes('<bridge>'), 'rows without a worker are left out');
});

test('IPv6 rows are compared with the bridge over IPv6, IPv4 rows with the IPv4 bridge', () => {
  const v6 = (r: PathResult): PathResult => ({ ...r, family: 6 });
  const t = table([
    row('bridge', 'kernel', 20, 400e3, 0.1, 0.2),
    v6(row('bridge-ipv6', 'kernel', 10, 200e3, 0.2, 0.4)),
    row('vswitch-ip', 'vswitch', 10, 200e3, 0.2, 0.4),
    v6(row('vswitch-ip-ipv6', 'vswitch', 5, 100e3, 0.4, 0.8)),
  ]);
  const line = (name: string) => t.split('\n').find((l) => l.startsWith(`<${name}>`))!;
  assert.match(line('vswitch-ip'), /10\.00\s+0\.50x/);
  assert.match(line('vswitch-ip-ipv6'), /5\.00\s+0\.50x/);
  assert.match(line('vswitch-ip-ipv6'), /0\.800\s+2\.00x/);
  assert.match(line('bridge-ipv6'), /10\.00\s+1\.00x/);
  assert.ok(t.includes('IPv6 rows: x bridge is to the Linux bridge over IPv6'));
  assert.ok(!table([row('bridge', 'kernel', 1, 1, 1, 1)]).includes('IPv6 rows'), 'no note without IPv6 rows');
});
