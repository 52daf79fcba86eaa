/**
 * koffi bindings to the libc calls the data plane and the device plumbing need.
 *
 * Two layers:
 *  - `raw`: the bare functions. They return -1 on failure and leave the cause in `errno()`.
 *    The hot path (read/write of frames, epoll_wait) uses these; the `*At` variants take a
 *    memory address as a plain number (base address of koffi-allocated memory plus an offset),
 *    so a call allocates nothing: no Buffer, no subarray, no BigInt.
 *  - typed wrappers (`socket`, `ioctl`, `setns`, ...): throw a SysError (code like 'EAGAIN',
 *    errno number, syscall name) on failure. For the control path.
 *
 * Memory rules (koffi): a Buffer / Uint8Array passed to a call is valid only during that call.
 * Memory the kernel keeps across calls must come from `koffi.alloc` (see `allocBytes`).
 * Every binding here is synchronous and runs on the calling thread, which matters for `setns`
 * (per thread) and for sockets (they take the network namespace of the creating thread).
 * Each worker thread that imports this module loads its own copy of the bindings.
 * x86-64 Linux only (struct layouts, ioctl numbers).
 */
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

// ---- constants -------------------------------------------------------------------------------

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_PACKET = 17;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_ERROR = 4;
export const SO_SNDBUF = 7;
export const SO_RCVBUFFORCE = 33;
export const SO_SNDBUFFORCE = 32;
export const SO_PEERCRED = 17;
export const SOL_PACKET = 263;
export const PACKET_ADD_MEMBERSHIP = 1;
export const PACKET_DROP_MEMBERSHIP = 2;
export const PACKET_MR_PROMISC = 1;
export const PACKET_MR_ALLMULTI = 2;
export const PACKET_MR_UNICAST = 3;
export const PACKET_AUXDATA = 8;
export const PACKET_VNET_HDR = 15;
export const PACKET_IGNORE_OUTGOING = 23;
export const PACKET_QDISC_BYPASS = 20;
export const PACKET_RX_RING = 5;
export const PACKET_TX_RING = 13;
export const PACKET_VERSION = 10;
export const TPACKET_V2 = 1;
/** tpacket2_hdr tp_status bits (linux/if_packet.h). */
export const TP_STATUS_KERNEL = 0;
export const TP_STATUS_USER = 1;
export const TP_STATUS_VLAN_VALID = 0x10;
export const TP_STATUS_VLAN_TPID_VALID = 0x40;
/** Transmit ring tp_status values (linux/if_packet.h). */
export const TP_STATUS_AVAILABLE = 0;
export const TP_STATUS_SEND_REQUEST = 1;
export const TP_STATUS_SENDING = 2;
export const TP_STATUS_WRONG_FORMAT = 4;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const ETH_P_ALL = 0x0003;
export const SOL_NETLINK = 270;
export const NETLINK_ROUTE = 0;
export const NETLINK_NO_ENOBUFS = 5;

export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un) on Linux; sun_path holds at most 107 bytes plus a NUL. */
export const SOCKADDR_UN_SIZE = 110;

export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDHUP = 0x2000;
/** sizeof(struct epoll_event) on x86-64: u32 events + u64 data, packed. */
export const EPOLL_EVENT_SIZE = 12;
/** sizeof(struct mmsghdr) on x86-64: struct msghdr (56: msg_name 0, msg_namelen 8, msg_iov 16, msg_iovlen 24, ...), msg_len (u32 at 56), padding. */
export const MMSGHDR_SIZE = 64;
/** sizeof(struct iovec) on x86-64: iov_base, iov_len. */
export const IOVEC_SIZE = 16;

export const PR_SET_NAME = 15;
export const PR_SET_TIMERSLACK = 29;
export const CLOCK_THREAD_CPUTIME_ID = 3;

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

export const CLONE_NEWNET = 0x40000000;

export const TUNSETIFF = 0x400454ca;
export const TUNSETPERSIST = 0x400454cb;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const TUNGETIFF = 0x800454d2;
export const TUNSETOWNER = 0x400454cc;
export const TUNSETGROUP = 0x400454ce;
/** TUNSETIFF fails EBUSY when the interface exists already (instead of attaching to it). */
export const IFF_TUN_EXCL = 0x8000;
export const IFF_TUN = 0x1;
export const IFF_TAP = 0x2;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_MULTI_QUEUE = 0x100;
export const TUN_F_CSUM = 1;
export const TUN_F_TSO4 = 2;
export const TUN_F_TSO6 = 4;
export const TUN_F_TSO_ECN = 8;

export const SIOCGIFMTU = 0x8921;
export const SIOCGIFHWADDR = 0x8927;
export const SIOCSIFHWADDR = 0x8924;
export const SIOCGIFINDEX = 0x8933;
export const SIOCGIFFLAGS = 0x8913;
/** struct ifreq ifr_qlen (int at 16): an interface's transmit queue length (txqueuelen). */
export const SIOCSIFTXQLEN = 0x8943;
export const SIOCSIFFLAGS = 0x8914;
/** struct ifreq ifr_flags (16 bits; IFF_UP is netlink.ts's): operationally up (carrier), no ARP. */
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const SIOCGIFNAME = 0x8910;
/** On a socket or a TUN/TAP fd: a new fd of the network namespace it belongs to (needs CAP_NET_ADMIN). */
export const SIOCGSKNS = 0x894c;
export const ARPHRD_ETHER = 1;
/** sizeof(struct ifreq) on x86-64. */
export const IFREQ_SIZE = 40;
export const IFNAMSIZ = 16;

// ---- errno -----------------------------------------------------------------------------------

export const errnoValues: Readonly<Record<string, number>> = koffi.os.errno;
const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(koffi.os.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}
export const EAGAIN = koffi.os.errno.EAGAIN;
export const EINTR = koffi.os.errno.EINTR;
export const ENOBUFS = koffi.os.errno.ENOBUFS;
export const ENODEV = koffi.os.errno.ENODEV;
export const ENOENT = koffi.os.errno.ENOENT;
export const EBUSY = koffi.os.errno.EBUSY;
export const EEXIST = koffi.os.errno.EEXIST;
export const EBADF = koffi.os.errno.EBADF;
export const EBADFD = koffi.os.errno.EBADFD;
export const ENOTSOCK = koffi.os.errno.ENOTSOCK;
export const EMSGSIZE = koffi.os.errno.EMSGSIZE;
export const EINVAL = koffi.os.errno.EINVAL;
export const ECONNREFUSED = koffi.os.errno.ECONNREFUSED;
export const ENOTCONN = koffi.os.errno.ENOTCONN;
export const EPERM = koffi.os.errno.EPERM;
export const ENOMEM = koffi.os.errno.ENOMEM;
export const EPIPE = koffi.os.errno.EPIPE;
export const EPROTO = koffi.os.errno.EPROTO;
export const ENETDOWN = koffi.os.errno.ENETDOWN;
export const ENXIO = koffi.os.errno.ENXIO;
export const EIO = koffi.os.errno.EIO;

/** errno of the last failed call on this thread. */
export function errno(): number {
  return koffi.errno();
}

/** 'EAGAIN' for 11, 'E123' for an unknown number. */
export function errnoName(e: number): string {
  return errnoNames.get(e) ?? `E${e}`;
}

/** An Error carrying the failed call's errno: `code` is the symbolic name ('ENODEV'). */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, e: number, detail?: string) {
    const code = errnoName(e);
    super(`${syscall}${detail ? ` ${detail}` : ''}: ${code} (${strerror(e)})`);
    this.name = 'SysError';
    this.code = code;
    this.errno = e;
    this.syscall = syscall;
  }
}

// ---- raw bindings ----------------------------------------------------------------------------

const _strerror = lib.func('const char *strerror(int errnum)');
export function strerror(e: number): string {
  return String(_strerror(e));
}

export const raw = {
  open: lib.func('int open(const char *path, int flags, int mode)'),
  close: lib.func('int close(int fd)'),
  /** read into a Buffer (control path). */
  read: lib.func('read', 'intptr_t', ['int', 'void *', 'size_t']),
  /** write a Buffer (control path). */
  write: lib.func('write', 'intptr_t', ['int', 'void *', 'size_t']),
  /** read into foreign memory at an address given as a number (hot path). */
  readAt: lib.func('read', 'intptr_t', ['int', 'uintptr_t', 'size_t']),
  /** write from foreign memory at an address given as a number (hot path). */
  writeAt: lib.func('write', 'intptr_t', ['int', 'uintptr_t', 'size_t']),
  recvAt: lib.func('recv', 'intptr_t', ['int', 'uintptr_t', 'size_t', 'int']),
  sendAt: lib.func('send', 'intptr_t', ['int', 'uintptr_t', 'size_t', 'int']),
  send: lib.func('send', 'intptr_t', ['int', 'void *', 'size_t', 'int']),
  recv: lib.func('recv', 'intptr_t', ['int', 'void *', 'size_t', 'int']),
  /** ioctl whose argument is a pointer to a buffer (struct ifreq, int). */
  ioctlPtr: lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']),
  /** ioctl whose argument is a plain integer (TUNSETPERSIST, TUNSETOFFLOAD). */
  ioctlVal: lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']),
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  bind: lib.func('bind', 'int', ['int', 'void *', 'uint32_t']),
  setsockopt: lib.func('setsockopt', 'int', ['int', 'int', 'int', 'void *', 'uint32_t']),
  getsockopt: lib.func('getsockopt', 'int', ['int', 'int', 'int', 'void *', 'void *']),
  /** getsockname into a Buffer (control and error paths: an AF_PACKET port asking its ifindex). */
  getsockname: lib.func('getsockname', 'int', ['int', 'void *', 'void *']),
  epoll_create1: lib.func('int epoll_create1(int flags)'),
  epoll_ctl: lib.func('epoll_ctl', 'int', ['int', 'int', 'int', 'void *']),
  /** events: address (number) of EPOLL_EVENT_SIZE * maxevents bytes of koffi memory. */
  epoll_wait: lib.func('epoll_wait', 'int', ['int', 'uintptr_t', 'int', 'int']),
  /**
   * epoll_pwait2 (Linux 5.11, glibc 2.35): the timeout is a struct timespec at an address
   * (nanoseconds: with timer slack 1 a sleep of 200 us is 200 us); sigmask 0 (none).
   */
  epoll_pwait2: lib.func('epoll_pwait2', 'int', ['int', 'uintptr_t', 'int', 'uintptr_t', 'uintptr_t']),
  eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
  setns: lib.func('int setns(int fd, int nstype)'),
  if_nametoindex: lib.func('unsigned int if_nametoindex(const char *name)'),
  getpid: lib.func('int getpid()'),
  sched_yield: lib.func('int sched_yield()'),
  /** sched_setaffinity(0, size, mask): the calling thread's CPUs (a cpu_set_t of `size` bytes). */
  sched_setaffinity: lib.func('int sched_setaffinity(int pid, size_t cpusetsize, const uint8_t *mask)'),
  /** poll(2) over a struct pollfd array at an address (the controller calls it with .async on the thread pool). */
  pollAt: lib.func('poll', 'int', ['uintptr_t', 'uint64_t', 'int']),
  gettid: lib.func('int gettid()'),
  /** prctl with integer arguments (PR_SET_TIMERSLACK); prctl is variadic, every argument here is a long. */
  prctlVal: lib.func('prctl', 'int', ['int', 'unsigned long', 'unsigned long', 'unsigned long', 'unsigned long']),
  /** prctl whose second argument is a pointer (PR_SET_NAME). */
  prctlPtr: lib.func('prctl', 'int', ['int', 'void *', 'unsigned long', 'unsigned long', 'unsigned long']),
  /** clock_gettime into a struct timespec at an address (16 bytes: tv_sec, tv_nsec as int64). */
  clockGettimeAt: lib.func('clock_gettime', 'int', ['int', 'uintptr_t']),
  // Unix sockets for the QEMU ports (hot-path variants take addresses as numbers).
  connect: lib.func('connect', 'int', ['int', 'void *', 'uint32_t']),
  sendmsgAt: lib.func('sendmsg', 'intptr_t', ['int', 'uintptr_t', 'int']),
  /** recvmsg with its struct msghdr at an address (an AF_PACKET port reading a frame and its auxdata). */
  recvmsgAt: lib.func('recvmsg', 'intptr_t', ['int', 'uintptr_t', 'int']),
  /**
   * recvmmsg / sendmmsg over an array of struct mmsghdr at an address (64 bytes each on x86-64:
   * struct msghdr, then msg_len u32 and padding); recvmmsg's timeout pointer is 0 (none). A packet
   * socket's batched receive and send (packet-socket.ts).
   */
  recvmmsgAt: lib.func('recvmmsg', 'int', ['int', 'uintptr_t', 'uint32_t', 'int', 'uintptr_t']),
  sendmmsgAt: lib.func('sendmmsg', 'int', ['int', 'uintptr_t', 'uint32_t', 'int']),
  sendtoAt: lib.func('sendto', 'intptr_t', ['int', 'uintptr_t', 'size_t', 'int', 'uintptr_t', 'uint32_t']),
  recvfromAt: lib.func('recvfrom', 'intptr_t', ['int', 'uintptr_t', 'size_t', 'int', 'uintptr_t', 'uintptr_t']),
  /** mmap / munmap (a packet socket's receive ring); mmap returns a pointer (BigInt), MAP_FAILED is 2^64 - 1. */
  mmap: lib.func('mmap', 'void *', ['uintptr_t', 'size_t', 'int', 'int', 'int', 'intptr_t']),
  munmap: lib.func('munmap', 'int', ['void *', 'size_t']),
  /** memmove between two addresses of foreign memory (return value ignored). */
  memmoveAt: lib.func('memmove', 'void', ['uintptr_t', 'uintptr_t', 'size_t']),
};

// ---- foreign memory --------------------------------------------------------------------------

/** Memory from koffi.alloc that the kernel may keep across calls, with a JS view and its address. */
export interface ForeignBytes {
  /** The pointer koffi returned (keep it to free). */
  readonly ptr: bigint;
  /** Its address as a number, for the `*At` calls. */
  readonly addr: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

export function allocBytes(len: number): ForeignBytes {
  const ptr = koffi.alloc('uint8_t', len) as bigint;
  const ab = koffi.view(ptr, len);
  const bytes = new Uint8Array(ab);
  bytes.fill(0);
  return { ptr, addr: Number(ptr), bytes, view: new DataView(ab) };
}

export function freeBytes(m: ForeignBytes): void {
  koffi.free(m.ptr);
}

/** mmap `len` bytes of fd shared, read and write (a packet socket's ring); throws a SysError. */
export function mmapShared(fd: number, len: number): ForeignBytes {
  const ptr = raw.mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) as bigint;
  if (ptr === 0xffffffffffffffffn) throw new SysError('mmap', koffi.errno());
  const ab = koffi.view(ptr, len);
  return { ptr, addr: Number(ptr), bytes: new Uint8Array(ab), view: new DataView(ab) };
}

/** Undo mmapShared (the views must not be used after). */
export function munmapBytes(m: ForeignBytes): void {
  raw.munmap(m.ptr, m.bytes.length);
}

// ---- typed wrappers (throw SysError) ----------------------------------------------------------

function check(ret: number, syscall: string, detail?: string): number {
  if (ret < 0) throw new SysError(syscall, koffi.errno(), detail);
  return ret;
}

export function open(path: string, flags: number, mode = 0): number {
  return check(raw.open(path, flags | O_CLOEXEC, mode), 'open', path);
}

/** Close; errors are ignored (the fd is gone either way on Linux). */
export function close(fd: number): void {
  if (fd >= 0) raw.close(fd);
}

export function socket(domain: number, type: number, protocol: number): number {
  return check(raw.socket(domain, type | SOCK_CLOEXEC, protocol), 'socket');
}

export function bind(fd: number, addr: Uint8Array): void {
  check(raw.bind(fd, addr, addr.length), 'bind');
}

export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  check(raw.setsockopt(fd, level, name, b, 4), 'setsockopt', `${level}/${name}`);
}

export function setsockoptBuf(fd: number, level: number, name: number, value: Uint8Array): void {
  check(raw.setsockopt(fd, level, name, value, value.length), 'setsockopt', `${level}/${name}`);
}

export function ioctlPtr(fd: number, req: number, arg: Uint8Array, detail?: string): number {
  return check(raw.ioctlPtr(fd, req, arg), 'ioctl', detail ?? `0x${req.toString(16)}`);
}

export function ioctlVal(fd: number, req: number, arg: number, detail?: string): number {
  return check(raw.ioctlVal(fd, req, arg), 'ioctl', detail ?? `0x${req.toString(16)}`);
}

export function epollCreate(): number {
  return check(raw.epoll_create1(EPOLL_CLOEXEC), 'epoll_create1');
}

const epollCtlBuf = Buffer.alloc(EPOLL_EVENT_SIZE);
/** epoll_ctl with `data` = a 32-bit token (the low half of epoll_data; high half zero). */
export function epollCtl(epfd: number, op: number, fd: number, events: number, token: number): void {
  epollCtlBuf.writeUInt32LE(events >>> 0, 0);
  epollCtlBuf.writeUInt32LE(token >>> 0, 4);
  epollCtlBuf.writeUInt32LE(0, 8);
  check(raw.epoll_ctl(epfd, op, fd, epollCtlBuf), 'epoll_ctl');
}

export function eventfd(flags = EFD_NONBLOCK): number {
  return check(raw.eventfd(0, flags | EFD_CLOEXEC), 'eventfd');
}

const eventfdOne = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
/** Add 1 to an eventfd (wakes its epoll waiter). Never throws; returns false on failure. */
export function eventfdSignal(fd: number): boolean {
  return raw.write(fd, eventfdOne, 8) === 8;
}

const eventfdScratch = Buffer.alloc(8);
/** Reset a non-blocking eventfd to zero. */
export function eventfdDrain(fd: number): void {
  raw.read(fd, eventfdScratch, 8);
}

export function setns(fd: number, nstype: number): void {
  check(raw.setns(fd, nstype), 'setns');
}

/** Interface index in the calling thread's namespace, 0 if there is no such interface. */
export function ifNameToIndex(name: string): number {
  return raw.if_nametoindex(name) >>> 0;
}

/** A zeroed struct ifreq with ifr_name set. Throws EINVAL for a name that does not fit. */
export function ifreq(name: string): Buffer {
  const b = Buffer.alloc(IFREQ_SIZE);
  const n = Buffer.from(name, 'utf8');
  if (n.length === 0 || n.length >= IFNAMSIZ) throw new SysError('ifreq', koffi.os.errno.EINVAL, `bad interface name ${JSON.stringify(name)}`);
  n.copy(b, 0);
  return b;
}

/** The name in a struct ifreq the kernel filled (up to its NUL). */
function ifreqName(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul >= 0 && nul < IFNAMSIZ ? nul : IFNAMSIZ);
}

/** MTU of interface `name`, asked through socket `sock` (in the namespace the socket belongs to). */
export function interfaceMtu(sock: number, name: string): number {
  const q = ifreq(name);
  ioctlPtr(sock, SIOCGIFMTU, q, `SIOCGIFMTU ${name}`);
  return q.readInt32LE(16);
}

/** Name of the interface of index `ifindex`, asked through socket `sock` (its namespace). */
export function interfaceName(sock: number, ifindex: number): string {
  const q = Buffer.alloc(IFREQ_SIZE);
  q.writeInt32LE(ifindex, 16);
  ioctlPtr(sock, SIOCGIFNAME, q, `SIOCGIFNAME ${ifindex}`);
  return ifreqName(q);
}

/** Name of the TUN/TAP interface a /dev/net/tun fd is attached to (TUNGETIFF). */
export function tunInterfaceName(fd: number): string {
  const q = Buffer.alloc(IFREQ_SIZE);
  ioctlPtr(fd, TUNGETIFF, q, 'TUNGETIFF');
  return ifreqName(q);
}

/** The interface index an AF_PACKET socket is bound to (getsockname's sockaddr_ll). */
export function packetSocketIfindex(fd: number): number {
  const sll = Buffer.alloc(20);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(sll.length, 0);
  check(raw.getsockname(fd, sll, len), 'getsockname');
  return sll.readInt32LE(4);
}

/** The process at the other end of a connected unix socket (SO_PEERCRED: struct ucred). */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  const cred = Buffer.alloc(12);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(cred.length, 0);
  check(raw.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len), 'getsockopt', 'SO_PEERCRED');
  return { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
}

/** A new fd of the network namespace a socket or TUN/TAP fd belongs to (SIOCGSKNS); the caller closes it. */
export function namespaceOf(fd: number): number {
  return check(raw.ioctlVal(fd, SIOCGSKNS, 0), 'ioctl', 'SIOCGSKNS');
}

/**
 * struct sockaddr_un for a filesystem path (family u16 = AF_UNIX, NUL-terminated path) and the
 * length to pass with it. Throws EINVAL for an empty path, one with a NUL, or one over 107 bytes.
 */
export function sockaddrUn(path: string): { addr: Buffer; len: number } {
  const p = Buffer.from(path, 'utf8');
  if (p.length === 0 || p.length > SOCKADDR_UN_SIZE - 3 || p.includes(0)) {
    throw new SysError('sockaddr_un', koffi.os.errno.EINVAL, `bad unix socket path ${JSON.stringify(path)}`);
  }
  const addr = Buffer.alloc(SOCKADDR_UN_SIZE);
  addr.writeUInt16LE(AF_UNIX, 0);
  p.copy(addr, 2);
  return { addr, len: 2 + p.length + 1 };
}

export function connect(fd: number, addr: Uint8Array, len: number, detail?: string): void {
  check(raw.connect(fd, addr, len), 'connect', detail);
}


// ---- the calling thread -----------------------------------------------------------------------

/**
 * Name the calling thread (PR_SET_NAME: at most 15 bytes, longer names are cut), so `top -H`,
 * /proc/PID/task/TID/comm and the benchmark can tell it. Returns false if the kernel refused.
 */
export function setThreadName(name: string): boolean {
  const b = Buffer.alloc(16);
  Buffer.from(name, 'utf8').copy(b, 0, 0, 15);
  return raw.prctlPtr(PR_SET_NAME, b, 0, 0, 0) === 0;
}

/** Pin the calling thread to CPU `cpu` (sched_setaffinity on a 128-byte cpu_set_t: CPUs 0-1023). Returns false if the kernel refused. */
export function pinThread(cpu: number): boolean {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= 1024) return false;
  const set = Buffer.alloc(128);
  set[cpu >> 3] = 1 << (cpu & 7);
  return raw.sched_setaffinity(0, set.length, set) === 0;
}

/**
 * The calling thread's timer slack in nanoseconds (PR_SET_TIMERSLACK; the default is 50,000):
 * how late the kernel may fire the thread's timers (a sleep with a timeout) to group wake-ups.
 * 1 makes short sleeps short. Returns false if the kernel refused.
 */
export function setTimerSlackNs(ns: number): boolean {
  return raw.prctlVal(PR_SET_TIMERSLACK, ns, 0, 0, 0) === 0;
}

/**
 * The calling thread's CPU clock (CLOCK_THREAD_CPUTIME_ID) in nanoseconds, as a number (exact
 * to 2^53 ns, about 104 days of CPU). Reads into `scratch` (16 bytes of foreign memory), so a
 * call allocates nothing.
 */
export function threadCpuNs(scratch: ForeignBytes): number {
  if (raw.clockGettimeAt(CLOCK_THREAD_CPUTIME_ID, scratch.addr) !== 0) return 0;
  const v = scratch.view;
  const sec = v.getUint32(0, true) + v.getInt32(4, true) * 4294967296;
  return sec * 1e9 + v.getUint32(8, true); // tv_nsec < 1e9 fits the low half
}

// ---- sd_notify (src/daemon/sd-notify.ts) ------------------------------------------------------

/**
 * struct sockaddr_un for a name in the abstract namespace (`@name` in NOTIFY_SOCKET: sun_path
 * starts with a NUL, the name follows, no terminating NUL) and the length to pass with it.
 * Throws EINVAL for an empty name or one over 107 bytes.
 */
export function sockaddrUnAbstract(name: string): { addr: Buffer; len: number } {
  const p = Buffer.from(name, 'utf8');
  if (p.length === 0 || p.length > SOCKADDR_UN_SIZE - 3) {
    throw new SysError('sockaddr_un', koffi.os.errno.EINVAL, `bad abstract unix socket name ${JSON.stringify(name)}`);
  }
  const addr = Buffer.alloc(SOCKADDR_UN_SIZE);
  addr.writeUInt16LE(AF_UNIX, 0);
  p.copy(addr, 3);
  return { addr, len: 3 + p.length };
}
