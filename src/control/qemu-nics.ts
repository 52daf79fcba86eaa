/**
 * The NIC backend of QEMU guests on sockets (a NicBackend, nics.ts): each NIC of a guest defined
 * with `DEFINE GUEST u QEMU [STREAM | DGRAM]` is a unix socket pair in the daemon's QEMU socket
 * directory (`dir`, the directory `qemu` next to the control socket), which QEMU's own
 * `-netdev stream` / `-netdev dgram` backends use. QEMU is always the side that binds first,
 * so the VM never depends on the daemon and a restarted daemon finds it again (ARCHITECTURE.md
 * section 4, QEMU facts):
 *   STREAM: QEMU listens on  DIR/<userid>-<vdev>.sock  (`server=on`); the daemon connects.
 *   DGRAM:  QEMU binds       DIR/<userid>-<vdev>.qemu.sock     and sends to
 *           the daemon's     DIR/<userid>-<vdev>.vswitch.sock  (bound by the daemon, mode 0660).
 * (userid and vdev in lower case.) `view()` gives the exact QEMU arguments for a NIC
 * (devices.qemuArgs with the NIC's MAC and netdev id `nic<vdev>`) and its connection state,
 * for QUERY NIC DETAILS.
 *
 * Contract:
 * - `dir` (the constructor's) is the QEMU socket directory; null: QEMU NICs cannot run (no
 *   daemon socket known), their state says so.
 * - `sync(now)` is idempotent and never throws; it looks at the NICs its Marks name (a command
 *   changed the NIC, its retry is due, its QEMU socket appeared) and gives each that waits a
 *   retry time there. The directory is made when the first QEMU NIC exists: mode 2770 (owner
 *   and group only; set-group-id so the sockets in it take the directory's group). An existing
 *   directory keeps its group, so an administrator can chgrp it to the group the (non-root)
 *   QEMU users are in, but it must be the daemon's own (src/host/own-dir.ts: owner, no symlink,
 *   not writable by others; read bits for others are taken away); otherwise its NICs show the
 *   error and nothing in it is used (the daemon checks it at start as well). The directory is
 *   sticky, so a QEMU user of its group cannot remove or rename another's socket, and the
 *   daemon connects (STREAM) or sends (DGRAM) only to a QEMU socket owned by the guest's OWNER
 *   or root (`trustedSocketUids`): a socket someone else put under the NIC's name is an ERROR
 *   in the NIC's state, retried. The daemon's own DGRAM socket is mode 0600, owned by the
 *   guest's OWNER when it has one, so no other user can send frames as that guest. The directory is watched (fs.watch, inotify): a file made or removed
 *   there under a waiting NIC's QEMU socket name brings that NIC to the next pass at once.
 * - A coupled NIC gets a data-plane port (vnet false): STREAM connects to QEMU's socket; while
 *   QEMU is not there (ENOENT, ECONNREFUSED, EAGAIN) its state is `WAITING FOR QEMU at PATH`.
 *   Retries back off: retryMs, doubled after each failure up to retryMaxMs, back to retryMs
 *   after a connection or when the socket file appears; a socket file that does not exist yet
 *   while the directory is watched waits retryMaxMs (its appearance is what brings it back;
 *   the timer is the safety net), so thousands of NICs waiting for their QEMU cost nothing.
 *   DGRAM binds the daemon's socket (a stale file is replaced) and adds the port with `peer` =
 *   QEMU's path (the port itself reconnects to a restarted QEMU). On 'port-down' (QEMU closed
 *   the connection, bad input on it) the port is made again the same way after retryMs.
 * - `close()` ends the directory watch (the reconciler's stop).
 * - Uncouple, DETACH NIC, or a changed switch: port-remove (DGRAM: the daemon's socket file is
 *   unlinked). The addresses the guest announced on the NIC are forgotten (`forget`) when the
 *   NIC is uncoupled and when a STREAM connection ends (QEMU gone: like a guest logging off);
 *   the guest announces them again when it next sends. There is no IP timeout (z/VM's
 *   IPTIMEOUT): an address a running guest stops using stays registered until then.
 * - `acceptsSeenAddress(key, port, ip)`: whether a 'saw-address' from the data plane is an
 *   address the NIC may register: the port is this NIC's current port, the address is
 *   unicast-usable (not 0/8, 127/8, 224/4 and above) and the NIC holds fewer than
 *   MAX_QEMU_ADDRESSES addresses. Registration itself is the LAN IP part's (reconcile/lan-ip.ts:
 *   the same path as a namespace guest's address). `acceptAnnounced` and `forgetAnnounced` are
 *   that rule for every backend whose guest announces its addresses (host-tap-nics.ts too).
 * - `prepare`: nothing; QEMU makes its side when it starts.
 * QEMU TAP guests' NICs are not served here but by host-tap-nics.ts.
 */
import { chmodSync, chownSync, closeSync, lstatSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { ensureOwnDir } from '../host/own-dir.js';
import { uidOfUser } from '../sys/users.js';
import { guestOwner } from './privilege.js';
import { basename, join } from 'node:path';
import { qemuArgs, qemuArgsText, type QemuNicPaths } from '../host/devices.js';
import { formatIpv4 } from '../wire/addr.js';
import { hex4, type QemuTransport } from './grammar.js';
import { nicKey, servedKeys, servedNic, type NicBackend, type NicRuntime, type Serves } from './nics.js';
import { backOff, type PartContext } from './reconcile/context.js';
import type { Marks } from './reconcile/marks.js';
import type { PortSpec } from './reconcile/ports.js';
import type { Guest, Nic } from './state.js';

/**
 * The QEMU socket directory's mode: owner and group (set-group-id: the sockets take its
 * group; sticky: a member of the group cannot remove or rename another's socket), nothing for
 * others.
 */
export const QEMU_DIR_MODE = 0o3770;

/**
 * Whose QEMU sockets the daemon connects (or sends) to for guest `g`: root's, the daemon's own
 * uid's, and its OWNER's (src/control/privilege.ts guestOwner: a uid, or a user name looked up
 * now). Anyone else's socket under the NIC's name is a squatter in the directory.
 */
export function trustedSocketUids(g: Guest): Set<number> {
  const uids = new Set<number>([0, process.geteuid?.() ?? 0]);
  const o = guestOwner(g);
  if (o !== null) {
    const uid = /^\d+$/.test(o) ? Number(o) : uidOfUser(o);
    if (uid !== null) uids.add(uid);
  }
  return uids;
}

/** The uid that owns a guest's QEMU sockets on the daemon's side (DGRAM): its OWNER's, or null (root's). */
function ownerUid(trusted: Set<number>): number | null {
  for (const u of trusted) if (u !== 0 && u !== (process.geteuid?.() ?? 0)) return u;
  return null;
}

/** Addresses one QEMU NIC may hold (a guest spraying source addresses cannot fill the table). */
export const MAX_QEMU_ADDRESSES = 16;

/** What it needs of the host's devices (src/host/devices.ts). */
export interface QemuDevicesLike {
  connectQemuStream(path: string): number;
  bindQemuDgram(localPath: string, remotePath: string): number;
}

export interface QemuNicView {
  transport: QemuTransport;
  netdevId: string;
  /** qemu: QEMU's socket; daemon: the daemon's socket (DGRAM) or null. */
  paths: { qemu: string; daemon: string | null };
  /** The QEMU arguments, one element per word, and as one line for a shell. */
  args: string[];
  argsText: string;
  state: string;
}

interface QemuNicRt extends AnnouncingNic {
  transport: QemuTransport;
  paths: QemuNicPaths;
  mac: number;
  port: number | null;
  sw: string | null;
  nextTry: number;
  /** The last wait of its back-off (0: none). */
  waitedMs: number;
  state: string;
}

/** The netdev id of a NIC in the QEMU arguments. */
export function qemuNetdevId(vdev: number): string {
  return `nic${hex4(vdev).toLowerCase()}`;
}

/** Where a QEMU NIC's sockets are in the daemon's QEMU socket directory `dir`. */
export function qemuNicPaths(dir: string, userid: string, vdev: number, transport: QemuTransport): QemuNicPaths {
  const base = join(dir, `${userid.toLowerCase()}-${hex4(vdev).toLowerCase()}`);
  return transport === 'STREAM' ? { qemu: `${base}.sock` } : { qemu: `${base}.qemu.sock`, daemon: `${base}.vswitch.sock` };
}

/** Could a guest use this address as its own (uint32)? Not 0/8, 127/8, multicast or above. */
export function registrable(ip: number): boolean {
  const a = ip >>> 24;
  return a !== 0 && a !== 127 && a < 224;
}

/** A NIC whose guest announces its addresses: its identity, port, and the last problem logged (so a waiting NIC logs once, not every second). */
export interface AnnouncingNic extends NicRuntime {
  logged: string | null;
}

/** Could a guest use this IPv6 address (canonical text) as its own? Not ::, ::1 or multicast. */
export function registrable6(ip6: string): boolean {
  return ip6 !== '::' && ip6 !== '::1' && !ip6.startsWith('ff');
}

/**
 * May the guest register `ip` (uint32 IPv4, or canonical IPv6 text), seen on `port` (a
 * 'saw-address' or 'saw-address6')? The port is the NIC's current port, the address
 * unicast-usable, and the NIC below MAX_QEMU_ADDRESSES of the address's family (logged once).
 */
export function acceptAnnounced(ctx: PartContext, rt: AnnouncingNic, port: number, ip: number | string): boolean {
  const v6 = typeof ip === 'string';
  if (rt.port !== port || !(v6 ? registrable6(ip) : registrable(ip))) return false;
  const n = ctx.state.nic(rt.userid, rt.vdev);
  if (!n) return false;
  const held: Map<number | string, unknown> = v6 ? n.addresses6 : n.addresses;
  if (held.has(ip)) return true;
  if (held.size >= MAX_QEMU_ADDRESSES) {
    const text = v6 ? ip : formatIpv4(ip);
    const why = `limit ${text}`;
    if (rt.logged !== why) {
      rt.logged = why;
      ctx.log.warn({ nic: rt.key, ip: text, limit: MAX_QEMU_ADDRESSES }, 'QEMU guest announced more addresses than a NIC may hold; not registered');
    }
    return false;
  }
  return true;
}

/** Forget the addresses the guest announced on this NIC (their LAN IP entries go with them). */
export function forgetAnnounced(ctx: PartContext, rt: NicRuntime): void {
  const n = ctx.state.nic(rt.userid, rt.vdev);
  if (!n || n.addresses.size + n.addresses6.size === 0) return;
  ctx.log.info({ nic: rt.key, addresses: [...n.addresses.keys()].map(formatIpv4), addresses6: [...n.addresses6.keys()] }, 'QEMU NIC addresses forgotten');
  for (const [ip, a] of [...n.addresses]) for (const on of [...a.on.keys()]) ctx.state.addressEvent(rt.userid, rt.vdev, ip, false, on);
  for (const [ip6, a] of [...n.addresses6]) for (const on of [...a.on.keys()]) ctx.state.addressEvent6(rt.userid, rt.vdev, ip6, false, on);
}

const WAIT_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'EAGAIN']);

/**
 * Why the file at `path` is not one the daemon may use as a QEMU socket (someone else's), or
 * null (root's or the OWNER's, or not there yet; one that is not a socket fails to connect).
 */
function untrustedSocket(path: string, trusted: Set<number>): string | null {
  try {
    const st = lstatSync(path);
    if (!trusted.has(st.uid)) return `${path} belongs to uid ${st.uid}, not to the guest's OWNER or root`;
    return null;
  } catch {
    return null;
  }
}

export class QemuNics implements NicBackend {
  private readonly nics = new Map<string, QemuNicRt>();
  /** QEMU's socket file name in `dir` -> the NIC's key. */
  private readonly byFile = new Map<string, string>();
  private readonly marks: Marks<string>;
  private dirWatch: FSWatcher | null = null;
  private watchedIno = -1;

  constructor(private readonly ctx: PartContext, private readonly dev: Partial<QemuDevicesLike>, private readonly dir: string | null) {
    this.marks = ctx.touch.nicMarks();
  }

  get(key: string): NicRuntime | undefined {
    return this.nics.get(key);
  }

  prepare(): null {
    return null;
  }

  view(userid: string, vdev: number): QemuNicView | null {
    const g = this.ctx.state.guests.get(userid);
    const n = g?.nics.get(vdev);
    if (!g || !n || g.qemu === null || g.qemu === 'TAP') return null;
    const rt = this.nics.get(nicKey(userid, vdev));
    const id = qemuNetdevId(vdev);
    if (this.dir === null) {
      return { transport: g.qemu, netdevId: id, paths: { qemu: '', daemon: null }, args: [], argsText: '', state: 'NO QEMU SOCKET DIRECTORY' };
    }
    const paths = qemuNicPaths(this.dir, userid, vdev, g.qemu);
    const kind = g.qemu === 'STREAM' ? 'qemu-stream' : 'qemu-dgram';
    return {
      transport: g.qemu,
      netdevId: id,
      paths: { qemu: paths.qemu, daemon: paths.daemon ?? null },
      args: qemuArgs(kind, paths, n.mac, id),
      argsText: qemuArgsText(kind, paths, n.mac, id),
      state: rt?.state ?? (n.coupled === null ? 'NOT COUPLED' : 'NOT STARTED'),
    };
  }

  acceptsSeenAddress(key: string, port: number, ip: number | string): boolean {
    const rt = this.nics.get(key);
    return rt !== undefined && acceptAnnounced(this.ctx, rt, port, ip);
  }

  sync(now: number): void {
    const keys = this.marks.take(now, () => servedKeys(this.ctx.state, QemuNics.serves, this.nics.keys()));
    let dirErr: string | null | undefined;
    const dir = (): string | null => (dirErr === undefined ? (dirErr = this.ensureDir()) : dirErr);
    for (const key of keys) this.syncNic(key, now, dir);
  }

  /** Stop watching the socket directory. */
  close(): void {
    this.dirWatch?.close();
    this.dirWatch = null;
  }

  /** The NICs of this kind: a QEMU guest's on sockets (a TAP guest's are host-tap-nics.ts's). */
  private static readonly serves: Serves = (g) => g.qemu !== null && g.qemu !== 'TAP';

  private syncNic(key: string, now: number, dir: () => string | null): void {
    const d = servedNic(this.ctx.state, key, QemuNics.serves);
    const had = this.nics.get(key);
    if (!d) {
      if (!had) return;
      this.dropPort(had, 'NIC detached');
      this.nics.delete(key);
      this.byFile.delete(basename(had.paths.qemu));
      this.ctx.log.info({ nic: key }, 'QEMU NIC removed');
      return;
    }
    const { nic } = d;
    const rt = this.ensure(key, nic, d.guest.qemu!, this.dir);
    if (this.dir === null) {
      rt.state = 'NO QEMU SOCKET DIRECTORY';
      return;
    }
    const dirErr = dir();
    const want = nic.coupled;
    if (rt.port !== null && rt.sw !== want) {
      this.dropPort(rt, want === null ? 'uncoupled' : `moved to VSWITCH ${want}`);
      this.forget(rt);
    }
    if (want === null) {
      if (nic.addresses.size + nic.addresses6.size > 0) this.forget(rt);
      rt.state = 'NOT COUPLED';
      return;
    }
    if (rt.port !== null) return;
    if (now < rt.nextTry) {
      this.marks.retryAt(key, rt.nextTry);
      return;
    }
    if (dirErr !== null) {
      this.problem(rt, `ERROR: ${dirErr}; retrying`);
      this.waitAgain(rt, now, false);
      return;
    }
    const swNum = this.ctx.switches.number(want);
    if (swNum === null) {
      this.waitAgain(rt, now, false);
      return;
    }
    this.open(rt, want, swNum, now, trustedSocketUids(d.guest));
  }

  /**
   * Try `rt` again later, backing off. `untilItAppears`: QEMU's socket file is not there and the
   * directory is watched, so its appearance brings the NIC back at once; the timer is only the
   * safety net then (retryMaxMs).
   */
  private waitAgain(rt: QemuNicRt, now: number, untilItAppears: boolean): void {
    rt.waitedMs = backOff(this.ctx, rt.waitedMs);
    rt.nextTry = now + (untilItAppears ? this.ctx.retryMaxMs : rt.waitedMs);
    this.marks.retryAt(rt.key, rt.nextTry);
  }

  /** Something was made or removed in the socket directory: a NIC waiting for that file is tried at once. */
  private dirEvent(file: string | Buffer | null): void {
    const key = file === null ? undefined : this.byFile.get(String(file));
    const rt = key === undefined ? undefined : this.nics.get(key);
    if (!rt || rt.port !== null) return;
    rt.nextTry = 0;
    rt.waitedMs = 0;
    this.ctx.touch.nic(rt.key);
  }

  /** Watch the socket directory (once it exists; again if it was made anew). */
  private watchDir(dir: string, ino: number): void {
    if (this.dirWatch !== null && this.watchedIno === ino) return;
    this.close();
    try {
      const w = watch(dir, { persistent: false }, (_ev, file) => this.dirEvent(file));
      w.on('error', (e) => {
        this.ctx.log.warn({ dir, err: String(e) }, 'QEMU socket directory watch failed; NICs waiting for QEMU are retried on the timer');
        if (this.dirWatch === w) this.close();
      });
      this.dirWatch = w;
      this.watchedIno = ino;
    } catch (e) {
      this.ctx.log.warn({ dir, err: String(e) }, 'cannot watch the QEMU socket directory; NICs waiting for QEMU are retried on the timer');
    }
  }

  /** A data-plane port of a QEMU NIC went down. */
  portDown(key: string, port: number, errno: number, reason: string): void {
    const rt = this.nics.get(key);
    if (!rt || rt.port !== port) return;
    rt.port = null;
    rt.sw = null;
    rt.nextTry = this.ctx.clock.now() + this.ctx.retryMs;
    this.marks.retryAt(key, rt.nextTry);
    this.ctx.log.warn({ nic: key, errno, reason, transport: rt.transport }, 'QEMU NIC port down; reconnecting');
    if (rt.transport === 'STREAM') {
      rt.state = `WAITING FOR QEMU at ${rt.paths.qemu} (connection closed: ${reason})`;
      this.forget(rt);
    } else {
      rt.state = `DOWN (${reason}); retrying`;
      this.unlinkDaemonSocket(rt);
    }
    rt.logged = rt.state;
  }

  private ensure(key: string, nic: Nic, transport: QemuTransport, dir: string | null): QemuNicRt {
    let rt = this.nics.get(key);
    if (!rt) {
      const paths = dir === null ? { qemu: '' } : qemuNicPaths(dir, nic.userid, nic.vdev, transport);
      rt = { key, userid: nic.userid, vdev: nic.vdev, transport, paths, mac: nic.mac, port: null, sw: null, nextTry: 0, waitedMs: 0, state: 'NOT COUPLED', logged: null };
      this.nics.set(key, rt);
      if (dir !== null) this.byFile.set(basename(paths.qemu), key);
    }
    return rt;
  }

  private ensureDir(): string | null {
    const dir = this.dir!;
    // Made, or verified (a directory of the daemon's own, no symlink, nothing for others): src/host/own-dir.ts.
    const r = ensureOwnDir(dir, QEMU_DIR_MODE);
    if (!r.ok) return r.error;
    if (r.note !== null) this.ctx.log.info({ dir, note: r.note }, 'QEMU socket directory');
    try {
      this.watchDir(dir, lstatSync(dir).ino);
      return null;
    } catch (e) {
      return String((e as Error).message ?? e);
    }
  }

  /** Make the port; on failure set its retry. */
  private open(rt: QemuNicRt, sw: string, swNum: number, now: number, trusted: Set<number>): void {
    let fd = -1;
    // QEMU's socket must be the guest's OWNER's (or root's): in a directory its group may write,
    // another user could have put one there under this NIC's name.
    const squatter = untrustedSocket(rt.paths.qemu, trusted);
    if (squatter !== null) {
      this.problem(rt, `ERROR: ${squatter}; not connected, retrying`);
      this.waitAgain(rt, now, false);
      return;
    }
    try {
      if (rt.transport === 'STREAM') {
        if (!this.dev.connectQemuStream) throw new Error('this host cannot connect QEMU stream sockets');
        fd = this.dev.connectQemuStream(rt.paths.qemu);
      } else {
        if (!this.dev.bindQemuDgram) throw new Error('this host cannot bind QEMU datagram sockets');
        fd = this.dev.bindQemuDgram(rt.paths.daemon!, rt.paths.qemu);
        // Only the guest's QEMU may send to it: its OWNER (or root), no one else.
        const uid = ownerUid(trusted);
        if (uid !== null) chownSync(rt.paths.daemon!, uid, -1);
        chmodSync(rt.paths.daemon!, 0o600);
      }
    } catch (e) {
      if (fd >= 0) closeSync(fd);
      const code = (e as { code?: string }).code ?? '';
      if (rt.transport === 'STREAM' && WAIT_CODES.has(code)) {
        this.problem(rt, `WAITING FOR QEMU at ${rt.paths.qemu}`, code);
      } else {
        this.problem(rt, `ERROR: ${String((e as Error).message ?? e).split('\n')[0]}; retrying`);
      }
      this.waitAgain(rt, now, rt.transport === 'STREAM' && code === 'ENOENT' && this.dirWatch !== null);
      return;
    }
    const kind = rt.transport === 'STREAM' ? 'qemu-stream' : 'qemu-dgram';
    const spec: PortSpec = { sw: swNum, role: 'nic', kind, fd, mac: rt.mac, vnet: false, name: `${rt.key}@qemu` };
    if (rt.transport === 'DGRAM') spec.peer = rt.paths.qemu;
    const port = this.ctx.ports.add(this, rt.key, spec); // the worker owns the fd now
    rt.port = port;
    rt.sw = sw;
    rt.logged = null;
    rt.waitedMs = 0;
    rt.state = rt.transport === 'STREAM'
      ? `CONNECTED to QEMU at ${rt.paths.qemu}`
      : `READY: datagrams from QEMU at ${rt.paths.qemu} to ${rt.paths.daemon}`;
    this.ctx.log.info({ nic: rt.key, vswitch: sw, port, kind, qemu: rt.paths.qemu, daemon: rt.paths.daemon }, 'QEMU NIC port added');
  }

  private problem(rt: QemuNicRt, state: string, code?: string): void {
    rt.state = state;
    if (rt.logged === state) return;
    rt.logged = state;
    this.ctx.log.info({ nic: rt.key, state, code }, 'QEMU NIC not connected; retrying');
  }

  private dropPort(rt: QemuNicRt, why: string): void {
    if (rt.port !== null) {
      this.ctx.ports.remove(rt.port);
      this.ctx.log.info({ nic: rt.key, vswitch: rt.sw, port: rt.port, why }, 'QEMU NIC port removed');
    }
    rt.port = null;
    rt.sw = null;
    rt.nextTry = 0;
    rt.waitedMs = 0;
    if (rt.transport === 'DGRAM') this.unlinkDaemonSocket(rt);
  }

  private unlinkDaemonSocket(rt: QemuNicRt): void {
    const p = rt.paths.daemon;
    if (!p) return;
    try {
      if (lstatSync(p).isSocket()) unlinkSync(p);
    } catch {
      // Already gone.
    }
  }

  private forget(rt: QemuNicRt): void {
    forgetAnnounced(this.ctx, rt);
  }

}
