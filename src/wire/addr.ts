/**
 * MAC and IPv4 addresses as numbers, and their text forms.
 *
 * A MAC is a 48-bit unsigned number (exact in a double); on the hot path it travels as two
 * 24-bit halves instead (hi = the first three octets, lo = the last three: small integers, so
 * a call that is not inlined boxes nothing), mac === hi * 2^24 + lo; the *HL readers and
 * writers take that form. An IPv4 address is a 32-bit big-endian field, read and written with
 * bytes.ts (the views read addresses in the hot path's int32 form). Readers and writers work on
 * any Uint8Array at an offset and allocate nothing; callers check bounds first. Parsers are
 * for untrusted text and return -1 on anything malformed.
 */

export const BROADCAST_MAC = 0xffffffffffff;

/** 2^24: mac === hi * Mac.Half + lo (a const enum, so the hot path reads no module variable). */
const enum Mac {
  Half = 0x1000000,
}

/** The first three octets of the MAC at `off`, as a 24-bit number. */
export function readMacHi(b: Uint8Array, off: number): number {
  return b[off] << 16 | b[off + 1] << 8 | b[off + 2];
}

/** The last three octets of the MAC at `off`, as a 24-bit number. */
export function readMacLo(b: Uint8Array, off: number): number {
  return b[off + 3] << 16 | b[off + 4] << 8 | b[off + 5];
}

export function readMac(b: Uint8Array, off: number): number {
  return macFromHalves(readMacHi(b, off), readMacLo(b, off));
}

/** The MAC number of two 24-bit halves. */
export function macFromHalves(hi: number, lo: number): number {
  return hi * Mac.Half + lo;
}

/** The first three octets of a MAC number (see readMacHi). */
export function macHi(mac: number): number {
  return Math.floor(mac / Mac.Half);
}

/** The last three octets of a MAC number (see readMacLo). */
export function macLo(mac: number): number {
  return mac - macHi(mac) * Mac.Half;
}

export function writeMac(b: Uint8Array, off: number, mac: number): void {
  writeMacHL(b, off, macHi(mac), macLo(mac));
}

/** Write the MAC of two 24-bit halves (the hot path's form: no double crosses the call). */
export function writeMacHL(b: Uint8Array, off: number, hi: number, lo: number): void {
  b[off] = hi >> 16; // a Uint8Array store keeps the low 8 bits
  b[off + 1] = hi >> 8;
  b[off + 2] = hi;
  b[off + 3] = lo >> 16;
  b[off + 4] = lo >> 8;
  b[off + 5] = lo;
}

/** Parse "02:00:00:00:00:01", "02-00-00-00-00-01" or "020000000001"; -1 if malformed. */
export function parseMac(s: string): number {
  const hex = s.replace(/[:-]/g, '');
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) return -1;
  if (hex.length !== s.length && !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(s)) return -1;
  return parseInt(hex, 16);
}

/** Format a MAC with the given separator (z/VM prints "02-00-00-00-00-01"). */
export function formatMac(mac: number, sep = ':'): string {
  const hex = mac.toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(sep);
}

/** Parse dotted-quad IPv4 text; -1 if malformed. */
export function parseIpv4(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return -1;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return -1;
    v = v * 256 + o;
  }
  return v;
}

export function formatIpv4(ip: number): string {
  return `${ip >>> 24 & 0xff}.${ip >>> 16 & 0xff}.${ip >>> 8 & 0xff}.${ip & 0xff}`;
}
