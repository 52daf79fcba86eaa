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
import { NetLab, waitFor, sleep } from '../helpers/netlab.js';
import { clusterNet, EtcdCluster, type ClusterNet } from '../helpers/etcd.js';
import { Daemon } from '../helpers/daemon.js';
import { Controller } from '../helpers/controller.js';
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

after(async () => {
  for (const c of controllers) await c.stop().catch(() => {});
  for (const d of members) await d.stop().catch(() => {});
  await etcd?.stop();
  lab.cleanup();
});

function ssi(d: Daemon): any {
  return d.json('QUERY', 'SSI').ssi;
}

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

test('QUERY SSI: three members joined, each with the MAC prefix its qualified statement gave it', async () => {
  const ok = await waitFor(() => ssi(members[0]).members.filter((m: any) => m.state === 'JOINED').length === 3, 10_000, 100);
  assert.ok(ok, JSON.stringify(ssi(members[0])));
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

export { sleep, dropCount, lanTable };
