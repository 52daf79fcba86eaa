/**
 * End to end, IPv6 on a VLAN-aware IP-mode switch (issue 11): a real vswitchd driven by CP
 * commands, a controller, guests in network namespaces and ping -6 as the users' side. SW1 is
 * `DEFINE VSWITCH ... IP VLAN 10`; A1 and A2 are ACCESS ports in VLAN 10, B1 in VLAN 20, and
 * every guest and LAN host is in one IPv6 prefix (2001:db8:5::/64, static addresses), so only
 * the switch keeps the VLANs apart. The uplink is a trunk: the LAN namespace has VLAN devices
 * lan0.10 (LAN host L10) and lan0.20 (moved into a namespace of its own: LAN host L20), the
 * kernel's where it has 802.1Q, else the vlan-relay stand-in (test/helpers/vlan-devices.ts).
 * Checked: ping6 inside a VLAN works (guest-guest, global and link-local %enc600; guest-LAN
 * and LAN-guest), across VLANs it fails (guest-guest, guest to the other VLAN's LAN host);
 * QUERY VSWITCH DETAILS lists each IPv6 address in its VLAN; ISOLATION ON keeps A1 from A2 (the
 * isolated drop counted) but not from the LAN, OFF restores it. The switch is the guests' MLD
 * querier: a NIC coupled makes it send the MLDv2 general query (from the uplink's link-local
 * EUI-64 address, in each NIC's VLAN), and the guest's kernel answers it with its report (so
 * it took the query as valid). A trunk guest's addresses on its VLAN devices enc600.10 and
 * enc600.20 are followed into VLANs 10 and 20 and reach those VLANs only. Every namespace has a name
 * unique to this run and goes at the end, also on failure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab, waitFor } from '../helpers/netlab.js';
import { Daemon } from '../helpers/daemon.js';
import { Controller } from '../helpers/controller.js';
import { dropCount } from '../helpers/query.js';
import { vlanDevices, type SpawnIn } from '../helpers/vlan-devices.js';
import { tcpdump } from '../helpers/tcpdump.js';

const lab = new NetLab('v6vl');
const spawnIn: SpawnIn = (ns, cmd, args) => lab.spawn(ns, cmd, args);
let d: Daemon;
let ctl: Controller;
const NET = '2001:db8:5::';
const IP = { A1: `${NET}11`, A2: `${NET}12`, B1: `${NET}21`, L10: `${NET}1`, L20: `${NET}2` };
type Who = 'A1' | 'A2' | 'B1';
const WHO: Who[] = ['A1', 'A2', 'B1'];
const VLAN: Record<Who, number> = { A1: 10, A2: 10, B1: 20 };
const ns = {} as Record<Who | 'L10' | 'L20', string>;
const ll = {} as Record<Who, string>;
let hostNs = '', up = '';

interface Entry6 { ip6: string; vlan: number; guest: string; localOnly: boolean }
function table6(): Entry6[] {
  return (d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable6 ?? []) as Entry6[];
}

function linkLocal(n: string, dev: string): string | null {
  const j = JSON.parse(lab.ip(n, '-6', '-j', 'addr', 'show', 'dev', dev, 'scope', 'link')) as Array<{ addr_info: Array<{ local?: string; tentative?: boolean }> }>;
  return j[0]?.addr_info.find((a) => typeof a.local === 'string' && !a.tentative)?.local ?? null;
}

function ping6(from: string, to: string, count = 1): boolean {
  return lab.exec(from, 'ping', ['-6', '-c', String(count), '-i', '0.2', '-W', '1', to]).code === 0;
}

/** Retry a ping for up to `ms` (the first packets may wait for neighbour discovery). */
async function reaches(from: string, to: string, ms = 10_000): Promise<boolean> {
  return Boolean(await waitFor(() => ping6(from, to), ms, 200));
}

/** Not one of three pings answered (neighbour discovery had its chance first: -W 1 each). */
function unreachable(from: string, to: string): boolean {
  return !ping6(from, to, 3);
}

before(async () => {
  hostNs = lab.netns('h');
  ns.L10 = lab.netns('l');
  ns.L20 = lab.netns('m');
  for (const w of WHO) ns[w] = lab.adopt(lab.name(w.toLowerCase()));
  up = lab.name('u');
  lab.veth(hostNs, up, ns.L10, 'lan0');
  await vlanDevices(ns.L10, 'lan0', [10, 20], spawnIn);
  lab.ip(ns.L10, 'link', 'set', 'lan0.20', 'netns', ns.L20);
  lab.ip(ns.L10, 'link', 'set', 'lan0', 'up');
  lab.configureNic(ns.L10, 'lan0.10', `${IP.L10}/64 nodad`);
  lab.configureNic(ns.L20, 'lan0.20', `${IP.L20}/64 nodad`);
  d = new Daemon({ netns: hostNs });
  await d.start();
  ctl = new Controller('DTCVSW1', hostNs, d);
  await ctl.start();
  d.commands([`DEFINE VSWITCH SW1 RDEV ${up} IP VLAN 10`]);
  for (const w of WHO) {
    d.commands([
      `DEFINE GUEST V6${w} NETNS ${ns[w]}`, `DEFINE NIC 0600 TYPE QDIO FOR V6${w}`,
      `SET VSWITCH SW1 GRANT V6${w} VLAN ${VLAN[w]}`, `COUPLE 0600 TO SYSTEM SW1 FOR V6${w}`,
    ]);
    lab.configureNic(ns[w], 'enc600', `${IP[w]}/64 nodad`);
  }
  for (const w of WHO) {
    const a = await waitFor(() => linkLocal(ns[w], 'enc600'), 15_000, 100);
    assert.ok(a, `${w} has a link-local address: ${lab.ip(ns[w], '-6', 'addr')}`);
    ll[w] = a;
  }
  const ok = await waitFor(() => {
    const t = table6();
    return WHO.every((w) => t.some((e) => e.ip6 === IP[w] && !e.localOnly) && t.some((e) => e.ip6 === ll[w] && !e.localOnly));
  }, 20_000, 100);
  assert.ok(ok, `every guest address registered with the uplink: ${JSON.stringify(table6())}`);
});

after(async () => {
  try { await ctl?.stop(); await d?.stop(); } finally { lab.cleanup(); }
});

test('IPv6 VLANs: QUERY VSWITCH DETAILS lists each guest IPv6 address in its VLAN', () => {
  const t = table6();
  for (const w of WHO) {
    for (const a of [IP[w], ll[w]]) {
      const e = t.find((x) => x.ip6 === a);
      assert.equal(e?.vlan, VLAN[w], `${a} (${w}) in VLAN ${VLAN[w]}: ${JSON.stringify(t)}`);
      assert.equal(e?.guest, `V6${w}`);
    }
  }
  const text = d.cli('Q', 'VSWITCH', 'SW1', 'DET').stdout;
  assert.match(text, new RegExp(`${IP.B1.replace(/:/g, ':')}\\s+V6B1\\s+0600\\s+VLAN 20`), text);
});

test('IPv6 VLANs: ping6 inside a VLAN works (global, link-local, to and from the LAN)', async () => {
  assert.ok(await reaches(ns.A1, IP.A2), 'A1 pings A2 (VLAN 10)');
  assert.ok(await reaches(ns.A2, `${ll.A1}%enc600`), 'A2 pings A1\'s link-local address');
  assert.ok(await reaches(ns.A1, IP.L10), 'A1 pings the VLAN-10 LAN host');
  assert.ok(await reaches(ns.B1, IP.L20), 'B1 pings the VLAN-20 LAN host');
  assert.ok(await reaches(ns.L10, IP.A2), 'the VLAN-10 LAN host pings A2');
  assert.ok(await reaches(ns.L20, IP.B1), 'the VLAN-20 LAN host pings B1');
});

test('IPv6 VLANs: ping6 across VLANs fails (guest to guest, guest to the other VLAN\'s LAN host, link-local)', async () => {
  // The in-VLAN paths work at the same time (so a failure below is the VLAN's doing).
  assert.ok(await reaches(ns.A1, IP.A2));
  assert.ok(await reaches(ns.B1, IP.L20));
  const crossings: Array<[Who | 'L10' | 'L20', string]> = [
    ['A1', IP.B1], ['B1', IP.A1], ['A1', IP.L20], ['B1', IP.L10], ['L20', IP.A1], ['L10', IP.B1], ['A1', `${ll.B1}%enc600`],
  ];
  const answered = crossings.filter(([from, to]) => !unreachable(ns[from], to)).map(([from, to]) => `${from} -> ${to}`);
  assert.deepEqual(answered, [], 'no ping crosses a VLAN');
});

test('IPv6 VLANs: ISOLATION ON keeps A1 from A2 (counted isolated) but not from the LAN; OFF restores it', async () => {
  const before = dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'isolated');
  d.commands(['SET VSWITCH SW1 ISOLATION ON']);
  try {
    const apart = await waitFor(() => unreachable(ns.A1, IP.A2), 10_000, 100);
    assert.ok(apart, 'A1 no longer reaches A2');
    assert.ok(dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'isolated') > before, 'counted as isolated');
    assert.ok(await reaches(ns.A1, IP.L10), 'A1 still reaches the LAN');
    assert.ok(await reaches(ns.L10, IP.A2), 'the LAN still reaches A2');
  } finally {
    d.commands(['SET VSWITCH SW1 ISOLATION OFF']);
  }
  assert.ok(await reaches(ns.A1, IP.A2), 'A1 reaches A2 again');
});

/** The modified EUI-64 link-local address of a MAC (aa:bb:cc:dd:ee:ff). */
function eui64(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const h = (x: number, y: number) => ((x << 8) | y).toString(16);
  return `fe80::${h(b[0] ^ 2, b[1])}:${h(b[2], 0xff)}:${h(0xfe, b[3])}:${h(b[4], b[5])}`;
}

test('MLD querier: a NIC coupled makes the switch query every NIC (MLDv2, from the uplink\'s link-local address); the guest\'s kernel answers', async () => {
  const upMac = (JSON.parse(lab.ip(hostNs, '-j', 'link', 'show', up))[0].address as string).toLowerCase();
  const from = eui64(upMac);
  const cap = await tcpdump(spawnIn, ns.A1, 'enc600', 'ip6');
  const c = lab.adopt(lab.name('c'));
  d.commands([`DEFINE GUEST V6C NETNS ${c}`, 'DEFINE NIC 0600 TYPE QDIO FOR V6C', 'SET VSWITCH SW1 GRANT V6C VLAN 20', 'COUPLE 0600 TO SYSTEM SW1 FOR V6C']);
  const isQuery = (l: string) => l.includes(`${from} > ff02::1:`) && /multicast listener query v2/.test(l);
  const got = await waitFor(() => cap.lines.some(isQuery), 15_000, 100);
  const queried = cap.lines.findIndex(isQuery);
  const answered = got && await waitFor(() => cap.lines.slice(queried).some((l) => l.includes(`${ll.A1} > ff02::16:`) && /multicast listener report v2/.test(l)), 15_000, 100);
  const lines = await cap.stop();
  assert.ok(got, `A1 got the switch's MLDv2 query from ${from}: ${lines.join(' | ')}`);
  assert.ok(answered, `A1 answered with an MLDv2 report: ${lines.join(' | ')}`);
  assert.ok(!lines[queried].includes('vlan'), 'untagged on an access port');
});

test('IPv6 on a trunk guest\'s VLAN devices: an address on enc600.10 is in VLAN 10, one on enc600.20 in VLAN 20; each reaches its own VLAN only', async () => {
  const t = lab.adopt(lab.name('t'));
  const T10 = `${NET}41`, T20 = `${NET}42`;
  d.commands([`DEFINE GUEST V6T NETNS ${t}`, 'DEFINE NIC 0600 TYPE QDIO FOR V6T', 'SET VSWITCH SW1 GRANT V6T PORTTYPE TRUNK VLAN 10 20', 'COUPLE 0600 TO SYSTEM SW1 FOR V6T']);
  lab.ip(t, 'link', 'set', 'enc600', 'up');
  await vlanDevices(t, 'enc600', [10, 20], spawnIn);
  lab.configureNic(t, 'enc600.10', `${T10}/64 nodad`);
  lab.configureNic(t, 'enc600.20', `${T20}/64 nodad`);
  const ok = await waitFor(() => {
    const e = table6();
    return e.some((x) => x.ip6 === T10 && x.vlan === 10 && x.guest === 'V6T' && !x.localOnly)
      && e.some((x) => x.ip6 === T20 && x.vlan === 20 && x.guest === 'V6T' && !x.localOnly);
  }, 20_000, 100);
  assert.ok(ok, `T's addresses in their VLANs, registered: ${JSON.stringify(table6().filter((x) => x.guest === 'V6T'))}`);
  const from = (dev: string, to: string) => lab.exec(t, 'ping', ['-6', '-c', '1', '-W', '1', '-I', dev, to]).code === 0;
  assert.ok(await waitFor(() => from('enc600.10', IP.A1), 10_000, 200), 'T reaches A1 from enc600.10 (VLAN 10)');
  assert.ok(await waitFor(() => from('enc600.20', IP.L20), 10_000, 200), 'T reaches the VLAN-20 LAN host from enc600.20');
  assert.ok(await reaches(ns.B1, T20), 'B1 reaches T\'s VLAN-20 address');
  assert.ok(!from('enc600.20', IP.A1) && !from('enc600.20', IP.A1), 'from enc600.20 (VLAN 20), A1 (VLAN 10) is not reached');
  assert.ok(unreachable(ns.B1, T10), 'B1 (VLAN 20) does not reach T\'s VLAN-10 address');
});
