/**
 * The data plane's ingress check of virtio-net headers: what a port with a header (a TAP with
 * IFF_VNET_HDR, an uplink with PACKET_VNET_HDR) reads is offload metadata that came from
 * outside the switch (a guest can write any header its kernel lets through a packet socket
 * with PACKET_VNET_HDR on its own NIC), and the switch acts on it: it segments GSO frames for
 * ports without offloads and completes partial checksums. A header that lies must therefore
 * be refused before the frame is forwarded, and the work one frame can cause must be bounded.
 *
 * vnetHeaderOk(b, hdr, eth, end) takes the forwarder contract's layout (src/forward/api.ts:
 * b[hdr..eth) the 10-byte header, b[eth..end) the Ethernet frame) and says whether the header
 * may be acted on. The rules are the kernel's (virtio_net_hdr_to_skb in
 * include/linux/virtio_net.h, and tcp_gso_segment's check of csum_start/csum_offset), made
 * strict where the switch itself does the work:
 * - hdr_len (a hint of the linear header size) is not larger than the frame.
 * - NEEDS_CSUM: csum_start + csum_offset + 2 fits the frame.
 * - gso_type is NONE, TCPV4 or TCPV6, each with or without the ECN bit (the ECN bit alone is
 *   no type). UDP (UFO) and UDP_L4 (USO) are refused: the switch cannot segment them, and no
 *   port it opens offers them (the TAPs get CSUM and TSO only).
 * - A GSO frame: gso_size is not 0; the packet is what gso_type says (TCPV4: IPv4 with a valid
 *   header, not a fragment, protocol TCP; TCPV6: IPv6 whose next header is TCP; an 802.1Q tag
 *   in front is read through); the TCP header lies inside the frame; with NEEDS_CSUM the
 *   checksum starts at the TCP header and its field is TCP's (offset 16); and the frame makes
 *   at most MAX_GSO_SEGS segments of gso_size (a frame whose payload fits one segment is
 *   fine: the kernel treats it as not GSO at all).
 * A frame without a header (hdr === eth) is always accepted. Pure: no I/O, no allocation,
 * never throws; it reads only inside b[hdr..end).
 */
import { EtherType, checkEthernet, ethPayloadType } from '../wire/ethernet.js';
import { IpProto, checkIpv4 } from '../wire/ipv4.js';
import { IPV6_HLEN, checkIpv6 } from '../wire/ipv6.js';
import { checkTcp } from '../wire/tcp.js';
import {
  VNET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
} from '../wire/vnet.js';

/**
 * Most segments one GSO frame may make. A Linux guest's 64 KiB TSO frame makes 45 segments at
 * MSS 1448 and 131 at the smallest path MTU Linux uses (552, MSS 500); 256 leaves room for
 * smaller MSS while bounding one frame's segmentation to about half a millisecond.
 */
export const MAX_GSO_SEGS = 256;

/** Offset of the checksum field in the TCP header. */
const TCP_CSUM_OFFSET = 16;

export function vnetHeaderOk(b: Uint8Array, hdr: number, eth: number, end: number): boolean {
  if (eth - hdr < VNET_HDR_LEN) return true;
  const flags = b[hdr];
  const rawType = b[hdr + 1];
  const len = end - eth;
  if ((b[hdr + 2] | b[hdr + 3] << 8) > len) return false;
  const needsCsum = (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
  const csumStart = b[hdr + 6] | b[hdr + 7] << 8;
  const csumOffset = b[hdr + 8] | b[hdr + 9] << 8;
  if (needsCsum && csumStart + csumOffset + 2 > len) return false;
  if (rawType === VIRTIO_NET_HDR_GSO_NONE) return true;
  const gso = rawType & ~VIRTIO_NET_HDR_GSO_ECN & 0xff;
  if (gso !== VIRTIO_NET_HDR_GSO_TCPV4 && gso !== VIRTIO_NET_HDR_GSO_TCPV6) return false;
  const gsoSize = b[hdr + 4] | b[hdr + 5] << 8;
  if (gsoSize === 0) return false;
  const l2 = checkEthernet(b, eth, end);
  if (l2 < 0) return false;
  const ip = eth + l2;
  const type = ethPayloadType(b, eth);
  let l3: number;
  if (gso === VIRTIO_NET_HDR_GSO_TCPV4) {
    if (type !== EtherType.Ipv4) return false;
    l3 = checkIpv4(b, ip, end);
    if (l3 < 0 || b[ip + 9] !== IpProto.Tcp) return false;
    if (((b[ip + 6] & 0x3f) | b[ip + 7]) !== 0) return false; // MF or a fragment offset
  } else {
    if (type !== EtherType.Ipv6 || !checkIpv6(b, ip, end) || b[ip + 6] !== IpProto.Tcp) return false;
    l3 = IPV6_HLEN;
  }
  const tcp = ip + l3;
  const thl = checkTcp(b, tcp, end);
  if (thl < 0) return false;
  if (needsCsum && (csumStart !== tcp - eth || csumOffset !== TCP_CSUM_OFFSET)) return false;
  const payload = end - (tcp + thl);
  return payload <= gsoSize * MAX_GSO_SEGS;
}
