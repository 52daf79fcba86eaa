/**
 * Who is at the other end of a unix-socket connection of the daemon (the control socket, the
 * trace socket): the peer's uid from SO_PEERCRED, resolved to its user name and groups through
 * NSS (src/sys/users.ts), and whether it is the system (root or a member of the
 * administrators' group; src/control/privilege.ts). Resolved once, when the connection is
 * accepted: the credentials are those of the process that connected, at connect time.
 *
 * `identify` never throws: a socket whose credentials cannot be read gets { ok: false, error }
 * (the caller refuses it); a uid NSS does not know is a principal without a user name (it can own only
 * guests whose OWNER is that uid); an administrators' group that does not exist makes root
 * the only system principal. The group is looked up at each connection, so adding a user to
 * it takes effect for that user's next connection, without a restart.
 * `principalOf(uid, gid, group)` is the same decision for a uid found another way (the live
 * page's loopback TCP peers, src/daemon/http/page-access.ts).
 */
import type { Socket } from 'node:net';
import { peerCredentials } from '../sys/libc.js';
import { gidOfGroup, groupsOfUser, userOfUid } from '../sys/users.js';
import { isSystem, type Principal } from '../control/privilege.js';

/** The default of `vswitchd --admin-group`. */
export const DEFAULT_ADMIN_GROUP = 'vswitch';

/** The fd of an accepted (or connected) unix socket: Node has no API for it. */
function socketFd(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor');
  return fd;
}

/** The principal of a connection's peer (and its pid), or why its credentials cannot be read. */
export function identify(sock: Socket, adminGroup: string): { ok: true; who: Principal; pid: number } | { ok: false; error: string } {
  let cred: { pid: number; uid: number; gid: number };
  try {
    cred = peerCredentials(socketFd(sock));
  } catch (e) {
    return { ok: false, error: `cannot read the peer's credentials: ${(e as Error).message}` };
  }
  return { ok: true, pid: cred.pid, who: principalOf(cred.uid, cred.gid, adminGroup) };
}

/** The principal of a uid (its primary gid when known, else the passwd entry's), from NSS; uid alone when NSS fails. */
export function principalOf(uid: number, gid: number | null, adminGroup: string): Principal {
  try {
    const u = userOfUid(uid);
    const groups = u !== null ? groupsOfUser(u.name, u.gid) : [];
    if (gid !== null && !groups.includes(gid)) groups.push(gid);
    return { uid, user: u?.name ?? null, system: isSystem(uid, groups, gidOfGroup(adminGroup)) };
  } catch {
    // NSS failed: the uid alone (root is still root; no one else is the system).
    return { uid, user: null, system: uid === 0 };
  }
}
