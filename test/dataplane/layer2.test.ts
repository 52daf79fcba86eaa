/**
 * Layer 2 on the real kernel, ETHERNET mode then IP mode: the data-plane worker (production forwarders)
 * driven by ToWorker messages, guests on TAPs in their own namespaces, the uplink an AF_PACKET
 * socket on a veth whose peer is a LAN namespace.
 *
 * The switch is VLAN-aware with native VLAN 20. Guests A1, A2 are on ACCESS ports of VLAN 10,
 * B1 on VLAN 20; T is a TRUNK of 10 and 20 (no native VLAN) with Linux VLAN devices enc600.10
 * and enc600.20; the LAN has lan0.10 (tagged) and lan0 itself (VLAN 20, the native one).
 * Where the kernel has no 802.1Q support (CONFIG_VLAN_8021Q off, as on the CI machines) the
 * VLAN devices are TAPs of the same names fed by vlan-relay.ts, a userspace 802.1Q demux on the
 * parent interface; everything else (the stacks, ping, arping, tcpdump) is the real kernel.
 * VLAN 10 is 10.91.10.0/24, VLAN 20 10.91.20.0/24; every ping and arping names its interface
 * (-I), so Linux sends to any address on that link, routes or not: what keeps the VLANs apart
 * is the switch alone.
 *  - The leak matrix: every ordered pair of endpoints in different namespaces, with ping and
 *    arping: it works exactly when both are in one VLAN; tcpdump on every endpoint sees no
 *    frame from a sender of another VLAN, and no tagged frame on an access port.
 *  - A tagged frame from an access port (a VLAN device on A1) is counted tagged-on-access, a
 *    trunk's frame in a VLAN it was not granted vlan-not-allowed; nobody sees them.
 *  - MACPROTECT: A1 taking A2's MAC is dropped as spoofed-mac and A2's MAC table entry stays;
 *    a flood of random source MACs is dropped as spoofed-mac; without MACPROTECT the same flood
 *    fills the table (learn-table-full) but the other ports' entries survive and they talk on.
 *  - ISOLATION on: A1 reaches the LAN, not A2 (isolated counted); off again: A2 too.
 *  - A promiscuous guest of VLAN 10 sees both directions of A1's ping to the LAN and to A2, and
 *    nothing of VLAN 20.
 *  - The uplink's interface has every NIC's MAC in its unicast filter (bridge fdb, 'self').
 *  - A trace of the uplink with --vlan 10 sees A1's ping leave tagged 10, and with 20 nothing.
 *  - Tags on the wire with offloads: two more switches joined uplink to uplink by a veth, a
 *    guest on an ACCESS port of VLAN 30 on each: an 8 MiB TCP transfer between them crosses
 *    the veth tagged 30, as TSO super-frames (the virtio-net header's csum_start and hdr_len
 *    moved with the tag), and arrives intact.
 *  - IP mode (the switch changed over with its ports, guest addresses registered per VLAN):
 *    the leak matrix again; T's VLAN 10 address as a source in VLAN 20 is spoofed-source;
 *    isolation on and off.
 * Every interface lives in namespaces this test makes (unique names) and deletes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap, openUplink } from '../../src/host/devices.js';
import { dropSlot } from '../../src/forward/counters.js';
import { DropReason } from '../../src/forward/api.js';
import { TRACE_IN, TRACE_OUT, type FdbEntry, type FromWorker, type PortPolicy, type SwitchPolicy } from '../../src/protocol/dataplane.js';
import { addNs, delNs, inNs, ip, sleep, spawnInNs, tcpTransfer, uniq, until } from '../helpers/netns.js';
import { PortCounter, portSlot } from '../../src/forward/counters.js';
import { writeFileSync, rmSync } from 'node:fs';
import { vlanDevices as makeVlanDevices, dropVlanDevices } from '../helpers/vlan-devices.js';
import { tcpdump, senderOf, type Capture } from '../helpers/tcpdump.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

const SW = 1;
const ns = {
  G3: uniq('vleg'), G4: uniq('vleh'), W2: uniq('vlew'), W3: uniq('vlex'),
  A1: uniq('vlea'), A2: uniq('vleb'), B1: uniq('vlec'), T: uniq('vlet'), P: uniq('vlep'), U: uniq('vleu'), L: uniq('vlel'),
};
const MAC = { A1: 0x02001a000001, A2: 0x02001a000002, B1: 0x02001a000003, T: 0x02001a000004, P: 0x02001a000005 };
const PORT = { A1: 1, A2: 2, B1: 3, T: 4, P: 5, U: 9 };
const access = (pvid: number, more: Partial<PortPolicy> = {}): PortPolicy =>
  ({ portType: 'ACCESS', pvid, vlans: [], promiscuous: false, macProtect: false, ...more });
const TRUNK: PortPolicy = { portType: 'TRUNK', pvid: 0, vlans: [10, 20], promiscuous: false, macProtect: false };
const policy = (isolation = false): SwitchPolicy => ({ vlanAware: true, nativeVid: 20, isolation });

interface Ep { name: string; ns: string; dev: string; ip: string; vid: number }
const EPS: Ep[] = [
  { name: 'A1', ns: ns.A1, dev: 'enc600', ip: '10.91.10.11', vid: 10 },
  { name: 'A2', ns: ns.A2, dev: 'enc600', ip: '10.91.10.12', vid: 10 },
  { name: 'T10', ns: ns.T, dev: 'enc600.10', ip: '10.91.10.13', vid: 10 },
  { name: 'L10', ns: ns.L, dev: 'lan0.10', ip: '10.91.10.14', vid: 10 },
  { name: 'B1', ns: ns.B1, dev: 'enc600', ip: '10.91.20.21', vid: 20 },
  { name: 'T20', ns: ns.T, dev: 'enc600.20', ip: '10.91.20.23', vid: 20 },
  { name: 'L20', ns: ns.L, dev: 'lan0', ip: '10.91.20.24', vid: 20 },
];
const ep = (name: string): Ep => EPS.find((e) => e.name === name)!;
let dp: DataPlane;
let fdbId = 1;
const relays: ChildProcess[] = [];
/** VLAN devices PARENT.VID in namespace n (test/helpers/vlan-devices.ts); a relay is killed at the end. */
async function vlanDevices(n: string, parent: string, vids: number[]): Promise<ChildProcess | null> {
  return makeVlanDevices(n, parent, vids, (ns, cmd, args) => { const c = spawnInNs(ns, cmd, args); relays.push(c); return c; });
}
const tmp = join(tmpdir(), `layer2-${process.pid}.trafgen`);

function drop(r: DropReason): number {
  return dp.counters[dropSlot(SW, r)];
}

function sysctls(n: string): void {
  for (const k of ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1',
    'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_filter=1']) inNs(n, 'sysctl', '-qw', k);
}

function up(n: string, dev: string, addr: string): void {
  ip('-n', n, 'addr', 'add', `${addr}/24`, 'dev', dev);
  ip('-n', n, 'link', 'set', dev, 'up');
}

function nic(name: 'A1' | 'A2' | 'B1' | 'T' | 'P', pol: PortPolicy): void {
  const t = openTap({ netns: ns[name], name: 'enc600', mac: MAC[name], persist: false });
  dp.post({ op: 'port-add', port: PORT[name], sw: SW, role: 'nic', kind: 'tap', fd: t.fd, mac: MAC[name], vnet: true, name, policy: pol });
}

before(async () => {
  for (const n of Object.values(ns)) { addNs(n); sysctls(n); }
  dp = await DataPlane.start({});
  dp.post({ op: 'switch-add', sw: SW, mode: 'ETHERNET', queueBytes: 0, policy: policy() });
  nic('A1', access(10));
  nic('A2', access(10));
  nic('B1', access(20));
  nic('T', TRUNK);
  ip('-n', ns.U, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', ns.L);
  ip('-n', ns.U, 'link', 'set', 'up0', 'up');
  const u = openUplink('up0', { netns: ns.U });
  dp.post({ op: 'port-add', port: PORT.U, sw: SW, role: 'uplink', kind: 'afpacket', fd: u.fd, mac: u.mac, vnet: true, name: 'up0' });
  ip('-n', ns.T, 'link', 'set', 'enc600', 'up');
  await vlanDevices(ns.T, 'enc600', [10, 20]);
  ip('-n', ns.L, 'link', 'set', 'lan0', 'up');
  await vlanDevices(ns.L, 'lan0', [10]);
  for (const e of EPS) up(e.ns, e.dev, e.ip);
});

after(async () => {
  try { if (dp) await dp.stop(); } finally {
    for (const r of relays) r.kill('SIGKILL');
    for (const n of Object.values(ns)) delNs(n);
    rmSync(tmp, { force: true });
  }
});

/** Run a command in a namespace; resolves true on exit status 0. */
function runs(n: string, cmd: string, args: string[], timeoutMs = 15000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', n, cmd, ...args], { stdio: 'ignore' });
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code) => { clearTimeout(t); resolve(code === 0); });
  });
}

const ping = (from: Ep, to: Ep, tries = 1): Promise<boolean> => attempt(tries, () => runs(from.ns, 'ping', ['-c', '1', '-W', '2', '-I', from.dev, to.ip]));
const arping = (from: Ep, to: Ep, tries = 1): Promise<boolean> => attempt(tries, () => runs(from.ns, 'arping', ['-c', '1', '-w', '2', '-I', from.dev, to.ip]));

async function attempt(tries: number, fn: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < tries; i++) if (await fn()) return true;
  return false;
}

/** tcpdump on an endpoint's device (test/helpers/tcpdump.ts). */
const capture = (n: string, dev: string, filter: string): Promise<Capture> => tcpdump(spawnInNs, n, dev, filter);
const sender = senderOf;
const vlanOf = (addr: string): number => Number(addr.split('.')[2]);

async function fdb(): Promise<FdbEntry[]> {
  const id = fdbId++;
  return new Promise((resolve) => {
    const on = (m: Extract<FromWorker, { ev: 'fdb' }>): void => {
      if (m.req !== id) return;
      dp.off('fdb', on);
      resolve(m.entries);
    };
    dp.on('fdb', on);
    dp.post({ op: 'fdb-query', sw: SW, req: id });
  });
}
const entryOf = (entries: FdbEntry[], mac: number, vid: number): FdbEntry | undefined => entries.find((e) => e.mac === mac && e.vid === vid);

/** The leak matrix (the file comment), in whatever mode the switch is in now. */
async function leakMatrix(): Promise<void> {
  for (const n of Object.values(ns)) ip('-n', n, 'neigh', 'flush', 'all');
  const caps = await Promise.all(EPS.map((e) => capture(e.ns, e.dev, 'arp or icmp or vlan')));
  const bad: string[] = [];
  const sources = EPS.map(async (from) => {
    for (const to of EPS) {
      if (to.ns === from.ns) continue;
      const same = from.vid === to.vid;
      const p = await ping(from, to, same ? 4 : 1);
      const a = await arping(from, to, same ? 4 : 1);
      if (p !== same) bad.push(`ping ${from.name} -> ${to.name}: ${p ? 'answered' : 'no answer'}`);
      if (a !== same) bad.push(`arping ${from.name} -> ${to.name}: ${a ? 'answered' : 'no answer'}`);
    }
  });
  await Promise.all(sources);
  const seen = await Promise.all(caps.map((c) => c.stop()));
  assert.deepEqual(bad, [], 'ping and arping work exactly within a VLAN');
  for (let i = 0; i < EPS.length; i++) {
    const e = EPS[i];
    // lan0 is the LAN's trunk link: VLAN 10's tagged frames are on it by right (lan0.10 is its VLAN device).
    if (e.name === 'L20') seen[i] = seen[i].filter((l) => !/vlan 10,/.test(l));
    const leaks = seen[i].filter((l) => /vlan/i.test(l) || (sender(l) !== null && vlanOf(sender(l)!) !== e.vid));
    assert.deepEqual(leaks, [], `${e.name} (VLAN ${e.vid}) saw nothing of another VLAN`);
    assert.ok(seen[i].some((l) => sender(l) !== null && sender(l) !== e.ip), `${e.name} did see its own VLAN's frames (the capture works)`);
  }
  assert.equal(drop(DropReason.Malformed), 0);
}

test('the VLAN leak matrix, ETHERNET mode: every ordered pair, ping and arping, reaches exactly its own VLAN; tcpdump elsewhere sees nothing', async () => {
  await leakMatrix();
});

test('a tagged frame from an access port is tagged-on-access; a trunk frame in a VLAN not granted is vlan-not-allowed', async () => {
  const ra = await vlanDevices(ns.A1, 'enc600', [20]);
  const rt = await vlanDevices(ns.T, 'enc600', [30]);
  up(ns.A1, 'enc600.20', '10.91.20.31');
  up(ns.T, 'enc600.30', '10.91.30.33');
  const capB = await capture(ns.B1, 'enc600', 'arp or icmp or vlan');
  const capL = await capture(ns.L, 'lan0', 'arp or icmp or vlan');
  try {
    const tagged = drop(DropReason.TaggedOnAccess), notAllowed = drop(DropReason.VlanNotAllowed);
    assert.equal(await ping({ ...ep('A1'), dev: 'enc600.20', ip: '10.91.20.31' }, ep('B1')), false);
    assert.equal(await arping({ ...ep('T10'), dev: 'enc600.30', ip: '10.91.30.33' }, { ...ep('L20'), ip: '10.91.30.34' }), false);
    assert.ok(await until(() => drop(DropReason.TaggedOnAccess) > tagged, 3000), 'tagged-on-access counted');
    assert.ok(drop(DropReason.VlanNotAllowed) > notAllowed, 'vlan-not-allowed counted');
  } finally {
    await dropVlanDevices(ns.A1, 'enc600', [20], ra);
    await dropVlanDevices(ns.T, 'enc600', [30], rt);
  }
  const b = await capB.stop(), l = await capL.stop();
  assert.deepEqual(b.filter((x) => /10\.91\.(20\.31|30\.)/.test(x)), [], 'B1 saw none of them');
  assert.deepEqual(l.filter((x) => /10\.91\.(20\.31|30\.)/.test(x)), [], 'the LAN saw none of them');
});

test('MACPROTECT: another guest\'s MAC and a flood of random MACs are spoofed-mac; A2\'s entry and traffic survive', async () => {
  assert.ok(await ping(ep('A2'), ep('L10'), 4), 'A2 is learned');
  dp.post({ op: 'port-policy', port: PORT.A1, policy: access(10, { macProtect: true }) });
  assert.ok(await ping(ep('A1'), ep('L10'), 4), 'A1 with its own MAC still works under MACPROTECT');
  const spoofed = drop(DropReason.SpoofedMac);
  ip('-n', ns.A1, 'link', 'set', 'enc600', 'address', '02:00:1a:00:00:02');
  try {
    assert.equal(await arping(ep('A1'), ep('L10')), false, 'A1 with A2\'s MAC reaches no one');
  } finally {
    ip('-n', ns.A1, 'link', 'set', 'enc600', 'address', '02:00:1a:00:00:01');
  }
  assert.ok(await until(() => drop(DropReason.SpoofedMac) > spoofed, 3000), 'spoofed-mac counted');
  assert.equal(entryOf(await fdb(), MAC.A2, 10)?.port, PORT.A2, 'A2\'s entry did not move');
  const before = drop(DropReason.SpoofedMac);
  await flood(ns.A1, 3000);
  assert.ok(await until(() => drop(DropReason.SpoofedMac) - before >= 2900, 10000), `the flood was dropped as spoofed-mac (${drop(DropReason.SpoofedMac) - before})`);
  const t = await fdb();
  assert.equal(t.filter((e) => e.port === PORT.A1).length, 1, 'A1 holds only its own entry');
  assert.ok(await ping(ep('A2'), ep('L10'), 4) && await ping(ep('A1'), ep('A2'), 4), 'everyone talks on');
  dp.post({ op: 'port-policy', port: PORT.A1, policy: access(10) });
});

test('MAC flooding without MACPROTECT fills the table but cannot push out the other ports\' entries', async () => {
  for (const [a, b] of [['A2', 'L10'], ['T10', 'L10'], ['B1', 'L20'], ['T20', 'B1']]) assert.ok(await ping(ep(a), ep(b), 4), `${a} -> ${b}`);
  const full = drop(DropReason.LearnTableFull);
  await flood(ns.A1, 12000);
  assert.ok(await until(() => drop(DropReason.LearnTableFull) > full, 15000), 'the table filled (learn-table-full)');
  const t = await fdb();
  assert.ok(t.length <= 8192, `the table stays bounded (${t.length})`);
  for (const [mac, vid, port] of [[MAC.A2, 10, PORT.A2], [MAC.T, 10, PORT.T], [MAC.T, 20, PORT.T], [MAC.B1, 20, PORT.B1]]) {
    assert.equal(entryOf(t, mac, vid)?.port, port, `entry ${mac.toString(16)} in VLAN ${vid} survived`);
  }
  assert.ok(t.filter((e) => e.port === PORT.U).length >= 2, 'the LAN hosts\' entries survived');
  assert.ok(await ping(ep('A2'), ep('L10'), 4) && await ping(ep('B1'), ep('T20'), 4), 'the others talk on');
});

test('ISOLATION on: a guest reaches the LAN but not another guest (isolated counted); off: both', async () => {
  dp.post({ op: 'switch-policy', sw: SW, policy: policy(true) });
  try {
    const iso = drop(DropReason.Isolated);
    assert.ok(await ping(ep('A1'), ep('L10'), 4), 'A1 -> LAN');
    assert.equal(await ping(ep('A1'), ep('A2')), false, 'A1 -> A2 refused');
    assert.equal(await arping(ep('A1'), ep('T10')), false, 'A1 -> T broadcast refused');
    assert.ok(drop(DropReason.Isolated) > iso, 'isolated counted');
  } finally {
    dp.post({ op: 'switch-policy', sw: SW, policy: policy(false) });
  }
  assert.ok(await ping(ep('A1'), ep('A2'), 4), 'off again: A1 -> A2');
});

test('a promiscuous guest sees both directions of its VLAN\'s traffic, nothing of another VLAN; its MAC is on the uplink filter', async () => {
  nic('P', access(10, { promiscuous: true }));
  ip('-n', ns.P, 'link', 'set', 'enc600', 'up');
  const cap = await capture(ns.P, 'enc600', 'icmp');
  assert.ok(await ping(ep('A1'), ep('L10'), 4));
  assert.ok(await ping(ep('A1'), ep('A2'), 4));
  assert.ok(await ping(ep('B1'), ep('L20'), 4));
  const lines = await cap.stop();
  const has = (re: RegExp): boolean => lines.some((l) => re.test(l));
  assert.ok(has(/10\.91\.10\.11 > 10\.91\.10\.14: ICMP echo request/) && has(/10\.91\.10\.14 > 10\.91\.10\.11: ICMP echo reply/), 'A1 <-> LAN, both ways');
  assert.ok(has(/10\.91\.10\.11 > 10\.91\.10\.12: ICMP echo request/) && has(/10\.91\.10\.12 > 10\.91\.10\.11: ICMP echo reply/), 'A1 <-> A2, both ways');
  assert.ok(!has(/10\.91\.20\./), 'nothing of VLAN 20');
});

test('the uplink\'s interface receives every NIC\'s MAC through its unicast filter', () => {
  const out = execFileSync('bridge', ['-n', ns.U, 'fdb', 'show', 'dev', 'up0'], { encoding: 'utf8' });
  for (const mac of ['02:00:1a:00:00:01', '02:00:1a:00:00:02', '02:00:1a:00:00:03', '02:00:1a:00:00:04', '02:00:1a:00:00:05']) {
    assert.match(out, new RegExp(`${mac} self permanent`), `${mac} in up0's unicast list`);
  }
});

test('a trace of the uplink with --vlan 10 sees the frames leave tagged 10 (after tagging), --vlan 20 none of them', async () => {
  const t10 = dp.openTrace({ sw: SW, port: -1, uplink: true, vlan: 10, snaplen: 128 });
  const t20 = dp.openTrace({ sw: SW, port: -1, uplink: true, vlan: 20, snaplen: 128 });
  await sleep(200);
  assert.ok(await ping(ep('A1'), ep('L10'), 4));
  await sleep(300);
  const dirs: number[] = [];
  t10.drain((r) => {
    assert.equal(r.data[12] << 8 | r.data[13], 0x8100);
    assert.equal((r.data[14] << 8 | r.data[15]) & 0xfff, 10);
    dirs.push(r.direction);
    return true;
  });
  let other = 0;
  t20.drain((r) => { if (/* A1's ICMP */ r.data.length > 40 && r.data[16] === 0x08 && r.data[17] === 0x00 && r.data[18 + 12] === 10 && r.data[18 + 14] === 10) other++; return true; });
  await t10.close();
  await t20.close();
  assert.ok(dirs.includes(TRACE_OUT) && dirs.includes(TRACE_IN), `tagged frames both ways (${dirs.length})`);
  assert.equal(other, 0);
});

/** `count` frames with random source MACs (locally administered unicast) to the broadcast address, from the guest in `n`. */
async function flood(n: string, count: number): Promise<void> {
  writeFileSync(tmp, '{ 0xff,0xff,0xff,0xff,0xff,0xff, 0x02, drnd(5), c16(0x88b5), fill(0x00, 46) }\n');
  assert.ok(await runs(n, 'trafgen', ['-o', 'enc600', '-i', tmp, '-n', String(count), '-q', '--cpus', '1', '-t', '20us'], 60000), 'trafgen ran');
}

test('tags on the wire with offloads: TCP between access guests of two switches, uplink to uplink tagged, TSO kept, intact', async () => {
  const pol = access(30);
  ip('-n', ns.W2, 'link', 'add', 'up1', 'type', 'veth', 'peer', 'name', 'up2', 'netns', ns.W3);
  ip('-n', ns.W2, 'link', 'set', 'up1', 'up');
  ip('-n', ns.W3, 'link', 'set', 'up2', 'up');
  for (const [sw, g, gns, mac, w, dev] of [[2, 21, ns.G3, 0x02001a000021, ns.W2, 'up1'], [3, 31, ns.G4, 0x02001a000031, ns.W3, 'up2']] as const) {
    dp.post({ op: 'switch-add', sw, mode: 'ETHERNET', queueBytes: 0, policy: { vlanAware: true, nativeVid: 0, isolation: false } });
    const t = openTap({ netns: gns, name: 'enc600', mac, persist: false });
    dp.post({ op: 'port-add', port: g, sw, role: 'nic', kind: 'tap', fd: t.fd, mac, vnet: true, name: `G${sw}`, policy: pol });
    const u = openUplink(dev, { netns: w });
    dp.post({ op: 'port-add', port: g + 1, sw, role: 'uplink', kind: 'afpacket', fd: u.fd, mac: u.mac, vnet: true, name: dev });
  }
  up(ns.G3, 'enc600', '10.91.30.3');
  up(ns.G4, 'enc600', '10.91.30.4');
  const tr = dp.openTrace({ sw: 2, port: -1, uplink: true, vlan: 30, snaplen: 64 });
  assert.ok(await attempt(10, () => runs(ns.G3, 'ping', ['-c', '1', '-W', '2', '10.91.30.4'])), 'G3 -> G4');
  const bytes0 = dp.counters[portSlot(22, PortCounter.TxBytes)], frames0 = dp.counters[portSlot(22, PortCounter.TxFrames)];
  const [got, sent] = await tcpTransfer(ns.G4, ns.G3, '10.91.30.4', 8 << 20);
  assert.equal(got, sent, 'intact');
  assert.match(got, /^8388608 [0-9a-f]{64}$/);
  const bytes = dp.counters[portSlot(22, PortCounter.TxBytes)] - bytes0, frames = dp.counters[portSlot(22, PortCounter.TxFrames)] - frames0;
  assert.ok(bytes / frames > 1518, `super-frames on the tagged uplink (average ${Math.round(bytes / frames)} bytes)`);
  let tagged = 0;
  tr.drain(() => { tagged++; return true; });
  await tr.close();
  assert.ok(tagged > 0, 'the uplink\'s frames carry tag 30 (trace --vlan 30)');
  assert.equal(dp.counters[dropSlot(2, DropReason.BadOffload)] + dp.counters[dropSlot(3, DropReason.BadOffload)], 0);
});

test('IP mode (the same ports switched over, addresses registered per VLAN): the leak matrix; an address of one VLAN is no source in another; isolation', async () => {
  dp.post({ op: 'switch-add', sw: SW, mode: 'IP', queueBytes: 0, policy: policy() });
  for (const e of EPS) {
    if (e.ns === ns.L) continue;
    const port = e.name === 'T10' || e.name === 'T20' ? PORT.T : PORT[e.name as 'A1' | 'A2' | 'B1'];
    dp.post({ op: 'ip-set', sw: SW, vid: e.vid, ip: ipNum(e.ip), port, localOnly: false });
  }
  await leakMatrix();
  const spoofed = drop(DropReason.SpoofedSource);
  // T's VLAN 10 address used as a source in VLAN 20.
  assert.equal(await runs(ns.T, 'arping', ['-c', '1', '-w', '2', '-I', 'enc600.20', '-s', ep('T10').ip, ep('L20').ip]), false);
  assert.ok(await until(() => drop(DropReason.SpoofedSource) > spoofed, 3000), 'spoofed-source counted');
  dp.post({ op: 'switch-policy', sw: SW, policy: policy(true) });
  try {
    const iso = drop(DropReason.Isolated);
    assert.ok(await ping(ep('A1'), ep('L10'), 4), 'A1 -> LAN');
    assert.equal(await ping(ep('A1'), ep('A2')), false, 'A1 -> A2 refused');
    assert.ok(drop(DropReason.Isolated) > iso, 'isolated counted');
  } finally {
    dp.post({ op: 'switch-policy', sw: SW, policy: policy(false) });
  }
  assert.ok(await ping(ep('A1'), ep('A2'), 4), 'off again');
});

function ipNum(a: string): number {
  return a.split('.').reduce((n, x) => n * 256 + Number(x), 0);
}
