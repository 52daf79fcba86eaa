/**
 * The data-plane loop's polling on the real kernel, with the hub test forwarder and two TAPs in
 * two namespaces: first a fixed busy-poll window (DataPlane.start busyPollUs ->
 * LoopOptions.busyPollUs), then adaptive polling (src/dataplane/poll-policy.ts; the worker's default: VSWITCH_ADAPTIVE_POLL=0
 * turns it off, the worker reads it from the environment it inherits).
 *  - frames flow while the loop polls;
 *  - fixed window: while frames keep arriving within the window the worker polls instead of
 *    sleeping (its empty-poll counter grows between the frames), and once they stop it goes
 *    back to sleep: the counter stops, and the worker thread (found by its name) then uses
 *    (almost) no CPU (the guests' IPv6 is off, so nothing else arrives);
 *  - adaptive: frames flow, and once they stop the worker stops polling and idles the same way.
 * The checks are counts and conditions waited for with generous deadlines, not timings: under
 * load from elsewhere the worker may get little CPU, but whatever it does it counts. The only
 * CPU check is an upper bound while nothing at all arrives.
 * All interfaces live in namespaces this test creates; the worker runs in the test process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap } from '../../src/host/devices.js';
import { WORKER_THREAD_NAME } from '../../src/dataplane/loop.js';
import { LoopCounter, loopSlot } from '../../src/forward/counters.js';
import { addNs, delNs, finished, inNs, ip, sleep, spawnInNs, uniq } from '../helpers/netns.js';

const hubUrl = new URL('./hub-forwarder.js', import.meta.url).href;
const nsA = uniq('vsba');
const nsB = uniq('vsbb');
let dp: DataPlane | undefined;

/** CPU time (ms) of the data-plane worker thread of this process (from /proc: nanosecond resolution). */
function workerCpuMs(): number {
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== WORKER_THREAD_NAME) continue;
      return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
    } catch { /* gone */ }
  }
  throw new Error(`no thread named ${WORKER_THREAD_NAME}`);
}

const emptyPolls = (): number => dp!.counters[loopSlot(LoopCounter.EmptyPolls)];

/** Start a data plane with two TAP ports on one switch (the previous one stopped first). */
async function startPlane(busyPollUs: number): Promise<void> {
  if (dp) await dp.stop(); // closes the TAPs: the interfaces go with them
  dp = await DataPlane.start({ forwarders: hubUrl, busyPollUs });
  const a = openTap({ netns: nsA, name: 'enc600', mac: 0x020000000a01, persist: false });
  const b = openTap({ netns: nsB, name: 'enc600', mac: 0x020000000b01, persist: false });
  dp.post({ op: 'switch-add', sw: 1, mode: 'ETHERNET', queueBytes: 0 });
  dp.post({ op: 'port-add', port: 1, sw: 1, role: 'nic', kind: 'tap', fd: a.fd, mac: 0x020000000a01, vnet: true, name: 'A' });
  dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'tap', fd: b.fd, mac: 0x020000000b01, vnet: true, name: 'B' });
  ip('-n', nsA, 'addr', 'add', '10.79.0.1/24', 'dev', 'enc600');
  ip('-n', nsA, 'link', 'set', 'enc600', 'up');
  ip('-n', nsB, 'addr', 'add', '10.79.0.2/24', 'dev', 'enc600');
  ip('-n', nsB, 'link', 'set', 'enc600', 'up');
}

/** Wait (up to 20 s) until the empty-poll counter stays still for `quietMs`: the loop stopped polling. */
async function pollingStops(quietMs: number): Promise<boolean> {
  const end = Date.now() + 20_000;
  let last = emptyPolls();
  let since = Date.now();
  while (Date.now() < end) {
    await sleep(50);
    const v = emptyPolls();
    if (v !== last) { last = v; since = Date.now(); } else if (Date.now() - since >= quietMs) return true;
  }
  return false;
}

/** Nothing arrives for 500 ms: no empty poll, and (an upper bound only) hardly any worker CPU. */
async function idles(): Promise<void> {
  const p0 = emptyPolls();
  const c0 = workerCpuMs();
  await sleep(500);
  const polls = emptyPolls() - p0;
  const cpu = workerCpuMs() - c0;
  assert.equal(polls, 0, `idle: the loop polled ${polls} times`);
  assert.ok(cpu < 25, `idle: worker ${cpu.toFixed(1)} ms CPU in 500 ms`);
}

before(async () => {
  addNs(nsA);
  addNs(nsB);
  // No IPv6: its autoconfiguration frames (DAD, MLD, router solicitations) would wake the
  // worker and start polling windows during the idle measurement.
  for (const ns of [nsA, nsB]) inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  await startPlane(50_000); // a 50 ms window
});

after(async () => {
  try { if (dp) await dp.stop(); } finally { delNs(nsA); delNs(nsB); }
});

test('frames flow with busy polling on', () => {
  const out = inNs(nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.79.0.2');
  assert.match(out, / 0% packet loss/);
});

test('the worker polls while frames arrive within the window, and sleeps once they stop', async () => {
  assert.ok(await pollingStops(300), 'the loop stopped polling before the test');
  const p0 = emptyPolls();
  // 40 pings 10 ms apart: every gap is inside the 50 ms window, so the worker polls through them.
  const out = await finished(spawnInNs(nsA, 'ping', ['-c', '40', '-i', '0.01', '-W', '2', '-q', '10.79.0.2']), 20_000);
  assert.match(out, / 0% packet loss/);
  const polls = emptyPolls() - p0;
  assert.ok(polls >= 40, `polling: ${polls} empty polls during 40 pings 10 ms apart`);
  assert.ok(await pollingStops(300), 'the loop stops polling once the frames stop');
  await idles();
});

test('adaptive polling: frames flow, and the worker idles once they stop', async () => {
  delete process.env.VSWITCH_ADAPTIVE_POLL; // the default
  await startPlane(0);
  const out = await finished(spawnInNs(nsA, 'ping', ['-c', '40', '-i', '0.01', '-W', '2', '-q', '10.79.0.2']), 20_000);
  assert.match(out, / 0% packet loss/);
  assert.ok(await pollingStops(300), 'the loop stops polling once the frames stop');
  await idles();
});
