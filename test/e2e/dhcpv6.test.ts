/**
 * DHCPv6 through an IP-mode switch (issue 11: "DHCPv6 relayed both ways"), with the real
 * parts: Debian's dnsmasq as the LAN's DHCPv6 server and ISC dhclient -6 as the guest's client.
 * The guest's Solicit (to ff02::1:2 from its link-local address) reaches the LAN through the
 * uplink; the server's Advertise and Reply (unicast to the guest's link-local address, to the
 * uplink's MAC) come back by destination address; the leased address is then registered like
 * any other and the LAN host reaches it. dhclient runs with its own small hook script (the
 * address only: Debian's dhclient-script would rewrite /etc/resolv.conf of the host).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { NetLab, waitFor } from '../helpers/netlab.js';
import { startIpLab, type IpLab } from '../helpers/ip-lab.js';
import { uplinkMac } from '../helpers/query.js';

const lab = new NetLab('d6');
let ipl: IpLab;
const LAN = 'fd00:6d6::1';
const files = (name: string): string => join(tmpdir(), `${lab.name(name)}`);

before(async () => {
  ipl = await startIpLab(lab, '10.79.0');
  lab.ip(ipl.lanNs, 'addr', 'add', `${LAN}/64`, 'dev', 'lan0', 'nodad');
});

after(async () => {
  await ipl?.stop();
  lab.cleanup();
  for (const f of ['leases', 'pid', 'hook', 'clease', 'cpid']) rmSync(files(f), { force: true });
});

/** The guest's usable addresses of a scope on enc600. */
function addrs6(ns: string, scope: 'global' | 'link'): Array<{ local: string; prefixlen: number; tentative?: boolean }> {
  const j = JSON.parse(lab.ip(ns, '-6', '-j', 'addr', 'show', 'dev', 'enc600', 'scope', scope)) as Array<{ addr_info: Array<{ local: string; prefixlen: number; tentative?: boolean }> }>;
  return (j[0]?.addr_info ?? []).filter((a) => typeof a.local === 'string');
}

test('a guest leases an address from the LAN\'s DHCPv6 server; it is registered and the LAN reaches it', async () => {
  const { d, g1, lanNs } = ipl;
  assert.ok(await waitFor(() => addrs6(g1, 'link').some((a) => !a.tentative), 15_000, 200), 'the guest has its link-local address');
  // The LAN's DHCPv6 server: dnsmasq, DHCPv6 only (no DNS, no RA), leases from fd00:6d6::100-1ff.
  lab.spawn(lanNs, 'dnsmasq', ['--no-daemon', '--conf-file=/dev/null', '--port=0', '--user=root', '--interface=lan0', '--bind-interfaces',
    `--dhcp-range=${LAN.replace(/::1$/, '::100')},${LAN.replace(/::1$/, '::1ff')},64,1h`, `--dhcp-leasefile=${files('leases')}`,
    `--pid-file=${files('pid')}`, '--log-dhcp']);
  // The client's hook: only the address (what dhclient-script's BOUND6 does), and its prefix as on-link.
  writeFileSync(files('hook'), [
    '#!/bin/sh',
    'case "$reason" in BOUND6|RENEW6|REBIND6)',
    '  ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" valid_lft "$new_max_life" preferred_lft "$new_preferred_life";;',
    'esac',
    'exit 0', '',
  ].join('\n'));
  chmodSync(files('hook'), 0o755);
  lab.spawn(g1, 'dhclient', ['-6', '-d', '-v', '-sf', files('hook'), '-lf', files('clease'), '-pf', files('cpid'), 'enc600']);

  const leased = await waitFor(() => addrs6(g1, 'global').find((a) => a.local.startsWith('fd00:6d6::1') && !a.tentative), 60_000, 250);
  assert.ok(leased, `the guest got an address by DHCPv6: ${lab.ip(g1, '-6', 'addr')}`);
  const ip = leased.local;
  assert.ok(existsSync(files('leases')) && readFileSync(files('leases'), 'utf8').includes(ip), 'the server recorded the lease');
  // The client asked with its link-local source; the server answered it under the uplink's MAC.
  const mac = uplinkMac(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1');
  const neigh = lab.ip(lanNs, '-6', 'neigh', 'show', 'dev', 'lan0');
  assert.match(neigh, new RegExp(`fe80::[0-9a-f:]+ lladdr ${mac}`), `the server reached the guest's link-local address at the uplink's MAC: ${neigh}`);

  const registered = await waitFor(() => ((d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable6 ?? []) as Array<{ ip6: string; guest: string; localOnly: boolean }>)
    .some((e) => e.ip6 === ip && e.guest === 'LINUX1' && !e.localOnly), 15_000, 200);
  assert.ok(registered, `the leased ${ip} is registered for LINUX1`);
  // The leased address is a /128 (the server does not say the prefix is on-link: an RA would); the guest's
  // route to the LAN host's prefix is given here so the LAN's ping can be answered.
  lab.ip(g1, '-6', 'route', 'replace', `${LAN}/128`, 'dev', 'enc600');
  const pinged = await waitFor(() => lab.exec(lanNs, 'ping', ['-6', '-c', '1', '-W', '2', ip]).code === 0, 15_000, 300);
  assert.ok(pinged, `the LAN host pings the leased ${ip}`);
});
