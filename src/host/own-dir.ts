/**
 * The daemon's own directories (the state directory with the journal, the QEMU socket
 * directory): made if absent, and otherwise verified before the daemon trusts what is in them,
 * so a directory someone else made in its place (a world-writable /run, a mistyped path) is
 * never used (issue 9, item 9).
 *
 * `ensureOwnDir(dir, mode)`:
 * - absent: made with `mode` (parents as needed; chmod after, as the umask may take bits away);
 * - present: it must be a directory itself (lstat: a symbolic link is refused, not followed),
 *   owned by the daemon's effective uid, and writable by no one `mode` does not let write
 *   (group or others): otherwise an error naming what is wrong, and the caller refuses to use
 *   it (at start: the daemon does not start). Read or search bits beyond `mode` are taken away
 *   (the daemon owns it; that is a note for the log), so an old 0755 state directory becomes
 *   0700. The set-group-id and sticky bits `mode` has are added when missing; the group is left
 *   as the administrator set it (the QEMU directory's group is who may make sockets there);
 * - its parent must not be writable by others without the sticky bit (anyone could rename the
 *   directory away and put their own in its place).
 * Returns { ok: true, note } (note: what was changed, or null) or { ok: false, error }. Never throws.
 */
import { chmodSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export type OwnDirResult = { ok: true; note: string | null } | { ok: false; error: string };

const PERMS = 0o777;
const STICKY = 0o1000;
/** Set-group-id and sticky. */
const SPECIAL = 0o3000;
const WRITE = 0o022;

function oct(m: number): string {
  return `0${(m & 0o7777).toString(8)}`;
}

export function ensureOwnDir(dir: string, mode: number): OwnDirResult {
  const euid = process.geteuid?.() ?? 0;
  let made = false;
  try {
    const parent = statSync(dirname(dir));
    if ((parent.mode & 0o002) !== 0 && (parent.mode & STICKY) === 0) {
      return { ok: false, error: `${dirname(dir)} (the parent of ${dir}) is writable by everyone without the sticky bit` };
    }
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') return { ok: false, error: `cannot check ${dirname(dir)}: ${(e as Error).message}` };
  }
  try {
    lstatSync(dir);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') return { ok: false, error: `cannot check ${dir}: ${(e as Error).message}` };
    try {
      mkdirSync(dir, { recursive: true, mode });
      chmodSync(dir, mode);
      made = true;
    } catch (m) {
      return { ok: false, error: `cannot make ${dir}: ${(m as Error).message}` };
    }
  }
  try {
    const st = lstatSync(dir);
    if (st.isSymbolicLink()) return { ok: false, error: `${dir} is a symbolic link; the daemon uses only a directory of its own there` };
    if (!st.isDirectory()) return { ok: false, error: `${dir} exists and is not a directory` };
    if (st.uid !== euid) return { ok: false, error: `${dir} is owned by uid ${st.uid}, not by the daemon's uid ${euid}` };
    const extraWrite = st.mode & WRITE & ~mode;
    if (extraWrite !== 0) return { ok: false, error: `${dir} is writable by ${extraWrite & 0o002 ? 'everyone' : 'its group'} (mode ${oct(st.mode)}); it must be at most ${oct(mode)}` };
    const extra = st.mode & PERMS & ~mode;
    const missing = mode & SPECIAL & ~st.mode;
    if (extra !== 0 || missing !== 0) {
      const now = ((st.mode & 0o7777) & ~extra) | missing;
      chmodSync(dir, now);
      return { ok: true, note: `${dir} was mode ${oct(st.mode)}; now ${oct(now)}` };
    }
    return { ok: true, note: made ? `${dir} made, mode ${oct(mode)}` : null };
  } catch (e) {
    return { ok: false, error: `cannot check ${dir}: ${(e as Error).message}` };
  }
}
