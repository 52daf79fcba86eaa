/**
 * Turning measured figures into the report: the text table (absolute figures, ratios to the
 * Linux bridge, over IPv6 for the IPv6 rows, and to the best userspace peer), the goals of issue 5 with met / not met, and a
 * hand-written SVG bar chart. Pure functions of the results; no I/O here.
 */
import type { PathKind } from './paths.js';
import type { Cost } from './cost.js';

export interface Metric { values: number[]; median: number | null; error?: string }

export interface PathResult {
  name: string;
  label: string;
  kind: PathKind;
  /** 6 for a row measured over IPv6 (its "x bridge" is to the bridge-ipv6 row); else IPv4. */
  family?: 6;
  status: 'ok' | 'n/a' | 'partial';
  reason?: string;
  tcpGbps: Metric;
  framesPerSec: Metric;
  pingP50Ms: Metric;
  pingP99Ms: Metric;
  pingLost: number[];
  extra?: Record<string, unknown>;
  /** The data-plane worker's cost per repetition of each test, and while idle (vswitch rows). */
  cost?: { tcp: Cost[]; frames: Cost[]; ping: Cost[]; idle: Cost | null };
}

export interface ForwardResult {
  status: 'ok' | 'n/a';
  reason?: string;
  figures?: Record<string, number>;
  /** Other numeric fields forward.js printed (lookup costs, heap growth), medians. */
  other?: Record<string, number>;
}

export interface Goal {
  goal: string;
  measured: string;
  met: boolean | null;
  note?: string;
}

type MetricKey = 'tcpGbps' | 'framesPerSec' | 'pingP50Ms' | 'pingP99Ms';
const HIGHER_BETTER: Record<MetricKey, boolean> = { tcpGbps: true, framesPerSec: true, pingP50Ms: false, pingP99Ms: false };

function val(paths: PathResult[], name: string, k: MetricKey): number | null {
  return paths.find((p) => p.name === name)?.[k].median ?? null;
}

/** The best userspace peer's figure for a metric (max for rates, min for latency). */
export function bestPeer(paths: PathResult[], k: MetricKey): { name: string; value: number } | null {
  let best: { name: string; value: number } | null = null;
  for (const p of paths) {
    const v = p[k].median;
    if (p.kind !== 'peer' || v === null) continue;
    if (!best || (HIGHER_BETTER[k] ? v > best.value : v < best.value)) best = { name: p.name, value: v };
  }
  return best;
}

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

const fmt = (v: number | null, digits: number): string => (v === null || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));
const fmtR = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)}x`);

export function table(paths: PathResult[]): string {
  const cols: Array<{ k: MetricKey; head: string; scale: number; digits: number }> = [
    { k: 'tcpGbps', head: 'TCP Gbit/s', scale: 1, digits: 2 },
    { k: 'framesPerSec', head: '64B kfr/s', scale: 1e-3, digits: 1 },
    { k: 'pingP50Ms', head: 'p50 ms', scale: 1, digits: 3 },
    { k: 'pingP99Ms', head: 'p99 ms', scale: 1, digits: 3 },
  ];
  const labelW = Math.max(4, ...paths.map((p) => p.label.length));
  const head = ['path'.padEnd(labelW), ...cols.map((c) => `${c.head.padStart(10)} ${'x bridge'.padStart(8)} ${'x peer'.padStart(7)}`)].join(' | ');
  const lines = [head, '-'.repeat(head.length)];
  const bridgeOf = (k: MetricKey, p: PathResult) => val(paths, p.family === 6 ? 'bridge-ipv6' : 'bridge', k);
  for (const p of paths) {
    const cells = cols.map((c) => {
      const v = p[c.k].median;
      const peer = bestPeer(paths, c.k);
      const shown = v === null ? 'n/a' : fmt(v * c.scale, c.digits);
      return `${shown.padStart(10)} ${fmtR(ratio(v, bridgeOf(c.k, p))).padStart(8)} ${fmtR(ratio(v, peer?.value ?? null)).padStart(7)}`;
    });
    lines.push([p.label.padEnd(labelW), ...cols.map((_, i) => cells[i]!)].join(' | '));
  }
  const notes = paths.filter((p) => p.status !== 'ok').map((p) => `  ${p.label}: ${p.status}: ${p.reason ?? ''}`);
  const peers = cols.map((c) => `${c.head}: ${bestPeer(paths, c.k)?.name ?? 'none'}`).join(', ');
  lines.push('', `best userspace peer per column: ${peers}`);
  if (paths.some((p) => p.family === 6)) lines.push('IPv6 rows: x bridge is to the Linux bridge over IPv6 (bridge-ipv6)');
  if (notes.length) lines.push('rows not (fully) measured:', ...notes);
  return lines.join('\n');
}

/** Median of the non-null values, or null. */
function med(xs: Array<number | null>): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/**
 * The worker's cost per vswitch row (issue 14), and vde_switch's (its one thread) for comparison:
 * CPU ns per frame the switch received and the thread's CPU share during each test (medians
 * over the repetitions), frames per receive batch and per wake-up in the 64-byte test (vswitch
 * only: vde_switch has no such counters), and its CPU time while idle.
 */
export function costTable(paths: PathResult[], idleSeconds: number): string {
  const rows = paths.filter((p) => p.cost !== undefined);
  if (rows.length === 0) return 'data-plane worker cost: no switch rows measured';
  const labelW = Math.max(4, ...rows.map((p) => p.label.length));
  const head = ['path'.padEnd(labelW), 'TCP ns/fr', 'CPU', '64B ns/fr', 'CPU', 'fr/batch', 'fr/wake', 'ping ns/fr', 'CPU', `idle ${idleSeconds}s CPU ms`].join(' | ');
  const lines = ['data-plane worker cost (thread CPU time / frames the switch received; CPU = share of the wall time; vde_switch: its one thread):', head, '-'.repeat(head.length)];
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(0)}%`);
  for (const p of rows) {
    const c = p.cost!;
    const ns = (cs: Cost[]) => fmt(med(cs.map((x) => x.nsPerFrame)), 0);
    const share = (cs: Cost[]) => pct(med(cs.map((x) => x.cpuShare)));
    lines.push([p.label.padEnd(labelW), ns(c.tcp).padStart(9), share(c.tcp).padStart(4), ns(c.frames).padStart(9), share(c.frames).padStart(4),
      fmt(med(c.frames.map((x) => x.framesPerBatch)), 1).padStart(8), fmt(med(c.frames.map((x) => x.framesPerWakeup)), 1).padStart(7),
      ns(c.ping).padStart(10), share(c.ping).padStart(4), fmt(c.idle?.cpuMs ?? null, 1).padStart(`idle ${idleSeconds}s CPU ms`.length)].join(' | '));
  }
  return lines.join('\n');
}

/** The goals of issue 5, evaluated on this run's medians. */
export function goals(paths: PathResult[], fwd: ForwardResult, scale: Goal[]): Goal[] {
  const out: Goal[] = [];
  const g = (goal: string, a: number | null, b: number | null, cmp: (r: number) => boolean, what: string, note?: string) => {
    const r = ratio(a, b);
    out.push({ goal, measured: r === null ? `not measured (${what})` : `${r.toFixed(2)}x (${what})`, met: r === null ? null : cmp(r), ...(note ? { note } : {}) });
  };
  const v = (n: string, k: MetricKey) => val(paths, n, k);
  const br = (k: MetricKey) => v('bridge', k);
  for (const [name, label] of [['vswitch-ip', 'IP'], ['vswitch-eth', 'ETHERNET']] as const) {
    g(`TCP guest to guest (${label} mode) >= 0.9 x Linux bridge`, v(name, 'tcpGbps'), br('tcpGbps'), (r) => r >= 0.9,
      `${fmt(v(name, 'tcpGbps'), 2)} vs ${fmt(br('tcpGbps'), 2)} Gbit/s`);
  }
  g('TCP guest to LAN through the uplink >= 0.8 x bridge path', v('vswitch-lan', 'tcpGbps'), br('tcpGbps'), (r) => r >= 0.8,
    `${fmt(v('vswitch-lan', 'tcpGbps'), 2)} vs ${fmt(br('tcpGbps'), 2)} Gbit/s`);
  g('TCP guest to LAN through the uplink >= 2 x router path', v('vswitch-lan', 'tcpGbps'), v('router', 'tcpGbps'), (r) => r >= 2,
    `${fmt(v('vswitch-lan', 'tcpGbps'), 2)} vs ${fmt(v('router', 'tcpGbps'), 2)} Gbit/s`,
    'the router here is a kernel-forwarding namespace on veth links, so it is an upper bound for the prior art');
  for (const [name, label] of [['vswitch-ip', 'IP'], ['vswitch-eth', 'ETHERNET']] as const) {
    const f = v(name, 'framesPerSec');
    g(`64-byte frames guest to guest (${label} mode) >= 1.5 x vde_switch`, f, v('vde', 'framesPerSec'), (r) => r >= 1.5,
      `${fmt(f === null ? null : f / 1e3, 1)} vs ${fmt((v('vde', 'framesPerSec') ?? NaN) / 1e3, 1)} kframes/s`);
    g(`64-byte frames guest to guest (${label} mode), aim 0.8 x bridge`, f, br('framesPerSec'), (r) => r >= 0.8,
      `${fmt(f === null ? null : f / 1e3, 1)} vs ${fmt((br('framesPerSec') ?? NaN) / 1e3, 1)} kframes/s`);
  }
  for (const [name, label] of [['vswitch-ip', 'guest to guest, IP'], ['vswitch-eth', 'guest to guest, ETHERNET'], ['vswitch-lan', 'guest to LAN']] as const) {
    g(`ping p50 (${label}) <= 1.5 x bridge`, v(name, 'pingP50Ms'), br('pingP50Ms'), (r) => r <= 1.5,
      `p50 ${fmt(v(name, 'pingP50Ms'), 3)} vs ${fmt(br('pingP50Ms'), 3)} ms; p99 ${fmt(v(name, 'pingP99Ms'), 3)} vs ${fmt(br('pingP99Ms'), 3)} ms`);
  }
  if (fwd.status === 'ok' && fwd.figures && Object.keys(fwd.figures).length > 0) {
    for (const [k, x] of Object.entries(fwd.figures)) {
      out.push({ goal: `forwarding core alone (${k}) >= 10 M frames/s`, measured: `${(x / 1e6).toFixed(2)} M frames/s`, met: x >= 10e6 });
    }
  } else {
    out.push({ goal: 'forwarding core alone >= 10 M frames/s', measured: `not measured (${fwd.reason ?? 'no figures'})`, met: null });
  }
  out.push(...scale); // bench/scale.ts scaleGoals
  return out;
}

export function goalsText(gs: Goal[]): string {
  const mark = (m: boolean | null) => (m === null ? 'NOT MEASURED' : m ? 'met' : 'NOT MET');
  return gs.map((x) => `  [${mark(x.met).padEnd(12)}] ${x.goal}: ${x.measured}${x.note ? `\n                 (${x.note})` : ''}`).join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const COLORS: Record<PathKind, string> = { kernel: '#7f8c8d', peer: '#e67e22', vswitch: '#2e86de', prior: '#8e44ad' };

/** A bar chart: one panel per metric, one bar per path, absolute value printed at the bar. */
export function svg(paths: PathResult[], title: string): string {
  const panels: Array<{ k: MetricKey; title: string; scale: number; unit: string; digits: number }> = [
    { k: 'tcpGbps', title: 'TCP throughput (iperf3), higher is better', scale: 1, unit: 'Gbit/s', digits: 2 },
    { k: 'framesPerSec', title: '64-byte UDP frames delivered (trafgen), higher is better', scale: 1e-3, unit: 'k/s', digits: 1 },
    { k: 'pingP50Ms', title: 'ping round trip p50, lower is better', scale: 1, unit: 'ms', digits: 3 },
    { k: 'pingP99Ms', title: 'ping round trip p99, lower is better', scale: 1, unit: 'ms', digits: 3 },
  ];
  const W = 900, labelW = 300, barMax = 460, rowH = 22, panelHead = 34, top = 40;
  const panelH = panelHead + paths.length * rowH + 14;
  const H = top + panels.length * panelH + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((panel, i) => {
    const y0 = top + i * panelH;
    parts.push(`<text x="12" y="${y0 + 20}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    const max = Math.max(0, ...paths.map((p) => p[panel.k].median ?? 0));
    paths.forEach((p, j) => {
      const y = y0 + panelHead + j * rowH;
      const v = p[panel.k].median;
      parts.push(`<text x="${labelW - 8}" y="${y + 14}" text-anchor="end">${esc(p.label)}</text>`);
      if (v === null || max <= 0) {
        parts.push(`<text x="${labelW + 4}" y="${y + 14}" fill="#999">n/a</text>`);
        return;
      }
      const w = Math.max(1, (v / max) * barMax);
      parts.push(`<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${COLORS[p.kind]}"/>`);
      parts.push(`<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 14}">${(v * panel.scale).toFixed(panel.digits)} ${panel.unit}</text>`);
    });
  });
  const ly = H - 16;
  let lx = 12;
  for (const [kind, name] of [['kernel', 'kernel'], ['peer', 'userspace peers'], ['vswitch', 'vswitch'], ['prior', 'router (prior art)']] as const) {
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[kind]}"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly}">${name}</text>`);
    lx += 40 + name.length * 7;
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
