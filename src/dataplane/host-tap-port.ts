/**
 * The kernel side of a host TAP that QEMU holds (src/host/host-tap.ts): an AF_PACKET socket on
 * the TAP with PACKET_VNET_HDR, opened by devices.openUplink. Frames read from it are what QEMU
 * wrote to the TAP; frames sent on it go out of the TAP to QEMU. Carrier loss (QEMU closed the
 * TAP) is not an error here: the kernel drops what it cannot deliver and the control plane shows
 * the NIC disconnected (it polls the carrier).
 *
 * Errors: the interface deleted (someone ran `ip link del`) makes the socket report ENETDOWN once
 * and leaves it bound to no interface (its sockname's ifindex is -1); a write then fails ENXIO.
 * Both are fatal, with downReason 'TAP deleted', so the loop removes the port and reports
 * 'port-down' at once. ENETDOWN on a socket still bound (the TAP set down) is transient on read
 * and "link down" on write, as for an uplink. EBADF is fatal.
 * The MTU is asked through the socket itself, of the TAP it is bound to (as for an uplink).
 * Frames are read with their 802.1Q tag put back (PacketVlanRx, packet-socket.ts), so a VM's
 * VLAN devices work through a trunk NIC; batched as an uplink's are (FdFramePort.packetSocket).
 */
import { AF_PACKET, EBADF, ENETDOWN, ENXIO, interfaceMtu, interfaceName, packetSocketIfindex, raw } from '../sys/libc.js';
import { FdFramePort } from './fd-port.js';

export class HostTapPort extends FdFramePort {
  readonly kind = 'host-tap' as const;
  downReason?: string;
  /** struct sockaddr_ll and its length, for getsockname on the error path. */
  private readonly sll = Buffer.alloc(20);
  private readonly sllLen = Buffer.alloc(4);

  constructor(id: number, sw: number, name: string, fd: number, vnet: boolean) {
    super(id, sw, name, fd, vnet);
    this.packetSocket();
  }

  /** Is the socket still bound to an interface (false once the TAP was deleted)? */
  private bound(): boolean {
    this.sllLen.writeUInt32LE(this.sll.length, 0);
    if (raw.getsockname(this.fd, this.sll, this.sllLen) < 0) return false;
    return this.sll.readUInt16LE(0) === AF_PACKET && this.sll.readInt32LE(4) > 0;
  }

  private deleted(): boolean {
    this.downReason = 'TAP deleted';
    return true;
  }

  protected transientReadError(e: number): boolean {
    if (e === ENETDOWN && this.bound()) return true;
    if (e === ENETDOWN || e === ENXIO) this.deleted();
    return false;
  }

  protected fatalWriteError(e: number): boolean {
    if (e === ENXIO) return this.deleted();
    if (e === ENETDOWN && !this.bound()) return this.deleted();
    return e === EBADF;
  }

  protected linkDownWriteError(e: number): boolean {
    return e === ENETDOWN;
  }

  protected readMtu(): number {
    return interfaceMtu(this.fd, interfaceName(this.fd, packetSocketIfindex(this.fd)));
  }
}
