/**
 * The internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Sums are kept as plain non-negative numbers (exact in a double far beyond any frame) and folded
 * to 16 bits only at the end, so a sum can be carried across calls: `sum16(b, s, e, initial)`.
 * Nothing here allocates or checks bounds; callers pass ranges they have already validated.
 * Words are big-endian; an odd trailing byte is padded with zero, as the RFC says.
 */

/** Add the 16-bit big-endian words of b[start..end) to `initial` (unfolded). */
export function sum16(b: Uint8Array, start: number, end: number, initial: number): number {
  let s = initial;
  let i = start;
  const last = end - 1;
  for (; i < last; i += 2) s += b[i] << 8 | b[i + 1];
  if (i < end) s += b[i] << 8;
  return s;
}

/** Fold a running sum to 16 bits (end-around carry), not complemented. */
export function fold16(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value for b[start..end) plus `initial`: ~fold(sum) & 0xffff. */
export function internetChecksum(b: Uint8Array, start: number, end: number, initial = 0): number {
  return ~fold16(sum16(b, start, end, initial)) & 0xffff;
}

/** True when b[start..end) (which contains its checksum field) plus `initial` sums to 0xffff. */
export function verifyChecksum(b: Uint8Array, start: number, end: number, initial = 0): boolean {
  return fold16(sum16(b, start, end, initial)) === 0xffff;
}

/** RFC 1624 eqn. 3: the new checksum after one 16-bit word changes from `oldWord` to `newWord`. */
export function updateChecksum16(csum: number, oldWord: number, newWord: number): number {
  return ~fold16((~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** Unfolded IPv4 pseudo-header sum: source, destination, protocol, L4 length. */
export function pseudoSum4(b: Uint8Array, ipOff: number, protocol: number, l4Len: number): number {
  return sum16(b, ipOff + 12, ipOff + 20, 0) + protocol + l4Len;
}

/** Unfolded IPv6 pseudo-header sum: source, destination, upper-layer length, next header. */
export function pseudoSum6(b: Uint8Array, ipOff: number, nextHeader: number, l4Len: number): number {
  return sum16(b, ipOff + 8, ipOff + 40, 0) + Math.floor(l4Len / 0x10000) + (l4Len & 0xffff) + nextHeader;
}
