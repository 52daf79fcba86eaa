/**
 * Start-up sweep of persistent TAPs that no NIC has any more.
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
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { State } from '../control/state.js';

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
