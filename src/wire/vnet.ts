/**
 * The virtio-net header (struct virtio_net_hdr, 10 bytes, little-endian on x86) that a TAP
 * opened with IFF_VNET_HDR, or an AF_PACKET socket with PACKET_VNET_HDR, puts before each frame.
 * VNET_HDR_LEN is its length everywhere in vswitch (devices, ports, egress, forwarders).
 *
 * Layout at `off`: flags u8 [0], gso_type u8 [1], hdr_len u16 [2], gso_size u16 [4],
 * csum_start u16 [6], csum_offset u16 [8]. csum_start is relative to the start of the Ethernet
 * frame (the byte after the header). Readers assume the 10 bytes exist (the data plane only
 * hands a header over when hdr + 10 === eth). Nothing allocates.
 */

export const VNET_HDR_LEN = 10;

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

function readU16le(b: Uint8Array, off: number): number {
  return b[off] | b[off + 1] << 8;
}

function writeU16le(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = v >>> 8 & 0xff;
}

export function vnetFlags(b: Uint8Array, off: number): number { return b[off]; }
export function vnetGsoType(b: Uint8Array, off: number): number { return b[off + 1]; }
/** The GSO kind without the ECN bit: VIRTIO_NET_HDR_GSO_NONE, _TCPV4, _UDP, _TCPV6, ... */
export function vnetGsoKind(b: Uint8Array, off: number): number { return vnetGsoType(b, off) & ~VIRTIO_NET_HDR_GSO_ECN & 0xff; }
export function vnetGsoSize(b: Uint8Array, off: number): number { return readU16le(b, off + 4); }
export function vnetCsumStart(b: Uint8Array, off: number): number { return readU16le(b, off + 6); }
export function vnetCsumOffset(b: Uint8Array, off: number): number { return readU16le(b, off + 8); }

export function setVnetFlags(b: Uint8Array, off: number, v: number): void { b[off] = v & 0xff; }

/** Write a whole header; returns off + 10. */
export function emitVnetHdr(b: Uint8Array, off: number, flags: number, gsoType: number, hdrLen: number,
  gsoSize: number, csumStart: number, csumOffset: number): number {
  setVnetFlags(b, off, flags);
  b[off + 1] = gsoType & 0xff;
  writeU16le(b, off + 2, hdrLen);
  writeU16le(b, off + 4, gsoSize);
  writeU16le(b, off + 6, csumStart);
  writeU16le(b, off + 8, csumOffset);
  return off + VNET_HDR_LEN;
}

/** Write the all-zero header (a plain, fully checksummed frame); returns off + 10. */
export function emitZeroVnetHdr(b: Uint8Array, off: number): number {
  b.fill(0, off, off + VNET_HDR_LEN);
  return off + VNET_HDR_LEN;
}

/** True when a header is present (0 <= hdr, hdr + 10 <= eth) and says GSO of any kind (the ECN bit alone is not). */
export function vnetHasGso(b: Uint8Array, hdr: number, eth: number): boolean {
  return hdr >= 0 && eth - hdr >= VNET_HDR_LEN && vnetGsoKind(b, hdr) !== VIRTIO_NET_HDR_GSO_NONE;
}
