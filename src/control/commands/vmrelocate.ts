/**
 * VMRELOCATE TEST | MOVE [USER] userid [TO] member, VMRELOCATE STATUS: z/VM's live guest
 * relocation command (class A there, the system's class B here), checked against the state and
 * the cluster's view. Pure: reads the state and Env.cluster(), no I/O.
 *
 * Contract (TEST and MOVE alike; MOVE is then carried out by src/daemon/cluster/relocation.ts,
 * which the control plane hands it to through the cluster's DefinitionStore):
 * - refused with MSG.CLUSTER_NONE on a host that is not a member of a cluster, and with
 *   MSG.CLUSTER_STORE while this member has not joined (the store does not answer);
 * - refused with MSG.RELOCATE_TARGET when the member is this one, is not in the cluster's
 *   roster, or is down (its live-member key is gone);
 * - refused with MSG.RELOCATE_USER when the user id is not a guest here, or none of its NICs is
 *   coupled here (a guest that is not active here has nothing to move);
 * - otherwise TEST answers that the user is eligible (MSG.RELOCATE_INFO), and MOVE the same
 *   line (what the relocation then does is its reply).
 * STATUS lists the relocations this member took part in (the cluster's view `relocations`),
 * newest first, and how many relocation records it ignored; JSON { relocations, recordsIgnored }.
 */
import type { CommandOf } from '../grammar.js';
import { MSG } from '../messages.js';
import type { State } from '../state.js';
import { fail, type CheckContext, type Outcome } from './types.js';

export function checkVmrelocate(state: State, cmd: CommandOf<'vmrelocate'>, { env }: CheckContext): Outcome {
  const v = env.cluster?.() ?? null;
  if (v === null) return fail(MSG.CLUSTER_NONE, 'this system is not a member of a cluster (vswitchd --cluster URL,... --member NAME): there is nowhere to relocate to');
  if (cmd.op === 'STATUS') {
    const rs = v.relocations ?? [];
    const ignored = v.relocationRecordsIgnored ?? 0;
    const lines = rs.length === 0
      ? [`${MSG.RELOCATE_INFO} no relocations`]
      : rs.map((r) => `${MSG.RELOCATE_INFO} user ${r.userid} from ${r.from} to ${r.to}: ${r.state}${r.reason ? ` (${r.reason})` : ''} ${r.at}${r.ms !== null ? ` in ${r.ms} ms` : ''}`);
    if (ignored > 0) lines.push(`${MSG.RELOCATE_INFO} relocation records ignored (not records of a guest's definitions): ${ignored}`);
    return { ok: true, changes: [], lines, data: { relocations: rs, recordsIgnored: ignored } };
  }
  const userid = cmd.userid!;
  const member = cmd.member!;
  if (!v.joined) return fail(MSG.CLUSTER_STORE, `the cluster's store is not available (${v.store.error ?? 'not joined yet'}): VMRELOCATE is refused until it is back; traffic is not affected`);
  if (member === v.member) return fail(MSG.RELOCATE_TARGET, `user ${userid} is already on member ${member}: relocate it to another member`);
  const m = v.members.find((x) => x.name === member);
  if (m === undefined) return fail(MSG.RELOCATE_TARGET, `${member} is not a member of the cluster (QUERY SSI lists them)`);
  if (m.state !== 'JOINED') return fail(MSG.RELOCATE_TARGET, `member ${member} is down: user ${userid} cannot be relocated to it`);
  const g = state.guests.get(userid);
  if (g === undefined) return fail(MSG.RELOCATE_USER, `user ${userid} is not a guest on this member (${v.member}): VMRELOCATE is issued on the member where the guest runs`);
  if (![...g.nics.values()].some((n) => n.coupled !== null)) {
    return fail(MSG.RELOCATE_USER, `user ${userid} is not active on this member: none of its NICs is coupled here, so there is nothing to relocate`);
  }
  return { ok: true, changes: [], lines: [`${MSG.RELOCATE_INFO} user ${userid} is eligible for relocation to ${member}`] };
}
