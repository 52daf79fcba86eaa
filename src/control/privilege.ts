/**
 * Who may issue which command: CP's privilege classes, decided for one principal (the peer of
 * a control-socket connection, resolved with SO_PEERCRED in src/daemon/peer.ts) and one
 * parsed command. Pure: reads the state, does no I/O.
 *
 * - The system (class B): root, and the members of the daemon's administrators' group
 *   (`vswitchd --admin-group NAME`, default `vswitch`); SYSTEM CONFIG, journal replay and the
 *   daemon's own commands (the namespace watch) run as SYSTEM. The system may issue anything.
 * - A guest's owner (class G): the unix user DEFINE GUEST's OWNER names (a user name or a
 *   uid; a QEMU TAP guest's OWNER uid), for the class G commands of the table of verbs
 *   (src/control/commands/index.ts, the privilege column):
 *     a command with a guest operand (FOR userid: DEFINE/DETACH NIC, COUPLE, UNCOUPLE, QUERY NIC,
 *       QUERY GUEST userid, and any later class G verb of that shape): allowed when the peer owns
 *       that guest; the ALL forms (no guest named) are the system's;
 *     QUERY VSWITCH name: allowed when a guest the peer owns is granted the switch
 *       (`switchGrantedTo`: on its access list); QUERY VSWITCH ALL is the system's;
 *     a class G command with neither (QUERY VMLAN): allowed to an owner of any guest.
 * - Anyone else: refused with NOT_AUTHORIZED, the same text whether or not the guest exists
 *   (a refusal does not tell strangers what is defined), and nothing changes.
 */
import type { Command } from './grammar.js';
import { MSG } from './messages.js';
import type { Guest, State } from './state.js';

/** Who issues a command. */
export interface Principal {
  uid: number;
  /** The user name of uid (NSS), or null when it has none. */
  user: string | null;
  /** Root or a member of the administrators' group: class B. */
  system: boolean;
}

/** The daemon itself: SYSTEM CONFIG, journal replay, its own housekeeping commands. */
export const SYSTEM: Principal = { uid: 0, user: 'root', system: true };

/** Is a peer of these credentials the system (class B)? `groups`: every group it is in; adminGid: null when the group does not exist. */
export function isSystem(uid: number, groups: readonly number[], adminGid: number | null): boolean {
  return uid === 0 || (adminGid !== null && groups.includes(adminGid));
}

/** Who owns a guest: DEFINE GUEST's OWNER (a name or a uid), or a QEMU TAP guest's OWNER uid; null: the system alone. */
export function guestOwner(g: Guest): string | null {
  if (g.owner !== undefined) return g.owner;
  if (g.tapOwner?.uid !== undefined && g.tapOwner.uid !== null) return String(g.tapOwner.uid);
  return null;
}

/** Does `who` own guest `g` (its OWNER is who's user name or uid)? */
export function ownsGuest(g: Guest, who: Principal): boolean {
  const o = guestOwner(g);
  return o !== null && (o === String(who.uid) || (who.user !== null && o === who.user));
}

/** Is switch `sw` granted to guest `userid` (it is on the switch's access list: SET VSWITCH GRANT, MODIFY VSWITCH)? */
export function switchGrantedTo(state: State, userid: string, sw: string): boolean {
  return state.switches.get(sw)?.grants.has(userid) ?? false;
}

function who(p: Principal): string {
  return p.user !== null ? `uid ${p.uid} (${p.user})` : `uid ${p.uid}`;
}

/**
 * May `p` issue `cmd`, of privilege class `cls` (the table of verbs' column)? null: yes;
 * otherwise the reply's error line (message id first).
 */
export function authorize(state: State, cmd: Command, cls: 'B' | 'G', name: string, p: Principal): string | null {
  if (p.system) return null;
  const refuse = (why: string): string => `${MSG.NOT_AUTHORIZED} not authorized: ${why}; nothing was changed`;
  if (cls === 'B') return refuse(`${name} is a class B command (root or the administrators' group); ${who(p)} is neither`);
  if ('userid' in cmd) {
    if (cmd.userid === null) return refuse(`${name} ALL is for the system administrator; ${who(p)} may name a guest it owns`);
    const g = state.guests.get(cmd.userid);
    if (g === undefined || !ownsGuest(g, p)) return refuse(`${who(p)} is not the OWNER of GUEST ${cmd.userid}`);
    return null;
  }
  const owned = [...state.guests.values()].filter((g) => ownsGuest(g, p));
  if (cmd.kind === 'query-vswitch') {
    if (cmd.name === null) return refuse(`${name} ALL is for the system administrator; ${who(p)} may name a switch its guests are granted`);
    const sw = cmd.name;
    if (!owned.some((g) => switchGrantedTo(state, g.userid, sw))) return refuse(`no guest of ${who(p)} is granted VSWITCH ${sw}`);
    return null;
  }
  if (owned.length === 0) return refuse(`${who(p)} owns no guest`);
  return null;
}
