/**
 * 802.1Q tags added and removed in place on a frame that may have a virtio-net header in front
 * (the forwarder contract's layout, src/forward/api.ts: b[hdr..eth) the 10-byte header, or
 * hdr === eth when there is none; b[eth..end) the Ethernet frame).
 *
 * The header's csum_start and hdr_len count from the frame's first byte, so a tag inserted
 * before the payload moves what they point at by 4: tagFrame adds 4 to csum_start (when
 * NEEDS_CSUM is set) and to a non-zero hdr_len, untagFrame takes them off again (hdr_len only
 * when it is at least 4). gso_size, gso_type and csum_offset do not depend on the tag.
 *
 * tagFrame(b, hdr, eth, tci) moves the header and the MACs 4 bytes towards the buffer's start
 * (the caller owns the 4 bytes before hdr) and writes the tag (TPID 0x8100, `tci`); the frame's
 * end stays. untagFrame(b, hdr, eth) removes the outer tag of a tagged frame (ethIsTagged and
 * at least 18 bytes: the caller checked) by moving the MACs and the header 4 bytes towards the
 * payload. Both return the frame's new start; the header, if any, is right before it (so the
 * new hdr is the new eth - (eth - hdr)). They are exact inverses. Nothing allocates; nothing
 * checks (the callers validated the frame).
 *
 * csumStartInTag(b, hdr, eth) tells whether a NEEDS_CSUM header's checksum would start inside
 * the Ethernet header of a tagged frame (before byte 18): such a frame cannot be untagged
 * meaningfully, and the forwarders drop it as malformed.
 */
import { Eth, insertVlanTag, stripVlanTag } from './ethernet.js';
import { moveBytes } from './bytes.js';
import { VNET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM } from './vnet.js';

/** csum_start (u16 le) and hdr_len (u16 le) offsets in the virtio-net header. */
const CSUM_START = 6;
const HDR_LEN = 2;

function addU16le(b: Uint8Array, off: number, d: number): void {
  const v = (b[off] | b[off + 1] << 8) + d;
  b[off] = v;
  b[off + 1] = v >> 8;
}

/** Adjust the header's frame-relative offsets by d (+4 or -4). */
function shiftVnetOffsets(b: Uint8Array, hdr: number, d: number): void {
  if ((b[hdr] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) addU16le(b, hdr + CSUM_START, d);
  const hl = b[hdr + HDR_LEN] | b[hdr + HDR_LEN + 1] << 8;
  if (hl !== 0 && hl + d >= 0) addU16le(b, hdr + HDR_LEN, d);
}

/** Insert an 802.1Q tag `tci` (see the file comment); returns the new eth (eth - 4). */
export function tagFrame(b: Uint8Array, hdr: number, eth: number, tci: number): number {
  if (hdr !== eth) {
    moveBytes(b, hdr - Eth.TagLen, hdr, VNET_HDR_LEN); // first: the MACs go where its tail was
    shiftVnetOffsets(b, hdr - Eth.TagLen, Eth.TagLen);
  }
  return insertVlanTag(b, eth, tci);
}

/** Remove the outer tag (see the file comment); returns the new eth (eth + 4). */
export function untagFrame(b: Uint8Array, hdr: number, eth: number): number {
  const start = stripVlanTag(b, eth); // first: the header goes where the MACs were
  if (hdr !== eth) {
    moveBytes(b, hdr + Eth.TagLen, hdr, VNET_HDR_LEN);
    shiftVnetOffsets(b, hdr + Eth.TagLen, -Eth.TagLen);
  }
  return start;
}

/** True when a header is present with NEEDS_CSUM and a csum_start inside a tagged Ethernet header (< 18). */
export function csumStartInTag(b: Uint8Array, hdr: number, eth: number): boolean {
  return hdr !== eth && (b[hdr] & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0
    && (b[hdr + CSUM_START] | b[hdr + CSUM_START + 1] << 8) < Eth.VlanHeaderLen;
}
