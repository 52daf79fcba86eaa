/**
 * The data-plane loop's busy-poll window (DataPlane.start busyPollUs -> LoopOptions.busyPollUs), on
 * the real kernel with the hub test forwarder and two TAPs in two namespaces:
 *  - frames still flow while the loop polls;
 *  - while frames keep arriving within the window the worker stays on the CPU (it polls
 *    instead of sleeping), and once they stop it goes back to sleep: the process then uses
 *    (almost) no CPU (the guests' IPv6 is off, so nothing else arrives).
 * All interfaces live in namespaces this test creates; the worker runs in the test process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap } from '../../src/host/devices.js';
import { addNs, delNs, finished, inNs, ip, sleep, spawnInNs, uniq } from '../helpers/netns.js';

const hubUrl = new URL('./hub-forwarder.js', import.meta.url).href;
const nsA = uniq('vsba');
const nsB = uniq('vsbb');
let dp: DataPlane | undefined;

/** CPU time (ms) of each thread of this process, by tid (from /proc: nanosecond resolution). */
function threadCpu(): Map<string, number> {
  const m = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try { m.set(tid, Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6); } catch { /* gone */ }
  }
  return m;
}

/** CPU time (ms) each thread used while `fn` ran, and the wall time (ms) it took. */
async function cpuDuring(fn: () => Promise<unknown>): Promise<{ cpu: Map<string, number>; wall: number }> {
  const c0 = threadCpu();
  const t0 = performance.now();
  await fn();
  const c1 = threadCpu();
  const cpu = new Map<string, number>();
  for (const [tid, t] of c1) cpu.set(tid, t - (c0.get(tid) ?? 0));
  return { cpu, wall: performance.now() - t0 };
}

before(async () => {
  addNs(nsA);
  addNs(nsB);
  // No IPv6: its autoconfiguration frames (DAD, MLD, router solicitations) would wake the
  // worker and start polling windows during the idle measurement.
  for (const ns of [nsA, nsB]) inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  dp = await DataPlane.start({ forwarders: hubUrl, busyPollUs: 50_000 }); // a 50 ms window
  const a = openTap({ netns: nsA, name: 'enc600', mac: 0x020000000a01, persist: false });
  const b = openTap({ netns: nsB, name: 'enc600', mac: 0x020000000b01, persist: false });
  dp.post({ op: 'switch-add', sw: 1, mode: 'ETHERNET', queueBytes: 0 });
  dp.post({ op: 'port-add', port: 1, sw: 1, role: 'nic', kind: 'tap', fd: a.fd, mac: 0x020000000a01, vnet: true, name: 'A' });
  dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'tap', fd: b.fd, mac: 0x020000000b01, vnet: true, name: 'B' });
  ip('-n', nsA, 'addr', 'add', '10.79.0.1/24', 'dev', 'enc600');
  ip('-n', nsA, 'link', 'set', 'enc600', 'up');
  ip('-n', nsB, 'addr', 'add', '10.79.0.2/24', 'dev', 'enc600');
  ip('-n', nsB, 'link', 'set', 'enc600', 'up');
});

after(async () => {
  try { if (dp) await dp.stop(); } finally { delNs(nsA); delNs(nsB); }
});

test('frames flow with busy polling on', () => {
  const out = inNs(nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.79.0.2');
  assert.match(out, / 0% packet loss/);
});

test('the worker polls while frames arrive within the window, and sleeps once they stop', async () => {
  // 40 pings 10 ms apart: every gap is inside the 50 ms window, so the worker never sleeps.
  const busy = await cpuDuring(async () => {
    const out = await finished(spawnInNs(nsA, 'ping', ['-c', '40', '-i', '0.01', '-W', '2', '-q', '10.79.0.2']), 20_000);
    assert.match(out, / 0% packet loss/);
  });
  // The busiest thread meanwhile is the data-plane worker.
  let worker = '';
  let most = -1;
  for (const [tid, t] of busy.cpu) if (t > most) { most = t; worker = tid; }
  assert.ok(most >= 0.3 * busy.wall, `polling: worker ${most.toFixed(0)} ms CPU in ${busy.wall.toFixed(0)} ms`);
  await sleep(200); // past the window
  const idle = await cpuDuring(() => sleep(500));
  const w = idle.cpu.get(worker) ?? 0;
  assert.ok(w < 25, `idle: worker ${w.toFixed(1)} ms CPU in ${idle.wall.toFixed(0)} ms (the loop kept polling)`);
});
