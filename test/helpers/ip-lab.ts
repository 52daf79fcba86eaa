/**
 * Test-only set-up shared by the end-to-end tests of guests from other tools (QEMU, libvirt,
 * podman): an IP-mode switch as the LAN sees it. In a NetLab: the daemon in namespace `h`, its
 * uplink a veth to the LAN host namespace `l` (address `lan`/24 on lan0), a controller DTCVSW1
 * that registers the guests' addresses with the uplink, `DEFINE VSWITCH SW1 RDEV up IP`, and,
 * when `guest` is given, namespace guest LINUX1 (namespace `g1`, NIC 0600 coupled to SW1,
 * `guest`/24 on enc600). The caller stops ctl and d and cleans the lab up.
 */
import { Controller } from './controller.js';
import { Daemon } from './daemon.js';
import type { NetLab } from './netlab.js';

export interface IpModeLab {
  d: Daemon;
  ctl: Controller;
  hostNs: string;
  lanNs: string;
  /** The uplink's name in hostNs. */
  up: string;
  /** LINUX1's namespace ('' without a guest). */
  g1: string;
}

export async function ipModeLab(lab: NetLab, o: { lan: string; guest?: string }): Promise<IpModeLab> {
  const hostNs = lab.netns('h');
  const lanNs = lab.netns('l');
  const up = lab.name('u');
  lab.veth(hostNs, up, lanNs, 'lan0');
  lab.ip(lanNs, 'addr', 'add', `${o.lan}/24`, 'dev', 'lan0');
  const g1 = o.guest !== undefined ? lab.adopt(lab.name('g1')) : '';
  const d = new Daemon({ netns: hostNs });
  await d.start();
  const ctl = new Controller('DTCVSW1', hostNs, d);
  await ctl.start();
  d.commands([`DEFINE VSWITCH SW1 RDEV ${up} IP`]);
  if (o.guest !== undefined) {
    d.commands([`DEFINE GUEST LINUX1 NETNS ${g1}`, 'DEFINE NIC 0600 TYPE QDIO FOR LINUX1', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1']);
    lab.configureNic(g1, 'enc600', `${o.guest}/24`);
  }
  return { d, ctl, hostNs, lanNs, up, g1 };
}
