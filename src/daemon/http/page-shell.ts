/**
 * The live page's HTML and style sheet, served by vswitchd itself (index.ts): a skeleton the
 * page's script (page/page.ts) fills with the topology drawing (inline SVG), the controllers,
 * the guests and the recent events. Nothing is loaded from anywhere else.
 */

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vswitch</title>
<link rel="stylesheet" href="page.css">
</head>
<body>
<header>
  <h1>vswitch</h1>
  <span id="status" class="status">connecting</span>
</header>
<main>
  <section id="switches" aria-label="switches"><p class="empty">Waiting for the daemon's first snapshot.</p></section>
  <section class="panels">
    <div class="panel"><h2>Controllers</h2><ul id="controllers"></ul></div>
    <div class="panel"><h2>Guests</h2><ul id="guests"></ul></div>
    <div class="panel wide"><h2>Recent events</h2><ul id="events"></ul></div>
  </section>
</main>
<noscript>This page draws the switch with its own script, served by vswitchd: enable scripts.</noscript>
<script type="module" src="page.js"></script>
</body>
</html>
`;

export const PAGE_CSS = `:root { --bg: #f6f7f9; --fg: #1d2330; --muted: #667085; --line: #98a2b3; --ok: #12805c; --bad: #c4320a;
  --warn: #b54708; --box: #ffffff; --accent: #2f5cc4; font-family: system-ui, sans-serif; }
body { margin: 0; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: baseline; gap: 1rem; padding: 0.6rem 1.2rem; background: #1d2330; color: #fff; }
header h1 { margin: 0; font-size: 1.2rem; }
.status { font-size: 0.85rem; color: #cfd4dc; }
.status.live { color: #7ee2b8; }
.status.down { color: #fda29b; }
main { padding: 1rem 1.2rem; }
.switch { background: var(--box); border: 1px solid #e4e7ec; border-radius: 8px; margin-bottom: 1rem; padding: 0.6rem 0.8rem; overflow-x: auto; }
.switch h2 { margin: 0 0 0.4rem; font-size: 1.05rem; }
.switch .drops { font-size: 0.85rem; color: var(--muted); margin: 0.3rem 0 0; }
.empty { color: var(--muted); }
svg text { font-size: 12px; fill: var(--fg); }
svg text.title { font-size: 14px; font-weight: 600; }
svg text.muted { fill: var(--muted); font-size: 11px; }
svg text.ok { fill: var(--ok); }
svg text.bad { fill: var(--bad); }
svg text.warn { fill: var(--warn); }
svg rect.box { fill: var(--box); stroke: var(--line); stroke-width: 1; }
svg rect.box.active { stroke: var(--ok); stroke-width: 2; }
svg rect.box.down { stroke: var(--bad); stroke-dasharray: 4 3; }
svg rect.lan { fill: #e8eefc; stroke: var(--accent); }
svg rect.vswitch { fill: #eef4ff; stroke: var(--accent); stroke-width: 2; }
svg rect.controller-box { fill: #fffaeb; stroke: var(--warn); }
svg line { stroke: var(--line); stroke-width: 1.5; }
svg line.active { stroke: var(--ok); stroke-width: 3; }
svg line.backup { stroke-dasharray: 5 4; }
svg line.control { stroke: var(--warn); stroke-dasharray: 2 4; }
svg line.busy { stroke: var(--accent); stroke-width: 3; stroke-dasharray: 8 6; animation: flow 0.8s linear infinite; }
@keyframes flow { to { stroke-dashoffset: -14; } }
.panels { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.panel { background: var(--box); border: 1px solid #e4e7ec; border-radius: 8px; padding: 0.6rem 0.8rem; }
.panel.wide { grid-column: 1 / -1; }
.panel h2 { margin: 0 0 0.4rem; font-size: 1rem; }
.panel ul { margin: 0; padding-left: 1.2rem; font-size: 0.9rem; }
#events li { margin: 0.15rem 0; }
#events .kind { font-weight: 600; }
#events .failover, #events .failover-impossible, #events .controller-lost { color: var(--bad); }
#events .address-refused, #events .group-refused, #events .controller-refused { color: var(--warn); }
time { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: 0.4rem; }
`;
