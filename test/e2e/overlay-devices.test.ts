/**
 * The overlay's VXLAN devices are the daemon's only when it made them (issue 15's leftovers), on
 * the real kernel with a real vswitchd (no cluster: switches with VXLAN and static VTEPs only)
 * restarted on its state: each `vx-<switch>` it makes carries its mark (the interface alias
 * naming its state directory); a switch dropped from SYSTEM CONFIG while the daemon was down
 * leaves a device that the next start removes; the device of a switch still defined is taken
 * over (same ifindex); a hand-made VXLAN device with a switch's device name is refused (QUERY
 * says why) and survives the switch's DETACH; a hand-made `vx-*` device and one marked by
 * another state directory survive the start-up sweep.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { NetLab, waitFor } from '../helpers/netlab.js';
import { Daemon } from '../helpers/daemon.js';
import { overlayMark } from '../../src/host/vxlan.js';

const lab = new NetLab('ovd');
let d: Daemon | undefined;

after(async () => {
  try {
    await d?.stop();
  } finally {
    lab.cleanup();
  }
});

const VTEP = '198.51.100.7';

interface Link { ifname: string; ifindex: number; ifalias?: string; linkinfo?: { info_kind?: string; info_data?: { id?: number } } }

function links(ns: string): Map<string, Link> {
  return new Map((JSON.parse(lab.ip(ns, '-d', '-j', 'link', 'show')) as Link[]).map((l) => [l.ifname, l]));
}

function overlay(sw: string): { state: string } | null {
  return d!.json('QUERY', 'VSWITCH', sw, 'DETAILS').switches[0]?.overlay ?? null;
}

function config(...switches: string[]): string {
  return switches.map((s, i) => `DEFINE VSWITCH ${s} RDEV NONE IP VXLAN ${71 + i} VTEP 198.51.100.9`).join('\n') + '\n';
}

test('the daemon removes its own VXLAN device of a switch gone while it was down, and never a device it did not make', async () => {
  const host = lab.netns('h');
  lab.ip(host, 'addr', 'add', `${VTEP}/32`, 'dev', 'lo');
  lab.ip(host, 'link', 'set', 'lo', 'up');
  // Made by hand before the daemon: one with a switch's device name, one of no switch; and one marked by another daemon.
  lab.ip(host, 'link', 'add', 'vx-swc', 'type', 'vxlan', 'id', '99', 'dstport', '4789', 'local', VTEP);
  lab.ip(host, 'link', 'add', 'vx-hand', 'type', 'vxlan', 'id', '98', 'dstport', '4789', 'local', VTEP);
  lab.ip(host, 'link', 'add', 'vx-other', 'type', 'vxlan', 'id', '97', 'dstport', '4789', 'nolearning', 'local', VTEP);
  lab.ip(host, 'link', 'set', 'dev', 'vx-other', 'alias', overlayMark('/var/lib/vswitch-of-another-daemon'));
  d = new Daemon({ netns: host, config: config('SWA', 'SWB'), args: ['--vtep', VTEP] });
  await d.start();
  assert.ok(await waitFor(() => overlay('SWA')?.state === 'READY' && overlay('SWB')?.state === 'READY', 20_000, 200),
    `${JSON.stringify([overlay('SWA'), overlay('SWB')])} ${d.stderr.slice(-2000)}`);
  const mark = `vswitchd: overlay of ${d.stateDir}`;
  let l = links(host);
  assert.equal(l.get('vx-swa')?.ifalias, mark, 'the device it made carries its mark');
  assert.equal(l.get('vx-swb')?.ifalias, mark);
  const swaIndex = l.get('vx-swa')!.ifindex;

  // A switch whose device name a hand-made VXLAN device has: refused, with the reason; the device is left as it was, also by DETACH.
  const r = d.cli('DEFINE', 'VSWITCH', 'SWC', 'RDEV', 'NONE', 'IP', 'VXLAN', '73');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(await waitFor(() => /did not make \(no mark\): not touched/.test(overlay('SWC')?.state ?? ''), 15_000, 200), JSON.stringify(overlay('SWC')));
  assert.match(d.cli('QUERY', 'VSWITCH', 'SWC', 'DETAILS').stdout, /ERROR ON DEVICE vx-swc: a VXLAN device vx-swc exists that this daemon did not make/);
  assert.equal(d.cli('DETACH', 'VSWITCH', 'SWC').code, 0);
  assert.ok(await waitFor(() => d!.stderr.includes('did not make; left alone'), 10_000, 100), d.stderr.slice(-2000));
  l = links(host);
  assert.equal(l.get('vx-swc')?.linkinfo?.info_data?.id, 99, 'the hand-made device is as it was made');
  assert.equal(l.get('vx-swc')?.ifalias, undefined, 'and unmarked');

  // SWB leaves SYSTEM CONFIG while the daemon is down (killed): its device is removed at the next start, SWA's taken over.
  await d.kill9();
  assert.ok(links(host).has('vx-swb'), 'a daemon that is down leaves its devices');
  writeFileSync(d.configPath, config('SWA'));
  await d.start();
  assert.ok(await waitFor(() => !links(host).has('vx-swb'), 20_000, 200), `vx-swb is still there: ${d.stderr.slice(-2000)}`);
  assert.ok(await waitFor(() => d!.stderr.includes('overlay VXLAN device of no switch removed'), 10_000, 100), d.stderr.slice(-2000));
  assert.ok(await waitFor(() => overlay('SWA')?.state === 'READY', 20_000, 200), JSON.stringify(overlay('SWA')));
  l = links(host);
  assert.equal(l.get('vx-swa')?.ifindex, swaIndex, 'the device of a switch still defined is taken over, not made again');
  for (const [name, vni] of [['vx-swc', 99], ['vx-hand', 98], ['vx-other', 97]] as const) {
    assert.equal(l.get(name)?.linkinfo?.info_data?.id, vni, `${name}, not this daemon's, is left`);
  }
});
