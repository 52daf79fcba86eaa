/**
 * A guest NIC's TAP (opened by devices.openTap with IFF_VNET_HDR and offloads).
 * A TAP whose interface was deleted reads and writes EBADFD: fatal. Everything else on write
 * (e.g. EIO, EINVAL for a header the kernel rejects) is a refused frame, counted by the loop.
 */
import { EBADFD, EBADF } from '../sys/libc.js';
import { FdFramePort } from './fd-port.js';

export class TapPort extends FdFramePort {
  readonly kind = 'tap' as const;
  protected transientReadError(_e: number): boolean {
    return false;
  }
  protected fatalWriteError(e: number): boolean {
    return e === EBADFD || e === EBADF;
  }
}
