/**
 * Test-only: Linux 802.1Q VLAN devices PARENT.VID inside a namespace, as a trunk guest or a LAN
 * host makes them (`ip link add link PARENT name PARENT.VID type vlan id VID`); where the kernel
 * has no 802.1Q support (CONFIG_VLAN_8021Q off, as on the CI machines) TAPs of the same names
 * fed by test/dataplane/vlan-relay.ts, a userspace 802.1Q demux on PARENT.
 * `vlanDevices(ns, parent, vids, spawnIn)` resolves once the devices exist, with the relay's
 * process (started through `spawnIn`, so the caller's cleanup kills it; stdout and stderr must
 * be pipes) or null for the kernel's devices. `dropVlanDevices` removes them again.
 */
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';

/** Starts a long-running process inside a namespace (NetLab.spawn, netns.spawnInNs). */
export type SpawnIn = (ns: string, cmd: string, args: string[]) => ChildProcess;

const RELAY_JS = new URL('../dataplane/vlan-relay.js', import.meta.url).pathname;

export async function vlanDevices(ns: string, parent: string, vids: number[], spawnIn: SpawnIn): Promise<ChildProcess | null> {
  try {
    for (const v of vids) execFileSync('ip', ['-n', ns, 'link', 'add', 'link', parent, 'name', `${parent}.${v}`, 'type', 'vlan', 'id', String(v)], { stdio: ['ignore', 'pipe', 'pipe'] });
    return null;
  } catch (e) {
    if (!/Unknown device type|not supported/i.test(String((e as { stderr?: string }).stderr ?? e))) throw e;
  }
  const c = spawnIn(ns, process.execPath, [RELAY_JS, parent, vids.join(',')]);
  let out = '';
  let err = '';
  c.stdout!.on('data', (d) => { out += String(d); });
  c.stderr!.on('data', (d) => { err += String(d); });
  const end = Date.now() + 20_000;
  while (!out.includes('ready') && c.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.ok(out.includes('ready') && c.exitCode === null, `vlan-relay for ${parent} in ${ns} started: ${err}`);
  return c;
}

/** Remove VLAN devices made by vlanDevices. */
export async function dropVlanDevices(ns: string, parent: string, vids: number[], relay: ChildProcess | null): Promise<void> {
  if (relay === null) {
    for (const v of vids) execFileSync('ip', ['-n', ns, 'link', 'del', `${parent}.${v}`]);
    return;
  }
  relay.kill('SIGKILL');
  if (relay.exitCode === null && relay.signalCode === null) await new Promise((r) => relay.once('exit', r));
}
