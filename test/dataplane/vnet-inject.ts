/**
 * Test tool, run inside a guest's namespace: writes TCP/IPv4 frames with a virtio-net header
 * the caller chooses through a packet socket with PACKET_VNET_HDR on the guest's own NIC, the
 * way a hostile guest injects offload metadata: the guest kernel checks the header only as
 * virtio_net_hdr_to_skb does (gso_size 1 passes) and hands frame and header to the TAP, whose
 * fd the switch reads.
 *
 * node vnet-inject.js IFNAME SRC_MAC DST_MAC SRC_IP DST_IP GSO_SIZE PAYLOAD COUNT RATE
 *   MACs as 12 hex digits, IPs dotted; GSO_SIZE 0 sends plain frames (no GSO); PAYLOAD bytes of
 *   TCP data; COUNT frames at RATE frames a second. Prints the number of frames the kernel took.
 */
import {
  AF_PACKET, SOCK_RAW, SOL_PACKET, PACKET_VNET_HDR, bind, close, ifNameToIndex, raw, setsockoptInt, socket,
} from '../../src/sys/libc.js';
import { emitVnetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 } from '../../src/wire/vnet.js';
import { emitEthernet, EtherType } from '../../src/wire/ethernet.js';
import { emitIpv4, IpProto } from '../../src/wire/ipv4.js';
import { emitTcp, TCP_ACK } from '../../src/wire/tcp.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { pseudoSum4, fold16 } from '../../src/wire/checksum.js';

const [ifname, srcMac, dstMac, srcIp, dstIp, gsoSizeS, payloadS, countS, rateS] = process.argv.slice(2);
const gsoSize = Number(gsoSizeS), payload = Number(payloadS), count = Number(countS), rate = Number(rateS);

const frame = Buffer.alloc(10 + 14 + 20 + 20 + payload);
const eth = 10;
const ip = emitEthernet(frame, eth, parseInt(dstMac, 16), parseInt(srcMac, 16), EtherType.Ipv4);
const tcp = emitIpv4(frame, ip, parseIpv4(srcIp), parseIpv4(dstIp), IpProto.Tcp, 20 + payload);
emitTcp(frame, tcp, 40000, 9, 1, 1, TCP_ACK, 65535);
// Partial checksum, as a TSO sender leaves it: the pseudo-header sum in the TCP checksum field.
const ps = fold16(pseudoSum4(frame, ip, IpProto.Tcp, 20 + payload));
frame[tcp + 16] = ps >>> 8; frame[tcp + 17] = ps & 0xff;
emitVnetHdr(frame, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoSize > 0 ? VIRTIO_NET_HDR_GSO_TCPV4 : 0, tcp + 20 - eth,
  gsoSize, tcp - eth, 16);

const fd = socket(AF_PACKET, SOCK_RAW, 0);
setsockoptInt(fd, SOL_PACKET, PACKET_VNET_HDR, 1);
const sll = Buffer.alloc(20);
sll.writeUInt16LE(AF_PACKET, 0);
sll.writeUInt16BE(0x0800, 2);
sll.writeInt32LE(ifNameToIndex(ifname), 4);
bind(fd, sll);

let sent = 0;
const start = Date.now();
const sleeper = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; i < count; i++) {
  const wait = start + (i * 1000) / rate - Date.now();
  if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
  if (raw.write(fd, frame, frame.length) === frame.length) sent++;
}
close(fd);
process.stdout.write(`${sent}\n`);
