/**
 * The uplink's AF_PACKET socket (opened by devices.openUplink with PACKET_VNET_HDR).
 * When the interface goes down the socket reports ENETDOWN once and resumes by itself when it
 * comes back up, so ENETDOWN is transient on both read and write (counted, not fatal); the
 * control plane follows the link state through rtnetlink. A write fails ENETDOWN while the
 * interface is down and ENXIO once it is deleted: both are "link down" (EgressDown), the
 * frame is refused and the port stays. EBADF is fatal.
 * The MTU is asked through the socket itself, of the interface it is bound to.
 */
import { ENETDOWN, ENXIO, EBADF, interfaceMtu, interfaceName, packetSocketIfindex } from '../sys/libc.js';
import { FdFramePort } from './fd-port.js';

export class AfPacketPort extends FdFramePort {
  readonly kind = 'afpacket' as const;
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
