/**
 * A guest NIC's TAP (opened by devices.openTap with IFF_VNET_HDR and offloads).
 * A TAP whose interface was deleted reads and writes EBADFD: fatal. A write while the
 * interface is down (never set up yet, or set down) fails EIO: the link is down (EgressDown).
 * Everything else on write (e.g. EINVAL for a header the kernel rejects) is a refused frame;
 * the egress counts both.
 */
import { EBADFD, EBADF, EIO } from '../sys/libc.js';
import { FdFramePort } from './fd-port.js';

export class TapPort extends FdFramePort {
  readonly kind = 'tap' as const;
  protected transientReadError(_e: number): boolean {
    return false;
  }
  protected fatalWriteError(e: number): boolean {
    return e === EBADFD || e === EBADF;
  }
  protected linkDownWriteError(e: number): boolean {
    return e === EIO;
  }
}
