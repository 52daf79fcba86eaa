/**
 * Names every side of the control socket agrees on: the CP grammar (what an operator may type),
 * the controller protocol (what a controller may send) and the daemon. One definition each, so
 * a name the grammar accepts is one the protocol carries and the reverse.
 *
 * Pure: regular expressions (and the one test built on them) and nothing else.
 */

/** A z/VM name as typed (switch, user id, controller): 1-8 of A-Z 0-9 @ # $ _, case blind. */
export const NAME_RE = /^[A-Za-z0-9@#$_]{1,8}$/;
/** The same name in its canonical (upper-case) form, as state and the protocol carry it. */
export const CANONICAL_NAME_RE = /^[A-Z0-9@#$_]{1,8}$/;
/** A Linux interface name (IFNAMSIZ - 1 characters; '.' and '..' are refused separately). */
export const IFNAME_RE = /^[A-Za-z0-9_.@+-]{1,15}$/;
/** A network namespace name under /run/netns. */
export const NETNS_RE = /^[A-Za-z0-9_.@+-]{1,64}$/;
/**
 * A network namespace given by path (NETNS PATH, a container runtime's CNI_NETNS): absolute,
 * printable, at most 4096 bytes; a '..' component is refused separately.
 */
export const NETNS_PATH_RE = /^\/[\x21-\x7e]{0,4095}$/;

/** Is a guest's namespace reference a path (it starts with '/'; a name never does)? */
export function isNetnsPath(ref: string): boolean {
  return ref.startsWith('/');
}
