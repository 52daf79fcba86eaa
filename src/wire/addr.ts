/**
 * MAC and IPv4 addresses as numbers, and their text forms.
 *
 * A MAC is a 48-bit unsigned number (exact in a double); an IPv4 address a uint32 read
 * big-endian (10.0.0.1 === 0x0a000001). Readers and writers work on any Uint8Array at an
 * offset and allocate nothing; callers check bounds first. Parsers are for untrusted text and
 * return -1 on anything malformed.
 */

export const BROADCAST_MAC = 0xffffffffffff;

export function readMac(b: Uint8Array, off: number): number {
  return (b[off] * 0x10000 + (b[off + 1] << 8 | b[off + 2])) * 0x1000000 + (b[off + 3] << 16 | b[off + 4] << 8 | b[off + 5]);
}

export function writeMac(b: Uint8Array, off: number, mac: number): void {
  const hi = Math.floor(mac / 0x1000000);
  const lo = mac - hi * 0x1000000;
  b[off] = hi >>> 16 & 0xff;
  b[off + 1] = hi >>> 8 & 0xff;
  b[off + 2] = hi & 0xff;
  b[off + 3] = lo >>> 16 & 0xff;
  b[off + 4] = lo >>> 8 & 0xff;
  b[off + 5] = lo & 0xff;
}

/** True for group (multicast or broadcast) MACs: the I/G bit of the first octet. */
export function isGroupMac(mac: number): boolean {
  return Math.floor(mac / 0x10000000000) % 2 === 1;
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

export function readIpv4(b: Uint8Array, off: number): number {
  return (b[off] << 24 | b[off + 1] << 16 | b[off + 2] << 8 | b[off + 3]) >>> 0;
}

export function writeIpv4(b: Uint8Array, off: number, ip: number): void {
  b[off] = ip >>> 24 & 0xff;
  b[off + 1] = ip >>> 16 & 0xff;
  b[off + 2] = ip >>> 8 & 0xff;
  b[off + 3] = ip & 0xff;
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
