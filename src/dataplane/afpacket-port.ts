/**
 * The uplink's AF_PACKET socket (opened by devices.openUplink with PACKET_VNET_HDR).
 * When the interface goes down the socket reports ENETDOWN once and resumes by itself when it
 * comes back up, so ENETDOWN is transient on both read and write (counted, not fatal); the
 * control plane follows the link state through rtnetlink. A write fails ENETDOWN while the
 * interface is down and ENXIO once it is deleted: both are "link down" (EgressDown), the
 * frame is refused and the port stays. EBADF is fatal.
 * The MTU is asked through the socket itself, of the interface it is bound to.
 *
 * PACKET_QDISC_BYPASS (issue 14, a 64-byte-frame lever): frames sent go straight to the
 * driver's transmit function, not through the interface's queueing discipline (a full driver
 * queue then fails the write ENOBUFS: counted QueueFull). The side effect: the kernel's other
 * packet sockets (a tcpdump on the uplink itself) do not see what the switch sends; the
 * switch's own trace does. Off unless the environment has VSWITCH_QDISC_BYPASS=1 (the benchmark
 * measures both: --compare VSWITCH_QDISC_BYPASS=1): on a veth uplink (no qdisc to skip) it did
 * not win (issue 14's note has the figures). A kernel that refuses it changes nothing.
 *
 * Frames are read with their 802.1Q tag put back (PacketVlanRx, packet-socket.ts: the kernel
 * keeps it aside), batched by recvmmsg / sendmmsg where VSWITCH_RECVMMSG / VSWITCH_SENDMMSG say so,
 * or through TPACKET_V2 rings where VSWITCH_RX_RING / VSWITCH_TX_RING say so (the transmit ring's
 * sends take PACKET_QDISC_BYPASS as writes do) (FdFramePort.packetSocket, fd-port.ts); setUnicastFilter registers an ETHERNET-mode switch's NIC MACs (and all
 * multicast) with the interface (PacketFilter), for as long as the socket lives.
 */
import { ENETDOWN, ENXIO, EBADF, PACKET_QDISC_BYPASS, SOL_PACKET, interfaceMtu, interfaceName, packetSocketIfindex, setsockoptInt } from '../sys/libc.js';
import { FdFramePort } from './fd-port.js';
import { PacketFilter } from './packet-socket.js';

const QDISC_BYPASS = process.env.VSWITCH_QDISC_BYPASS === '1';

export class AfPacketPort extends FdFramePort {
  readonly kind = 'afpacket' as const;
  private readonly filter: PacketFilter;

  constructor(id: number, sw: number, name: string, fd: number, vnet: boolean) {
    super(id, sw, name, fd, vnet);
    this.packetSocket(true);
    this.filter = new PacketFilter(fd);
    if (QDISC_BYPASS) {
      try { setsockoptInt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1); } catch { /* an older kernel: through the qdisc */ }
    }
  }

  setUnicastFilter(macs: readonly number[] | null): string | null {
    try {
      return this.filter.set(macs);
    } catch (e) {
      return (e as Error).message;
    }
  }

  protected transientReadError(e: number): boolean {
    return e === ENETDOWN || e === ENXIO;
  }
  protected fatalWriteError(e: number): boolean {
    return e === EBADF;
  }
  protected linkDownWriteError(e: number): boolean {
    return e === ENETDOWN || e === ENXIO;
  }
  protected readMtu(): number {
    return interfaceMtu(this.fd, interfaceName(this.fd, packetSocketIfindex(this.fd)));
  }
}
