/**
 * A guest NIC's TAP (opened by devices.openTap with IFF_VNET_HDR and offloads).
 * A TAP whose interface was deleted reads and writes EBADFD: fatal. A write while the
 * interface is down (never set up yet, or set down) fails EIO: the link is down (EgressDown).
 * Everything else on write (e.g. EINVAL for a header the kernel rejects) is a refused frame;
 * the egress counts both.
 * The MTU is the interface's in the guest's namespace: the TAP fd names its interface
 * (TUNGETIFF) and its namespace (SIOCGSKNS), and a socket made there for the moment asks it.
 */
import { AF_INET, EBADFD, EBADF, EIO, SOCK_DGRAM, close, interfaceMtu, namespaceOf, socket, tunInterfaceName } from '../sys/libc.js';
import { withNetnsFd } from '../sys/netns.js';
import { FdFramePort } from './fd-port.js';

export class TapPort extends FdFramePort {
  readonly kind = 'tap' as const;

  constructor(id: number, sw: number, name: string, fd: number, vnet: boolean) {
    super(id, sw, name, fd, vnet);
    this.tapBatch();
  }

  protected transientReadError(_e: number): boolean {
    return false;
  }
  protected fatalWriteError(e: number): boolean {
    return e === EBADFD || e === EBADF;
  }
  protected linkDownWriteError(e: number): boolean {
    return e === EIO;
  }
  protected readMtu(): number {
    const name = tunInterfaceName(this.fd);
    const ns = namespaceOf(this.fd);
    let s: number;
    try {
      s = withNetnsFd(ns, () => socket(AF_INET, SOCK_DGRAM, 0));
    } finally {
      close(ns);
    }
    try {
      return interfaceMtu(s, name);
    } finally {
      close(s);
    }
  }
}
