/**
 * QUERY SSI: the cluster this daemon is a member of (vswitchd --cluster), laid out as z/VM's
 * QUERY SSI: the SSI name and mode (Stable while the store answers, Unstable while it does
 * not: no quorum), the store (etcd endpoints, since when it answers or not, the last error),
 * then one line per member (SLOT SYSTEMID STATE MACPREFIX JOINED), then what this member holds
 * and what was refused here. JSON: the ClusterView (src/control/commands/types.ts). On a host
 * without --cluster it is refused (MSG.CLUSTER_NONE). Reads the view the daemon's cluster keeps;
 * no I/O.
 */
import { MSG } from '../messages.js';
import { fail, type ClusterView, type Env, type Outcome } from './types.js';

export function checkQuerySsi(env: Env): Outcome {
  const v = env.cluster?.() ?? null;
  if (v === null) return fail(MSG.CLUSTER_NONE, 'this system is not a member of a cluster (vswitchd --cluster URL,... --member NAME)');
  return { ok: true, changes: [], lines: ssiLines(v), data: { ssi: v } };
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function ssiLines(v: ClusterView): string[] {
  const lines = [
    'SSI Name: VSWITCH',
    `SSI Mode: ${v.store.ok ? 'Stable' : 'Unstable'}`,
    `Store: etcd ${v.endpoints.join(',')}: ${v.store.ok ? 'AVAILABLE' : 'NOT AVAILABLE'} since ${stamp(v.store.since)}${!v.store.ok && v.store.error ? ` (${v.store.error})` : ''}`,
    `This system: ${v.member}${v.joined ? '' : ' (not joined yet: shared definitions and COUPLE wait for the store)'}`,
    `Definitions: committed ${v.definitions.committed}, applied here ${v.definitions.applied}, not applicable here ${v.definitions.notApplied}`,
    `Lease: ${v.leaseTtlS} s (a member that stops answering loses its user ids and addresses within it)`,
    'SLOT SYSTEMID STATE    MACPREFIX JOINED',
  ];
  v.members.forEach((m, i) => {
    lines.push(`${String(i + 1).padStart(4)} ${m.name.padEnd(8)} ${(m.state === 'JOINED' ? 'Joined' : 'Down').padEnd(8)} ${(m.macPrefix ?? '-').padEnd(9)} ${m.joined ?? '-'}`);
  });
  lines.push(`User ids active here: ${v.users.held.length > 0 ? v.users.held.join(' ') : 'none'}`);
  lines.push(`Addresses held here: ${v.addresses.held}`);
  for (const r of v.users.refused) lines.push(`Refused: user ${r.userid} is active on ${r.member}`);
  for (const r of v.addresses.refused) lines.push(`Refused: address ${r.ip} on VSWITCH ${r.sw} is held by ${r.member}`);
  return lines;
}
