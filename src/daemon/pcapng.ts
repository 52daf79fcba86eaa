/**
 * The pcapng blocks a trace stream is made of (draft-ietf-opsawg-pcapng), little-endian, so
 * tcpdump, tshark and Wireshark read the stream (`vswitch trace ... | tcpdump -r -`):
 * - sectionHeader(): the Section Header Block that starts a stream (version 1.0, section length
 *   unknown, shb_userappl "vswitch");
 * - interfaceDescription(name, snaplen): one Interface Description Block per traced port
 *   (link type Ethernet, if_name; timestamps in microseconds, the default). Interfaces are
 *   numbered 0, 1, ... in the order their blocks appear; a block may come anywhere before the
 *   first packet that names it;
 * - enhancedPacket(...): one packet: its interface, time (microseconds since the epoch), the
 *   captured bytes and the original length, epb_flags with the direction (inbound 1, outbound
 *   2 in bits 0-1), and an optional opt_comment (a dropped frame says why in it).
 * Every block is a new Buffer (main thread only; the data plane never calls this).
 */

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const LINKTYPE_ETHERNET = 1;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const EPB_FLAGS = 2;

export const PCAPNG_INBOUND = 1;
export const PCAPNG_OUTBOUND = 2;

const pad4 = (n: number): number => (n + 3) & ~3;

/** Options (code, value) as the bytes of an options list, opt_endofopt included. */
function options(list: Array<[number, Buffer]>): Buffer {
  if (list.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const [code, value] of list) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(code, 0);
    h.writeUInt16LE(value.length, 2);
    parts.push(h, value, Buffer.alloc(pad4(value.length) - value.length));
  }
  parts.push(Buffer.alloc(4)); // opt_endofopt: code 0, length 0
  return Buffer.concat(parts);
}

/** A block: type, total length, body, total length again. */
function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(total, 4);
  body.copy(b, 8);
  b.writeUInt32LE(total, total - 4);
  return b;
}

export function sectionHeader(app = 'vswitch'): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  fixed.writeUInt16LE(1, 4);
  fixed.writeUInt16LE(0, 6);
  fixed.writeBigInt64LE(-1n, 8); // section length not given
  return block(BT_SHB, Buffer.concat([fixed, options([[SHB_USERAPPL, Buffer.from(app, 'utf8')]])]));
}

export function interfaceDescription(name: string, snaplen: number): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(LINKTYPE_ETHERNET, 0);
  fixed.writeUInt32LE(snaplen >>> 0, 4);
  return block(BT_IDB, Buffer.concat([fixed, options([[IF_NAME, Buffer.from(name, 'utf8')]])]));
}

/**
 * One packet on interface `iface` at `micros` (microseconds since the epoch, an integer),
 * `data` as captured of `origLen` bytes, direction PCAPNG_INBOUND or PCAPNG_OUTBOUND. Written
 * into one Buffer (the data copied once: a trace makes one of these per frame).
 */
export function enhancedPacket(iface: number, micros: number, data: Uint8Array, origLen: number, direction: number,
  comment?: string): Buffer {
  const note = comment === undefined ? null : Buffer.from(comment, 'utf8');
  const dataLen = pad4(data.length);
  const optLen = 8 + (note === null ? 0 : 4 + pad4(note.length)) + 4;
  const total = 12 + 20 + dataLen + optLen;
  const b = Buffer.allocUnsafe(total);
  b.writeUInt32LE(BT_EPB, 0);
  b.writeUInt32LE(total, 4);
  b.writeUInt32LE(iface, 8);
  b.writeUInt32LE(Math.floor(micros / 2 ** 32), 12);
  b.writeUInt32LE(micros % 2 ** 32, 16);
  b.writeUInt32LE(data.length, 20);
  b.writeUInt32LE(origLen, 24);
  b.set(data, 28);
  let o = 28 + data.length;
  b.fill(0, o, 28 + dataLen);
  o = 28 + dataLen;
  b.writeUInt16LE(EPB_FLAGS, o); b.writeUInt16LE(4, o + 2); b.writeUInt32LE(direction & 3, o + 4);
  o += 8;
  if (note !== null) {
    b.writeUInt16LE(OPT_COMMENT, o); b.writeUInt16LE(note.length, o + 2);
    note.copy(b, o + 4);
    b.fill(0, o + 4 + note.length, o + 4 + pad4(note.length));
    o += 4 + pad4(note.length);
  }
  b.writeUInt32LE(0, o); // opt_endofopt
  b.writeUInt32LE(total, o + 4);
  return b;
}
