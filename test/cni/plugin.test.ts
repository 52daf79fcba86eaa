/**
 * bin/vswitch-cni against a real vswitchd (in a namespace of its own) with Debian's host-local
 * IPAM plugin from /usr/lib/cni, run as a runtime runs it: the CNI environment and the network
 * configuration on stdin, the answer on stdout. Container namespaces are namespaces the test
 * makes (CNI_NETNS is their path), or a process's /proc/PID/ns/net.
 *
 * The CNI spec's behaviours: VERSION; ADD's result (interface with MAC and sandbox, address,
 * route) and what it did (guest and NIC on the switch, the address configured and in the LAN IP
 * table); ADD twice refused with the first attachment intact; CHECK, and CHECK after a manual
 * change (an address removed, the NIC uncoupled); DEL twice, DEL of an unknown container, DEL
 * after a daemon restart; STATUS; GC with cni.dev/valid-attachments (a 1.1.0 configuration,
 * which host-local, speaking 1.0.0, gets as 1.0.0). Bad input gives a CNI error object and
 * leaves nothing behind (no guest, no NIC, no interface, no address reservation, no record):
 * malformed JSON, missing fields, an unsupported version, an unknown switch, a CNI_NETNS that
 * does not exist, "vlan", an interface name that is taken, IPAM failing halfway (after the NIC
 * was made). User-id collisions take the next candidate. A container whose namespace disappears
 * without DEL loses its guest (logged), and its DEL later still succeeds.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab, run, waitFor } from '../helpers/netlab.js';
import { Daemon, ROOT } from '../helpers/daemon.js';
import { lanTable } from '../helpers/query.js';
import { Attachments, candidateUserid } from '../../src/cni/attachments.js';

const CNI = join(ROOT, 'bin/vswitch-cni');
const lab = new NetLab('cn');
const dir = mkdtempSync(join(tmpdir(), 'vswcni-'));
let d: Daemon;
let hostNs: string;
const children: ChildProcess[] = [];

interface Answer { code: number; out: any; stderr: string }

function conf(extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0', name: 'vswnet', type: 'vswitch', vswitch: 'SW1', socket: d.socket, dataDir: join(dir, 'data'),
    ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.97.0.0/24', gateway: '10.97.0.1' }]], routes: [{ dst: '0.0.0.0/0' }], ...ipam },
    ...extra,
  };
}

function cni(command: string, env: Record<string, string>, stdin: string | object): Answer {
  const r = run('env', [`CNI_COMMAND=${command}`, 'CNI_PATH=/usr/lib/cni', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), CNI],
    { input: typeof stdin === 'string' ? stdin : JSON.stringify(stdin) });
  let out: any = null;
  if (r.stdout.trim() !== '') out = JSON.parse(r.stdout);
  return { code: r.code, out, stderr: r.stderr };
}

function envOf(id: string, netns: string, ifname = 'eth0'): Record<string, string> {
  return { CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: ifname };
}

function succeeds(a: Answer, what: string): any {
  assert.equal(a.code, 0, `${what}: ${JSON.stringify(a.out)} ${a.stderr}`);
  return a.out;
}

function cniError(a: Answer, code: number, msg: RegExp, what: string): void {
  assert.notEqual(a.code, 0, `${what} must fail: ${JSON.stringify(a.out)}`);
  assert.equal(a.out?.code, code, `${what}: ${JSON.stringify(a.out)} ${a.stderr}`);
  assert.match(a.out.msg, msg, what);
  assert.equal(typeof a.out.cniVersion, 'string');
}

function guests(): string[] {
  return (d.json('QUERY', 'GUEST', 'ALL').guests as Array<{ userid: string }>).map((g) => g.userid);
}

function coupledNics(): string[] {
  const sw = d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0];
  return (sw.nics as Array<{ guest: string; vdev: string }>).map((n) => `${n.guest} ${n.vdev}`);
}

/** Addresses host-local holds reserved (its files named by address). */
/** The user ids on a switch's access list. */
function granted(sw = 'SW1'): string[] {
  return (d.json('QUERY', 'VSWITCH', sw, 'ACCESSLIST').switches[0].accessList as Array<{ userid: string }>).map((a) => a.userid);
}

function reservations(): string[] {
  const p = join(dir, 'ipam', 'vswnet');
  return existsSync(p) ? readdirSync(p).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort() : [];
}

function claimsOf(id: string): string | null {
  return new Attachments(join(dir, 'data'), d.socket).find(id);
}

function addrs(ns: string, ifname = 'eth0'): string[] {
  const r = run('ip', ['-n', ns, '-j', '-4', 'addr', 'show', 'dev', ifname]);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout)[0]?.addr_info ?? []).map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
}

/** A process in a network namespace of its own; its /proc path is a container runtime's CNI_NETNS. */
function sleeper(): { netns: string; child: ChildProcess } {
  const child = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
  children.push(child);
  return { netns: `/proc/${child.pid}/ns/net`, child };
}

before(async () => {
  hostNs = lab.netns('h');
  d = new Daemon({ netns: hostNs });
  await d.start();
  d.commands(['DEFINE VSWITCH SW1 IP', 'DEFINE VSWITCH SW2 IP VLAN 10']);
});

after(async () => {
  for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  try { await d?.stop(); } finally {
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('VERSION: the spec versions this plugin speaks, also with the dummy environment libcni validates with', () => {
  const v = succeeds(cni('VERSION', {}, { cniVersion: '1.0.0' }), 'VERSION');
  assert.deepEqual(v, { cniVersion: '1.0.0', supportedVersions: ['1.0.0', '1.1.0'] });
  const w = succeeds(cni('VERSION', { CNI_CONTAINERID: 'dummy', CNI_NETNS: 'dummy', CNI_IFNAME: 'dummy' }, { cniVersion: '1.1.0' }), 'VERSION (dummy env)');
  assert.equal(w.cniVersion, '1.1.0');
  cniError(cni('NOPE', {}, conf()), 4, /CNI_COMMAND/, 'an unknown command');
});

test('ADD: the result, the guest and its coupled NIC, the address configured and registered; ADD twice is refused and changes nothing', async () => {
  const ns = lab.netns('c1');
  const path = `/run/netns/${ns}`;
  const r = succeeds(cni('ADD', envOf('ctr-one', path), conf()), 'ADD');
  const userid = candidateUserid('ctr-one', 0);
  const nic = d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', userid).nics[0];
  assert.deepEqual(r, {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: nic.mac, sandbox: path }],
    ips: [{ address: '10.97.0.2/24', gateway: '10.97.0.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: {},
  });
  assert.deepEqual(d.json('QUERY', 'GUEST', userid).guests[0], { userid, type: 'NETNS', netns: path, transport: null, nics: ['0600'] });
  assert.deepEqual(nic.tap, { name: 'eth0', netns: path });
  assert.equal(nic.switch, 'SW1');
  assert.ok(granted().includes(userid), 'ADD granted the container the switch');
  assert.deepEqual(addrs(ns), ['10.97.0.2/24']);
  assert.match(lab.ip(ns, 'route'), /^default via 10\.97\.0\.1 dev eth0/m);
  assert.match(lab.ip(ns, 'link', 'show', 'dev', 'eth0'), new RegExp(`link/ether ${nic.mac}`));
  assert.ok(await waitFor(() => lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').some((e) => e.ip === '10.97.0.2' && e.guest === userid), 3000),
    'the switch learnt the address from the namespace');

  const again = cni('ADD', envOf('ctr-one', path), conf());
  cniError(again, 101, /already has interface eth0 on network vswnet/, 'ADD twice');
  assert.deepEqual(coupledNics(), [`${userid} 0600`], 'the first attachment is intact');
  assert.deepEqual(addrs(ns), ['10.97.0.2/24']);
  assert.deepEqual(reservations(), ['10.97.0.2'], 'no second address reserved');
  succeeds(cni('CHECK', envOf('ctr-one', path), conf({ prevResult: r })), 'CHECK after ADD twice');
});

test('CHECK: passes as ADD left it; after an address is removed, or the NIC uncoupled, it names what differs', () => {
  const ns = lab.netns('c2');
  const path = `/run/netns/${ns}`;
  const r = succeeds(cni('ADD', envOf('ctr-two', path), conf()), 'ADD');
  const userid = claimsOf('ctr-two')!;
  const check = (): Answer => cni('CHECK', envOf('ctr-two', path), conf({ prevResult: r }));
  succeeds(check(), 'CHECK');
  const a = r.ips[0].address as string;
  lab.ip(ns, 'addr', 'del', a, 'dev', 'eth0');
  cniError(check(), 104, new RegExp(`lacks address ${a.replace(/\./g, '\\.')}`), 'CHECK without the address');
  lab.ip(ns, 'addr', 'add', a, 'dev', 'eth0');
  lab.ip(ns, 'route', 'add', 'default', 'via', '10.97.0.1');
  succeeds(check(), 'CHECK with the address back');
  assert.equal(d.cli('UNCOUPLE', '0600', 'FOR', userid).code, 0);
  cniError(check(), 104, /not coupled to VSWITCH SW1 \(not coupled\)/, 'CHECK of an uncoupled NIC');
  cniError(cni('CHECK', envOf('ctr-two', path), conf()), 7, /prevResult/, 'CHECK without prevResult');
  cniError(cni('CHECK', envOf('ctr-nobody', path), conf({ prevResult: r })), 3, /has no interface eth0/, 'CHECK of an unknown container');
  succeeds(cni('DEL', envOf('ctr-two', path), conf()), 'DEL');
});

test('"vlan": on a VLAN-aware switch the container is granted an access port in that VLAN; DEL revokes it', () => {
  const ns = lab.netns('cv');
  const path = `/run/netns/${ns}`;
  succeeds(cni('ADD', envOf('ctr-vlan', path), conf({ vswitch: 'SW2', vlan: 100, name: 'vswvlan' })), 'ADD with vlan');
  const userid = claimsOf('ctr-vlan')!;
  const acl = d.json('QUERY', 'VSWITCH', 'SW2', 'ACCESSLIST').switches[0].accessList;
  assert.deepEqual(acl.map((a: { userid: string; portType: string; vlans: number[] }) => [a.userid, a.portType, a.vlans]), [[userid, 'ACCESS', [100]]]);
  const nic = d.json('QUERY', 'NIC', '0600', 'FOR', userid).nics[0];
  assert.deepEqual([nic.switch, nic.policy.portType, nic.policy.pvid], ['SW2', 'ACCESS', 100]);
  succeeds(cni('DEL', envOf('ctr-vlan', path), conf({ vswitch: 'SW2', vlan: 100, name: 'vswvlan' })), 'DEL');
  assert.deepEqual(granted('SW2'), []);
});

test('DEL: undoes everything, twice; an unknown container; after a daemon restart', async () => {
  const ns = lab.netns('c3');
  const path = `/run/netns/${ns}`;
  succeeds(cni('ADD', envOf('ctr-three', path), conf()), 'ADD');
  const userid = claimsOf('ctr-three')!;
  assert.ok(guests().includes(userid));
  const before = reservations();
  succeeds(cni('DEL', envOf('ctr-three', path), conf()), 'DEL');
  assert.ok(!guests().includes(userid), 'the guest is gone');
  assert.ok(!coupledNics().some((n) => n.startsWith(userid)), 'the NIC is gone from QUERY VSWITCH');
  assert.ok(!granted().includes(userid), 'DEL revoked the grant');
  assert.equal(run('ip', ['-n', ns, 'link', 'show', 'dev', 'eth0']).code, 1, 'the interface is gone');
  assert.equal(reservations().length, before.length - 1, 'the address is released');
  assert.equal(claimsOf('ctr-three'), null, 'the record is gone');
  succeeds(cni('DEL', envOf('ctr-three', path), conf()), 'DEL twice');
  succeeds(cni('DEL', { CNI_CONTAINERID: 'ctr-never', CNI_IFNAME: 'eth0' }, conf()), 'DEL of an unknown container, no CNI_NETNS');

  succeeds(cni('ADD', envOf('ctr-three', path), conf()), 'ADD again');
  const again = claimsOf('ctr-three')!;
  await d.restart();
  assert.ok(guests().includes(again), 'the journal brought the guest back');
  succeeds(cni('DEL', { CNI_CONTAINERID: 'ctr-three', CNI_IFNAME: 'eth0' }, conf()), 'DEL after the restart');
  assert.ok(!guests().includes(again));
  assert.equal(run('ip', ['-n', ns, 'link', 'show', 'dev', 'eth0']).code, 1);
});

test('bad input: a CNI error object, and nothing left behind', async () => {
  const ns = lab.netns('c4');
  const path = `/run/netns/${ns}`;
  const env = envOf('ctr-bad', path);
  const g0 = guests();
  const a0 = granted();
  const r0 = reservations();
  const nothingLeft = (what: string): void => {
    assert.deepEqual(guests(), g0, `${what}: no guest left`);
    assert.deepEqual(reservations(), r0, `${what}: no address reserved`);
    assert.deepEqual(granted(), a0, `${what}: no grant left`);
    assert.equal(claimsOf('ctr-bad'), null, `${what}: no record`);
    assert.equal(run('ip', ['-n', ns, 'link', 'show', 'dev', 'eth0']).stdout.includes('link/ether 02:'), false, `${what}: no interface of ours`);
  };
  cniError(cni('ADD', env, '{"cniVersion": "1.0.0", "name": '), 6, /not JSON/, 'malformed JSON');
  nothingLeft('malformed JSON');
  const { vswitch: _v, ...noSwitch } = conf();
  cniError(cni('ADD', env, noSwitch), 7, /"vswitch" must name a switch/, 'no vswitch');
  cniError(cni('ADD', env, conf({ name: undefined })), 7, /"name"/, 'no name');
  cniError(cni('ADD', env, conf({ type: 'bridge' })), 7, /"type" must be "vswitch"/, 'another type');
  cniError(cni('ADD', env, conf({ cniVersion: '0.4.0' })), 1, /CNI version 0\.4\.0 is not supported/, 'an old version');
  cniError(cni('ADD', env, conf({ mtu: 20 })), 7, /"mtu"/, 'a bad MTU');
  cniError(cni('ADD', env, conf({ vswitch: 'NOSUCH' })), 7, /VSWITCH NOSUCH does not exist/, 'an unknown switch');
  cniError(cni('ADD', env, conf({ vlan: 100 })), 2, /"vlan": 100: VSWITCH SW1 is VLAN UNAWARE/, 'vlan on a VLAN-unaware switch');
  cniError(cni('ADD', { ...env, CNI_NETNS: '/run/netns/vswtest-none' }, conf()), 4, /CNI_NETNS \/run\/netns\/vswtest-none does not exist/, 'a missing netns');
  cniError(cni('ADD', { CNI_CONTAINERID: 'ctr-bad', CNI_NETNS: path }, conf()), 4, /CNI_IFNAME/, 'no CNI_IFNAME');
  cniError(cni('ADD', env, conf({}, { type: 'no-such-ipam' })), 102, /IPAM plugin no-such-ipam not found/, 'an IPAM plugin that is not there');
  nothingLeft('refused configurations');

  lab.ip(ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0');
  cniError(cni('ADD', env, conf()), 100, /interface eth0 exists already/, 'an interface name that is taken');
  assert.match(lab.ip(ns, 'link', 'show', 'dev', 'eth0'), /eth0@peer0/, 'the existing interface stays');
  lab.ip(ns, 'link', 'del', 'eth0');
  nothingLeft('a taken interface name');

  // IPAM failing halfway: guest, NIC and coupling are made first; a range with no free address.
  const full = { ranges: [[{ subnet: '10.97.1.0/24', rangeStart: '10.97.1.5', rangeEnd: '10.97.1.5' }]], routes: [] };
  const other = lab.netns('c5');
  succeeds(cni('ADD', envOf('ctr-full', `/run/netns/${other}`), conf({}, full)), 'ADD taking the only address');
  const g1 = guests();
  const r1 = reservations();
  cniError(cni('ADD', env, conf({}, full)), 102, /IPAM plugin host-local failed on ADD/, 'IPAM failure halfway');
  assert.deepEqual(guests(), g1, 'no guest left after the IPAM failure');
  assert.deepEqual(reservations(), r1);
  assert.equal(claimsOf('ctr-bad'), null);
  assert.equal(run('ip', ['-n', ns, 'link', 'show', 'dev', 'eth0']).code, 1, 'no interface left after the IPAM failure');
  assert.ok(await waitFor(() => /"cmd":"DETACH NIC 0600 FOR C[A-Z0-9]{7}"/.test(d.stderr), 3000), 'the NIC was made and detached again');
  succeeds(cni('DEL', envOf('ctr-full', `/run/netns/${other}`), conf({}, full)), 'DEL');
});

test('a user-id collision takes the next candidate; each DEL removes only its own guest', () => {
  const id = 'ctr-collide';
  const taken = candidateUserid(id, 0);
  // Another container holds candidate 0: its claim, made as the plugin makes one.
  const store = new Attachments(join(dir, 'data'), d.socket);
  mkdirSync(join(store.dir, taken), { recursive: true });
  writeFileSync(join(store.dir, taken, 'container'), 'ctr-someone-else');
  const ns = lab.netns('c6');
  succeeds(cni('ADD', envOf(id, `/run/netns/${ns}`), conf()), 'ADD');
  const got = claimsOf(id);
  assert.equal(got, candidateUserid(id, 1));
  assert.match(got!, /^C[A-Z0-9]{7}$/);
  assert.ok(guests().includes(got!) && !guests().includes(taken));
  succeeds(cni('DEL', envOf(id, `/run/netns/${ns}`), conf()), 'DEL');
  assert.ok(!guests().includes(got!));
  assert.ok(existsSync(join(store.dir, taken, 'container')), 'the other container\'s claim is untouched');
  rmSync(join(store.dir, taken), { recursive: true });
});

test('a container whose namespace disappears without DEL: its guest is removed and logged; a later DEL succeeds', async () => {
  const { netns, child } = sleeper();
  await waitFor(() => existsSync(netns), 2000);
  const r = succeeds(cni('ADD', envOf('ctr-gone', netns), conf()), 'ADD');
  const userid = claimsOf('ctr-gone')!;
  assert.deepEqual(d.json('QUERY', 'GUEST', userid).guests[0].netns, netns);
  const reserved = reservations();
  assert.ok(reserved.includes(r.ips[0].address.split('/')[0]));
  child.kill('SIGKILL');
  assert.ok(await waitFor(() => !guests().includes(userid), 5000), 'the guest is removed');
  assert.ok(!coupledNics().some((n) => n.startsWith(userid)), 'not left coupled');
  const logged = new RegExp(`"guest":"${userid}","netns":"${netns}","why":"the path is gone".*guest namespace disappeared`);
  assert.ok(await waitFor(() => logged.test(d.stderr), 3000), 'logged');
  succeeds(cni('DEL', { CNI_CONTAINERID: 'ctr-gone', CNI_IFNAME: 'eth0' }, conf()), 'DEL after the namespace went');
  assert.equal(claimsOf('ctr-gone'), null);
  assert.equal(reservations().length, reserved.length - 1, 'DEL released the address');
});

test('STATUS and GC (CNI 1.1.0)', () => {
  const v11 = (extra: Record<string, unknown> = {}): Record<string, unknown> => conf({ cniVersion: '1.1.0', ...extra });
  succeeds(cni('STATUS', {}, v11()), 'STATUS');
  cniError(cni('STATUS', {}, v11({ socket: join(dir, 'no-daemon.sock') })), 50, /does not answer/, 'STATUS without a daemon');
  cniError(cni('STATUS', {}, v11({ vswitch: 'NOSUCH' })), 50, /VSWITCH NOSUCH does not exist/, 'STATUS of an unknown switch');
  const a = lab.netns('c7');
  const b = lab.netns('c8');
  const ra = succeeds(cni('ADD', envOf('ctr-keep', `/run/netns/${a}`), v11({ mtu: 1400 })), 'ADD a (1.1.0)');
  assert.deepEqual(ra.interfaces[0].mtu, 1400, '1.1.0 results carry the MTU');
  assert.match(lab.ip(a, 'link', 'show', 'dev', 'eth0'), /mtu 1400/);
  succeeds(cni('ADD', envOf('ctr-stale', `/run/netns/${b}`), v11()), 'ADD b');
  const keep = claimsOf('ctr-keep')!;
  const stale = claimsOf('ctr-stale')!;
  succeeds(cni('GC', {}, v11({ 'cni.dev/valid-attachments': [{ containerID: 'ctr-keep', ifname: 'eth0' }] })), 'GC');
  assert.ok(guests().includes(keep), 'the valid attachment stays');
  assert.ok(!guests().includes(stale), 'the stale one is removed');
  assert.equal(claimsOf('ctr-stale'), null);
  succeeds(cni('DEL', envOf('ctr-keep', `/run/netns/${a}`), v11()), 'DEL');
  succeeds(cni('DEL', envOf('ctr-stale', `/run/netns/${b}`), v11()), 'DEL of what GC removed');
});
