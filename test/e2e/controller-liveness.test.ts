/**
 * Issue 9, item 8, on the real kernel: fake controllers (fake-controller.ts, a small script)
 * that register and then do not do a controller's work. A squatter under the real
 * DTCVSW1's name that answers pings but never answers ControlSwitch holds SW1 only until the
 * ControlSwitch deadline: the switch moves to DTCVSW2 (the next eligible controller), the
 * squatter is marked NOT RESPONDING, and the real DTCVSW1, refused meanwhile, keeps trying
 * (it does not exit) and gets its name. A fake that answers nothing loses its name within the
 * ping deadline. Reasons in QUERY say what is true at each step; the guests' own traffic
 * (a background ping between them) loses nothing throughout.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetLab, waitFor } from '../helpers/netlab.js';
import { Daemon } from '../helpers/daemon.js';
import { Controller, VSWITCH_CONTROLLER } from '../helpers/controller.js';
import { Program } from '../helpers/process.js';
import { CONTROL_SWITCH_DEADLINE_MS, PING_DEADLINE_MS, PING_INTERVAL_MS } from '../../src/control/controllers.js';

const FAKE = join(fileURLToPath(new URL('.', import.meta.url)), 'fake-controller.js');
const lab = new NetLab('vf');
const programs: Program[] = [];
let d: Daemon | undefined;
let c2: Controller | undefined;
const LAN = '10.79.0.1', A = '10.79.0.11', B = '10.79.0.12';

after(async () => {
  try {
    for (const p of programs) await p.stop(2000);
    await c2?.stop();
    await d?.stop();
  } finally {
    lab.cleanup();
  }
});

function fake(hostNs: string, name: string, pong: boolean): Program {
  const p = new Program();
  programs.push(p);
  p.start(hostNs, process.execPath, [FAKE, '--socket', d!.socket, '--name', name, ...(pong ? ['--pong'] : [])]);
  return p;
}

test('squatters that do not answer lose the switch and their name; the real controller retries and gets it; guests lose nothing', async () => {
  const hostNs = lab.netns('h');
  const lanNs = lab.netns('l');
  const up1 = lab.name('u1');
  lab.bridgedLan(hostNs, [up1], lanNs, `${LAN}/24`);
  const g1 = lab.adopt(lab.name('g1'));
  const g2 = lab.adopt(lab.name('g2'));
  d = new Daemon({ netns: hostNs });
  await d.start();
  d.commands([
    `DEFINE VSWITCH SW1 RDEV ${up1} IP`,
    `DEFINE GUEST LINUX1 NETNS ${g1}`, `DEFINE GUEST LINUX2 NETNS ${g2}`,
    'DEFINE NIC 0600 FOR LINUX1', 'DEFINE NIC 0600 FOR LINUX2',
    'SET VSWITCH SW1 GRANT LINUX1', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1', 'SET VSWITCH SW1 GRANT LINUX2', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX2',
  ]);
  lab.configureNic(g1, 'enc600', `${A}/24`);
  lab.configureNic(g2, 'enc600', `${B}/24`);
  const sw = (): any => d!.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0];
  assert.ok(await waitFor(() => sw().ipTable.length === 2, 5000));
  // Guest to guest traffic for the whole test: nothing the controllers do may touch it.
  const bg = lab.spawn(g1, 'ping', ['-n', '-c', '300', '-i', '0.1', '-W', '1', B]);
  let bgOut = '';
  bg.stdout!.setEncoding('utf8');
  bg.stdout!.on('data', (x: string) => { bgOut += x; });
  bg.stderr!.resume();
  const bgDone = new Promise<void>((r) => bg.once('exit', () => r()));

  // 1. The squatter registers as DTCVSW1 (it answers pings, nothing else) and is chosen.
  const squatter = fake(hostNs, 'DTCVSW1', true);
  assert.ok(await waitFor(() => sw().uplink.state === 'INITIALIZING (CONTROLLER DTCVSW1)', 5000), JSON.stringify(sw().uplink));
  const t0 = Date.now();
  assert.deepEqual(sw().ipTable.map((e: any) => [e.localOnly, e.reason]), [
    [true, 'controller DTCVSW1 has not initialised the uplink yet'], [true, 'controller DTCVSW1 has not initialised the uplink yet'],
  ]);
  // 2. The real DTCVSW1: refused while the name is held, it keeps trying instead of exiting.
  const real1 = new Program();
  programs.push(real1);
  real1.start(hostNs, VSWITCH_CONTROLLER, ['--name', 'DTCVSW1', '--socket', d.socket]);
  assert.ok(await waitFor(() => /registration refused for now; trying again/.test(real1.stderr), 5000), real1.stderr);
  // 3. Another real controller: eligible, but the switch is the squatter's until its deadline.
  c2 = new Controller('DTCVSW2', hostNs, d);
  await c2.start();
  assert.equal(sw().control.controller, 'DTCVSW1');
  // 4. The deadline passes: the switch moves to DTCVSW2, which initialises it.
  const moved = await waitFor(() => { const v = sw(); return v.control.controller === 'DTCVSW2' && v.uplink.state === 'READY' && v.ipTable.every((e: any) => !e.localOnly) ? v : null; },
    CONTROL_SWITCH_DEADLINE_MS + 5000);
  assert.ok(moved, `moved to DTCVSW2: ${JSON.stringify(sw().control)}`);
  const movedMs = Date.now() - t0;
  const ev = moved.control.events.find((e: any) => e.kind === 'controller-not-responding');
  assert.ok(ev, JSON.stringify(moved.control.events));
  assert.equal(ev.from, 'DTCVSW1');
  assert.match(ev.reason, new RegExp(`no InitializationComplete for VSWITCH SW1 within ${CONTROL_SWITCH_DEADLINE_MS / 1000} s`));
  assert.equal(lab.exec(lanNs, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', A]).code, 0, 'the LAN reaches the guest through DTCVSW2');
  // 5. The real DTCVSW1 takes its name over from the squatter, which is disconnected.
  const named = await waitFor(() => d!.json('QUERY', 'CONTROLLER', 'DTCVSW1').controllers[0]?.pid === real1.pid, 5000);
  assert.ok(named, `real DTCVSW1 registered: ${real1.stderr}`);
  assert.equal(d.json('QUERY', 'CONTROLLER', 'DTCVSW1').controllers[0].state, 'AVAILABLE');
  assert.ok(await waitFor(() => squatter.exitCode !== null, 3000), 'the squatter was disconnected');
  assert.equal(real1.exitCode, null, 'the real controller never exited');
  // 6. A fake that answers nothing at all: gone within the ping deadline.
  const silent = fake(hostNs, 'DTCVSW3', false);
  assert.ok(await waitFor(() => d!.json('QUERY', 'CONTROLLER').controllers.some((c: any) => c.name === 'DTCVSW3'), 5000));
  const s0 = Date.now();
  assert.ok(await waitFor(() => !d!.json('QUERY', 'CONTROLLER').controllers.some((c: any) => c.name === 'DTCVSW3'), PING_DEADLINE_MS + PING_INTERVAL_MS + 4000),
    'a connection answering no ping loses its name');
  const silentMs = Date.now() - s0;
  assert.ok(await waitFor(() => silent.exitCode !== null, 3000));
  assert.match(d.stderr, /did not answer a ping within/);
  assert.equal(sw().control.controller, 'DTCVSW2', 'the switch stayed with the controller that answers');
  await bgDone;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(bgOut);
  console.log(`# FIGURE a squatter ignoring ControlSwitch held SW1 ${movedMs} ms (deadline ${CONTROL_SWITCH_DEADLINE_MS} ms) before DTCVSW2 took over; a silent fake lost its name ${silentMs} ms after registering; guest-to-guest ping ${m?.[2]}/${m?.[1]} received`);
  assert.ok(m, bgOut);
  assert.equal(m[2], m[1], 'the guests lost nothing');
});
