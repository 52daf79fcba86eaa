/**
 * The live page's script (runs in the browser; compiled by tsc, served by vswitchd as
 * /page.js). It opens the daemon's event stream (/events: one snapshot a second, see
 * ../index.ts) and draws, for each switch, its topology as inline SVG: the LAN, the RDEVs
 * (active and backups, with their state), the controller on the control path, the switch, and
 * each coupled NIC with its guest, addresses, live rates (counter deltas between snapshots)
 * and totals; below, the controllers, the guests and the recent events. Read-only: it sends
 * nothing but the stream's GET. Hooks for tests: `[data-vswitch]`, `[data-nic="USERID/VDEV"]`,
 * `.rx-frames` / `.tx-frames` (totals), `#status`.
 * Only type imports: the browser loads this one file.
 */
import type { NicDoc, SwitchDoc } from '../../../control/commands/query.js';
import type { PageEvent } from '../events.js';
import type { ObservedView } from '../view.js';

interface Snapshot { view: ObservedView; events: PageEvent[] }
type Counters = NonNullable<SwitchDoc['uplink']['counters']>;
type Attrs = Record<string, string | number>;

const SVG_NS = 'http://www.w3.org/2000/svg';
const NIC_W = 180;
const NIC_GAP = 16;
const ROW = { lan: 8, rdev: 74, sw: 176, nic: 300 };
const HEIGHT = 440;

let previous: ObservedView | null = null;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function html<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  e.append(...children);
  return e;
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** 1234567 -> "1.23 M" (frames) or "1.23 MB" (bytes). */
function si(n: number, unit = ''): string {
  const steps = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (n >= 1000 && i < steps.length - 1) { n /= 1000; i++; }
  return `${i === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)} ${steps[i]}${unit}`.trim();
}

/** Per-second rates between two readings of one port (null: no earlier reading of it). */
function rates(now: Counters | null, then: Counters | null, dtMs: number): Counters | null {
  if (now === null || then === null || dtMs <= 0) return null;
  const per = (a: number, b: number): number => Math.max(0, (a - b) * 1000 / dtMs);
  return {
    rxFrames: per(now.rxFrames, then.rxFrames), rxBytes: per(now.rxBytes, then.rxBytes),
    txFrames: per(now.txFrames, then.txFrames), txBytes: per(now.txBytes, then.txBytes),
    txDrops: per(now.txDrops, then.txDrops), rxErrors: per(now.rxErrors, then.rxErrors),
  };
}

function rateText(r: Counters | null): string {
  return r === null ? 'rates: measuring' : `in ${si(r.rxFrames)}fr/s ${si(r.rxBytes * 8, 'b/s')}  out ${si(r.txFrames)}fr/s`;
}

function busy(r: Counters | null): boolean {
  return r !== null && (r.rxFrames > 0 || r.txFrames > 0);
}

function drawSwitch(sw: SwitchDoc, view: ObservedView, dtMs: number): HTMLElement {
  const before = previous?.switches.find((s) => s.name === sw.name) ?? null;
  const width = Math.max(760, sw.nics.length * (NIC_W + NIC_GAP) + NIC_GAP);
  const mid = width / 2;
  const pic = svg('svg', { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': `topology of ${sw.name}` });
  const lines = svg('g', { class: 'lines' });
  pic.append(lines);

  // The LAN, the RDEVs and the path from the active one into the switch.
  const uplinkRate = before !== null && before.uplink.port === sw.uplink.port ? rates(sw.uplink.counters, before.uplink.counters, dtMs) : null;
  pic.append(svg('rect', { class: 'lan', x: 8, y: ROW.lan, width: width - 16, height: 30, rx: 6 }));
  pic.append(svg('text', { class: 'title', x: 20, y: ROW.lan + 20 }, sw.uplink.rdevs.length > 0 ? 'LAN' : 'no uplink (guests reach each other only)'));
  const rdevs = sw.control?.rdevs ?? sw.uplink.rdevs.map((rdev) => ({ rdev, ok: false, reason: 'not initialised', carrier: false, mtu: 0 }));
  const rdevW = 200;
  const rdevStart = mid - (rdevs.length * (rdevW + 20) - 20) / 2;
  rdevs.forEach((r, i) => {
    const x = rdevStart + i * (rdevW + 20);
    const active = r.rdev === (sw.control?.active ?? sw.uplink.active);
    const open = active && sw.uplink.port !== null;
    lines.append(svg('line', { x1: x + rdevW / 2, y1: ROW.lan + 30, x2: x + rdevW / 2, y2: ROW.rdev }));
    lines.append(svg('line', { class: open ? (busy(uplinkRate) ? 'busy' : 'active') : 'backup', x1: x + rdevW / 2, y1: ROW.rdev + 64, x2: mid, y2: ROW.sw }));
    const g = svg('g', { class: 'rdev', 'data-rdev': r.rdev });
    g.append(svg('rect', { class: `box${active ? ' active' : ''}${r.ok ? '' : ' down'}`, x, y: ROW.rdev, width: rdevW, height: 64, rx: 5 }));
    g.append(svg('text', { class: 'title', x: x + 8, y: ROW.rdev + 18 }, `RDEV ${clip(r.rdev, 14)}`));
    g.append(svg('text', { class: active ? 'ok' : 'muted', x: x + 8, y: ROW.rdev + 34 }, active ? (open ? 'ACTIVE (data device open)' : 'ACTIVE') : 'BACKUP'));
    g.append(svg('text', { class: r.ok ? 'ok' : 'bad', x: x + 8, y: ROW.rdev + 50 },
      r.ok ? `READY  carrier ${r.carrier ? 'yes' : 'no'}  MTU ${r.mtu}` : clip(`NOT READY: ${r.reason ?? 'unknown'}`, 28)));
    pic.append(g);
  });

  // The controller: beside the switch, on the control path (never the data path).
  const ctlName = sw.control?.controller ?? null;
  const ctlX = width - 200;
  if (sw.uplink.rdevs.length > 0) {
    lines.append(svg('line', { class: 'control', x1: ctlX, y1: ROW.sw + 36, x2: mid + 160, y2: ROW.sw + 36 }));
    const g = svg('g', { class: 'controller', 'data-controller': ctlName ?? '' });
    g.append(svg('rect', { class: 'controller-box', x: ctlX, y: ROW.sw + 6, width: 186, height: 60, rx: 5 }));
    g.append(svg('text', { class: 'title', x: ctlX + 8, y: ROW.sw + 24 }, `controller ${ctlName ?? sw.controller}`));
    g.append(svg('text', { class: ctlName !== null ? 'ok' : 'bad', x: ctlX + 8, y: ROW.sw + 40 }, clip(sw.control?.state ?? 'not started', 30)));
    g.append(svg('text', { class: 'muted', x: ctlX + 8, y: ROW.sw + 56 }, 'control path only'));
    pic.append(g);
  }

  // The switch.
  const s = svg('g', { class: 'vswitch-box' });
  s.append(svg('rect', { class: 'vswitch', x: mid - 160, y: ROW.sw, width: 320, height: 72, rx: 8 }));
  s.append(svg('text', { class: 'title', x: mid - 148, y: ROW.sw + 20 }, `VSWITCH ${sw.name}  ${sw.mode} mode`));
  s.append(svg('text', { class: sw.uplink.port !== null ? 'ok' : 'warn', x: mid - 148, y: ROW.sw + 37 }, clip(`uplink ${sw.uplink.state}`, 44)));
  s.append(svg('text', { class: 'muted uplink-rate', x: mid - 148, y: ROW.sw + 53 }, sw.uplink.counters !== null ? `uplink ${rateText(uplinkRate)}` : 'uplink: no data device'));
  const dropped = Object.values(sw.drops).reduce((a, b) => a + b, 0);
  s.append(svg('text', { class: dropped > 0 ? 'warn' : 'muted', x: mid - 148, y: ROW.sw + 67 }, `${sw.connected} NIC${sw.connected === 1 ? '' : 's'} coupled  discarded ${si(dropped)}`));
  pic.append(s);

  // The coupled NICs, each with its guest's addresses.
  const nicStart = mid - (sw.nics.length * (NIC_W + NIC_GAP) - NIC_GAP) / 2;
  sw.nics.forEach((n, i) => {
    const x = nicStart + i * (NIC_W + NIC_GAP);
    const old = before?.nics.find((o) => o.guest === n.guest && o.vdev === n.vdev && o.port === n.port) ?? null;
    const r = rates(n.counters, old?.counters ?? null, dtMs);
    lines.append(svg('line', { class: n.port === null ? 'backup' : busy(r) ? 'busy' : 'active', x1: mid, y1: ROW.sw + 72, x2: x + NIC_W / 2, y2: ROW.nic }));
    pic.append(drawNic(n, nicOf(view, n.guest, n.vdev), x, r));
  });
  if (sw.nics.length === 0) pic.append(svg('text', { class: 'muted', x: mid - 60, y: ROW.nic + 20 }, 'No NICs are coupled'));

  const drops = Object.entries(sw.drops).filter(([, c]) => c > 0).map(([reason, c]) => `${reason} ${c}`);
  return html('section', { class: 'switch', 'data-vswitch': sw.name },
    html('h2', {}, `VSWITCH SYSTEM ${sw.name}`), pic,
    html('p', { class: 'drops' }, `Discarded: ${drops.length === 0 ? 'none' : drops.join(', ')}`));
}

function nicOf(view: ObservedView, userid: string, vdev: string): NicDoc | null {
  return view.guests.find((g) => g.userid === userid)?.nics.find((n) => n.vdev === vdev) ?? null;
}

function drawNic(n: SwitchDoc['nics'][number], doc: NicDoc | null, x: number, r: Counters | null): SVGGElement {
  const y = ROW.nic;
  const g = svg('g', { class: 'nic', 'data-nic': `${n.guest}/${n.vdev}` });
  g.append(svg('rect', { class: `box${n.port === null ? ' down' : ''}`, x, y, width: NIC_W, height: 128, rx: 5 }));
  g.append(svg('text', { class: 'title guest', x: x + 8, y: y + 18 }, clip(n.guest, 18)));
  g.append(svg('text', { class: 'muted', x: x + 8, y: y + 33 }, `NIC ${n.vdev}  ${n.mac}`));
  const addrs = doc?.addresses ?? [];
  addrs.slice(0, 2).forEach((a, i) => {
    g.append(svg('text', { class: `address ${a.state === 'REGISTERED' ? 'ok' : 'warn'}`, x: x + 8, y: y + 49 + i * 14 }, clip(`${a.ip} ${a.state}`, 28)));
  });
  if (addrs.length === 0) g.append(svg('text', { class: 'muted', x: x + 8, y: y + 49 }, 'no address'));
  if (addrs.length > 2) g.append(svg('text', { class: 'muted', x: x + 8, y: y + 77 }, `and ${addrs.length - 2} more`));
  if (n.counters === null) {
    g.append(svg('text', { class: 'bad', x: x + 8, y: y + 95 }, 'no data-plane port'));
    return g;
  }
  g.append(svg('text', { class: 'rate', x: x + 8, y: y + 95 }, r === null ? 'rates: measuring' : `in ${si(r.rxFrames)}fr/s  out ${si(r.txFrames)}fr/s`));
  const totals = svg('text', { class: 'muted', x: x + 8, y: y + 111 });
  totals.append(document.createTextNode('in '), svg('tspan', { class: 'rx-frames' }, String(n.counters.rxFrames)),
    document.createTextNode(' fr  out '), svg('tspan', { class: 'tx-frames' }, String(n.counters.txFrames)), document.createTextNode(' fr'));
  g.append(totals);
  g.append(svg('text', { class: 'muted', x: x + 8, y: y + 124 }, `${si(n.counters.rxBytes, 'B')} in  ${si(n.counters.txBytes, 'B')} out`));
  return g;
}

function render(snap: Snapshot): void {
  const { view, events } = snap;
  const dtMs = previous === null ? 0 : view.at - previous.at;
  const switches = document.getElementById('switches')!;
  switches.replaceChildren(...(view.switches.length === 0
    ? [html('p', { class: 'empty' }, 'No VSWITCHes are defined')]
    : view.switches.map((sw) => drawSwitch(sw, view, dtMs))));

  document.getElementById('controllers')!.replaceChildren(...(view.controllers.length === 0
    ? [html('li', { class: 'empty' }, 'No controller is connected')]
    : view.controllers.map((c) => html('li', { 'data-controller': c.name },
      `${c.name} (pid ${c.pid}) ${c.state}: ${c.switches.length === 0 ? 'no switches' : c.switches.map((s) => `${s.name} on ${s.active ?? 'none'}`).join(', ')}`))));

  document.getElementById('guests')!.replaceChildren(...(view.guests.length === 0
    ? [html('li', { class: 'empty' }, 'No GUESTs are defined')]
    : view.guests.map((g) => html('li', { 'data-guest': g.userid },
      `${g.userid} (${g.type}): ${g.nics.length === 0 ? 'no NICs' : g.nics.map((n) =>
        `NIC ${n.vdev} ${n.switch === null ? 'not coupled' : `on ${n.switch}`}${n.addresses.length > 0 ? ` ${n.addresses.map((a) => a.ip).join(' ')}` : ''}`).join('; ')}`))));

  document.getElementById('events')!.replaceChildren(...(events.length === 0
    ? [html('li', { class: 'empty' }, 'none yet')]
    : [...events].reverse().map((e) => html('li', { class: e.kind },
      html('time', { datetime: e.at }, new Date(e.at).toLocaleTimeString()),
      html('span', { class: 'kind' }, e.vswitch ?? 'daemon'), ` ${e.text}`))));

  const status = document.getElementById('status')!;
  status.className = 'status live';
  status.textContent = `live, updated ${new Date(view.at).toLocaleTimeString()}`;
  previous = view;
}

const stream = new EventSource('events');
stream.addEventListener('view', (m) => render(JSON.parse((m as MessageEvent<string>).data) as Snapshot));
stream.addEventListener('error', () => {
  const status = document.getElementById('status')!;
  status.className = 'status down';
  status.textContent = 'connection lost; reconnecting';
});
