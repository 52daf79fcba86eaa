/**
 * A bounded byte queue in foreign memory, for ports whose sends can stall (QEMU sockets).
 *
 * Contract: records are appended at the tail (`reserve` then `commit`) and sent from the head
 * straight out of this memory (`addr + head`), then `consume`d. The memory comes from
 * allocBytes on the first `reserve` (an idle port costs nothing) and is freed by `free()`;
 * when the tail reaches the end, the live bytes move to the front. Nothing is allocated per
 * record. The queue never holds more than `limit` bytes: the port's queue bound (its switch's
 * QUEUESTORAGE), but never less than one largest record, so a record always fits an empty
 * queue. `reserve` refuses what does not fit, and the caller counts that as a drop. The record
 * format is the caller's.
 */
import { allocBytes, freeBytes, type ForeignBytes } from '../sys/libc.js';

export class ByteQueue {
  private mem: ForeignBytes | null = null;
  head = 0;
  tail = 0;

  /** The most bytes the queue holds. */
  readonly limit: number;

  /** `bound`: the port's queue bound in bytes (not finite or below `largestRecord`: `largestRecord`). */
  constructor(bound: number, largestRecord: number) {
    this.limit = Math.max(Number.isFinite(bound) ? Math.floor(bound) : 0, largestRecord);
  }

  /** The queue's memory (null until the first reserve). */
  get bytes(): Uint8Array | null { return this.mem === null ? null : this.mem.bytes; }
  get view(): DataView | null { return this.mem === null ? null : this.mem.view; }
  /** Address of bytes[0], for system calls (0 until the first reserve). */
  get addr(): number { return this.mem === null ? 0 : this.mem.addr; }

  /** Bytes waiting. */
  get size(): number {
    return this.tail - this.head;
  }

  /** Offset where `n` contiguous bytes may be written, or -1 if the queue cannot take them. */
  reserve(n: number): number {
    if (this.mem === null) this.mem = allocBytes(this.limit);
    if (this.limit - (this.tail - this.head) < n) return -1;
    if (this.limit - this.tail < n) {
      this.mem.bytes.copyWithin(0, this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    return this.tail;
  }

  /** The `n` bytes written at the last reserve are now queued. */
  commit(n: number): void {
    this.tail += n;
  }

  /** `n` bytes at the head have been sent (or given up). */
  consume(n: number): void {
    this.head += n;
    if (this.head >= this.tail) this.head = this.tail = 0;
  }

  /** Forget everything queued. */
  clear(): void {
    this.head = this.tail = 0;
  }

  free(): void {
    if (this.mem !== null) freeBytes(this.mem);
    this.mem = null;
    this.clear();
  }
}
