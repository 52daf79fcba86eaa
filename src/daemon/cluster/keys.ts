/**
 * The cluster's names in etcd, in one place, and what is shared.
 *
 * Every key is under /vswitch/ (one etcd cluster serves one vswitch cluster):
 * - /vswitch/defs/<seq>        a shared definition, `seq` from 1 up, 12 decimal digits (so keys
 *                              sort in order); value {cmd, member, at}. Permanent.
 * - /vswitch/defs-last         the last `seq` committed: a definition is committed by a
 *                              transaction that compares it with the issuer's last applied one,
 *                              so no two members commit conflicting definitions.
 * - /vswitch/roster/<member>   a member that ever joined: {macPrefix, joined}. Permanent.
 * - /vswitch/members/<member>  a member alive now: {pid, since}; under its lease.
 * - /vswitch/macprefix/<hex>   the member a MAC prefix belongs to (checked at join). Permanent.
 * - /vswitch/users/<userid>    the member where the user id is active (coupled); under its lease.
 * - /vswitch/<switch>/ip/<a.b.c.d>  the member holding the address on that switch; under its lease.
 * - /vswitch/<switch>/ip6/<ipv6>    the same for an IPv6 address (canonical text, RFC 5952).
 * - /vswitch/relocate/<userid> the user's last relocation (VMRELOCATE MOVE, relocation.ts): its
 *                              steps and state; overwritten by the next one. Permanent.
 *
 * LEASE_TTL_S is the lease of a member's claims: a member that dies (or loses the store for
 * longer) loses its users and addresses LEASE_TTL_S seconds after its last keep-alive at the
 * latest, and other members may then take them.
 *
 * SHARED_KINDS: the journal records of class-B system definition kinds that the cluster shares
 * (a new kind joins by one line). SET VSWITCH is shared only as a definition (CONTROLLER); its
 * SWITCHOVER and UPLINK operations act on one member's uplink and are never journaled.
 */
import { verbOf } from '../../control/commands/index.js';
import type { Command, CommandKind } from '../../control/grammar.js';

export const ROOT = '/vswitch/';
export const DEFS = `${ROOT}defs/`;
export const DEFS_LAST = `${ROOT}defs-last`;
export const ROSTER = `${ROOT}roster/`;
export const MEMBERS = `${ROOT}members/`;
export const MACPREFIX = `${ROOT}macprefix/`;
export const USERS = `${ROOT}users/`;
export const RELOCATE = `${ROOT}relocate/`;

/** Seconds: a dead member's users and addresses are free this long after its last keep-alive. */
export const LEASE_TTL_S = 10;

const SHARED_KINDS: ReadonlySet<CommandKind> = new Set<CommandKind>([
  'define-vswitch',
  'detach-vswitch',
  'set-vswitch',
]);

/** Is this command a shared system definition (journaled, class B, of a shared kind)? */
export function isShared(cmd: Command): boolean {
  const v = verbOf(cmd);
  return v.journaled && v.privilege === 'B' && SHARED_KINDS.has(cmd.kind);
}

export function defKey(seq: number): string {
  return `${DEFS}${String(seq).padStart(12, '0')}`;
}

/** The seq of a /vswitch/defs/ key, or null. */
export function defSeq(key: string): number | null {
  if (!key.startsWith(DEFS)) return null;
  const t = key.slice(DEFS.length);
  return /^\d{12}$/.test(t) ? Number(t) : null;
}

export function addressKey(sw: string, ip: string): string {
  return `${ROOT}${sw}/ip/${ip}`;
}

export function address6Key(sw: string, ip6: string): string {
  return `${ROOT}${sw}/ip6/${ip6}`;
}

/** A member name (vswitchd --member), as z/VM's system names: 1 to 8 of A-Z 0-9 @ # $, upper-cased. Null when it is not one. */
export function memberName(text: string): string | null {
  // Checked before folding: toUpperCase folds some non-ASCII letters into ASCII ones ('ı' -> 'I').
  return /^[A-Za-z0-9@#$]{1,8}$/.test(text) ? text.toUpperCase() : null;
}

/** The MAC prefix's key text: 6 upper-case hex digits. */
export function prefixHex(prefix: number): string {
  return prefix.toString(16).toUpperCase().padStart(6, '0');
}
