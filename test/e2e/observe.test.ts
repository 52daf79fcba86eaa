/**
 * End to end, what the switch shows (issue 12) on the real kernel: a running vswitchd with
 * --metrics and --http (loopback of its namespace), an IP-mode switch with two uplink veths
 * (up1 active, up2 backup) into one LAN bridge namespace, a controller, two guests pinging.
 * In order (one daemon for the file): /metrics names, types and labels; counters that rise by
 * the frames a ping sent and agree with QUERY; drops by reason, LAN IP table, addresses,
 * controller and uplink state as QUERY says; a failover and a refused controller counted and
 * listed; the live page in headless Chromium (the switch, both guests, a counter that moves
 * while a ping runs, the failover in the events; screenshot under results/observe/); bad
 * HTTP input (huge headers, bad paths, other methods, garbage, many idle connections)
 * answered or closed with the daemon unaffected; a second daemon on a taken address refused.
 * IPv6 is off in the test's namespaces so the only traffic is what the tests send (and ARP).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { NetLab, run, sleep, waitFor } from '../helpers/netlab.js';
import { Daemon, ROOT } from '../helpers/daemon.js';
import { Controller } from '../helpers/controller.js';
import { lanTable } from '../helpers/query.js';
import { NetnsHttp } from '../daemon/netns-http.js';

const lab = new NetLab('vo');
let d: Daemon;
let ctl: Controller;
let metricsHttp: NetnsHttp, pageHttp: NetnsHttp;
let browser: Browser | null = null;
let chromiumDir: string;
let hostNs: string, lanNs: string, g1: string, g2: string, up1: string, up2: string;
const LAN = '10.79.0.1', A = '10.79.0.11', B = '10.79.0.12', GHOST = '10.79.0.99';
const METRICS_PORT = 9464, PAGE_PORT = 9465;
const PAGE_URL = `http://127.0.0.1:${PAGE_PORT}/`;

function quiet(ns: string): void {
  assert.equal(lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']).code, 0);
}

before(async () => {
  hostNs = lab.netns('h');
  lanNs = lab.netns('l');
  quiet(hostNs);
  quiet(lanNs);
  up1 = lab.name('u1');
  up2 = lab.name('u2');
  lab.bridgedLan(hostNs, [up1, up2], lanNs, `${LAN}/24`);
  g1 = lab.adopt(lab.name('g1'));
  g2 = lab.adopt(lab.name('g2'));
  d = new Daemon({ netns: hostNs, args: ['--metrics', `127.0.0.1:${METRICS_PORT}`, '--http', `127.0.0.1:${PAGE_PORT}`] });
  await d.start();
  ctl = new Controller('DTCVSW1', hostNs, d);
  await ctl.start();
  d.commands([
    `DEFINE VSWITCH SW1 RDEV ${up1} ${up2} IP`,
    `DEFINE GUEST LINUX1 NETNS ${g1}`,
    `DEFINE GUEST LINUX2 NETNS ${g2}`,
    'DEFINE NIC 0600 FOR LINUX1',
    'DEFINE NIC 0600 FOR LINUX2',
    'SET VSWITCH SW1 GRANT LINUX1', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1',
    'SET VSWITCH SW1 GRANT LINUX2', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX2',
  ]);
  quiet(g1);
  quiet(g2);
  lab.configureNic(g1, 'enc600', `${A}/24`);
  lab.configureNic(g2, 'enc600', `${B}/24`);
  assert.ok(await waitFor(() => lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').filter((e) => !e.localOnly).length === 2, 10_000),
    'both guest addresses registered with the uplink');
  metricsHttp = await NetnsHttp.start(hostNs, '127.0.0.1', METRICS_PORT);
  pageHttp = await NetnsHttp.start(hostNs, '127.0.0.1', PAGE_PORT);
  assert.ok(ping(g1, B, 1) && ping(g2, A, 1) && ping(g1, LAN, 1), 'warm-up pings (ARP resolved)');
});

after(async () => {
  try {
    await browser?.close();
    await metricsHttp?.close();
    await pageHttp?.close();
    await ctl?.stop();
    await d?.stop();
  } finally {
    if (chromiumDir) rmSync(chromiumDir, { recursive: true, force: true });
    lab.cleanup();
  }
});

function ping(ns: string, ip: string, count = 3, interval = '0.2', waitS = '2'): boolean {
  return lab.exec(ns, 'ping', ['-c', String(count), '-i', interval, '-W', waitS, ip]).code === 0;
}

interface Family { type: string; help: string; samples: Array<{ name: string; labels: Record<string, string>; value: number }> }

/** The Prometheus text format, as a scraper reads it: families by name with HELP, TYPE and samples. */
function parseExposition(text: string): Map<string, Family> {
  const fams = new Map<string, Family>();
  const fam = (name: string): Family => {
    let f = fams.get(name);
    if (!f) fams.set(name, f = { type: '', help: '', samples: [] });
    return f;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      if (m[1] === 'HELP') fam(m[2]).help = m[3];
      else fam(m[2]).type = m[3];
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    // Histogram and summary samples belong to their family's base name.
    const base = fams.has(m[1]) ? m[1] : m[1].replace(/_(bucket|sum|count)$/, '');
    fam(base).samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return fams;
}

async function scrape(): Promise<Map<string, Family>> {
  const r = await metricsHttp.get('/metrics');
  assert.equal(r.status, 200);
  return parseExposition(r.body);
}

/** The one sample of `name` whose labels include `want`. */
function value(fams: Map<string, Family>, name: string, want: Record<string, string> = {}): number {
  const f = fams.get(name);
  assert.ok(f, `metric ${name} exported`);
  const hits = f.samples.filter((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v));
  assert.equal(hits.length, 1, `one ${name} sample with ${JSON.stringify(want)}: ${JSON.stringify(f.samples)}`);
  return hits[0].value;
}

/** Poll an async `check` until it gives a truthy value or `timeoutMs` passes; returns the last value. */
async function eventually<T>(check: () => Promise<T>, timeoutMs: number, stepMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await check();
  while (!v && Date.now() < end) {
    await sleep(stepMs);
    v = await check();
  }
  return v;
}

function sw(): any {
  return d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0];
}

const NIC_COUNTERS: Array<[string, string]> = [
  ['vswitch_nic_receive_frames_total', 'rxFrames'], ['vswitch_nic_receive_bytes_total', 'rxBytes'],
  ['vswitch_nic_transmit_frames_total', 'txFrames'], ['vswitch_nic_transmit_bytes_total', 'txBytes'],
  ['vswitch_nic_transmit_drops_total', 'txDrops'], ['vswitch_nic_receive_errors_total', 'rxErrors'],
];

test('/metrics: Prometheus names, types and labels, and the process metrics', async () => {
  const r = await metricsHttp.get('/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const fams = parseExposition(r.body);
  const expected: Record<string, string> = {
    vswitch_switch_info: 'gauge', vswitch_nic_up: 'gauge', vswitch_uplink_up: 'gauge',
    vswitch_uplink_receive_frames_total: 'counter', vswitch_uplink_transmit_bytes_total: 'counter',
    vswitch_uplink_rdev_ready: 'gauge', vswitch_uplink_rdev_active: 'gauge', vswitch_uplink_rdev_carrier: 'gauge',
    vswitch_uplink_failovers_total: 'counter', vswitch_events_total: 'counter', vswitch_drops_total: 'counter',
    vswitch_lan_ip_table_entries: 'gauge', vswitch_addresses: 'gauge', vswitch_multicast_groups: 'gauge',
    vswitch_controller_state: 'gauge', vswitch_controllers: 'gauge', vswitch_controller_switches: 'gauge',
    vswitch_controller_registrations_refused_total: 'counter',
    vswitch_dataplane_wakeups_total: 'counter', vswitch_dataplane_loop_batches_total: 'counter',
    vswitch_dataplane_empty_polls_total: 'counter', vswitch_dataplane_sleeps_total: 'counter',
    vswitch_dataplane_cpu_seconds_total: 'counter', vswitch_dataplane_poll_predictions_total: 'counter',
    process_cpu_seconds_total: 'counter', process_resident_memory_bytes: 'gauge', nodejs_eventloop_lag_seconds: 'gauge',
  };
  for (const [name] of NIC_COUNTERS) expected[name] = 'counter';
  for (const [name, type] of Object.entries(expected)) assert.equal(fams.get(name)?.type, type, `${name} is a ${type}`);
  for (const [name, f] of fams) {
    if (!name.startsWith('vswitch_')) continue;
    assert.ok(f.help.length > 0, `${name} has HELP`);
    assert.ok(['counter', 'gauge'].includes(f.type), `${name} has a TYPE`);
    assert.equal(name.endsWith('_total'), f.type === 'counter', `${name}: counters and only counters end in _total`);
    for (const s of f.samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        assert.doesNotMatch(v, /\d+\.\d+\.\d+\.\d+|([0-9a-f]{2}[:-]){5}[0-9a-f]{2}/i, `${name} label ${k}="${v}" is no IP address or MAC`);
      }
    }
  }
  for (const guest of ['LINUX1', 'LINUX2']) {
    assert.equal(value(fams, 'vswitch_nic_up', { vswitch: 'SW1', userid: guest, vdev: '0600' }), 1);
  }
  assert.equal(value(fams, 'vswitch_switch_info', { vswitch: 'SW1', mode: 'IP' }), 1);
});

test('NIC counters rise by the frames a ping sent and agree with QUERY VSWITCH DETAILS', async () => {
  const before = await scrape();
  const N = 20;
  assert.ok(ping(g1, B, N, '0.02'), 'LINUX1 pings LINUX2');
  const afterPing = await scrape();
  const rise = (guest: string, name: string): number =>
    value(afterPing, name, { userid: guest, vdev: '0600' }) - value(before, name, { userid: guest, vdev: '0600' });
  // Echo requests in at LINUX1, out at LINUX2; replies the other way (plus at most an ARP exchange).
  for (const [guest, name] of [['LINUX1', 'vswitch_nic_receive_frames_total'], ['LINUX2', 'vswitch_nic_transmit_frames_total'],
    ['LINUX2', 'vswitch_nic_receive_frames_total'], ['LINUX1', 'vswitch_nic_transmit_frames_total']]) {
    const n = rise(guest, name);
    assert.ok(n >= N && n <= N + 2, `${name} of ${guest} rose by ${n}, the ${N} frames sent (and at most an ARP exchange)`);
  }
  // The loop's own counters: every frame of the ping was read in some batch after epoll_wait
  // reported it, and each batch read at least one frame (how many frames share a batch depends
  // on how the worker was scheduled: a worker held off the CPU for 20 ms reads two requests at once).
  const loopRise = (name: string): number => value(afterPing, name) - value(before, name);
  const total = (fams: Map<string, Family>, name: string): number => fams.get(name)!.samples.reduce((a, x) => a + x.value, 0);
  const allRise = (name: string): number => total(afterPing, name) - total(before, name);
  const batches = loopRise('vswitch_dataplane_loop_batches_total');
  const wakeups = loopRise('vswitch_dataplane_wakeups_total');
  const framesIn = rise('LINUX1', 'vswitch_nic_receive_frames_total') + rise('LINUX2', 'vswitch_nic_receive_frames_total')
    + allRise('vswitch_uplink_receive_frames_total');
  assert.ok(batches >= 2 && batches <= framesIn, `loop batches rose by ${batches}: between 2 and the ${framesIn} frames read`);
  assert.ok(wakeups >= 1, `wake-ups rose by ${wakeups}`);
  assert.ok(loopRise('vswitch_dataplane_sleeps_total') >= 1, 'the worker waited between pings');
  assert.ok(value(afterPing, 'vswitch_dataplane_cpu_seconds_total') > 0, "the worker's CPU time is exported");
  const bytes = rise('LINUX1', 'vswitch_nic_receive_bytes_total');
  assert.ok(bytes >= N * 98 && bytes <= N * 98 + 2 * 60, `receive bytes rose by ${bytes}: ${N} echo requests of 98 bytes`);

  // The same numbers as QUERY's: QUERY, scrape, QUERY; counters only grow.
  const q1 = sw();
  const m = await scrape();
  const q2 = sw();
  for (const n1 of q1.nics) {
    const n2 = q2.nics.find((x: any) => x.guest === n1.guest);
    for (const [name, key] of NIC_COUNTERS) {
      const v = value(m, name, { vswitch: 'SW1', userid: n1.guest, vdev: n1.vdev });
      assert.ok(v >= n1.counters[key] && v <= n2.counters[key], `${name} of ${n1.guest}: ${n1.counters[key]} <= ${v} <= ${n2.counters[key]}`);
    }
  }
});

test('drops by reason, LAN IP table, addresses, controller and uplink state match QUERY VSWITCH DETAILS', async () => {
  const mac = JSON.parse(lab.ip(hostNs, '-j', 'link', 'show', up1))[0].address as string;
  lab.ip(lanNs, 'neigh', 'replace', GHOST, 'lladdr', mac, 'dev', 'br0', 'nud', 'permanent');
  assert.ok(!ping(lanNs, GHOST, 3, '0.05', '0.3'), 'nobody answers for an unregistered address');
  assert.ok(await waitFor(() => sw().drops['unknown-destination'] >= 3, 3000), 'the switch counted the discards');
  const q1 = sw();
  const m = await scrape();
  const q2 = sw();
  for (const [reason, n] of Object.entries(q1.drops) as Array<[string, number]>) {
    const v = value(m, 'vswitch_drops_total', { vswitch: 'SW1', reason });
    assert.ok(v >= n && v <= q2.drops[reason], `drops ${reason}: ${n} <= ${v} <= ${q2.drops[reason]}`);
  }
  assert.ok(value(m, 'vswitch_drops_total', { reason: 'unknown-destination' }) >= 3);
  assert.equal(value(m, 'vswitch_lan_ip_table_entries', { vswitch: 'SW1' }), q1.ipTable.length);
  assert.equal(q1.ipTable.length, 2);
  assert.equal(value(m, 'vswitch_addresses', { vswitch: 'SW1', state: 'registered' }), 2);
  assert.equal(value(m, 'vswitch_addresses', { vswitch: 'SW1', state: 'local_only' }), 0);
  assert.equal(value(m, 'vswitch_controller_state', { vswitch: 'SW1', state: 'ready' }), 1);
  assert.equal(value(m, 'vswitch_controller_state', { vswitch: 'SW1', state: 'none' }), 0);
  assert.equal(value(m, 'vswitch_controllers'), 1);
  assert.equal(value(m, 'vswitch_controller_switches', { controller: 'DTCVSW1' }), 1);
  assert.equal(value(m, 'vswitch_uplink_up', { vswitch: 'SW1' }), 1);
  assert.equal(value(m, 'vswitch_uplink_rdev_active', { rdev: up1 }), 1);
  assert.equal(value(m, 'vswitch_uplink_rdev_active', { rdev: up2 }), 0);
  assert.equal(value(m, 'vswitch_uplink_rdev_ready', { rdev: up2 }), 1);
  assert.equal(value(m, 'vswitch_uplink_failovers_total', { vswitch: 'SW1' }), 0);
  const upRx = value(m, 'vswitch_uplink_receive_frames_total', { vswitch: 'SW1', rdev: up1 });
  assert.ok(upRx >= q1.uplink.counters.rxFrames && upRx <= q2.uplink.counters.rxFrames, 'uplink counters as QUERY shows them');
});

test('a failover and a refused controller: counted in /metrics, listed in the page\'s events', async () => {
  lab.ip(lanNs, 'link', 'set', 'lan1', 'down'); // up1 loses carrier
  const ev = await waitFor(() => sw().control.events.find((e: any) => e.kind === 'failover'), 10_000);
  assert.ok(ev, 'the switch failed over');
  // A second controller under a taken name is refused (a real one would try again later: one Register here).
  const dup = run(process.execPath, [join(ROOT, 'dist/test/e2e/fake-controller.js'), '--name', 'DTCVSW1', '--socket', d.socket], { timeoutMs: 10_000 });
  assert.match(dup.stdout, /"t":"refused".*already connected/, `the duplicate controller is refused: ${dup.stdout}${dup.stderr}`);
  const fams = await eventually(async () => {
    const f = await scrape();
    return value(f, 'vswitch_uplink_failovers_total', { vswitch: 'SW1' }) === 1 ? f : null;
  }, 3000);
  assert.ok(fams, 'vswitch_uplink_failovers_total is 1');
  assert.equal(value(fams, 'vswitch_events_total', { vswitch: 'SW1', kind: 'failover' }), 1);
  assert.equal(value(fams, 'vswitch_uplink_rdev_active', { rdev: up2 }), 1);
  assert.equal(value(fams, 'vswitch_uplink_rdev_carrier', { rdev: up1 }), 0);
  assert.equal(value(fams, 'vswitch_controller_registrations_refused_total'), 1);
  assert.ok(value(fams, 'vswitch_uplink_receive_frames_total', { vswitch: 'SW1', rdev: up2 }) >= 0, 'the uplink counters follow the active RDEV');
  const snap = JSON.parse((await pageHttp.get('/view.json')).body);
  const kinds = snap.events.map((e: any) => e.kind);
  assert.ok(kinds.includes('failover') && kinds.includes('controller-refused') && kinds.includes('controller-assigned'), `events: ${kinds}`);
  assert.match(snap.events.find((e: any) => e.kind === 'failover').text, new RegExp(`^FAILOVER in \\d+ ms: ${up1}: no carrier \\(${up1} -> ${up2}\\)$`));
  assert.ok(ping(g1, LAN, 2), 'the LAN is reached through the backup');
});

test('the live page in headless Chromium: the switch, both guests, a moving counter, the events', async (t) => {
  // Chromium runs in the daemon's namespace (its loopback is the page's); the driver talks to it
  // over a pipe and gives it a fresh profile (--user-data-dir) of its own.
  chromiumDir = mkdtempSync(join(tmpdir(), 'vswchromium-'));
  const wrapper = join(chromiumDir, 'chromium');
  writeFileSync(wrapper, `#!/bin/sh\nexec nsenter --net=/run/netns/${hostNs} /usr/bin/chromium "$@"\n`, { mode: 0o755 });
  browser = await chromium.launch({
    executablePath: wrapper,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(PAGE_URL);
  await page.waitForSelector('[data-vswitch="SW1"] svg');
  for (const guest of ['LINUX1', 'LINUX2']) {
    assert.equal(await page.locator(`[data-nic="${guest}/0600"] .guest`).textContent(), guest, `the drawing shows ${guest}`);
  }
  assert.match(await page.locator('[data-nic="LINUX1/0600"]').textContent() ?? '', new RegExp(`${A.replace(/\./g, '\\.')} REGISTERED`));
  assert.match(await page.locator(`[data-rdev="${up2}"]`).textContent() ?? '', /ACTIVE/);
  assert.match(await page.locator(`[data-rdev="${up1}"]`).textContent() ?? '', /BACKUP/);
  assert.match(await page.locator('[data-vswitch="SW1"] .controller').textContent() ?? '', /controller DTCVSW1/);
  assert.match(await page.locator('#events').textContent() ?? '', /FAILOVER in \d+ ms/);
  assert.match(await page.locator('#events').textContent() ?? '', /Register refused/);

  const counter = page.locator('[data-nic="LINUX1/0600"] .rx-frames');
  const first = Number(await counter.textContent());
  const flood = lab.spawn(g1, 'ping', ['-c', '40', '-i', '0.1', B]);
  const moved = await eventually(async () => Number(await counter.textContent()) > first, 5000, 200);
  assert.ok(moved, `LINUX1's received-frames counter moves while the ping runs (was ${first})`);
  assert.match(await page.locator('[data-nic="LINUX1/0600"] .rate').textContent() ?? '', /in [1-9][\d.]* ?k?fr\/s/);
  assert.match(await page.locator('#status').textContent() ?? '', /^live/);
  flood.kill('SIGINT');

  const dir = join(ROOT, 'results', 'observe');
  mkdirSync(dir, { recursive: true });
  const shot = join(dir, 'page.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);
  assert.deepEqual(problems, [], 'no script errors');
  assert.deepEqual(requests.filter((u) => !u.startsWith(PAGE_URL)), [], 'every request goes to the daemon');
  await browser.close();
  browser = null;
});

test('bad HTTP input is answered or closed; the daemon is unaffected', async () => {
  const pid = d.pid;
  const huge = await pageHttp.exchange(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.match(huge.text, /^HTTP\/1\.1 431 /);
  assert.ok(huge.closed, 'closed after 431');
  const longUrl = await pageHttp.exchange(`GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.match(longUrl.text, /^HTTP\/1\.1 431 /);
  const garbage = await pageHttp.exchange(Buffer.from([0, 1, 2, 0xff, 13, 10, 13, 10]));
  assert.match(garbage.text, /^HTTP\/1\.1 400 /);
  assert.ok(garbage.closed, 'closed after 400');
  for (const path of ['/../../etc/passwd', '/nope', '/%00', '/page.js/..', '/metrics']) {
    assert.equal((await pageHttp.get(path)).status, 404, `${path}: not found`);
  }
  assert.equal((await metricsHttp.get('/')).status, 404, 'the metrics listener serves /metrics only');
  const post = await pageHttp.get('/', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  assert.equal((await pageHttp.get('/view.json', { method: 'HEAD' })).status, 200);

  // Many idle connections: past the limit closed at once, the rest closed by the headers timeout.
  const COUNT = 100;
  const sockets = await Promise.all(Array.from({ length: COUNT }, () => pageHttp.connect()));
  const closedAt: number[] = [];
  const t0 = Date.now();
  await Promise.all(sockets.map((s) => new Promise<void>((r) => {
    s.on('error', () => {});
    s.on('close', () => { closedAt.push(Date.now() - t0); r(); });
    s.resume();
  })).concat([(async () => {
    await sleep(500);
    const early = closedAt.length;
    assert.ok(early >= COUNT - 64, `connections past the limit are closed at once (${early} of ${COUNT} within 500 ms)`);
    assert.equal(d.cli('QUERY', 'VSWITCH', 'ALL').code, 0, 'the control socket answers meanwhile');
    assert.ok(ping(g1, B, 2, '0.1'), 'traffic flows meanwhile');
  })()]));
  const last = Math.max(...closedAt);
  assert.ok(last < 8000, `every idle connection closed, the last after ${last} ms`);
  assert.equal((await pageHttp.get('/')).status, 200, 'the page answers again');
  assert.equal((await metricsHttp.get('/metrics')).status, 200, 'metrics answer');
  assert.equal(d.pid, pid);
  assert.match(d.cli('QUERY', 'VSWITCH', 'SW1').stdout, /VSWITCH SYSTEM SW1/);
});

test('an address already taken stops start-up with the reason', async () => {
  const second = new Daemon({ netns: hostNs, args: ['--http', `127.0.0.1:${PAGE_PORT}`] });
  try {
    await assert.rejects(second.start(), /vswitchd exited 1: [^]*cannot listen for --metrics \/ --http: listen EADDRINUSE/);
  } finally {
    rmSync(second.dir, { recursive: true, force: true });
  }
  assert.equal((await pageHttp.get('/')).status, 200, 'the first daemon keeps serving');
});
