/**
 * The virtio-net header (struct virtio_net_hdr, 10 bytes, little-endian on x86) that a TAP
 * opened with IFF_VNET_HDR, or an AF_PACKET socket with PACKET_VNET_HDR, puts before each frame.
 *
 * Layout at `off`: flags u8 [0], gso_type u8 [1], hdr_len u16 [2], gso_size u16 [4],
 * csum_start u16 [6], csum_offset u16 [8]. csum_start is relative to the start of the Ethernet
 * frame (the byte after the header). Readers assume the 10 bytes exist (the data plane only
 * hands a header over when hdr + 10 === eth).
 */

export const VNET_HDR_SIZE = 10;

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

export function vnetFlags(b: Uint8Array, off: number): number { return b[off]; }
export function vnetGsoType(b: Uint8Array, off: number): number { return b[off + 1]; }
export function vnetHdrLen(b: Uint8Array, off: number): number { return b[off + 2] | b[off + 3] << 8; }
export function vnetGsoSize(b: Uint8Array, off: number): number { return b[off + 4] | b[off + 5] << 8; }
export function vnetCsumStart(b: Uint8Array, off: number): number { return b[off + 6] | b[off + 7] << 8; }
export function vnetCsumOffset(b: Uint8Array, off: number): number { return b[off + 8] | b[off + 9] << 8; }

export function setVnetFlags(b: Uint8Array, off: number, v: number): void { b[off] = v & 0xff; }
export function setVnetGsoType(b: Uint8Array, off: number, v: number): void { b[off + 1] = v & 0xff; }

/** Write a whole header; returns off + 10. */
export function emitVnetHdr(b: Uint8Array, off: number, flags: number, gsoType: number, hdrLen: number,
  gsoSize: number, csumStart: number, csumOffset: number): number {
  b[off] = flags & 0xff;
  b[off + 1] = gsoType & 0xff;
  b[off + 2] = hdrLen & 0xff; b[off + 3] = hdrLen >>> 8 & 0xff;
  b[off + 4] = gsoSize & 0xff; b[off + 5] = gsoSize >>> 8 & 0xff;
  b[off + 6] = csumStart & 0xff; b[off + 7] = csumStart >>> 8 & 0xff;
  b[off + 8] = csumOffset & 0xff; b[off + 9] = csumOffset >>> 8 & 0xff;
  return off + VNET_HDR_SIZE;
}

/** Write the all-zero header (a plain, fully checksummed frame); returns off + 10. */
export function emitZeroVnetHdr(b: Uint8Array, off: number): number {
  for (let i = 0; i < VNET_HDR_SIZE; i++) b[off + i] = 0;
  return off + VNET_HDR_SIZE;
}

/** True when a header is present (hdr + 10 <= eth) and says GSO of any kind. */
export function vnetHasGso(b: Uint8Array, hdr: number, eth: number): boolean {
  return eth - hdr >= VNET_HDR_SIZE && (b[hdr + 1] & ~VIRTIO_NET_HDR_GSO_ECN & 0xff) !== VIRTIO_NET_HDR_GSO_NONE;
}
