/**
 * A guest and an uplink on one switch of a running DataPlane, for the data-plane tests:
 * LAN namespace (`lan0`, lanIp/24) <-veth-> `up0` in the uplink namespace, an AF_PACKET uplink
 * port on it (with a virtio-net header), and a guest TAP `enc600` (guestIp/24) in the guest
 * namespace, on switch `sw` (ETHERNET mode) as ports `guestPort` and `uplinkPort`. The
 * namespaces exist already; the caller removes them.
 */
import { openTap, openUplink } from '../../src/host/devices.js';
import type { DataPlane } from '../../src/host/dataplane.js';
import { ip } from '../helpers/netns.js';

export function guestAndUplink(dp: DataPlane, o: {
  sw: number; guestPort: number; uplinkPort: number; nsU: string; nsL: string; nsG: string; guestMac: number; lanIp: string; guestIp: string;
}): void {
  ip('-n', o.nsU, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', o.nsL);
  ip('-n', o.nsU, 'link', 'set', 'up0', 'up');
  ip('-n', o.nsL, 'addr', 'add', `${o.lanIp}/24`, 'dev', 'lan0');
  ip('-n', o.nsL, 'link', 'set', 'lan0', 'up');
  const g = openTap({ netns: o.nsG, name: 'enc600', mac: o.guestMac, persist: false });
  const u = openUplink('up0', { netns: o.nsU });
  dp.post({ op: 'switch-add', sw: o.sw, mode: 'ETHERNET', queueBytes: 0 });
  dp.post({ op: 'port-add', port: o.guestPort, sw: o.sw, role: 'nic', kind: 'tap', fd: g.fd, mac: o.guestMac, vnet: true, name: 'G' });
  dp.post({ op: 'port-add', port: o.uplinkPort, sw: o.sw, role: 'uplink', kind: 'afpacket', fd: u.fd, mac: u.mac, vnet: true, name: 'up0' });
  ip('-n', o.nsG, 'addr', 'add', `${o.guestIp}/24`, 'dev', 'enc600');
  ip('-n', o.nsG, 'link', 'set', 'enc600', 'up');
}
