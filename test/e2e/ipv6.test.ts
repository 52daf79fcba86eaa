/**
 * End to end, IPv6 in IP mode, on the real kernel (issue 11): two namespace guests on one
 * IP-mode switch whose uplink is a veth to a LAN namespace running a real router daemon
 * (Debian's radvd) that advertises 2001:db8:77::/64. The guests autoconfigure with the kernel's
 * own SLAAC through the switch (their addresses and default route from the RAs the switch
 * passes on under the uplink's MAC). Checks ping6 and checked TCP transfers guest-guest,
 * guest-LAN (global, link-local with %enc600, off-link through the default router) and
 * LAN-guest; that the LAN's neighbour table holds the uplink's MAC for every guest address; that
 * a datagram to an unregistered address from the LAN is discarded and counted; that removing
 * an address stops LAN traffic to it; a DAD conflict between the guests (the second's address
 * dadfailed, the first keeps it); malformed ICMPv6 / NDP from a guest (trafgen, raw frames)
 * dropped and counted while the switch keeps working.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { NetLab, waitFor } from '../helpers/netlab.js';
import type { Daemon } from '../helpers/daemon.js';
import type { Controller } from '../helpers/controller.js';
import { startIpLab } from '../helpers/ip-lab.js';
import { startRadvd } from '../helpers/radvd.js';
import { tcpTransfer } from '../helpers/tcp.js';
import { dropCount, uplinkMac } from '../helpers/query.js';

const lab = new NetLab('v6');
let d: Daemon;
let ctl: Controller;
let hostNs: string, lanNs: string, g1: string, g2: string, up: string;
let upMac: string;
const PREFIX = '2001:db8:77::';
const LAN = '2001:db8:77::1', OFFLINK = '2001:db8:99::1', GHOST = '2001:db8:77::dead';
/** Each guest's SLAAC global and link-local address. */
const addr: Record<string, { global: string; ll: string }> = {};
let lanLl = '';

interface Entry6 { ip6: string; guest: string; vdev: string; localOnly: boolean }
function table6(): Entry6[] {
  return (d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable6 ?? []) as Entry6[];
}
function registered6(ip6: string): boolean {
  return table6().some((e) => e.ip6 === ip6 && !e.localOnly);
}
function drops6(reason: string): number {
  return dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', reason);
}

/** The usable (not tentative) IPv6 addresses of `dev` in `ns` of `scope`, with their flags. */
function addrs6(ns: string, dev: string, scope: 'global' | 'link'): Array<{ local: string; tentative?: boolean; dadfailed?: boolean }> {
  const j = JSON.parse(lab.ip(ns, '-6', '-j', 'addr', 'show', 'dev', dev, 'scope', scope)) as Array<{ addr_info: Array<{ local: string; tentative?: boolean; dadfailed?: boolean }> }>;
  return (j[0]?.addr_info ?? []).filter((a) => typeof a.local === 'string'); // ip -j lists filtered-out addresses as empty objects
}

function ping6(ns: string, ip: string, count = 3): boolean {
  return lab.exec(ns, 'ping', ['-6', '-c', String(count), '-i', '0.2', '-W', '2', ip]).code === 0;
}

/** Retry a ping for up to `ms` (the first packets may wait for neighbour discovery). */
async function reaches(ns: string, ip: string, ms = 10_000): Promise<boolean> {
  return Boolean(await waitFor(() => ping6(ns, ip, 1), ms, 200));
}

before(async () => {
  // The usual IP-mode lab (test/helpers/ip-lab.ts: LAN host, LINUX1 and LINUX2 with their IPv4
  // addresses registered, their interfaces up); IPv6 comes on top of it.
  ({ d, ctl, hostNs, lanNs, up, g1, g2 } = await startIpLab(lab, '10.78.0'));
  lab.ip(lanNs, 'addr', 'add', `${LAN}/64`, 'dev', 'lan0', 'nodad');
  lab.ip(lanNs, 'addr', 'add', `${OFFLINK}/128`, 'dev', 'lo');
  // The LAN's router: radvd, advertising the prefix every 3-4 s and answering RSs.
  startRadvd(lab, lanNs, 'lan0', PREFIX);
  // SLAAC: each guest gets a global address from the prefix, and its default route.
  for (const ns of [g1, g2]) {
    const got = await waitFor(() => {
      const g = addrs6(ns, 'enc600', 'global').find((a) => a.local.startsWith('2001:db8:77:') && !a.tentative);
      const l = addrs6(ns, 'enc600', 'link').find((a) => !a.tentative);
      return g && l ? { global: g.local, ll: l.local } : null;
    }, 30_000, 200);
    assert.ok(got, `guest ${ns} autoconfigured an address from the LAN's RA: ${lab.ip(ns, '-6', 'addr')}`);
    addr[ns] = got;
    const route = await waitFor(() => lab.ip(ns, '-6', 'route', 'show', 'default').includes('via fe80:'), 10_000, 200);
    assert.ok(route, `guest ${ns} has a default route via the router's link-local address`);
  }
  lanLl = addrs6(lanNs, 'lan0', 'link')[0].local;
  // Every guest address registered with the uplink (the controller put its solicited-node group on the RDEV).
  const ok = await waitFor(() => [g1, g2].every((ns) => registered6(addr[ns].global) && registered6(addr[ns].ll)), 15_000, 100);
  assert.ok(ok, `guest addresses registered: ${JSON.stringify(table6())}`);
  upMac = (JSON.parse(lab.ip(hostNs, '-j', 'link', 'show', up))[0].address as string).toLowerCase();
});

after(async () => {
  try { await ctl?.stop(); await d?.stop(); } finally { lab.cleanup(); }
});

test('IPv6: Q VSWITCH DETAILS and Q NIC DETAILS list the guests\' IPv6 addresses (JSON and text)', () => {
  const t = table6();
  for (const [ns, guest] of [[g1, 'LINUX1'], [g2, 'LINUX2']] as const) {
    assert.ok(t.some((e) => e.ip6 === addr[ns].global && e.guest === guest && e.vdev === '0600'), JSON.stringify(t));
  }
  const text = d.cli('Q', 'VSWITCH', 'SW1', 'DET').stdout;
  assert.match(text, /LAN IPv6 table:/);
  assert.ok(text.includes(addr[g1].global), text);
  const nic = d.json('Q', 'NIC', '0600', 'DETAILS', 'FOR', 'LINUX1');
  const a6 = (nic.nics?.[0] ?? nic).addresses6 as Array<{ ip6: string; state: string }>;
  assert.ok(a6.some((a) => a.ip6 === addr[g1].global && a.state === 'REGISTERED'), JSON.stringify(nic));
});

test('IPv6 guest to guest: ping6 and a checked TCP transfer', async () => {
  assert.ok(await reaches(g1, addr[g2].global), 'LINUX1 pings LINUX2');
  const r = await tcpTransfer(lab, g1, g2, addr[g2].global, 4 << 20, 5101);
  assert.equal(r.receivedBytes, r.bytes);
  assert.equal(r.receivedSha256, r.sentSha256);
});

test('IPv6 guest to LAN (global, link-local %enc600, off-link via the default router) and LAN to guest', async () => {
  assert.ok(await reaches(g1, LAN), 'LINUX1 pings the LAN host');
  assert.ok(await reaches(g1, `${lanLl}%enc600`), 'LINUX1 pings the LAN host\'s link-local address');
  assert.ok(await reaches(g2, OFFLINK), 'LINUX2 reaches an off-link address through its default route');
  assert.ok(await reaches(lanNs, addr[g2].global), 'the LAN host pings LINUX2');
  assert.ok(await reaches(lanNs, `${addr[g1].ll}%lan0`), 'the LAN host pings LINUX1\'s link-local address');
  const out = await tcpTransfer(lab, g1, lanNs, LAN, 4 << 20, 5102);
  assert.equal(out.receivedSha256, out.sentSha256);
  const ll = await tcpTransfer(lab, g2, lanNs, `${lanLl}%lan0`, 1 << 20, 5103, `${lanLl}%enc600`);
  assert.equal(ll.receivedSha256, ll.sentSha256);
  const inbound = await tcpTransfer(lab, lanNs, g2, addr[g2].global, 4 << 20, 5104);
  assert.equal(inbound.receivedSha256, inbound.sentSha256);
});

test('IPv6: the LAN host\'s neighbour table has the uplink\'s MAC for every guest address; guests see it for the LAN', async () => {
  for (const ns of [g1, g2]) {
    assert.ok(await reaches(lanNs, addr[ns].global));
    assert.ok(await reaches(lanNs, `${addr[ns].ll}%lan0`));
  }
  assert.equal(uplinkMac(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1')?.toLowerCase(), upMac);
  const neigh = JSON.parse(lab.ip(lanNs, '-6', '-j', 'neigh', 'show', 'dev', 'lan0')) as Array<{ dst: string; lladdr?: string }>;
  for (const ns of [g1, g2]) {
    for (const a of [addr[ns].global, addr[ns].ll]) {
      const e = neigh.find((n) => n.dst === a);
      assert.ok(e, `the LAN host has a neighbour entry for ${a}: ${JSON.stringify(neigh)}`);
      assert.equal(e!.lladdr?.toLowerCase(), upMac, `${a} is at the uplink's MAC`);
    }
  }
  const gn = JSON.parse(lab.ip(g1, '-6', '-j', 'neigh', 'show', 'dev', 'enc600')) as Array<{ dst: string; lladdr?: string }>;
  const router = gn.find((n) => n.dst === lanLl);
  assert.ok(router, `LINUX1 has a neighbour entry for the router: ${JSON.stringify(gn)}`);
  assert.equal(router!.lladdr?.toLowerCase(), upMac, 'the router is at the uplink\'s MAC, as the LAN host is');
});

test('IPv6: a datagram to an unregistered address from the LAN is discarded and counted', async () => {
  const before = drops6('unknown-destination');
  lab.ip(lanNs, 'neigh', 'replace', GHOST, 'lladdr', upMac, 'dev', 'lan0', 'nud', 'permanent');
  assert.ok(!ping6(lanNs, GHOST, 3), 'nobody answers for an unregistered address');
  const n = await waitFor(() => { const v = drops6('unknown-destination'); return v >= before + 3 ? v : 0; }, 5000);
  assert.ok(n >= before + 3, `unknown-destination went from ${before} to at least ${before + 3}`);
});

test('IPv6: removing a guest address stops LAN traffic to it', async () => {
  const extra = '2001:db8:77::b2';
  lab.ip(g2, 'addr', 'add', `${extra}/64`, 'dev', 'enc600');
  assert.ok(await waitFor(() => registered6(extra), 15_000, 100), 'the new address is registered');
  assert.ok(await reaches(lanNs, extra), 'the LAN host reaches it');
  lab.ip(g2, 'addr', 'del', `${extra}/64`, 'dev', 'enc600');
  assert.ok(await waitFor(() => !table6().some((e) => e.ip6 === extra), 5000), 'the address left the table');
  const before = drops6('unknown-destination');
  assert.ok(!ping6(lanNs, extra, 2), 'the LAN host no longer reaches the removed address');
  assert.ok(drops6('unknown-destination') + drops6('ndp-ignored') > before, 'what the LAN sent is counted');
  assert.ok(await reaches(lanNs, addr[g1].global), 'the other guest is still reachable');
});

test('IPv6: a DAD conflict between two guests: the second one\'s address is dadfailed, the first keeps it', async () => {
  const both = '2001:db8:77::c1';
  lab.ip(g1, 'addr', 'add', `${both}/64`, 'dev', 'enc600');
  assert.ok(await waitFor(() => registered6(both), 15_000, 100), 'LINUX1 holds it');
  lab.ip(g2, 'addr', 'add', `${both}/64`, 'dev', 'enc600');
  const failed = await waitFor(() => addrs6(g2, 'enc600', 'global').some((a) => a.local === both && a.dadfailed), 10_000, 100);
  assert.ok(failed, `LINUX2's copy is dadfailed: ${lab.ip(g2, '-6', 'addr', 'show', 'dev', 'enc600')}`);
  assert.ok(table6().some((e) => e.ip6 === both && e.guest === 'LINUX1'), 'LINUX1 still holds it');
  assert.ok(await reaches(lanNs, both), 'the LAN reaches LINUX1 at it');
  assert.ok(await reaches(g2, addr[g1].global), 'LINUX2 still reaches LINUX1');
  // LINUX2's kernel keeps the failed copy as its own (a local route to it): take both copies
  // away, as an administrator would, so later tests' source addresses are not it.
  lab.ip(g2, 'addr', 'del', `${both}/64`, 'dev', 'enc600');
  lab.ip(g1, 'addr', 'del', `${both}/64`, 'dev', 'enc600');
  assert.ok(await waitFor(() => !table6().some((e) => e.ip6 === both), 5000), 'the address left the table');
});

/** A trafgen configuration sending `frames` (byte arrays) once each. */
function trafgenConf(frames: number[][]): string {
  return frames.map((f) => `{ ${f.map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')} }`).join('\n') + '\n';
}

/** The bytes of an IPv6 address. */
function bytes6(a: string): number[] {
  const [h, t] = a.split('::');
  const hs = h ? h.split(':') : [];
  const ts = t !== undefined && t !== '' ? t.split(':') : [];
  const groups = [...hs, ...new Array(8 - hs.length - ts.length).fill('0'), ...ts];
  return groups.flatMap((g) => { const v = parseInt(g, 16); return [v >> 8, v & 0xff]; });
}

test('IPv6: malformed ICMPv6 and NDP from a guest\'s raw socket are dropped and counted, and the switch keeps working', async () => {
  const src = bytes6(addr[g1].ll);
  const mac = (JSON.parse(lab.ip(g1, '-j', 'link', 'show', 'enc600'))[0].address as string).split(':').map((x) => parseInt(x, 16));
  const eth = [0x33, 0x33, 0xff, 0x00, 0x00, 0x01, ...mac, 0x86, 0xdd];
  const ip6 = (nh: number, len: number, hop = 255) => [0x60, 0, 0, 0, len >> 8, len & 0xff, nh, hop, ...src, ...bytes6('ff02::1:ff00:1')];
  // An NS whose option has length 0 (its checksum is not even reached), a truncated chain of
  // extension headers, an NS cut short by its payload length, a payload length past the frame.
  const ns0 = [135, 0, 0, 0, 0, 0, 0, 0, ...bytes6(LAN), 1, 0, ...mac];
  const frames = [
    [...eth, ...ip6(58, ns0.length), ...ns0],
    [...eth, ...ip6(0, 16), 60, 0, 0, 0, 0, 0, 0, 0, 58, 9, 0, 0, 0, 0, 0, 0],
    [...eth, ...ip6(58, 10), 135, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [...eth, ...ip6(58, 200), ...ns0],
  ];
  const conf = join(tmpdir(), `${lab.name('tg')}.cfg`);
  writeFileSync(conf, trafgenConf(frames));
  const before = drops6('malformed');
  for (let i = 0; i < 5; i++) {
    const r = lab.exec(g1, 'trafgen', ['--dev', 'enc600', '--conf', conf, '--num', String(frames.length), '--cpus', '1', '--no-cpu-stats']);
    assert.equal(r.code, 0, r.stderr);
  }
  const n = await waitFor(() => { const v = drops6('malformed'); return v >= before + 5 * frames.length ? v : 0; }, 5000);
  assert.ok(n >= before + 5 * frames.length, `malformed went from ${before} to ${drops6('malformed')}, expected +${5 * frames.length}`);
  assert.ok(await reaches(g1, addr[g2].global), 'the switch still forwards');
  assert.ok(await reaches(lanNs, addr[g1].global));
});

test('IPv6 MLD: a guest joins a group; the uplink\'s multicast filter gets its MAC and the LAN\'s datagrams to it reach the guest', async () => {
  const G = 'ff05::1:3', PORT = 5199;
  const rx = lab.spawn(g1, process.execPath, ['-e', `
const s = require('node:dgram').createSocket({ type: 'udp6', reuseAddr: true });
s.on('message', (m) => process.stdout.write('got ' + m.toString() + '\\n'));
s.bind(${PORT}, '::', () => { s.addMembership('${G}', '::%enc600'); process.stdout.write('joined\\n'); });
setTimeout(() => process.exit(0), 60000);`]);
  let out = '';
  rx.stdout!.setEncoding('utf8');
  rx.stdout!.on('data', (x: string) => { out += x; });
  assert.ok(await waitFor(() => out.includes('joined'), 10_000), 'the receiver joined');
  const registered = await waitFor(() => lab.ip(hostNs, 'maddr', 'show', 'dev', up).includes('33:33:00:01:00:03'), 15_000, 100);
  assert.ok(registered, `the group's MAC is in the uplink's filter: ${lab.ip(hostNs, 'maddr', 'show', 'dev', up)}`);
  const send = `
const s = require('node:dgram').createSocket('udp6');
s.bind(0, () => { s.setMulticastInterface('::%lan0'); let n = 0;
  const t = setInterval(() => { s.send('hello' + n, ${PORT}, '${G}'); if (++n === 20) { clearInterval(t); s.close(); } }, 100); });`;
  assert.equal(lab.exec(lanNs, process.execPath, ['-e', send]).code, 0);
  assert.ok(await waitFor(() => out.includes('got hello'), 5000), `the guest received the LAN's datagrams: ${out}`);
  rx.kill('SIGKILL');
});
