/**
 * A cluster of three vswitchd members on one machine, end to end on the real kernel and a real
 * etcd 3.4: each member is a network namespace (h1, h2, h3) running its own vswitchd (own socket
 * and state directory) and controller, and an etcd member on its management address; the
 * members' uplinks (up0) are on one LAN, a bridge in the bridge namespace that also holds the
 * LAN host (10.233.0.1). One SYSTEM CONFIG text serves all three: the record qualifiers give
 * each member its own MAC prefix.
 *
 * One etcd cluster and one set of daemons serve the whole file (start-up is slow), so the
 * tests run in order and each says what it leaves behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { NetLab, waitFor, sleep, run } from '../helpers/netlab.js';
import { uplinkMac } from '../helpers/query.js';
import { clusterNet, EtcdCluster, type ClusterNet } from '../helpers/etcd.js';
import { Daemon, VSWITCHD } from '../helpers/daemon.js';
import { Controller } from '../helpers/controller.js';
import { grantEverywhere, ssi, stopAll } from '../helpers/cluster-members.js';
import { dropCount, lanTable } from '../helpers/query.js';

const lab = new NetLab('cl');
let net: ClusterNet;
let etcd: EtcdCluster;
const members: Daemon[] = [];
const controllers: Controller[] = [];
const NAMES = ['M1', 'M2', 'M3'];
const LAN = '10.233.0';

const CONFIG = [
  '* one file for every member: the qualifier says whose statement it is',
  'M1: VMLAN MACPREFIX 02A001',
  'M2: VMLAN MACPREFIX 02A002',
  'M3: VMLAN MACPREFIX 02A003',
].join('\n');

before(async () => {
  net = clusterNet(lab, '10.232.0');
  lab.ip(net.bridgeNs, 'link', 'add', 'lan', 'type', 'bridge');
  lab.ip(net.bridgeNs, 'link', 'set', 'lan', 'up');
  lab.ip(net.bridgeNs, 'addr', 'add', `${LAN}.1/24`, 'dev', 'lan');
  net.hosts.forEach((h, i) => {
    lab.veth(h.netns, 'up0', net.bridgeNs, `u${i + 1}`);
    lab.ip(net.bridgeNs, 'link', 'set', `u${i + 1}`, 'master', 'lan');
  });
  etcd = await EtcdCluster.start(net.hosts);
  const urls = etcd.endpoints.join(',');
  for (const [i, h] of net.hosts.entries()) {
    const d = new Daemon({ netns: h.netns, config: CONFIG, args: ['--cluster', urls, '--member', NAMES[i]] });
    members.push(d);
    await d.start();
    const c = new Controller('DTCVSW1', h.netns, d);
    controllers.push(c);
    await c.start();
  }
});

after(() => stopAll(controllers, members, etcd, lab));


function switches(d: Daemon): Array<{ name: string; rdevs: string[] }> {
  return (d.json('QUERY', 'VSWITCH', 'ALL').switches as any[]).map((s) => ({ name: s.name, rdevs: s.uplink.rdevs }));
}

/** Every member that runs has exactly these switches (name and RDEVs), polled until true. */
async function everywhere(expected: Array<{ name: string; rdevs: string[] }>, who = members): Promise<void> {
  const want = JSON.stringify([...expected].sort((a, b) => a.name.localeCompare(b.name)));
  for (const d of who) {
    const ok = await waitFor(() => JSON.stringify(switches(d).sort((a, b) => a.name.localeCompare(b.name))) === want, 15_000, 100);
    assert.ok(ok, `member ${NAMES[members.indexOf(d)]} has ${JSON.stringify(switches(d))}, not ${want}`);
  }
}

function grant(userid: string): Promise<void> {
  return grantEverywhere(members, NAMES, userid);
}

test('QUERY SSI: three members joined, each with the MAC prefix its qualified statement gave it', async () => {
  // Every member reads the roster on its own: wait until each has seen all three.
  for (const m of members) {
    const ok = await waitFor(() => ssi(m).members.filter((x: any) => x.state === 'JOINED').length === 3, 10_000, 100);
    assert.ok(ok, JSON.stringify(ssi(m)));
  }
  const v = ssi(members[1]);
  assert.equal(v.member, 'M2');
  assert.equal(v.store.ok, true);
  assert.deepEqual(v.members.map((m: any) => [m.name, m.macPrefix]), [['M1', '02A001'], ['M2', '02A002'], ['M3', '02A003']]);
  const text = members[2].cli('QUERY', 'SSI').stdout;
  assert.match(text, /^SSI Name: VSWITCH$/m);
  assert.match(text, /^SSI Mode: Stable$/m);
  assert.match(text, /^ {3}2 M2 {7}Joined {3}02A002/m);
  assert.match(members[0].stderr, /SYSTEM CONFIG line 3 is for member M2; skipped/);
});

test('a definition issued on one member is applied on every member', async () => {
  const r = members[0].cli('DEFINE', 'VSWITCH', 'SW1', 'RDEV', 'up0', 'IP');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // Acknowledged once applied here.
  assert.deepEqual(switches(members[0]), [{ name: 'SW1', rdevs: ['up0'] }]);
  await everywhere([{ name: 'SW1', rdevs: ['up0'] }]);
  // A refused shared definition changes nothing anywhere.
  const again = members[2].cli('DEFINE', 'VSWITCH', 'SW1', 'RDEV', 'up0', 'IP');
  assert.notEqual(again.code, 0);
  assert.match(again.stdout + again.stderr, /VSW0010E/);
  assert.equal(ssi(members[2]).definitions.committed, 1);
});

test('two members define the same switch at once: one wins, every member has the winner', async () => {
  const [a, b] = await Promise.all([
    members[0].batch(['DEFINE VSWITCH SW3 RDEV ra ETHERNET']).then(() => true, () => false),
    members[1].batch(['DEFINE VSWITCH SW3 RDEV rb ETHERNET']).then(() => true, () => false),
  ]);
  assert.equal(Number(a) + Number(b), 1, `exactly one is acknowledged (M1 ${a}, M2 ${b})`);
  await everywhere([{ name: 'SW1', rdevs: ['up0'] }, { name: 'SW3', rdevs: [a ? 'ra' : 'rb'] }]);
  const r = members[1].cli('DETACH', 'VSWITCH', 'SW3');
  assert.equal(r.code, 0, r.stdout);
  await everywhere([{ name: 'SW1', rdevs: ['up0'] }]);
});

test('a member that was down during a change catches up when it starts again', async () => {
  await controllers[2].stop();
  await members[2].kill9();
  const r = members[1].cli('DEFINE', 'VSWITCH', 'SW2', 'RDEV', 'none', 'ETHERNET');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  await everywhere([{ name: 'SW1', rdevs: ['up0'] }, { name: 'SW2', rdevs: [] }], members.slice(0, 2));
  const down = await waitFor(() => ssi(members[0]).members.find((m: any) => m.name === 'M3').state === 'DOWN', 20_000, 200);
  assert.ok(down, 'M3 shows Down once its lease ran out');
  await members[2].start();
  await controllers[2].start();
  await everywhere([{ name: 'SW1', rdevs: ['up0'] }, { name: 'SW2', rdevs: [] }]);
  const v = ssi(members[2]);
  assert.equal(v.definitions.applied, v.definitions.committed);
  // And what it caught up on survives its next restart (journaled locally, no double apply).
  await members[2].restart();
  await everywhere([{ name: 'SW1', rdevs: ['up0'] }, { name: 'SW2', rdevs: [] }], [members[2]]);
  assert.equal(ssi(members[2]).definitions.notApplied, 0);
});

test('a user id is active on one member at a time', async () => {
  const g1 = lab.adopt(lab.name('g1'));
  const g2 = lab.adopt(lab.name('g2'));
  await grant('LINUX1');
  members[0].commands([`DEFINE GUEST LINUX1 NETNS ${g1}`, 'DEFINE NIC 0600 FOR LINUX1', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1']);
  members[1].commands([`DEFINE GUEST LINUX1 NETNS ${g2}`, 'DEFINE NIC 0600 FOR LINUX1']);
  const refused = members[1].cli('COUPLE', '0600', 'TO', 'SYSTEM', 'SW1', 'FOR', 'LINUX1');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stdout + refused.stderr, /VSW0061E user LINUX1 is active on member M1/);
  assert.equal(members[1].json('QUERY', 'NIC', '0600', 'FOR', 'LINUX1').nics[0].switch, null);
  assert.deepEqual(ssi(members[0]).users.held, ['LINUX1']);
  // Once M1 uncouples it, M2 may.
  members[0].commands(['UNCOUPLE 0600 FOR LINUX1']);
  const ok = members[1].cli('COUPLE', '0600', 'TO', 'SYSTEM', 'SW1', 'FOR', 'LINUX1');
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const back = members[0].cli('COUPLE', '0600', 'TO', 'SYSTEM', 'SW1', 'FOR', 'LINUX1');
  assert.match(back.stdout + back.stderr, /VSW0061E user LINUX1 is active on member M2/);
  members[1].commands(['UNCOUPLE 0600 FOR LINUX1', 'DETACH NIC 0600 FOR LINUX1', 'DETACH GUEST LINUX1']);
  members[0].commands(['DETACH NIC 0600 FOR LINUX1', 'DETACH GUEST LINUX1']);
});


const ADDR = `${LAN}.50`;

function entry(d: Daemon, ip: string): { localOnly: boolean; reason?: string | null } | undefined {
  return lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').find((e) => e.ip === ip);
}

/** The LAN host reaches `ip`, and its ARP entry for it is `mac` (the uplink of the member that holds it). */
function lanReaches(ip: string, mac: string): boolean {
  const ping = lab.exec(net.bridgeNs, 'ping', ['-c', '1', '-W', '1', ip]);
  const neigh = lab.exec(net.bridgeNs, 'ip', ['neigh', 'show', ip]).stdout;
  return ping.code === 0 && neigh.toLowerCase().includes(mac.toLowerCase());
}

test("an address is one member's; another member's claim is refused and counted; a killed member's address is free after its lease", async (t) => {
  const ga = lab.adopt(lab.name('ga'));
  const gb = lab.adopt(lab.name('gb'));
  await grant('LINUXA');
  members[0].commands([`DEFINE GUEST LINUXA NETNS ${ga}`, 'DEFINE NIC 0600 FOR LINUXA', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUXA']);
  lab.configureNic(ga, 'enc600', `${ADDR}/24`);
  assert.ok(await waitFor(() => entry(members[0], ADDR)?.localOnly === false, 20_000, 100), `M1 registers ${ADDR}: ${JSON.stringify(entry(members[0], ADDR))}`);
  const m1Mac = uplinkMac(members[0].json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1')!;
  const m2Mac = uplinkMac(members[1].json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1')!;
  assert.ok(await waitFor(() => lanReaches(ADDR, m1Mac), 15_000, 200), 'the LAN reaches the address through M1');

  await grant('LINUXB');
  members[1].commands([`DEFINE GUEST LINUXB NETNS ${gb}`, 'DEFINE NIC 0600 FOR LINUXB', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUXB']);
  lab.configureNic(gb, 'enc600', `${ADDR}/24`);
  const refusedOnM2 = () => ssi(members[1]).addresses.refused.some((r: any) => r.ip === ADDR && r.sw === 'SW1' && r.member === 'M1');
  assert.ok(await waitFor(refusedOnM2, 15_000, 100), `M2 refuses the claim: ${JSON.stringify(ssi(members[1]).addresses)}`);
  assert.equal(entry(members[1], ADDR)?.localOnly, true);
  assert.equal(entry(members[1], ADDR)?.reason, 'held by member M1 of the cluster');
  assert.ok(dropCount(members[1].json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'address-conflict') >= 1, 'the refusal is counted');
  assert.match(members[1].cli('QUERY', 'SSI').stdout, new RegExp(`Refused: address ${ADDR.replace(/\./g, '\\.')} on VSWITCH SW1 is held by M1`));
  assert.ok(lanReaches(ADDR, m1Mac), 'the LAN still reaches M1');

  // M1 dies: its lease runs out and M2 takes the address.
  const killed = Date.now();
  await controllers[0].kill9();
  await members[0].kill9();
  assert.ok(await waitFor(() => entry(members[1], ADDR)?.localOnly === false, 30_000, 200), `M2 registers ${ADDR} once M1's lease ran out: ${JSON.stringify(entry(members[1], ADDR))} ${JSON.stringify(ssi(members[1]).addresses)} m1 ${m1Mac} m2 ${m2Mac}\n${members[1].stderr.split('\n').filter((l) => l.includes(ADDR) || l.includes('cluster')).slice(-30).join('\n')}`);
  const freedMs = Date.now() - killed;
  t.diagnostic(`address free on M2 ${freedMs} ms after M1 was killed (lease ${ssi(members[1]).leaseTtlS} s)`);
  assert.ok(await waitFor(() => lanReaches(ADDR, m2Mac), 15_000, 200), 'the LAN reaches the address through M2 now');

  // M1 comes back: its guest still has the address, which is M2's now.
  await members[0].start();
  await controllers[0].start();
  assert.ok(await waitFor(() => ssi(members[0]).addresses.refused.some((r: any) => r.ip === ADDR && r.member === 'M2'), 20_000, 200),
    `M1 is refused now: ${JSON.stringify(ssi(members[0]).addresses)}`);
  assert.ok(lanReaches(ADDR, m2Mac), 'the LAN still reaches M2');
});

test('etcd: one member down, the cluster works; two down, definitions are refused and traffic flows; back, nothing diverged', async () => {
  const base = [{ name: 'SW1', rdevs: ['up0'] }, { name: 'SW2', rdevs: [] }];
  const m2Mac = uplinkMac(members[1].json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1')!;
  await etcd.kill('e1');
  const one = members[2].cli('DEFINE', 'VSWITCH', 'SW4', 'RDEV', 'none', 'ETHERNET');
  assert.equal(one.code, 0, one.stdout + one.stderr);
  await everywhere([...base, { name: 'SW4', rdevs: [] }]);

  await etcd.kill('e2');
  assert.ok(await waitFor(() => members.every((d) => ssi(d).store.ok === false), 15_000, 200), 'every member sees the store gone');
  const refused = members[1].cli('DEFINE', 'VSWITCH', 'SW5', 'RDEV', 'none', 'ETHERNET');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stdout + refused.stderr, /VSW0060E the cluster's store is not available .*: shared definitions are refused until it is back; traffic is not affected/);
  assert.match(members[0].cli('QUERY', 'SSI').stdout, /^SSI Mode: Unstable$/m);
  // A member that starts while the store is away starts on its own history, and joins later.
  await controllers[2].stop();
  await members[2].restart();
  await controllers[2].start();
  const alone = ssi(members[2]);
  assert.equal(alone.joined, false, JSON.stringify(alone));
  assert.match(members[2].cli('QUERY', 'SSI').stdout, /^This system: M3 \(not joined yet/m);
  await everywhere([...base, { name: 'SW4', rdevs: [] }], [members[2]]);
  // Longer than the lease: traffic does not depend on the store.
  const until = Date.now() + 12_000;
  while (Date.now() < until) {
    assert.ok(lanReaches(ADDR, m2Mac), 'the LAN reaches the guest on M2 while the store has no quorum');
    await sleep(1000);
  }
  await everywhere([...base, { name: 'SW4', rdevs: [] }]);

  await Promise.all([etcd.restart('e1'), etcd.restart('e2')]);
  assert.ok(await waitFor(() => members.every((d) => ssi(d).store.ok === true && ssi(d).joined), 20_000, 200), 'every member sees the store back (M3 joins)');
  const back = members[0].cli('DEFINE', 'VSWITCH', 'SW5', 'RDEV', 'none', 'ETHERNET');
  assert.equal(back.code, 0, back.stdout + back.stderr);
  await everywhere([...base, { name: 'SW4', rdevs: [] }, { name: 'SW5', rdevs: [] }]);
  const seqs = members.map((d) => ssi(d).definitions);
  assert.ok(seqs.every((s) => s.applied === seqs[0].applied && s.committed === s.applied), JSON.stringify(seqs));
  // The address claims are back under the (new or kept) lease: still M2's, and the LAN reaches it.
  assert.ok(await waitFor(() => ssi(members[1]).addresses.held >= 1 && entry(members[1], ADDR)?.localOnly === false, 20_000, 200));
  assert.ok(lanReaches(ADDR, m2Mac));
});

test('guests on two members reach each other through the shared LAN, with no set-up beyond their own', async () => {
  const gc = lab.adopt(lab.name('gc'));
  const gb = lab.name('gb');
  await grant('LINUXC');
  members[2].commands([`DEFINE GUEST LINUXC NETNS ${gc}`, 'DEFINE NIC 0600 FOR LINUXC', 'COUPLE 0600 TO SYSTEM SW1 FOR LINUXC']);
  lab.configureNic(gc, 'enc600', `${LAN}.60/24`);
  assert.ok(await waitFor(() => entry(members[2], `${LAN}.60`)?.localOnly === false, 20_000, 100), 'M3 registers its guest');
  const ping = await waitFor(() => lab.exec(gc, 'ping', ['-c', '1', '-W', '1', ADDR]).code === 0, 15_000, 200);
  assert.ok(ping, 'LINUXC on M3 reaches LINUXB on M2');
  assert.equal(lab.exec(gb, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', `${LAN}.60`]).code, 0, 'and back');
});

test("a member whose MAC prefix is another member's does not start; --cluster needs --member", async () => {
  const d = new Daemon({ netns: net.hosts[2].netns, config: 'VMLAN MACPREFIX 02A001\n', args: ['--cluster', etcd.endpoints.join(','), '--member', 'M4'] });
  await assert.rejects(d.start(), /cannot join the cluster as member M4: MAC prefix 02A001 belongs to member M1/);
  rmSync(d.dir, { recursive: true, force: true });
  assert.ok(!ssi(members[0]).members.some((m: any) => m.name === 'M4'), 'M4 never joined');
  const r = run(VSWITCHD, ['--cluster', etcd.endpoints.join(',')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--cluster needs --member NAME/);
  const bad = run(VSWITCHD, ['--cluster', 'etcd1:2379', '--member', 'M5']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--cluster takes etcd client URLs/);
});
