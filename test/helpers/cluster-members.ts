/**
 * Test-only helpers for a cluster of vswitchd members (test/cluster/*): what QUERY SSI says
 * (`ssi`), a GRANT issued on the first member and waited for on every one (`grantEverywhere`:
 * grants are shared definitions, applied by each member when it catches up), and the end of a
 * file's members (`stopAll`: controllers, daemons, the etcd cluster, then the lab's namespaces;
 * never throws, for `after`).
 */
import assert from 'node:assert/strict';
import type { Controller } from './controller.js';
import type { Daemon } from './daemon.js';
import type { EtcdCluster } from './etcd.js';
import { waitFor, type NetLab } from './netlab.js';

/** The member's QUERY SSI document (the ClusterView, src/control/commands/types.ts). */
export function ssi(d: Daemon): any {
  return d.json('QUERY', 'SSI').ssi;
}

/** SET VSWITCH `sw` GRANT `userid` on members[0], then wait until every member has it on its access list. */
export async function grantEverywhere(members: Daemon[], names: string[], userid: string, sw = 'SW1'): Promise<void> {
  members[0].commands([`SET VSWITCH ${sw} GRANT ${userid}`]);
  for (const d of members) {
    const ok = await waitFor(() => (d.json('QUERY', 'VSWITCH', sw, 'ACCESSLIST').switches[0].accessList as Array<{ userid: string }>)
      .some((a) => a.userid === userid), 15_000, 100);
    assert.ok(ok, `member ${names[members.indexOf(d)]} has the grant of ${userid}`);
  }
}

/** Stop the controllers and daemons, the etcd cluster, and remove the lab's namespaces. */
export async function stopAll(controllers: Controller[], members: Daemon[], etcd: EtcdCluster | undefined, lab: NetLab): Promise<void> {
  for (const c of controllers) await c.stop().catch(() => {});
  for (const d of members) await d.stop().catch(() => {});
  await etcd?.stop();
  lab.cleanup();
}
