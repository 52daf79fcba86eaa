/** Test helper: hex text (spaces and newlines ignored) to bytes, and back. */
export function hex(s: string): Uint8Array {
  const t = s.replace(/\s+/g, '');
  if (t.length % 2 !== 0) throw new Error('odd hex');
  const b = new Uint8Array(t.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(t.slice(i * 2, i * 2 + 2), 16);
  return b;
}

export function toHex(b: Uint8Array, start = 0, end = b.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += b[i].toString(16).padStart(2, '0');
  return s;
}

/** A buffer of n bytes filled with 0xa5, so bytes an emitter forgot to write show. */
export function stale(n: number): Uint8Array {
  return new Uint8Array(n).fill(0xa5);
}
