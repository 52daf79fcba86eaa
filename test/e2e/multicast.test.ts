/**
 * End to end, IP-mode multicast (issue 3) on the real kernel: an IP-mode switch with a
 * controller, its uplink a veth into a LAN namespace, three namespace guests. Two guests join a
 * group (a Node UDP receiver with addMembership: the guest kernel sends the IGMP report); the
 * third does not. Checks that the group is registered through the controller on the uplink's
 * multicast filter (`ip maddr` in the daemon's namespace) and shown in QUERY VSWITCH DETAILS;
 * that group traffic from the LAN and from a guest reaches the members only (the third guest's
 * interface sees none of it, captured with tcpdump) and the LAN; and that leaving (the
 * receivers end: the guest kernel sends the leave) undoes membership and registration.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { NetLab, waitFor, sleep } from '../helpers/netlab.js';
import { Daemon } from '../helpers/daemon.js';
import { Controller } from '../helpers/controller.js';
import { lanTable, dropCount } from '../helpers/query.js';

const lab = new NetLab('vm');
let d: Daemon;
let ctl: Controller;
let hostNs: string, lanNs: string, g1: string, g2: string, g3: string, up: string;
const LAN = '10.75.0.1', A = '10.75.0.11', B = '10.75.0.12', C = '10.75.0.13';
const GROUP = '239.75.1.2', GROUP_MAC = '01:00:5e:4b:01:02', PORT = 5975;

/** Joins GROUP on the interface holding argv[1], prints 'ready', then one line per datagram. */
const RECEIVER = `
const dgram = require('node:dgram');
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m) => process.stdout.write('got ' + m.toString() + '\\n'));
s.bind(${PORT}, () => { s.addMembership('${GROUP}', process.argv[1]); process.stdout.write('ready\\n'); });
setTimeout(() => process.exit(3), 120000);
`;

/** Sends argv[2] datagrams "argv[3]-i" to GROUP out of the interface holding argv[1] (no loopback to itself). */
const SENDER = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
const n = Number(process.argv[2]);
s.bind(0, process.argv[1], () => {
  s.setMulticastInterface(process.argv[1]);
  s.setMulticastLoopback(false);
  let i = 0;
  const next = () => { if (i === n) { s.close(); return; } s.send(process.argv[3] + '-' + (i++), ${PORT}, '${GROUP}', next); };
  next();
});
`;

interface Receiver { child: ChildProcess; lines: string[]; got(prefix: string): number; exited: Promise<void> }

async function receiver(ns: string, ip: string): Promise<Receiver> {
  const child = lab.spawn(ns, process.execPath, ['-e', RECEIVER, ip]);
  const lines: string[] = [];
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (x: string) => {
    buf += x;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  assert.ok(await waitFor(() => lines.includes('ready'), 5000), `receiver in ${ns} did not join`);
  return { child, lines, exited, got: (p) => lines.filter((l) => l.startsWith(`got ${p}-`)).length };
}

function send(ns: string, ip: string, n: number, tag: string): void {
  const r = lab.exec(ns, process.execPath, ['-e', SENDER, ip, String(n), tag]);
  assert.equal(r.code, 0, `sender in ${ns}: ${r.stderr}`);
}

/** tcpdump on a guest's interface for datagrams to GROUP; stop() gives the packets seen. */
async function capture(ns: string) {
  const child = lab.spawn(ns, 'tcpdump', ['-i', 'enc600', '-n', '-l', '-p', `udp and dst host ${GROUP}`]);
  let out = '', err = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (x: string) => { out += x; });
  child.stderr!.on('data', (x: string) => { err += x; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  assert.ok(await waitFor(() => err.includes('listening on'), 5000), `tcpdump in ${ns}: ${err}`);
  return {
    async stop(): Promise<string[]> {
      await sleep(300);
      child.kill('SIGINT');
      await exited;
      return out.split('\n').filter(Boolean);
    },
  };
}

function doc(): any {
  return d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0];
}

function maddr(): string {
  return lab.ip(hostNs, 'maddr', 'show', 'dev', up);
}

before(async () => {
  hostNs = lab.netns('h');
  lanNs = lab.netns('l');
  up = lab.name('u');
  lab.veth(hostNs, up, lanNs, 'lan0');
  lab.ip(lanNs, 'addr', 'add', `${LAN}/24`, 'dev', 'lan0');
  g1 = lab.adopt(lab.name('g1'));
  g2 = lab.adopt(lab.name('g2'));
  g3 = lab.adopt(lab.name('g3'));
  d = new Daemon({ netns: hostNs });
  await d.start();
  ctl = new Controller('DTCVSW1', hostNs, d);
  await ctl.start();
  const cmds = [`DEFINE VSWITCH SW1 RDEV ${up} IP`];
  for (const [i, ns] of [g1, g2, g3].entries()) {
    cmds.push(`DEFINE GUEST LINUX${i + 1} NETNS ${ns}`, `DEFINE NIC 0600 FOR LINUX${i + 1}`, `SET VSWITCH SW1 GRANT LINUX${i + 1}`, `COUPLE 0600 TO SYSTEM SW1 FOR LINUX${i + 1}`);
  }
  d.commands(cmds);
  for (const [ns, ip] of [[g1, A], [g2, B], [g3, C]]) lab.configureNic(ns, 'enc600', `${ip}/24`);
  const registered = await waitFor(() => lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').filter((e) => !e.localOnly).length === 3, 10_000);
  assert.ok(registered, 'the three guest addresses registered with the uplink');
});

after(async () => {
  try { await ctl?.stop(); await d?.stop(); } finally { lab.cleanup(); }
});

let r1: Receiver, r2: Receiver;

test('two guests join: the group is registered on the uplink multicast filter and shown in QUERY', async () => {
  assert.ok(!maddr().includes(GROUP_MAC), 'not in the filter before anyone joins');
  assert.deepEqual(doc().groups, []);
  r1 = await receiver(g1, A);
  r2 = await receiver(g2, B);
  const g = await waitFor(() => {
    const gs = doc().groups;
    return gs.length === 1 && gs[0].registered && gs[0].members.length === 2 ? gs[0] : null;
  }, 5000);
  assert.ok(g, `group joined and registered: ${JSON.stringify(doc().groups)}`);
  assert.deepEqual(g, { group: GROUP, members: [{ guest: 'LINUX1', vdev: '0600' }, { guest: 'LINUX2', vdev: '0600' }], registered: true, reason: null });
  assert.ok(await waitFor(() => maddr().includes(GROUP_MAC), 2000), `the group MAC is in the uplink's multicast filter:\n${maddr()}`);
  const text = d.cli('Q', 'VSW', 'SW1', 'DET').stdout;
  assert.match(text, new RegExp(`${GROUP.replace(/\./g, '\\.')} +REGISTERED  Members: LINUX1 0600, LINUX2 0600`));
  console.log(`# multicast: ${GROUP} joined by LINUX1 and LINUX2; uplink ${up} filter: ${maddr().split('\n').filter((l) => l.includes(GROUP_MAC)).map((l) => l.trim()).join(' ')}`);
});

test('group traffic from the LAN reaches the two members only', async () => {
  const cap = await capture(g3);
  const before = dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'no-group-member');
  send(lanNs, LAN, 20, 'lan');
  assert.ok(await waitFor(() => r1.got('lan') === 20 && r2.got('lan') === 20, 5000), `members got ${r1.got('lan')} and ${r2.got('lan')} of 20`);
  const seen = await cap.stop();
  assert.deepEqual(seen, [], 'the guest that did not join sees none of the group traffic');
  assert.equal(dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'no-group-member'), before);
  console.log(`# multicast from the LAN: LINUX1 ${r1.got('lan')}/20, LINUX2 ${r2.got('lan')}/20, LINUX3 (not joined) 0 frames`);
});

test('group traffic from a guest reaches the other members and the LAN, not the guest that did not join', async () => {
  const lanRx = await receiver(lanNs, LAN).catch(() => null);
  assert.ok(lanRx, 'LAN receiver');
  const cap = await capture(g3);
  send(g1, A, 10, 'g1');
  send(g3, C, 10, 'g3'); // a sender need not be a member
  assert.ok(await waitFor(() => r2.got('g1') === 10 && r1.got('g3') === 10 && r2.got('g3') === 10 && lanRx.got('g1') === 10 && lanRx.got('g3') === 10, 5000),
    `LINUX2 got ${r2.got('g1')} from LINUX1; LINUX1/LINUX2 got ${r1.got('g3')}/${r2.got('g3')} from LINUX3; LAN ${lanRx.got('g1')}/${lanRx.got('g3')}`);
  assert.equal(r1.got('g1'), 0, 'not back to the sender');
  const seen = await cap.stop();
  assert.equal(seen.filter((l) => l.includes(`${A}.`)).length, 0, `LINUX3 got none of LINUX1's group traffic: ${seen.join('\n')}`);
  lanRx.child.kill('SIGKILL');
  await lanRx.exited;
});

test('leaving undoes it: membership, registration and the filter entry go with the last member', async () => {
  r1.child.kill('SIGKILL');
  await r1.exited;
  const one = await waitFor(() => { const gs = doc().groups; return gs.length === 1 && gs[0].members.length === 1 ? gs[0] : null; }, 5000);
  assert.ok(one, `LINUX1 left: ${JSON.stringify(doc().groups)}`);
  assert.deepEqual(one.members, [{ guest: 'LINUX2', vdev: '0600' }]);
  assert.ok(maddr().includes(GROUP_MAC), 'still registered for LINUX2');
  r2.child.kill('SIGKILL');
  await r2.exited;
  assert.ok(await waitFor(() => doc().groups.length === 0, 5000), `LINUX2 left: ${JSON.stringify(doc().groups)}`);
  assert.ok(await waitFor(() => !maddr().includes(GROUP_MAC), 3000), `the group MAC left the uplink's filter:\n${maddr()}`);
  const before = dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'no-group-member');
  const cap = await capture(g1);
  send(lanNs, LAN, 5, 'late');
  assert.ok(await waitFor(() => dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'no-group-member') >= before + 5, 3000), 'discarded and counted: no member');
  assert.deepEqual(await cap.stop(), [], 'a guest that left gets no more group traffic');
  assert.match(d.stderr, /guest left a multicast group/);
});
