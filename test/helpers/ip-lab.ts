/**
 * Test-only: the usual end-to-end lab of an IP-mode switch, built with a NetLab: a host
 * namespace running vswitchd and a controller (DTCVSW1), an uplink veth to a LAN namespace
 * holding the LAN host at `${net}.1/24`, and two namespace guests LINUX1 and LINUX2 (NIC 0600
 * each, coupled to SW1) at `${net}.11` and `${net}.12`, both registered with the uplink before
 * it returns. `mtu` sets interface MTUs before the daemon opens them (uplink and LAN side, the
 * guests' NICs). stop() ends daemon and controller; the NetLab's cleanup removes the rest.
 */
import assert from 'node:assert/strict';
import { waitFor, type NetLab } from './netlab.js';
import { Daemon } from './daemon.js';
import { Controller } from './controller.js';
import { lanTable } from './query.js';

export interface IpLab {
  d: Daemon;
  ctl: Controller;
  hostNs: string;
  lanNs: string;
  g1: string;
  g2: string;
  /** The uplink interface (in hostNs). */
  up: string;
  lan: string;
  a: string;
  b: string;
  stop(): Promise<void>;
}

export async function startIpLab(lab: NetLab, net: string, mtu: { uplink?: number; g1?: number; g2?: number } = {}): Promise<IpLab> {
  const hostNs = lab.netns('h');
  const lanNs = lab.netns('l');
  const up = lab.name('u');
  const lan = `${net}.1`, a = `${net}.11`, b = `${net}.12`;
  lab.veth(hostNs, up, lanNs, 'lan0');
  if (mtu.uplink !== undefined) {
    lab.ip(hostNs, 'link', 'set', up, 'mtu', String(mtu.uplink));
    lab.ip(lanNs, 'link', 'set', 'lan0', 'mtu', String(mtu.uplink));
  }
  lab.ip(lanNs, 'addr', 'add', `${lan}/24`, 'dev', 'lan0');
  const g1 = lab.adopt(lab.name('g1'));
  const g2 = lab.adopt(lab.name('g2'));
  const d = new Daemon({ netns: hostNs });
  await d.start();
  const ctl = new Controller('DTCVSW1', hostNs, d);
  await ctl.start();
  d.commands([
    `DEFINE VSWITCH SW1 RDEV ${up} IP`,
    `DEFINE GUEST LINUX1 NETNS ${g1}`,
    `DEFINE GUEST LINUX2 NETNS ${g2}`,
    'DEFINE NIC 0600 TYPE QDIO FOR LINUX1',
    'DEFINE NIC 0600 TYPE QDIO FOR LINUX2',
    'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1',
    'COUPLE 0600 TO SYSTEM SW1 FOR LINUX2',
  ]);
  if (mtu.g1 !== undefined) lab.ip(g1, 'link', 'set', 'enc600', 'mtu', String(mtu.g1));
  if (mtu.g2 !== undefined) lab.ip(g2, 'link', 'set', 'enc600', 'mtu', String(mtu.g2));
  lab.configureNic(g1, 'enc600', `${a}/24`);
  lab.configureNic(g2, 'enc600', `${b}/24`);
  const registered = await waitFor(() => lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').filter((e) => !e.localOnly).length === 2, 10_000);
  assert.ok(registered, 'both guest addresses registered with the uplink');
  return {
    d, ctl, hostNs, lanNs, g1, g2, up, lan, a, b,
    async stop(): Promise<void> { await ctl.stop(); await d.stop(); },
  };
}
