/**
 * Kernel device plumbing for the daemon's main thread: network namespaces (made for a guest and
 * marked so, MADE_NETNS_ALIAS), the marks themselves (markLink, linkMarks: what the daemon made
 * carries an interface alias saying so, and only what carries it is the daemon's to remove),
 * TAP devices (a guest NIC's data path) and AF_PACKET uplink
 * sockets. A namespace is a name (/run/netns/NAME) or a path (a container runtime's, e.g.
 * /proc/PID/ns/net): src/sys/netns.ts; a path is never made nor removed here. Host-side TAPs
 * for QEMU (a QEMU TAP guest's NICs) are in host-tap.ts, re-exported here.
 *
 * Everything here is synchronous and short (a few syscalls, at most one `ip` command); it runs
 * on the main thread at configuration time, never per frame. Namespace switching is per thread
 * and always undone before returning (src/sys/netns.ts).
 *
 * Returned file descriptors are non-blocking and close-on-exec, and belong to the caller (the
 * control plane hands them to the data-plane worker in `port-add`).
 * Errors are thrown as Error objects with `code` set ('ENODEV', 'EBUSY', 'EINVAL', ...).
 *
 * QEMU NICs (connectQemuStream, bindQemuDgram, qemuArgs): QEMU is the server and the daemon
 * connects, so a daemon restart needs nothing from the VM. Stream: QEMU listens on a unix
 * stream socket (`-netdev stream,server=on`; 7.2 accepts one connection and listens again
 * after it closes) and the daemon connects to it. Dgram: QEMU binds its own path and sends to
 * the daemon's path; the daemon binds the daemon path and sends to QEMU's (the data-plane port
 * addresses each datagram with sendto, so a restarted QEMU is reached again by path).
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, unlinkSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { withNetns, netnsExists, netnsPath, isNetnsPath } from '../sys/netns.js';
import { placement, setRps } from './cpu-placement.js';
import {
  AF_INET, AF_PACKET, ARPHRD_ETHER, ENODEV, ETH_P_ALL, IFF_NO_PI, IFF_TAP, IFF_VNET_HDR, O_NONBLOCK, O_RDWR,
  PACKET_ADD_MEMBERSHIP, PACKET_IGNORE_OUTGOING, PACKET_MR_PROMISC, PACKET_VNET_HDR, SIOCGIFHWADDR, SIOCGIFINDEX,
  SIOCGIFMTU, SIOCSIFHWADDR, SIOCSIFTXQLEN, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW, SOL_PACKET, SOL_SOCKET, SO_RCVBUFFORCE,
  SO_SNDBUFFORCE, SysError, TUNSETIFF, TUNSETOFFLOAD, TUNSETPERSIST, TUNSETVNETHDRSZ, TUN_F_CSUM, TUN_F_TSO4,
  TUN_F_TSO6, TUN_F_TSO_ECN, IFF_TUN_EXCL, bind, close, errnoValues, ifNameToIndex, ifreq, ioctlPtr, ioctlVal, open,
  setsockoptBuf, setsockoptInt, socket, AF_UNIX, SOCK_STREAM, SO_SNDBUF, SO_RCVBUF, connect, sockaddrUn,
} from '../sys/libc.js';
import { formatMac, readMac, writeMac } from '../wire/addr.js';
import { VNET_HDR_LEN } from '../wire/vnet.js';

export { ensureHostTap, hostTapLink, hostHasVhostNet } from './host-tap.js';

/**
 * What the loopback of a namespace the daemon made carries as its alias (IFLA_IFALIAS): the
 * mark that the namespace is the daemon's to remove. It lives and dies with the namespace, so
 * it survives daemon restarts and a namespace made again after a reboot is marked again; a
 * namespace without it (there before DEFINE GUEST) is the user's and is never removed.
 */
export const MADE_NETNS_ALIAS = 'vswitchd: made for DEFINE GUEST';

function ipCommand(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The most an interface alias holds (the kernel's IFALIASZ less its NUL). */
export const LINK_MARK_MAX = 255;

/**
 * Mark an interface as the daemon's: its alias (IFLA_IFALIAS, `ip link set dev DEV alias MARK`)
 * set to `mark`, in namespace `netns` (a name; null: the calling thread's own). The mark stays
 * with the interface across daemon restarts and goes with it; it is how the daemon later tells
 * what it made from what the user made (linkMarks), so that it removes only its own.
 * Throws 'EINVAL' for a mark the kernel cannot hold (empty, over LINK_MARK_MAX bytes, a NUL),
 * 'EIO' with `ip`'s words when it fails.
 */
export function markLink(netns: string | null, dev: string, mark: string): void {
  const n = Buffer.byteLength(mark);
  if (n === 0 || n > LINK_MARK_MAX || mark.includes('\0')) {
    throw Object.assign(new Error(`an interface mark must be 1 to ${LINK_MARK_MAX} bytes without NUL (${n} given)`), { code: 'EINVAL', errno: errnoValues.EINVAL });
  }
  const args = [...(netns === null ? [] : ['-n', netns]), 'link', 'set', 'dev', dev, 'alias', mark];
  try {
    ipCommand(args);
  } catch (e) {
    throw ipError(`ip ${args.slice(0, -1).join(' ')}`, e);
  }
}

/**
 * The marks of the interfaces in namespace `netns` (null: the calling thread's own): name ->
 * alias ('' for an interface without one). `filter.dev`: that interface only; `filter.kind`:
 * interfaces of that link kind only (`ip link show type KIND`, e.g. 'vxlan'). A namespace or
 * device that cannot be listed gives an empty map (nothing there is anyone's to remove).
 */
export function linkMarks(netns: string | null, filter: { dev?: string; kind?: string } = {}): Map<string, string> {
  const out = new Map<string, string>();
  const args = [...(netns === null ? [] : ['-n', netns]), '-j', 'link', 'show',
    ...(filter.dev !== undefined ? ['dev', filter.dev] : []), ...(filter.kind !== undefined ? ['type', filter.kind] : [])];
  let links: Array<{ ifname?: unknown; ifalias?: unknown }>;
  try {
    links = JSON.parse(execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 << 20 }) || '[]') as typeof links;
  } catch {
    return out;
  }
  for (const l of links) if (typeof l.ifname === 'string') out.set(l.ifname, typeof l.ifalias === 'string' ? l.ifalias : '');
  return out;
}

function ipError(what: string, e: unknown): Error {
  const msg = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? String(e);
  return Object.assign(new Error(`${what}: ${msg}`), { code: 'EIO' });
}

/**
 * Create the named network namespace if it does not exist (so /var/run/netns/NAME exists),
 * marked as made here (MADE_NETNS_ALIAS). Returns true when it made it, false when it was there.
 * A namespace given by path is never made: it must exist and be a network namespace (else
 * 'ENOENT' / 'EINVAL' with the path in the message), and the answer is false.
 */
export function ensureNetns(name: string): boolean {
  if (isNetnsPath(name)) {
    if (!netnsExists(name)) throw Object.assign(new Error(`network namespace ${name} does not exist`), { code: 'ENOENT' });
    try {
      withNetns(name, () => undefined);
    } catch (e) {
      throw Object.assign(new Error(`${name} is not a network namespace: ${(e as Error).message}`), { code: (e as { code?: string }).code ?? 'EINVAL' });
    }
    return false;
  }
  if (netnsExists(name)) return false;
  try {
    ipCommand(['netns', 'add', name]);
  } catch (e) {
    if (netnsExists(name)) return false; // created concurrently
    throw ipError(`ip netns add ${name}`, e);
  }
  try {
    markLink(name, 'lo', MADE_NETNS_ALIAS);
  } catch (e) {
    try { ipCommand(['netns', 'del', name]); } catch { /* leave it; the error says what happened */ }
    throw e;
  }
  return true;
}

/** Does the namespace exist and carry the mark of one the daemon made (ensureNetns)? */
export function netnsMadeHere(name: string): boolean {
  if (isNetnsPath(name) || !netnsExists(name)) return false;
  return linkMarks(name, { dev: 'lo' }).get('lo') === MADE_NETNS_ALIAS;
}

/** Remove a named network namespace (tests, guest removal). Missing is fine. */
export function deleteNetns(name: string): void {
  netnsPath(name); // validates the name
  if (!netnsExists(name)) return;
  try {
    ipCommand(['netns', 'del', name]);
  } catch (e) {
    if (netnsExists(name)) throw ipError(`ip netns del ${name}`, e);
  }
}

export interface TapOptions {
  /** Namespace the TAP lives in (null: the calling thread's own). */
  netns: string | null;
  /** Interface name, e.g. 'enc600'. */
  name: string;
  /** MAC the interface gets (48-bit number). */
  mac: number;
  /** Keep the interface (and the guest's addresses) when the fd closes. */
  persist: boolean;
  /** Refuse an interface of this name that exists already ('EEXIST') instead of re-attaching to it. */
  exclusive?: boolean;
}

/**
 * Create, or re-attach to, a TAP inside the guest's namespace. The fd carries a 10-byte
 * virtio-net header on each frame (IFF_VNET_HDR) and accepts checksum/TSO offloads.
 * Re-attaching to a persistent TAP keeps its addresses and up state; the MAC is set only if it
 * differs. Throws EBUSY if another process holds the TAP; with `exclusive`, EEXIST if any
 * interface of the name exists.
 */
/**
 * The TAP's transmit queue length (txqueuelen: the frames a guest may queue for the switch
 * before the kernel drops) from VSWITCH_TAP_TXQLEN, a benchmark lever (issue 14; absent or not
 * a positive integer: the kernel's default, 1000). 10,000 raised 64-byte guest to guest in two
 * runs (1.70x, 1.23x) but not guest to LAN (0.95x), and lets a flood queue 10,000 frames ahead
 * of a ping: off by default.
 */
const TAP_TXQLEN = /^[1-9][0-9]{0,6}$/.test(process.env.VSWITCH_TAP_TXQLEN ?? '') ? Number(process.env.VSWITCH_TAP_TXQLEN) : 0;

export function openTap(opts: TapOptions): { fd: number; ifindex: number } {
  const tap = openTapIn(opts);
  const p = placement();
  if (p !== null) {
    try {
      setRps(opts.netns, opts.name, p.rpsMask);
    } catch (e) {
      close(tap.fd);
      throw new Error(`VSWITCH_TAP_RPS: receive steering for ${opts.name}${opts.netns !== null ? ` in ${opts.netns}` : ''} not set: ${(e as Error).message.trim()}`);
    }
  }
  return tap;
}

/** openTap inside the namespace (its steering, VSWITCH_TAP_RPS, is set from outside: cpu-placement.ts). */
function openTapIn(opts: TapOptions): { fd: number; ifindex: number } {
  return withNetns(opts.netns, () => {
    const fd = open('/dev/net/tun', O_RDWR | O_NONBLOCK);
    try {
      const ifr = ifreq(opts.name);
      ifr.writeUInt16LE(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (opts.exclusive ? IFF_TUN_EXCL : 0), 16);
      try {
        ioctlPtr(fd, TUNSETIFF, ifr, `TUNSETIFF ${opts.name}`);
      } catch (e) {
        if (opts.exclusive && ifNameToIndex(opts.name) !== 0) {
          throw Object.assign(new Error(`interface ${opts.name} exists already${opts.netns !== null ? ` in ${opts.netns}` : ''}`), { code: 'EEXIST', errno: errnoValues.EEXIST });
        }
        throw e;
      }
      const sz = Buffer.alloc(4);
      sz.writeInt32LE(VNET_HDR_LEN, 0);
      ioctlPtr(fd, TUNSETVNETHDRSZ, sz, 'TUNSETVNETHDRSZ');
      ioctlVal(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN, 'TUNSETOFFLOAD');
      ioctlVal(fd, TUNSETPERSIST, opts.persist ? 1 : 0, 'TUNSETPERSIST');
      const s = socket(AF_INET, SOCK_DGRAM, 0);
      try {
        const q = ifreq(opts.name);
        ioctlPtr(s, SIOCGIFHWADDR, q, `SIOCGIFHWADDR ${opts.name}`);
        if (readMac(q, 18) !== opts.mac) {
          const w = ifreq(opts.name);
          w.writeUInt16LE(ARPHRD_ETHER, 16);
          writeMac(w, 18, opts.mac);
          ioctlPtr(s, SIOCSIFHWADDR, w, `SIOCSIFHWADDR ${opts.name}`);
        }
        if (TAP_TXQLEN > 0) {
          const t = ifreq(opts.name);
          t.writeInt32LE(TAP_TXQLEN, 16);
          ioctlPtr(s, SIOCSIFTXQLEN, t, `SIOCSIFTXQLEN ${opts.name}`);
        }
        const x = ifreq(opts.name);
        ioctlPtr(s, SIOCGIFINDEX, x, `SIOCGIFINDEX ${opts.name}`);
        return { fd, ifindex: x.readInt32LE(16) };
      } finally {
        close(s);
      }
    } catch (e) {
      close(fd);
      throw e;
    }
  });
}

/**
 * Remove a TAP (persistent or not). A missing interface or namespace is not an error. `ip`
 * runs inside the namespace (forked while this thread is in it), so a path works as a name does.
 */
export function destroyTap(netns: string | null, name: string): void {
  if (netns !== null && !netnsExists(netns)) return;
  if (!interfaceExists(name, netns)) return;
  try {
    withNetns(netns, () => ipCommand(['link', 'del', 'dev', name]));
  } catch (e) {
    if (!interfaceExists(name, netns)) return;
    throw ipError(`ip link del ${name}`, e);
  }
}

export interface UplinkOptions {
  /** Namespace the interface lives in (null/absent: the calling thread's own). Tests use this. */
  netns?: string | null;
  /** Put the interface in promiscuous mode for as long as the socket lives (ETHERNET mode). */
  promisc?: boolean;
  /**
   * Carry a virtio-net header (PACKET_VNET_HDR), default true. With false the port is plain:
   * the data plane segments and checksums offloaded frames in software before sending, and
   * GRO must be off on the interface (a GRO'd frame read without its header is unusable).
   */
  vnet?: boolean;
}

/**
 * Open an AF_PACKET socket on an interface for the uplink's data path. The socket carries a
 * virtio-net header on each frame (PACKET_VNET_HDR), so GRO'd frames come in and TSO frames go
 * out whole; it does not see its own transmissions (PACKET_IGNORE_OUTGOING).
 * Throws code 'ENODEV' when the interface does not exist, 'EINVAL' when it is not Ethernet.
 */
export function openUplink(ifname: string, opts: UplinkOptions = {}): { fd: number; ifindex: number; mac: number; mtu: number } {
  return withNetns(opts.netns ?? null, () => {
    ifreq(ifname); // validates the name
    const ifindex = ifNameToIndex(ifname);
    if (ifindex === 0) throw new SysError('openUplink', ENODEV, ifname);
    // Protocol 0 at creation: no frames queue until bind() selects ETH_P_ALL on this ifindex.
    const fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, 0);
    try {
      if (opts.vnet !== false) setsockoptInt(fd, SOL_PACKET, PACKET_VNET_HDR, 1);
      setsockoptInt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
      try {
        setsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20);
        setsockoptInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, 4 << 20);
      } catch {
        // Not privileged for FORCE: keep the defaults.
      }
      const q = ifreq(ifname);
      ioctlPtr(fd, SIOCGIFHWADDR, q, `SIOCGIFHWADDR ${ifname}`);
      if (q.readUInt16LE(16) !== ARPHRD_ETHER) {
        throw Object.assign(new Error(`${ifname} is not an Ethernet interface (type ${q.readUInt16LE(16)})`), { code: 'EINVAL', errno: errnoValues.EINVAL });
      }
      const mac = readMac(q, 18);
      const m = ifreq(ifname);
      ioctlPtr(fd, SIOCGIFMTU, m, `SIOCGIFMTU ${ifname}`);
      const mtu = m.readInt32LE(16);
      const x = ifreq(ifname);
      ioctlPtr(fd, SIOCGIFINDEX, x, `SIOCGIFINDEX ${ifname}`);
      const idx = x.readInt32LE(16);
      // struct sockaddr_ll: family u16, protocol be16, ifindex i32, hatype u16, pkttype u8, halen u8, addr[8]
      const sll = Buffer.alloc(20);
      sll.writeUInt16LE(AF_PACKET, 0);
      sll.writeUInt16BE(ETH_P_ALL, 2);
      sll.writeInt32LE(idx, 4);
      bind(fd, sll);
      if (opts.promisc) {
        // struct packet_mreq: ifindex i32, type u16, alen u16, address[8]
        const mr = Buffer.alloc(16);
        mr.writeInt32LE(idx, 0);
        mr.writeUInt16LE(PACKET_MR_PROMISC, 4);
        setsockoptBuf(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, mr);
      }
      return { fd, ifindex: idx, mac, mtu };
    } catch (e) {
      close(fd);
      throw e;
    }
  });
}

/** Does the interface exist (in `netns`, or the calling thread's namespace)? */
export function interfaceExists(ifname: string, netns: string | null = null): boolean {
  if (netns !== null && !netnsExists(netns)) return false;
  return withNetns(netns, () => {
    const n = Buffer.byteLength(ifname);
    if (n === 0 || n >= 16) return false;
    return ifNameToIndex(ifname) !== 0;
  });
}

// ---- QEMU NICs ---------------------------------------------------------------------------------

function qemuPath(path: string, what: string): { addr: Buffer; len: number } {
  if (!isAbsolute(path)) {
    throw Object.assign(new Error(`${what} ${JSON.stringify(path)} must be an absolute path`), { code: 'EINVAL', errno: errnoValues.EINVAL });
  }
  return sockaddrUn(path);
}

function bestEffortBuffers(fd: number, bytes: number): void {
  try {
    setsockoptInt(fd, SOL_SOCKET, SO_SNDBUF, bytes);
    setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, bytes);
  } catch {
    // Keep the defaults.
  }
}

/**
 * Connect to the unix stream socket a QEMU `-netdev stream,server=on,addr.type=unix,addr.path=PATH`
 * listens on. Returns a non-blocking, close-on-exec fd for a 'qemu-stream' port.
 * Throws a SysError with code 'ENOENT' (no socket file yet), 'ECONNREFUSED' (a file but no
 * QEMU listening), or 'EAGAIN' (QEMU's backlog is full); the control plane retries later.
 * Note: QEMU 7.2 serves one connection at a time; a connection made while QEMU still serves an
 * older one waits in its backlog and is taken when the older one closes.
 */
export function connectQemuStream(path: string): number {
  const sa = qemuPath(path, 'QEMU stream socket');
  const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  try {
    bestEffortBuffers(fd, 1 << 20);
    connect(fd, sa.addr, sa.len, path);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/**
 * Bind the daemon's end of a QEMU `-netdev dgram` NIC: an AF_UNIX SOCK_DGRAM socket bound to
 * `localPath` (the path QEMU's `remote.path` names). A stale socket file at `localPath` is
 * removed first; any other kind of file there is an error ('EEXIST'). `remotePath` (QEMU's
 * `local.path`) is validated here and passed to the worker as the port's `peer`: the port
 * sends each frame to it with sendto and accepts datagrams only from it. The socket is not
 * connected, so QEMU need not be running yet and a restarted QEMU is reached again.
 * Returns a non-blocking, close-on-exec fd for a 'qemu-dgram' port. The socket file gets the
 * process umask's permissions; QEMU must be able to write to it (the caller may chmod/chown).
 */
export function bindQemuDgram(localPath: string, remotePath: string): number {
  const local = qemuPath(localPath, 'daemon datagram socket');
  qemuPath(remotePath, 'QEMU datagram socket');
  if (localPath === remotePath) {
    throw Object.assign(new Error('the daemon and QEMU datagram sockets must have different paths'), { code: 'EINVAL', errno: errnoValues.EINVAL });
  }
  try {
    const st = lstatSync(localPath);
    if (!st.isSocket()) {
      throw Object.assign(new Error(`${localPath} exists and is not a socket`), { code: 'EEXIST', errno: errnoValues.EEXIST });
    }
    unlinkSync(localPath);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
  }
  const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  try {
    bestEffortBuffers(fd, 1 << 20);
    bind(fd, local.addr.subarray(0, local.len));
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** Where a QEMU NIC's sockets are. */
export interface QemuNicPaths {
  /** stream: the socket QEMU listens on; dgram: the socket QEMU binds (its local.path). */
  qemu: string;
  /** dgram only: the daemon's socket QEMU sends to (its remote.path). */
  daemon?: string;
}

/** QEMU option values escape a comma by doubling it. */
function qemuOpt(v: string): string {
  return v.replace(/,/g, ',,');
}

/**
 * The arguments a user adds to QEMU for this NIC, one array element per shell word:
 *   stream: -netdev stream,id=ID,server=on,addr.type=unix,addr.path=PATH
 *           -device virtio-net-pci,mac=02:..,netdev=ID
 *   dgram:  -netdev dgram,id=ID,local.type=unix,local.path=QEMU,remote.type=unix,remote.path=DAEMON
 *           -device virtio-net-pci,mac=02:..,netdev=ID
 * (forms checked against QEMU 7.2). `id` must be a QEMU id: a letter, then letters, digits, '-', '.', '_'.
 */
export function qemuArgs(kind: 'qemu-stream' | 'qemu-dgram', paths: QemuNicPaths, mac: number, id: string): string[] {
  if (!/^[A-Za-z][A-Za-z0-9_.-]{0,127}$/.test(id)) {
    throw Object.assign(new Error(`bad QEMU netdev id ${JSON.stringify(id)}`), { code: 'EINVAL', errno: errnoValues.EINVAL });
  }
  qemuPath(paths.qemu, 'QEMU socket');
  let netdev: string;
  if (kind === 'qemu-stream') {
    netdev = `stream,id=${id},server=on,addr.type=unix,addr.path=${qemuOpt(paths.qemu)}`;
  } else {
    if (paths.daemon === undefined) {
      throw Object.assign(new Error('a dgram NIC needs the daemon socket path'), { code: 'EINVAL', errno: errnoValues.EINVAL });
    }
    qemuPath(paths.daemon, 'daemon datagram socket');
    netdev = `dgram,id=${id},local.type=unix,local.path=${qemuOpt(paths.qemu)},remote.type=unix,remote.path=${qemuOpt(paths.daemon)}`;
  }
  return ['-netdev', netdev, '-device', `virtio-net-pci,mac=${formatMac(mac)},netdev=${id}`];
}

/** qemuArgs as one line a user pastes into a shell (words quoted when they need it). */
export function qemuArgsText(kind: 'qemu-stream' | 'qemu-dgram', paths: QemuNicPaths, mac: number, id: string): string {
  return qemuArgs(kind, paths, mac, id)
    .map((w) => (/^[A-Za-z0-9_.,:=\/+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

