/**
 * Who a uid is, through libc (koffi): its user name and the groups it is in, as NSS answers
 * (getpwuid_r, getpwnam_r, getgrouplist, getgrnam_r; /etc/passwd and /etc/group on a plain Debian host,
 * whatever nsswitch.conf says elsewhere). Used by the control socket to resolve the peer of
 * a connection (SO_PEERCRED, src/sys/libc.ts peerCredentials) into a principal.
 *
 * Contract: every function is synchronous (NSS reads files; call it once per connection, not
 * per command), never throws for an unknown user or group (null / the primary group alone),
 * and throws a SysError only when libc reports an error other than "not found".
 * x86-64 Linux only (struct passwd and struct group layouts).
 */
import koffi from 'koffi';
import { SysError } from './libc.js';

const lib = koffi.load('libc.so.6');

const raw = {
  // int getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t buflen, struct passwd **result)
  getpwuid_r: lib.func('getpwuid_r', 'int', ['uint32_t', 'uintptr_t', 'uintptr_t', 'size_t', 'void *']),
  // int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t buflen, struct passwd **result)
  getpwnam_r: lib.func('getpwnam_r', 'int', ['const char *', 'uintptr_t', 'uintptr_t', 'size_t', 'void *']),
  // int getgrnam_r(const char *name, struct group *grp, char *buf, size_t buflen, struct group **result)
  getgrnam_r: lib.func('getgrnam_r', 'int', ['const char *', 'uintptr_t', 'uintptr_t', 'size_t', 'void *']),
  // int getgrouplist(const char *user, gid_t group, gid_t *groups, int *ngroups)
  getgrouplist: lib.func('getgrouplist', 'int', ['const char *', 'uint32_t', 'void *', 'void *']),
};

/** struct passwd: pw_name at 0 (char *), pw_uid at 16, pw_gid at 20; 48 bytes. struct group: gr_gid at 16; 32 bytes. */
const PASSWD_SIZE = 48;
const GROUP_SIZE = 32;
const ERANGE = 34;
/** The string buffer NSS fills; doubled on ERANGE up to the maximum. */
const BUF_START = 16 * 1024;
const BUF_MAX = 1024 * 1024;

/**
 * Call a *_r lookup with foreign memory for the record and its strings (the record's pointers
 * point into the string buffer, so both must outlive the call: koffi.alloc, freed here), and
 * read what `read` needs from the record while both are alive. null: not found.
 */
function lookup<T>(recSize: number, call: (rec: number, buf: number, len: number, result: Buffer) => number, what: string,
  read: (rec: bigint) => T): T | null {
  for (let len = BUF_START; ; len *= 2) {
    const rec = koffi.alloc('uint8_t', recSize) as bigint;
    const buf = koffi.alloc('uint8_t', len) as bigint;
    try {
      const result = Buffer.alloc(8);
      const rc = call(Number(rec), Number(buf), len, result);
      if (rc === ERANGE && len < BUF_MAX) continue;
      if (rc !== 0) throw new SysError(what, rc);
      if (result.readBigUInt64LE(0) === 0n) return null;
      return read(rec);
    } finally {
      koffi.free(buf);
      koffi.free(rec);
    }
  }
}

/** The user of a uid: its name and primary group; null when NSS knows no such uid. */
export function userOfUid(uid: number): { name: string; gid: number } | null {
  return lookup(PASSWD_SIZE, (rec, buf, len, result) => raw.getpwuid_r(uid, rec, buf, len, result), 'getpwuid_r', (rec) => {
    const name = koffi.decode(rec, 0, 'char *') as string;
    const ab = koffi.view(rec, PASSWD_SIZE);
    return { name, gid: new DataView(ab).getUint32(20, true) };
  });
}

/** The uid of a user by name; null when there is no such user. */
export function uidOfUser(name: string): number | null {
  return lookup(PASSWD_SIZE, (rec, buf, len, result) => raw.getpwnam_r(name, rec, buf, len, result), 'getpwnam_r',
    (rec) => new DataView(koffi.view(rec, PASSWD_SIZE)).getUint32(16, true));
}

/** The gid of a group by name; null when there is no such group. */
export function gidOfGroup(name: string): number | null {
  return lookup(GROUP_SIZE, (rec, buf, len, result) => raw.getgrnam_r(name, rec, buf, len, result), 'getgrnam_r',
    (rec) => new DataView(koffi.view(rec, GROUP_SIZE)).getUint32(16, true));
}

/** Every group `user` is in: its primary group `gid` first, then its supplementary groups. */
export function groupsOfUser(user: string, gid: number): number[] {
  for (let n = 64; ; n *= 4) {
    const groups = Buffer.alloc(4 * n);
    const count = Buffer.alloc(4);
    count.writeInt32LE(n, 0);
    const rc = raw.getgrouplist(user, gid, groups, count);
    const got = count.readInt32LE(0);
    if (rc >= 0) {
      const out: number[] = [];
      for (let i = 0; i < got; i++) out.push(groups.readUInt32LE(4 * i));
      return out;
    }
    // -1: too small; count now holds the number needed (glibc). A bound keeps a broken NSS from looping.
    if (n >= 65536) return [gid];
  }
}
