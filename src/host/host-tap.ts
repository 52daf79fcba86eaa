/**
 * Host-side TAPs for QEMU guests (a QEMU TAP guest's NICs, src/control/host-tap-nics.ts): a
 * persistent TAP in the daemon's own network namespace that QEMU opens by name
 * (`-netdev tap,ifname=NAME,script=no,downscript=no`, or libvirt's `<interface type='ethernet'>`
 * with `<target dev='NAME' managed='no'/>`, which opens it for QEMU). The daemon never holds the
 * TAP's fd: it carries the TAP's kernel side through an AF_PACKET socket on the interface
 * (devices.openUplink with PACKET_VNET_HDR, a 'host-tap' port), so QEMU's TSO super-frames and
 * partial checksums pass through whole, and a daemon restart touches neither the TAP nor QEMU.
 *
 * The interface only carries frames between QEMU and the switch; the host's own stack is kept
 * off it: up, NOARP, IPv6 disabled (no link-local address, no router solicitations), no
 * addresses. Everything here is synchronous and short, main thread, configuration time.
 * Errors are thrown as Error objects with `code` set.
 */
import { writeFileSync } from 'node:fs';
import {
  AF_INET, EBUSY, IFF_NOARP, IFF_NO_PI, IFF_RUNNING, IFF_TAP, IFF_TUN_EXCL, IFF_VNET_HDR, O_NONBLOCK, O_RDWR,
  SIOCGIFFLAGS, SIOCSIFFLAGS, SOCK_DGRAM, SysError, TUNSETGROUP, TUNSETIFF, TUNSETOWNER, TUNSETPERSIST, close,
  errnoValues, ifreq, ioctlPtr, ioctlVal, open, socket,
} from '../sys/libc.js';
import { IFF_UP } from '../sys/netlink.js';
import { formatMac } from '../wire/addr.js';

export interface HostTapOptions {
  name: string;
  /** TUNSETOWNER / TUNSETGROUP (who besides root may open it); null: not set. */
  uid: number | null;
  gid: number | null;
  /** true: the interface must not exist yet ('EEXIST'); false: an existing TAP is taken as it is. */
  exclusive: boolean;
}

/** What ensureHostTap found. */
export type HostTapOutcome = 'created' | 'existing' | 'in-use';

/**
 * Make the persistent TAP `name` in the calling thread's namespace, or take the existing one:
 * 'created'; 'existing' (a TAP nobody has open: persistence and owner are set again); 'in-use'
 * (a TAP QEMU has open: left alone, which is what a daemon restart must do). In every case the
 * interface is then up, NOARP, without IPv6. Throws 'EEXIST' when `exclusive` and the name is
 * taken, 'EINVAL' when the name is taken by an interface that is not a TAP.
 */
export function ensureHostTap(o: HostTapOptions): HostTapOutcome {
  let outcome: HostTapOutcome = 'created';
  const fd = open('/dev/net/tun', O_RDWR | O_NONBLOCK);
  try {
    const flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    const ifr = ifreq(o.name);
    ifr.writeUInt16LE(flags | IFF_TUN_EXCL, 16);
    try {
      ioctlPtr(fd, TUNSETIFF, ifr, `TUNSETIFF ${o.name}`);
    } catch (e) {
      if ((e as SysError).errno !== EBUSY) throw e;
      if (o.exclusive) throw Object.assign(new Error(`interface ${o.name} exists already`), { code: 'EEXIST', errno: errnoValues.EEXIST });
      outcome = attach(fd, o.name, flags);
    }
    if (outcome !== 'in-use') {
      ioctlVal(fd, TUNSETPERSIST, 1, 'TUNSETPERSIST');
      if (o.uid !== null) ioctlVal(fd, TUNSETOWNER, o.uid, 'TUNSETOWNER');
      if (o.gid !== null) ioctlVal(fd, TUNSETGROUP, o.gid, 'TUNSETGROUP');
    }
  } finally {
    close(fd);
  }
  keepHostStackOff(o.name);
  return outcome;
}

/** Attach to an existing interface: a free TAP ('existing'), one QEMU holds ('in-use'), else EINVAL. */
function attach(fd: number, name: string, flags: number): HostTapOutcome {
  const ifr = ifreq(name);
  ifr.writeUInt16LE(flags, 16);
  try {
    ioctlPtr(fd, TUNSETIFF, ifr, `TUNSETIFF ${name}`);
    return 'existing';
  } catch (e) {
    const errno = (e as SysError).errno;
    if (errno === EBUSY) return 'in-use';
    if (errno === errnoValues.EINVAL) throw Object.assign(new Error(`interface ${name} exists and is not a TAP`), { code: 'EINVAL', errno });
    throw e;
  }
}

/** Up, NOARP, no IPv6: the host's own stack neither answers nor sends on the TAP. */
function keepHostStackOff(name: string): void {
  try {
    // /proc/sys/net is the calling thread's namespace's (unlike /sys/class/net).
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch {
    // No IPv6 in this kernel: nothing to turn off.
  }
  const s = socket(AF_INET, SOCK_DGRAM, 0);
  try {
    const q = ifreq(name);
    ioctlPtr(s, SIOCGIFFLAGS, q, `SIOCGIFFLAGS ${name}`);
    const flags = q.readUInt16LE(16);
    const want = flags | IFF_UP | IFF_NOARP;
    if (want !== flags) {
      q.writeUInt16LE(want, 16);
      ioctlPtr(s, SIOCSIFFLAGS, q, `SIOCSIFFLAGS ${name}`);
    }
  } finally {
    close(s);
  }
}

/** The TAP's link as the host sees it: there at all, up, and carrier (some QEMU has it open). */
export function hostTapLink(name: string): { exists: boolean; up: boolean; carrier: boolean } {
  const s = socket(AF_INET, SOCK_DGRAM, 0);
  try {
    const q = ifreq(name);
    try {
      ioctlPtr(s, SIOCGIFFLAGS, q, `SIOCGIFFLAGS ${name}`);
    } catch (e) {
      if ((e as SysError).errno === errnoValues.ENODEV) return { exists: false, up: false, carrier: false };
      throw e;
    }
    const flags = q.readUInt16LE(16);
    return { exists: true, up: (flags & IFF_UP) !== 0, carrier: (flags & IFF_RUNNING) !== 0 };
  } finally {
    close(s);
  }
}

/** Does this host have vhost-net (so QEMU may move the TAP's frames in the kernel)? */
export function hostHasVhostNet(): boolean {
  try {
    close(open('/dev/vhost-net', O_RDWR));
    return true;
  } catch {
    return false;
  }
}

/**
 * The QEMU arguments for a NIC on host TAP `tap`, one array element per shell word:
 *   -netdev tap,id=ID,ifname=TAP,script=no,downscript=no[,vhost=on]
 *   -device virtio-net-pci,mac=02:..,netdev=ID
 * (vhost=on only where /dev/vhost-net exists.)
 */
export function qemuTapArgs(tap: string, mac: number, id: string, vhost: boolean): string[] {
  return ['-netdev', `tap,id=${id},ifname=${tap},script=no,downscript=no${vhost ? ',vhost=on' : ''}`,
    '-device', `virtio-net-pci,mac=${formatMac(mac)},netdev=${id}`];
}

/** The libvirt domain XML element for the same NIC (libvirt opens the existing TAP for QEMU). */
export function libvirtInterfaceXml(tap: string, mac: number, vhost: boolean): string {
  return `<interface type='ethernet'><mac address='${formatMac(mac)}'/><target dev='${tap}' managed='no'/>`
    + `<model type='virtio'/>${vhost ? "<driver name='vhost'/>" : "<driver name='qemu'/>"}</interface>`;
}
