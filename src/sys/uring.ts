/**
 * A small raw io_uring (issue 14, the VSWITCH_URING lever of fd-port.ts): io_uring_setup and
 * io_uring_enter through libc's syscall(), the SQ/CQ rings (one mapping, IORING_FEAT_SINGLE_MMAP)
 * and the SQE array mapped into the process, read and written through DataViews. glibc 2.36 has
 * no io_uring wrappers; liburing is not needed for this much.
 *
 * Contract:
 *  - new Uring(entries): a ring of `entries` SQEs (a power of two, 1..4096) and twice as many
 *    CQEs, set up with IORING_SETUP_SUBMIT_ALL (a request that fails at submission still lets the
 *    rest go). Throws a SysError when the kernel refuses (io_uring disabled: EPERM, ENOSYS); the
 *    caller then does without.
 *  - The SQEs are the caller's, by index: prep(i, ...) writes SQE i once (control path), setLen()
 *    and setAddr() patch it; queue(i) appends it to the submission queue (at most once per
 *    submit, at most `entries` queued); submit() hands everything queued to the kernel with one
 *    io_uring_enter and returns when every one of them has completed: the number submitted, or
 *    -errno when io_uring_enter itself failed (nothing queued was then submitted; the queue is
 *    emptied). result(i) is then the res of SQE i's completion (its user_data is i): bytes, or
 *    -errno.
 *  - Completions are expected inline (tun's file has FMODE_NOWAIT and the caller sets RWF_NOWAIT,
 *    so a read with nothing queued completes -EAGAIN instead of waiting for poll, and nothing goes
 *    to an io-wq worker). submit() still waits (IORING_ENTER_GETEVENTS) for any that did not
 *    complete inline, so memory an SQE names is free again when submit() returns, in every case.
 *  - Nothing allocates after the constructor. One thread uses a ring; close() unmaps and closes it.
 * x86-64 Linux only (syscall numbers, struct layouts).
 */
import koffi from 'koffi';
import { EINTR, MAP_SHARED, PROT_READ, PROT_WRITE, SysError, close, errno, raw } from './libc.js';

const lib = koffi.load('libc.so.6');
/** syscall(2) with the argument types these two calls use (syscall() is assembly: it reads no %al, so a fixed prototype is safe). */
const sysSetup = lib.func('syscall', 'long', ['long', 'uint32_t', 'void *']);
const sysEnter = lib.func('syscall', 'long', ['long', 'int', 'uint32_t', 'uint32_t', 'uint32_t', 'uintptr_t', 'size_t']);
const NR_IO_URING_SETUP = 425;
const NR_IO_URING_ENTER = 426;

export const IORING_OP_READ = 22;
export const IORING_OP_WRITE = 23;
/** rw_flags: fail -EAGAIN rather than wait (no poll arming, no io-wq punt). */
export const RWF_NOWAIT = 8;
const IORING_SETUP_SUBMIT_ALL = 1 << 7;
const IORING_FEAT_SINGLE_MMAP = 1 << 0;
const IORING_ENTER_GETEVENTS = 1;
const IORING_OFF_SQ_RING = 0;
const IORING_OFF_SQES = 0x10000000;
const SQE_SIZE = 64;
const CQE_SIZE = 16;
/** result() of a queued SQE not completed yet (no errno is this large). */
const PENDING = -0x80000000;
/** sizeof(struct io_uring_params); sq_off at 40, cq_off at 80 (struct io_sqring_offsets / io_cqring_offsets, 40 bytes each). */
const PARAMS_SIZE = 120;

interface Mapping { ptr: unknown; len: number; view: DataView }

function map(fd: number, len: number, off: number): Mapping {
  const ptr = raw.mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off) as bigint;
  if (ptr === 0xffffffffffffffffn) throw new SysError('mmap', errno(), 'io_uring ring');
  return { ptr, len, view: new DataView(koffi.view(ptr, len)) };
}

export class Uring {
  readonly fd: number;
  private readonly rings: Mapping;
  private readonly sqes: Mapping;
  private readonly sq: DataView;
  private readonly sqe: DataView;
  private readonly sqHead: number;
  private readonly sqTail: number;
  private readonly sqMask: number;
  private readonly sqArray: number;
  private readonly cqHead: number;
  private readonly cqTail: number;
  private readonly cqMask: number;
  private readonly cqes: number;
  /** Our copy of the SQ tail (published on submit) and how many are queued since the last submit. */
  private tail: number;
  private queued = 0;
  /** result(i): res of SQE i's last completion. */
  private readonly res: Int32Array;
  private closed = false;
  /** io_uring_enter calls that had to wait for completions (not inline): 0 on tun with RWF_NOWAIT (tests check it). */
  waits = 0;

  constructor(readonly entries: number) {
    if (!Number.isInteger(entries) || entries < 1 || entries > 4096 || (entries & (entries - 1)) !== 0) {
      throw new RangeError(`io_uring entries must be a power of two up to 4096, not ${entries}`);
    }
    const p = Buffer.alloc(PARAMS_SIZE);
    p.writeUInt32LE(IORING_SETUP_SUBMIT_ALL, 8);
    const fd = Number(sysSetup(NR_IO_URING_SETUP, entries, p));
    if (fd < 0) throw new SysError('io_uring_setup', errno());
    this.fd = fd;
    try {
      const sqEntries = p.readUInt32LE(0);
      const cqEntries = p.readUInt32LE(4);
      if ((p.readUInt32LE(20) & IORING_FEAT_SINGLE_MMAP) === 0) throw new SysError('io_uring_setup', koffi.os.errno.ENOSYS, 'without IORING_FEAT_SINGLE_MMAP');
      const sqOff = (k: number): number => p.readUInt32LE(40 + 4 * k);
      const cqOff = (k: number): number => p.readUInt32LE(80 + 4 * k);
      const len = Math.max(sqOff(6) + sqEntries * 4, cqOff(5) + cqEntries * CQE_SIZE);
      this.rings = map(fd, len, IORING_OFF_SQ_RING);
      try {
        this.sqes = map(fd, sqEntries * SQE_SIZE, IORING_OFF_SQES);
      } catch (e) {
        raw.munmap(this.rings.ptr, this.rings.len);
        throw e;
      }
      this.sq = this.rings.view;
      this.sqe = this.sqes.view;
      this.sqHead = sqOff(0);
      this.sqTail = sqOff(1);
      this.sqMask = this.sq.getUint32(sqOff(2), true);
      this.sqArray = sqOff(6);
      this.cqHead = cqOff(0);
      this.cqTail = cqOff(1);
      this.cqMask = this.sq.getUint32(cqOff(2), true);
      this.cqes = cqOff(5);
      this.tail = this.sq.getUint32(this.sqTail, true);
      this.res = new Int32Array(sqEntries);
      for (let i = 0; i < sqEntries; i++) this.sqe.setBigUint64(i * SQE_SIZE + 32, BigInt(i), true); // user_data
    } catch (e) {
      close(fd);
      throw e;
    }
  }

  /** Write SQE i: a read or write (`op`) of `len` bytes at `addr` on `fd`, with `rwFlags` (RWF_NOWAIT). */
  prep(i: number, op: number, fd: number, addr: number, len: number, rwFlags: number): void {
    const v = this.sqe;
    const s = i * SQE_SIZE;
    for (let k = 0; k < 32; k++) v.setUint8(s + k, 0);
    for (let k = 40; k < SQE_SIZE; k++) v.setUint8(s + k, 0);
    v.setUint8(s, op);
    v.setInt32(s + 4, fd, true);
    // off (s + 8) stays 0: tun and sockets ignore the position, and 0 keeps io_uring away from f_pos.
    this.setAddr(i, addr);
    v.setUint32(s + 24, len, true);
    v.setUint32(s + 28, rwFlags, true);
  }

  setAddr(i: number, addr: number): void {
    const s = i * SQE_SIZE + 16;
    this.sqe.setUint32(s, addr % 0x100000000, true);
    this.sqe.setUint32(s + 4, Math.floor(addr / 0x100000000), true);
  }

  setLen(i: number, len: number): void {
    this.sqe.setUint32(i * SQE_SIZE + 24, len, true);
  }

  /** Append SQE i to the submission queue. */
  queue(i: number): void {
    this.sq.setUint32(this.sqArray + 4 * (this.tail & this.sqMask), i, true);
    this.tail = (this.tail + 1) >>> 0;
    this.queued++;
    this.res[i] = PENDING;
  }

  /** Submit what is queued with one io_uring_enter and wait until all of it has completed (the file comment). */
  submit(): number {
    const n = this.queued;
    if (n === 0) return 0;
    this.queued = 0;
    this.sq.setUint32(this.sqTail, this.tail, true);
    let left = n; // queued, not yet taken by the kernel
    let taken = 0;
    let done = 0; // completions reaped
    while (left > 0 || done < taken) {
      const wait = left === 0 ? taken - done : 0;
      if (wait > 0) this.waits++;
      const r = Number(sysEnter(NR_IO_URING_ENTER, this.fd, left, wait, wait > 0 ? IORING_ENTER_GETEVENTS : 0, 0, 0));
      if (r < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (left > 0) {
          this.takeBack(-e);
          left = 0;
          if (taken === 0) return -e;
          continue;
        }
        // Waiting failed (not expected on a live ring): what has not completed is reported failed.
        this.failPending(-e);
        return taken;
      }
      left -= r;
      taken += r;
      done += this.reap();
    }
    return taken;
  }

  /** The SQEs queued but not taken by the kernel: out of the queue (the kernel reads the tail only in io_uring_enter), each with result `res`. */
  private takeBack(res: number): void {
    const sq = this.sq;
    const head = sq.getUint32(this.sqHead, true);
    for (let j = head; j !== this.tail; j = (j + 1) >>> 0) this.res[sq.getUint32(this.sqArray + 4 * (j & this.sqMask), true)] = res;
    this.tail = head;
    sq.setUint32(this.sqTail, head, true);
  }

  /** Submitted SQEs whose completion will not be waited for: still PENDING, now `res`. */
  private failPending(res: number): void {
    this.reap();
    const r = this.res;
    for (let i = 0; i < r.length; i++) if (r[i] === PENDING) r[i] = res;
  }

  /** Move every completion waiting in the CQ into res; how many. */
  private reap(): number {
    const sq = this.sq;
    let h = sq.getUint32(this.cqHead, true);
    const t = sq.getUint32(this.cqTail, true);
    let k = 0;
    while (h !== t) {
      const c = this.cqes + (h & this.cqMask) * CQE_SIZE;
      this.res[sq.getUint32(c, true)] = sq.getInt32(c + 8, true);
      h = (h + 1) >>> 0;
      k++;
    }
    sq.setUint32(this.cqHead, h, true);
    return k;
  }

  /** The res of SQE i's completion in the last submit(): bytes, or -errno. */
  result(i: number): number {
    return this.res[i]!;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    raw.munmap(this.sqes.ptr, this.sqes.len);
    raw.munmap(this.rings.ptr, this.rings.len);
    close(this.fd);
  }
}
