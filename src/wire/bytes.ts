/**
 * Big-endian integer fields at an offset in any Uint8Array: the reader and writer of each
 * width that the views in src/wire build on (the few accessors the forwarders call per frame
 * spell their bytes out instead, see ethernet.ts).
 *
 * Nothing allocates and nothing checks bounds (the views' check functions validate a packet
 * once; after that every read is plain). A 32-bit field has two forms of the same bits:
 * - `readU32`: the unsigned value (10.0.0.1 === 0x0a000001), the form the control plane and the
 *   forwarding contract (src/forward/api.ts) use for IPv4 addresses;
 * - `readI32`: the same bits as a signed int32, which V8 keeps as a small integer on 64-bit
 *   builds, so it is never boxed when it crosses a call: the form for the hot path and for Map
 *   keys (255.255.255.255 reads as -1), and so the form the views read IPv4 addresses in.
 * `x | 0` turns the unsigned form into the signed one and `x >>> 0` back; `writeU32` takes either.
 */

export function readU16(b: Uint8Array, off: number): number {
  return b[off] << 8 | b[off + 1];
}

export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >> 8; // a Uint8Array store keeps the low 8 bits
  b[off + 1] = v;
}

/** The 32-bit field at `off` as a signed int32 (see the file comment). */
export function readI32(b: Uint8Array, off: number): number {
  return b[off] << 24 | b[off + 1] << 16 | b[off + 2] << 8 | b[off + 3];
}

/** The 32-bit field at `off` as a uint32. */
export function readU32(b: Uint8Array, off: number): number {
  return readI32(b, off) >>> 0;
}

/**
 * Copy the `n` bytes at `from` to `to` within one buffer, as memmove does (the ranges may
 * overlap). For the few bytes of a header field, where a loop costs less than copyWithin.
 */
export function moveBytes(b: Uint8Array, to: number, from: number, n: number): void {
  if (to < from) for (let i = 0; i < n; i++) b[to + i] = b[from + i];
  else for (let i = n - 1; i >= 0; i--) b[to + i] = b[from + i];
}

/** Write a 32-bit field from its uint32 or int32 form. */
export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >> 24;
  b[off + 1] = v >> 16;
  b[off + 2] = v >> 8;
  b[off + 3] = v;
}
