/**
 * Test-only: the usual end-to-end labs of an IP-mode switch as the LAN sees it, built with a
 * NetLab. Both start from the same switch: the daemon in a host namespace, its uplink a veth to
 * a LAN namespace holding the LAN host (on lan0, /24), a controller DTCVSW1 that registers the
 * guests' addresses with the uplink, and `DEFINE VSWITCH SW1 RDEV up IP`.
 * - `startIpLab(lab, net, mtu)`: the LAN host at `${net}.1`, and two namespace guests LINUX1
 *   and LINUX2 (NIC 0600 each, coupled to SW1) at `${net}.11` and `${net}.12`, both registered
 *   with the uplink before it returns. `mtu` sets interface MTUs before the daemon opens them
 *   (uplink and LAN side, the guests' NICs). stop() ends daemon and controller.
 * - `ipModeLab(lab, { lan, guest })` (the tests of guests from other tools: QEMU, libvirt,
 *   podman): the LAN host at `lan`, and, when `guest` is given, namespace guest LINUX1
 *   (namespace `g1`, NIC 0600 coupled to SW1, `guest`/24 on enc600); the caller stops ctl and d.
 * The NetLab's cleanup removes the rest.
 */
import assert from 'node:assert/strict';
import { waitFor, type NetLab } from './netlab.js';
import { Daemon } from './daemon.js';
import { Controller } from './controller.js';
import { lanTable } from './query.js';

/** The switch both labs start from. */
export interface IpModeLab {
  d: Daemon;
  ctl: Controller;
  hostNs: string;
  lanNs: string;
  /** The uplink interface (in hostNs). */
  up: string;
  /** LINUX1's namespace ('' without a guest). */
  g1: string;
}

export interface IpLab extends IpModeLab {
  g2: string;
  lan: string;
  a: string;
  b: string;
  stop(): Promise<void>;
}

/** Daemon, uplink to the LAN host at `lan`/24, controller and SW1 (no guest yet). */
async function switchOnLan(lab: NetLab, lan: string, uplinkMtu?: number): Promise<Omit<IpModeLab, 'g1'>> {
  const hostNs = lab.netns('h');
  const lanNs = lab.netns('l');
  const up = lab.name('u');
  lab.veth(hostNs, up, lanNs, 'lan0');
  if (uplinkMtu !== undefined) {
    lab.ip(hostNs, 'link', 'set', up, 'mtu', String(uplinkMtu));
    lab.ip(lanNs, 'link', 'set', 'lan0', 'mtu', String(uplinkMtu));
  }
  lab.ip(lanNs, 'addr', 'add', `${lan}/24`, 'dev', 'lan0');
  const d = new Daemon({ netns: hostNs });
  await d.start();
  const ctl = new Controller('DTCVSW1', hostNs, d);
  await ctl.start();
  d.commands([`DEFINE VSWITCH SW1 RDEV ${up} IP`]);
  return { d, ctl, hostNs, lanNs, up };
}

export async function startIpLab(lab: NetLab, net: string, mtu: { uplink?: number; g1?: number; g2?: number } = {}): Promise<IpLab> {
  const lan = `${net}.1`, a = `${net}.11`, b = `${net}.12`;
  const g1 = lab.adopt(lab.name('g1'));
  const g2 = lab.adopt(lab.name('g2'));
  const sw = await switchOnLan(lab, lan, mtu.uplink);
  const { d, ctl } = sw;
  d.commands([
    `DEFINE GUEST LINUX1 NETNS ${g1}`,
    `DEFINE GUEST LINUX2 NETNS ${g2}`,
    'DEFINE NIC 0600 TYPE QDIO FOR LINUX1',
    'DEFINE NIC 0600 TYPE QDIO FOR LINUX2',
    'SET VSWITCH SW1 GRANT LINUX1', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1',
    'SET VSWITCH SW1 GRANT LINUX2', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX2',
  ]);
  if (mtu.g1 !== undefined) lab.ip(g1, 'link', 'set', 'enc600', 'mtu', String(mtu.g1));
  if (mtu.g2 !== undefined) lab.ip(g2, 'link', 'set', 'enc600', 'mtu', String(mtu.g2));
  lab.configureNic(g1, 'enc600', `${a}/24`);
  lab.configureNic(g2, 'enc600', `${b}/24`);
  const registered = await waitFor(() => lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').filter((e) => !e.localOnly).length === 2, 10_000);
  assert.ok(registered, 'both guest addresses registered with the uplink');
  return {
    ...sw, g1, g2, lan, a, b,
    async stop(): Promise<void> { await ctl.stop(); await d.stop(); },
  };
}

export async function ipModeLab(lab: NetLab, o: { lan: string; guest?: string }): Promise<IpModeLab> {
  const g1 = o.guest !== undefined ? lab.adopt(lab.name('g1')) : '';
  const sw = await switchOnLan(lab, o.lan);
  if (o.guest !== undefined) {
    sw.d.commands([`DEFINE GUEST LINUX1 NETNS ${g1}`, 'DEFINE NIC 0600 TYPE QDIO FOR LINUX1', 'SET VSWITCH SW1 GRANT LINUX1', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1']);
    lab.configureNic(g1, 'enc600', `${o.guest}/24`);
  }
  return { ...sw, g1 };
}
