/**
 * End to end, layer 2 (issue 10): VLANs, grants, isolation, promiscuous NICs and MACPROTECT on a
 * real vswitchd driven only by CP commands through bin/vswitch, with a controller, guests in
 * network namespaces and the Linux tools (ping, arping, tcpdump) as the users' side. One daemon
 * holds two switches, SWE (ETHERNET) and SWI (IP), each VLAN-aware (`DEFINE VSWITCH ... VLAN
 * 10`), each with guests of its own and its own LAN; every check runs on both:
 *  - A1 and A2 are granted ACCESS ports in VLAN 10, B1 in VLAN 20 (`SET VSWITCH sw GRANT u VLAN
 *    n`); all guests are in one IP subnet, so only the switch keeps the VLANs apart. Same-VLAN
 *    pairs ping each other, cross-VLAN pairs do not; tcpdump on B1 sees none of VLAN 10's
 *    broadcasts (arping, a broadcast ping) while A2 does.
 *  - The uplink is a trunk: the LAN namespace has VLAN devices lan0.10 (LAN host L10) and
 *    lan0.20 (moved into a namespace of its own: LAN host L20), made by the kernel where it has
 *    802.1Q and by the vlan-relay stand-in where it has not (test/helpers/vlan-devices.ts).
 *    A1 reaches L10 and B1 L20, not across; tcpdump -e on lan0 sees each VLAN's frames tagged
 *    with its VID, never untagged.
 *  - COUPLE without a grant is refused (exit 1, VSW0042E) and leaves the NIC uncoupled; a guest
 *    granted without PROMISCUOUS is refused `SET NIC ... PROMISCUOUS` and sees nothing of the
 *    A1-A2 ping; with the grant its tcpdump sees both directions of it (and nothing of VLAN 20).
 *  - ISOLATION ON: A1 no longer reaches A2 (the isolated drop counted) but still the LAN; OFF
 *    restores it.
 *  - MACPROTECT ON: A1 with a changed MAC (`ip link set enc600 address ...`) gets nothing
 *    through, counted as spoofed-mac in `Q VSWITCH sw DETAILS`; with its own MAC again it works.
 *  - `Q VSWITCH sw DETAILS --json`: each port's type, VLANs and untagged VLAN, the uplink's
 *    trunk VLANs, the access list; ETHERNET mode: the learned MAC table per VLAN (guests' and the
 *    LAN hosts' MACs); IP mode: the LAN IP table per VLAN.
 *  - REVOKE uncouples: the guest's NIC shows NO-CARRIER and reaches no one; COUPLE is refused again.
 * IPv6 is off in every namespace (IPv6 on VLANs is test/e2e/ipv6-vlan.test.ts's).
 * Every namespace has a name unique to this run and goes at the end, also on failure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { NetLab, waitFor } from '../helpers/netlab.js';
import { Daemon } from '../helpers/daemon.js';
import { Controller } from '../helpers/controller.js';
import { dropCount, lanTable } from '../helpers/query.js';
import { vlanDevices, type SpawnIn } from '../helpers/vlan-devices.js';
import { tcpdump, senderOf } from '../helpers/tcpdump.js';

const lab = new NetLab('l2');
const spawnIn: SpawnIn = (ns, cmd, args) => lab.spawn(ns, cmd, args);
let d: Daemon;
let ctl: Controller;

type Mode = 'ETHERNET' | 'IP';
type Who = 'A1' | 'A2' | 'B1' | 'P';
/** One switch with its guests and LAN. */
interface Side {
  mode: Mode;
  sw: string;
  /** The uplink (in the daemon's namespace). */
  up: string;
  lanNs: string;
  l20Ns: string;
  /** Guest namespaces and user ids. */
  ns: Record<Who, string>;
  user: Record<Who, string>;
  ip: Record<Who | 'L10' | 'L20' | 'BCAST' | 'NOBODY', string>;
  /** The VLAN of each address's owner. */
  vlanOf: Map<string, number>;
}

function side(mode: Mode, m: string, net: string): Side {
  const ns = { A1: lab.name(`${m}a1`), A2: lab.name(`${m}a2`), B1: lab.name(`${m}b1`), P: lab.name(`${m}p`) };
  const user = { A1: `${m.toUpperCase()}A1`, A2: `${m.toUpperCase()}A2`, B1: `${m.toUpperCase()}B1`, P: `${m.toUpperCase()}SNIF` };
  const ip = { A1: `${net}.11`, A2: `${net}.12`, B1: `${net}.21`, P: `${net}.31`, L10: `${net}.1`, L20: `${net}.2`, BCAST: `${net}.255`, NOBODY: `${net}.99` };
  const vlanOf = new Map([[ip.A1, 10], [ip.A2, 10], [ip.P, 10], [ip.L10, 10], [ip.B1, 20], [ip.L20, 20]]);
  return { mode, sw: `SW${m.toUpperCase()}`, up: lab.name(`u${m}`), lanNs: lab.name(`l${m}`), l20Ns: lab.name(`m${m}`), ns, user, ip, vlanOf };
}

const SIDES: Side[] = [side('ETHERNET', 'e', '10.81.0'), side('IP', 'i', '10.82.0')];

function noIpv6(ns: string): void {
  for (const k of ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']) {
    const r = lab.exec(ns, 'sysctl', ['-qw', k]);
    assert.equal(r.code, 0, r.stderr);
  }
}

function newNs(name: string): string {
  const ns = lab.netns(name.slice(lab.tag.length));
  noIpv6(ns);
  return ns;
}

/** The LAN of one switch: lan0 (the uplink's peer) with VLAN devices; L10 on lan0.10, L20 on lan0.20 in a namespace of its own. */
async function lanOf(s: Side, hostNs: string): Promise<void> {
  newNs(s.lanNs);
  newNs(s.l20Ns);
  lab.veth(hostNs, s.up, s.lanNs, 'lan0');
  await vlanDevices(s.lanNs, 'lan0', [10, 20], spawnIn);
  lab.ip(s.lanNs, 'link', 'set', 'lan0.20', 'netns', s.l20Ns);
  lab.configureNic(s.lanNs, 'lan0.10', `${s.ip.L10}/24`);
  lab.configureNic(s.l20Ns, 'lan0.20', `${s.ip.L20}/24`);
}

before(async () => {
  const hostNs = lab.netns('h');
  for (const s of SIDES) {
    await lanOf(s, hostNs);
    for (const w of ['A1', 'A2', 'B1', 'P'] as const) newNs(s.ns[w]);
  }
  d = new Daemon({ netns: hostNs });
  await d.start();
  ctl = new Controller('DTCVSW1', hostNs, d);
  await ctl.start();
  for (const s of SIDES) {
    d.commands([`DEFINE VSWITCH ${s.sw} RDEV ${s.up} ${s.mode} VLAN 10`]);
    for (const w of ['A1', 'A2', 'B1', 'P'] as const) d.commands([`DEFINE GUEST ${s.user[w]} NETNS ${s.ns[w]}`, `DEFINE NIC 0600 TYPE QDIO FOR ${s.user[w]}`]);
    d.commands([
      `SET VSWITCH ${s.sw} GRANT ${s.user.A1} VLAN 10`, `COUPLE 0600 TO SYSTEM ${s.sw} FOR ${s.user.A1}`,
      `SET VSWITCH ${s.sw} GRANT ${s.user.A2} VLAN 10`, `COUPLE 0600 TO SYSTEM ${s.sw} FOR ${s.user.A2}`,
      `SET VSWITCH ${s.sw} GRANT ${s.user.B1} VLAN 20`, `COUPLE 0600 TO SYSTEM ${s.sw} FOR ${s.user.B1}`,
    ]);
    for (const w of ['A1', 'A2', 'B1', 'P'] as const) lab.configureNic(s.ns[w], 'enc600', `${s.ip[w]}/24`);
  }
  for (const s of SIDES) {
    assert.ok(await waitFor(() => doc(s).uplink.state === 'READY', 10_000), `${s.sw}'s uplink ready: ${JSON.stringify(doc(s).uplink)}`);
  }
  const swi = SIDES[1];
  const registered = await waitFor(() => lanTable(d.json('QUERY', 'VSWITCH', swi.sw, 'DETAILS'), swi.sw).filter((e) => !e.localOnly).length === 3, 10_000);
  assert.ok(registered, `the IP-mode guests' addresses registered: ${JSON.stringify(doc(swi).ipTable)}`);
});

after(async () => {
  try { await ctl?.stop(); await d?.stop(); } finally { lab.cleanup(); }
});

/** The switch's QUERY VSWITCH DETAILS document. */
function doc(s: Side): any {
  return d.json('QUERY', 'VSWITCH', s.sw, 'DETAILS').switches[0];
}

function drops(s: Side, reason: string): number {
  return dropCount(d.json('QUERY', 'VSWITCH', s.sw, 'DETAILS'), s.sw, reason);
}

/** Run a command in a namespace without blocking the event loop (several at once); resolves with its exit status. */
function runIn(ns: string, cmd: string, args: string[], timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'ignore' });
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code) => { clearTimeout(t); resolve(code ?? -1); });
  });
}

/** A ping that should be answered: tried once a second for up to 15 s. */
async function reaches(ns: string, to: string): Promise<boolean> {
  const end = Date.now() + 15_000;
  do {
    if (await runIn(ns, 'ping', ['-c', '1', '-W', '1', to]) === 0) return true;
  } while (Date.now() < end);
  return false;
}

/** Pings that should not be answered, all at once: three echo requests from each namespace to its address; the pairs that got an answer. */
async function answered(pairs: Array<[string, string]>): Promise<string[]> {
  const codes = await Promise.all(pairs.map(([ns, to]) => runIn(ns, 'ping', ['-c', '3', '-i', '0.3', '-W', '1', to])));
  return pairs.filter((_, i) => codes[i] === 0).map(([ns, to]) => `${ns} -> ${to}`);
}

function flushNeighbours(s: Side): void {
  for (const n of [...Object.values(s.ns), s.lanNs, s.l20Ns]) lab.ip(n, 'neigh', 'flush', 'all');
}

for (const s of SIDES) {
  const M = s.mode;
  const { ns, user, ip } = s;

  test(`${M}: same-VLAN guests reach each other, cross-VLAN ones do not; the VLAN 20 guest sees none of VLAN 10's broadcasts`, async () => {
    flushNeighbours(s);
    const capB1 = await tcpdump(spawnIn, ns.B1, 'enc600', 'arp or icmp');
    const capA2 = await tcpdump(spawnIn, ns.A2, 'enc600', 'arp or icmp');
    assert.ok(await reaches(ns.A1, ip.A2), 'A1 -> A2 (both VLAN 10)');
    assert.ok(await reaches(ns.A2, ip.A1), 'A2 -> A1');
    assert.ok(await reaches(ns.B1, ip.L20), 'B1 -> L20 (VLAN 20: what B1 may see)');
    assert.deepEqual(await answered([[ns.A1, ip.B1], [ns.B1, ip.A1], [ns.A2, ip.B1], [ns.B1, ip.A2]]), [], 'A1 -> B1, B1 -> A1, A2 -> B1, B1 -> A2: no answer across VLANs');
    // VLAN 10's broadcasts: an ARP request nobody answers and a broadcast ping.
    await runIn(ns.A1, 'arping', ['-c', '2', '-w', '2', '-I', 'enc600', ip.NOBODY]);
    await runIn(ns.A1, 'ping', ['-b', '-c', '2', '-i', '0.3', '-W', '1', ip.BCAST]);
    const b1 = await capB1.stop();
    const a2 = await capA2.stop();
    const fromVlan10 = (l: string): boolean => s.vlanOf.get(senderOf(l) ?? '') === 10;
    assert.deepEqual(b1.filter(fromVlan10), [], 'B1 saw no frame from VLAN 10');
    assert.ok(b1.some((l) => l.includes(`${ip.L20} > ${ip.B1}: ICMP echo reply`)), 'B1\'s capture works (it saw L20\'s replies)');
    assert.ok(a2.some((l) => l.includes(`${ip.A1} > ${ip.BCAST}: ICMP echo request`)), 'A2 saw A1\'s broadcast ping');
    if (M === 'ETHERNET') assert.ok(a2.some((l) => new RegExp(`Request who-has ${ip.NOBODY} (\\(ff:ff:ff:ff:ff:ff\\) )?tell ${ip.A1},`).test(l)), `A2 saw A1's ARP broadcast: ${a2.join('\n')}`);
  });

  test(`${M}: the uplink is a trunk: each VLAN reaches its LAN host only, tagged with its VID on the LAN's wire`, async () => {
    const wire = await tcpdump(spawnIn, s.lanNs, 'lan0', 'arp or icmp or vlan');
    assert.ok(await reaches(ns.A1, ip.L10), 'A1 -> L10 (VLAN 10)');
    assert.ok(await reaches(ns.B1, ip.L20), 'B1 -> L20 (VLAN 20)');
    assert.ok(await reaches(s.l20Ns, ip.B1), 'L20 -> B1');
    assert.deepEqual(await answered([[ns.A1, ip.L20], [ns.B1, ip.L10], [s.lanNs, ip.B1], [s.l20Ns, ip.A2]]), [], 'A1 -> L20, B1 -> L10, L10 -> B1, L20 -> A2: no answer across VLANs');
    const lines = await wire.stop();
    const tag = (l: string): number | null => { const m = /vlan (\d+),/.exec(l); return m ? Number(m[1]) : null; };
    const wrong = lines.filter((l) => s.vlanOf.has(senderOf(l) ?? '') && tag(l) !== s.vlanOf.get(senderOf(l)!));
    assert.deepEqual(wrong, [], 'every frame on the LAN\'s wire carries its sender\'s VLAN as tag');
    const has = (vid: number, what: string): boolean => lines.some((l) => tag(l) === vid && l.includes(what));
    assert.ok(has(10, `${ip.A1} > ${ip.L10}: ICMP echo request`) && has(10, `${ip.L10} > ${ip.A1}: ICMP echo reply`), 'A1 <-> L10 tagged 10');
    assert.ok(has(20, `${ip.B1} > ${ip.L20}: ICMP echo request`) && has(20, `${ip.L20} > ${ip.B1}: ICMP echo reply`), 'B1 <-> L20 tagged 20');
  });

  test(`${M}: COUPLE without a grant is refused; SET NIC PROMISCUOUS needs the grant; a promiscuous guest sees both directions of another pair's ping`, async () => {
    const refused = d.cli('COUPLE', '0600', 'TO', 'SYSTEM', s.sw, 'FOR', user.P);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, new RegExp(`VSW0042E NIC 0600 not coupled: GUEST ${user.P} is not authorized for VSWITCH SYSTEM ${s.sw} \\(SET VSWITCH ${s.sw} GRANT ${user.P} first\\)`));
    assert.equal(d.json('QUERY', 'NIC', '0600', 'FOR', user.P).nics[0].switch, null, 'still uncoupled');
    d.commands([`SET VSWITCH ${s.sw} GRANT ${user.P} VLAN 10`, `COUPLE 0600 TO SYSTEM ${s.sw} FOR ${user.P}`]);
    const noGrant = d.cli('SET', 'NIC', '0600', 'PROMISCUOUS', 'FOR', user.P);
    assert.equal(noGrant.code, 1, noGrant.stdout + noGrant.stderr);
    assert.match(noGrant.stderr, new RegExp(`VSW0042E NIC 0600 not set PROMISCUOUS: ${user.P} is not authorized for promiscuous mode on VSWITCH SYSTEM ${s.sw}`));
    assert.equal(d.json('QUERY', 'NIC', '0600', 'FOR', user.P).nics[0].promiscuous, false);
    assert.ok(await reaches(ns.P, ip.A1), 'P (VLAN 10) is on the switch');
    const echo = (from: string, to: string, kind: string): string => `${from} > ${to}: ICMP echo ${kind}`;
    const sees = (lines: string[], what: string): boolean => lines.some((l) => l.includes(what));

    assert.ok(await reaches(ns.A1, ip.A2), 'A1 and A2 know each other (ETHERNET: learned, no flood)');
    const plain = await tcpdump(spawnIn, ns.P, 'enc600', 'icmp');
    assert.ok(await reaches(ns.A1, ip.A2));
    const before = await plain.stop();
    assert.ok(!sees(before, echo(ip.A1, ip.A2, 'request')) && !sees(before, echo(ip.A2, ip.A1, 'reply')), `not promiscuous: P saw nothing of A1 <-> A2: ${before.join('\n')}`);

    d.commands([`SET VSWITCH ${s.sw} GRANT ${user.P} PROMISCUOUS`, `SET NIC 0600 PROMISCUOUS FOR ${user.P}`]);
    assert.equal(d.json('QUERY', 'NIC', '0600', 'FOR', user.P).nics[0].promiscuous, true);
    assert.match(d.cli('QUERY', 'VSWITCH', s.sw, 'PROMISCUOUS').stdout, new RegExp(`Promiscuous NICs: ${user.P} 0600`));
    const mirror = await tcpdump(spawnIn, ns.P, 'enc600', 'icmp');
    assert.ok(await reaches(ns.A1, ip.A2));
    assert.ok(await reaches(ns.B1, ip.L20));
    const seen = await mirror.stop();
    assert.ok(sees(seen, echo(ip.A1, ip.A2, 'request')) && sees(seen, echo(ip.A2, ip.A1, 'reply')), `P saw A1 -> A2 and A2 -> A1: ${seen.join('\n')}`);
    assert.deepEqual(seen.filter((l) => s.vlanOf.get(senderOf(l) ?? '') === 20), [], 'P saw nothing of VLAN 20');
  });

  test(`${M}: SET VSWITCH ISOLATION ON: the VLAN 10 guests no longer reach each other, only the LAN; OFF restores it`, async () => {
    d.commands([`SET VSWITCH ${s.sw} ISOLATION ON`]);
    try {
      assert.equal(doc(s).isolation, true);
      const isolated = drops(s, 'isolated');
      assert.deepEqual(await answered([[ns.A1, ip.A2], [ns.A2, ip.A1]]), [], 'A1 -> A2 and A2 -> A1 cut off');
      assert.ok(drops(s, 'isolated') > isolated, 'the isolated drops counted');
      assert.ok(await reaches(ns.A1, ip.L10), 'A1 still reaches the LAN');
    } finally {
      d.commands([`SET VSWITCH ${s.sw} ISOLATION OFF`]);
    }
    assert.equal(doc(s).isolation, false);
    assert.ok(await reaches(ns.A1, ip.A2), 'OFF: A1 -> A2 again');
    assert.ok(await reaches(ns.A2, ip.A1), 'OFF: A2 -> A1 again');
  });

  test(`${M}: SET VSWITCH MACPROTECT ON: a guest that changes its MAC gets nothing through (spoofed-mac counted)`, async () => {
    const own = d.json('QUERY', 'NIC', '0600', 'FOR', user.A1).nics[0].mac as string;
    d.commands([`SET VSWITCH ${s.sw} MACPROTECT ON`]);
    try {
      assert.equal(doc(s).macProtect, true);
      assert.ok(await reaches(ns.A1, ip.A2), 'with its own MAC A1 still reaches A2');
      const spoofed = drops(s, 'spoofed-mac');
      lab.ip(ns.A1, 'link', 'set', 'enc600', 'address', '02:5e:00:00:0a:01');
      try {
        lab.ip(ns.A1, 'neigh', 'flush', 'all');
        assert.deepEqual(await answered([[ns.A1, ip.A2], [ns.A1, ip.L10]]), [], 'A1 with another MAC reaches neither A2 nor the LAN');
        const counted = await waitFor(() => drops(s, 'spoofed-mac') - spoofed, 5000);
        assert.ok(counted >= 2, `spoofed-mac counted (${counted} frames)`);
      } finally {
        lab.ip(ns.A1, 'link', 'set', 'enc600', 'address', own);
      }
      assert.ok(await reaches(ns.A1, ip.A2), 'its own MAC again: A1 -> A2');
    } finally {
      d.commands([`SET VSWITCH ${s.sw} MACPROTECT OFF`]);
    }
    assert.equal(doc(s).macProtect, false);
  });

  test(`${M}: Q VSWITCH DETAILS --json shows each port's type and VLANs${M === 'ETHERNET' ? ' and the learned MAC table per VLAN' : ' and the LAN IP table per VLAN'}`, async () => {
    const sw = doc(s);
    assert.deepEqual(sw.vlan, { aware: true, defaultVid: 10, nativeVid: 1, portType: 'ACCESS' });
    const ports = Object.fromEntries(sw.nics.map((n: any) => [n.guest, [n.portType, n.pvid, n.vlans, n.promiscuous]]));
    assert.deepEqual(ports, {
      [user.A1]: ['ACCESS', 10, [], false], [user.A2]: ['ACCESS', 10, [], false],
      [user.B1]: ['ACCESS', 20, [], false], [user.P]: ['ACCESS', 10, [], true],
    });
    assert.deepEqual(sw.uplink.vlans, [10, 20], 'the uplink: a trunk of VLANs 10 and 20');
    assert.deepEqual(sw.accessList.map((a: any) => [a.userid, a.vlans, a.promiscuous]),
      [[user.A1, [10], false], [user.A2, [10], false], [user.B1, [20], false], [user.P, [10], true]]);
    if (M === 'IP') {
      assert.equal(sw.macTable, null);
      const table = Object.fromEntries(sw.ipTable.map((e: any) => [e.ip, [e.guest, e.vlan]]));
      assert.deepEqual(table, { [ip.A1]: [user.A1, 10], [ip.A2]: [user.A2, 10], [ip.B1]: [user.B1, 20], [ip.P]: [user.P, 10] });
      return;
    }
    const macOf = (w: Who): string => d.json('QUERY', 'NIC', '0600', 'FOR', user[w]).nics[0].mac;
    const lanMac = JSON.parse(lab.ip(s.lanNs, '-j', 'link', 'show', 'lan0'))[0].address as string;
    assert.ok(await reaches(ns.A1, ip.L10) && await reaches(ns.B1, ip.L20) && await reaches(ns.A2, ip.A1));
    const want: Array<[string, number, string]> = [
      [macOf('A1'), 10, `${user.A1} 0600`], [macOf('A2'), 10, `${user.A2} 0600`], [macOf('B1'), 20, `${user.B1} 0600`],
      [lanMac, 10, s.up], [lanMac, 20, s.up],
    ];
    type Entry = { mac: string; vlan?: number; ifname: string; master: string; uplink: boolean };
    const key = (e: Entry): string => `${e.mac} ${e.vlan} ${e.ifname}`;
    const entries: Entry[] | null = await waitFor((): Entry[] | null => {
      const t = (doc(s).macTable.entries ?? []) as Entry[];
      return want.every(([m, v, i]) => t.some((e) => key(e) === `${m} ${v} ${i}`)) ? t : null;
    }, 10_000, 200);
    assert.ok(entries, `the MAC table holds ${JSON.stringify(want)}: ${JSON.stringify(doc(s).macTable)}`);
    assert.ok(entries.every((e) => e.master === s.sw && (e.vlan === 10 || e.vlan === 20)), 'every entry in VLAN 10 or 20 of this switch');
    assert.deepEqual(entries.filter((e) => e.mac === lanMac).map((e) => [e.vlan, e.uplink]), [[10, true], [20, true]], 'the LAN host\'s MAC once per VLAN, at the uplink');
    assert.ok(!entries.some((e) => e.mac === macOf('B1') && e.vlan === 10), 'B1 is not in VLAN 10');
  });

  test(`${M}: SET VSWITCH REVOKE uncouples the guest (NO-CARRIER, no traffic); COUPLE is refused again`, async () => {
    assert.ok(await reaches(ns.P, ip.A1), 'P reaches A1 while granted');
    d.commands([`SET VSWITCH ${s.sw} REVOKE ${user.P}`]);
    assert.equal(d.json('QUERY', 'NIC', '0600', 'FOR', user.P).nics[0].switch, null, 'P\'s NIC is uncoupled');
    assert.ok(!doc(s).nics.some((n: any) => n.guest === user.P), 'and gone from the switch');
    assert.ok(await waitFor(() => /NO-CARRIER/.test(lab.ip(ns.P, 'link', 'show', 'enc600')), 5000), 'the guest sees NO-CARRIER');
    assert.deepEqual(await answered([[ns.P, ip.A1]]), [], 'P reaches no one');
    const again = d.cli('COUPLE', '0600', 'TO', 'SYSTEM', s.sw, 'FOR', user.P);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /VSW0042E/);
    assert.equal(drops(s, 'malformed'), 0, 'no malformed frames on the switch');
  });
}
