/**
 * Start-up sweeps of the daemon's own host devices that no definition has any more: persistent
 * TAPs of no NIC (removeOrphanTaps), and overlay VXLAN devices of no switch
 * (removeOrphanOverlays).
 *
 * DEFINE NIC creates the NIC's persistent TAP before its journal record is written (the host
 * side that can fail is prepared first: Effects.prepare). A daemon killed between the two (or
 * whose record was torn, and dropped at the next start) leaves a TAP in the guest's namespace
 * whose definition is gone. After replay, `removeOrphanTaps` lists, in the namespace of every
 * container guest of the state, the TAPs the daemon makes (named like Linux on Z, `enc` + hex
 * vdev, with a virtio-net header, persistent) and removes those no NIC of that guest has.
 * Interfaces of any other kind or name are never touched, nor namespaces of no guest.
 *
 * It runs in the background once the data plane is started (the listing is one `ip` per
 * namespace, asynchronous), so guests whose TAPs are kept forward at once. The decision and
 * the removal for one TAP are synchronous against the state as it is then: a NIC defined or
 * detached in the meantime is seen.
 *
 * Overlay devices: a switch's `vx-<switch>` (src/host/vxlan.ts) outlives a daemon stop, as the
 * TAPs do, and a running daemon removes it when the switch goes. One whose switch went while
 * the daemon was down (detached on another member of the cluster, dropped from SYSTEM CONFIG,
 * or a DETACH journaled just before a crash) is seen by no reconciler. `removeOrphanOverlays`,
 * run once the state is replayed and the cluster's definitions caught up, removes the VXLAN
 * devices that carry this daemon's mark (vxlan.ts overlayMark: its state directory) and are
 * the device of no switch defined with VXLAN now. A `vx-*` device made by hand, or by a daemon
 * of another state directory, carries no such mark and is never touched.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { State } from '../control/state.js';
import { overlayDevName } from '../host/vxlan.js';

const run = promisify(execFile);

/** The TAP names the daemon gives NICs (src/control/state.ts tapName). */
const TAP_NAME_RE = /^enc[0-9a-f]{1,4}$/;

interface TunLink { ifname?: string; linkinfo?: { info_kind?: string; info_data?: { type?: string; vnet_hdr?: boolean; persist?: boolean } } }

/** Persistent virtio-net TAPs named like the daemon's in namespace `netns` ([] if it cannot be listed). */
async function daemonStyleTaps(netns: string): Promise<string[]> {
  let out: string;
  try {
    out = (await run('ip', ['-n', netns, '-d', '-j', 'link', 'show', 'type', 'tun'], { maxBuffer: 16 << 20 })).stdout;
  } catch {
    return []; // the namespace is gone: nothing of ours is left in it
  }
  let links: TunLink[];
  try {
    links = JSON.parse(out || '[]') as TunLink[];
  } catch {
    return [];
  }
  return links.filter((l) => {
    const d = l.linkinfo?.info_data;
    return l.linkinfo?.info_kind === 'tun' && d?.type === 'tap' && d.vnet_hdr === true && d.persist === true && TAP_NAME_RE.test(l.ifname ?? '');
  }).map((l) => l.ifname!);
}

/** Remove the persistent TAPs in the guests' namespaces that no NIC of the state has. Resolves with what was removed ("netns/tap"). Never rejects. */
export async function removeOrphanTaps(state: State, dev: { destroyTap(netns: string | null, name: string): void }, log: Logger): Promise<string[]> {
  const removed: string[] = [];
  const namespaces = [...new Set([...state.guests.values()].map((g) => g.netns).filter((n): n is string => n !== null))];
  for (const netns of namespaces) {
    for (const tap of await daemonStyleTaps(netns)) {
      const g = state.guestOfNetns(netns);
      if (g === undefined || [...g.nics.values()].some((n) => n.tap === tap)) continue;
      try {
        dev.destroyTap(netns, tap);
        removed.push(`${netns}/${tap}`);
        log.warn({ netns, tap, guest: g.userid }, 'persistent TAP of no NIC removed (its DEFINE NIC never reached the journal)');
      } catch (e) {
        log.warn({ netns, tap, err: String(e) }, 'persistent TAP of no NIC could not be removed');
      }
    }
  }
  return removed;
}

/** Remove this daemon's overlay VXLAN devices that no switch of the state has (see above). Answers what was removed. Never throws. */
export function removeOrphanOverlays(state: State, vx: { sweep(keep: (name: string) => boolean): string[] }, log: Logger): string[] {
  const keep = (dev: string): boolean => [...state.switches.values()].some((sw) => sw.vxlan !== undefined && overlayDevName(sw.name) === dev);
  let removed: string[] = [];
  try {
    removed = vx.sweep(keep);
  } catch (e) {
    log.warn({ err: String(e) }, 'overlay devices of no switch could not be listed');
  }
  for (const dev of removed) log.warn({ dev }, 'overlay VXLAN device of no switch removed (its switch went while the daemon was down)');
  return removed;
}
