/**
 * The VXLAN overlay between cluster members, end to end on the real kernel and a real etcd 3.4
 * (issue 15): hosts h1, h2, h3 (network namespaces) on a management network run the etcd
 * cluster; vswitchd members M1 (on h1) and M2 (on h2) have their VTEPs (--vtep) on a separate
 * underlay (bridge `ul`, 192.168.236.0/24, MTU 1600) and no RDEV at all, so the guests
 * (10.237.0.0/24) on different members can reach each other only through the kernel's vxlan
 * devices. A hand-made Linux VXLAN endpoint (its own namespace, `ip link add ... type vxlan
 * ... nolearning` + `bridge fdb append 00:00:00:00:00:00 ... dst <M1's VTEP>`) is declared on
 * the switch as a static VTEP.
 *
 * Checks: the definition with VXLAN reaches both members and each makes its device; a guest on
 * M1 and one on M2 ping each other and pass a checked TCP transfer, and tcpdump on the
 * underlay sees it as UDP 4789 with VNI 4242; the same over IPv6 (static ULA and global
 * addresses, nodad): ping6 both ways and a checked TCP transfer, the Neighbor Solicitations
 * for the remote guest answered locally (none on the underlay), link-local addresses kept off
 * the overlay; the hand-made endpoint pings the guest on M1 and
 * back; an uncoupled guest's forwarding entry leaves the other member's device; a switch detached
 * while a member is down leaves no device on it once it is back (a hand-made vx-* device stays); a
 * member publishing another member's VTEP is refused and logged. One etcd
 * cluster and one pair of daemons serve the whole file: the tests run in order.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab, waitFor, run } from '../helpers/netlab.js';
import { clusterNet, EtcdCluster, type ClusterNet } from '../helpers/etcd.js';
import { Daemon } from '../helpers/daemon.js';
import { tcpdump } from '../helpers/tcpdump.js';
import { tcpTransfer } from '../helpers/tcp.js';

const lab = new NetLab('vx');
let net: ClusterNet;
let etcd: EtcdCluster;
const members: Daemon[] = [];
const NAMES = ['M1', 'M2'];
const UNDERLAY = '192.168.236';
const PEER_VTEP = `${UNDERLAY}.9`;
const GUESTS = '10.237.0';
const A = `${GUESTS}.11`;
const B = `${GUESTS}.21`;
const PEER = `${GUESTS}.99`;
/** The guests' IPv6 addresses: a ULA and a global one each (documentation prefix). */
const A6 = 'fd00:237::11', B6 = 'fd00:237::21', A6G = '2001:db8:237::11', B6G = '2001:db8:237::21';
const VNI = 4242;
let peerNs = '';
let ga = '';
let gb = '';

const CONFIG = ['M1: VMLAN MACPREFIX 02B001', 'M2: VMLAN MACPREFIX 02B002'].join('\n');
const spawnIn = (ns: string, cmd: string, args: string[]) => lab.spawn(ns, cmd, args);

before(async () => {
  net = clusterNet(lab, '10.236.0');
  lab.ip(net.bridgeNs, 'link', 'add', 'ul', 'type', 'bridge');
  lab.ip(net.bridgeNs, 'link', 'set', 'ul', 'mtu', '1600', 'up');
  const underlay = (ns: string, port: string, ip: string): void => {
    lab.veth(ns, 'ul0', net.bridgeNs, port);
    lab.ip(ns, 'link', 'set', 'ul0', 'mtu', '1600');
    lab.ip(net.bridgeNs, 'link', 'set', port, 'mtu', '1600', 'master', 'ul');
    lab.ip(ns, 'addr', 'add', `${ip}/24`, 'dev', 'ul0');
  };
  underlay(net.hosts[0].netns, 'v1', `${UNDERLAY}.1`);
  underlay(net.hosts[1].netns, 'v2', `${UNDERLAY}.2`);
  peerNs = lab.netns('peer');
  underlay(peerNs, 'v9', PEER_VTEP);
  etcd = await EtcdCluster.start(net.hosts);
  const urls = etcd.endpoints.join(',');
  for (const [i, name] of NAMES.entries()) {
    const d = new Daemon({ netns: net.hosts[i].netns, config: CONFIG, args: ['--cluster', urls, '--member', name, '--vtep', `${UNDERLAY}.${i + 1}`] });
    members.push(d);
    await d.start();
  }
});

after(async () => {
  for (const d of members) await d.stop().catch(() => {});
  await etcd?.stop();
  lab.cleanup();
});

function overlay(d: Daemon): any {
  return d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0]?.overlay ?? null;
}

function ping(ns: string, ip: string, count = 1): boolean {
  return lab.exec(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', ip]).code === 0;
}

/** The VXLAN device's forwarding entries in the kernel, as `bridge -j fdb` shows them on member i's host. */
function kernelFdb(i: number): Array<{ mac: string; dst?: string }> {
  const r = run('ip', ['netns', 'exec', net.hosts[i].netns, 'bridge', '-j', 'fdb', 'show', 'dev', 'vx-sw1']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Array<{ mac: string; dst?: string }>;
}

function guestMac(d: Daemon, userid: string): string {
  return String(d.json('QUERY', 'NIC', '0600', 'FOR', userid).nics[0].mac).toLowerCase();
}

test('DEFINE VSWITCH ... VXLAN: shared by both members, each makes its VXLAN device (nolearning) with its own VTEP', async () => {
  const r = members[0].cli('DEFINE', 'VSWITCH', 'SW1', 'RDEV', 'NONE', 'IP', 'VXLAN', String(VNI), 'VTEP', PEER_VTEP);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const [i, d] of members.entries()) {
    const ok = await waitFor(() => overlay(d)?.state === 'READY', 20_000, 200);
    assert.ok(ok, `member ${NAMES[i]}: ${JSON.stringify(overlay(d))} ${d.stderr.slice(-2000)}`);
    const o = overlay(d);
    assert.equal(o.vni, VNI);
    assert.equal(o.localVtep, `${UNDERLAY}.${i + 1}`);
    assert.deepEqual(o.staticVteps, [PEER_VTEP]);
    const link = JSON.parse(run('ip', ['netns', 'exec', net.hosts[i].netns, 'ip', '-d', '-j', 'link', 'show', 'dev', 'vx-sw1']).stdout)[0];
    assert.equal(link.linkinfo.info_kind, 'vxlan');
    assert.equal(link.linkinfo.info_data.id, VNI);
    assert.equal(link.linkinfo.info_data.local, `${UNDERLAY}.${i + 1}`);
    assert.equal(link.linkinfo.info_data.learning, false);
    // The static VTEP's flood entry (and nothing learned).
    assert.ok(await waitFor(() => kernelFdb(i).some((e) => e.mac === '00:00:00:00:00:00' && e.dst === PEER_VTEP), 10_000, 200));
  }
  const text = members[1].cli('QUERY', 'VSWITCH', 'SW1', 'DETAILS').stdout;
  assert.match(text, new RegExp(`VXLAN: VNI ${VNI} +Local VTEP: ${UNDERLAY}\\.2 +Device: vx-sw1 +State: READY`));
  assert.match(text, new RegExp(`Static VTEPs: ${PEER_VTEP.replace(/\./g, '\\.')}`));
  assert.ok(await waitFor(() => JSON.stringify(overlay(members[0]).memberVteps) === JSON.stringify([{ member: 'M2', vtep: `${UNDERLAY}.2` }]), 15_000, 200),
    JSON.stringify(overlay(members[0])));
  assert.match(members[0].cli('QUERY', 'VSWITCH', 'SW1', 'DETAILS').stdout, /Member VTEPs: M2 192\.168\.236\.2/);
  // Bad VXLAN operands are refused with a reason, and nothing is defined.
  const bad = members[0].cli('DEFINE', 'VSWITCH', 'SW9', 'ETHERNET', 'VXLAN', '5');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, /VXLAN needs an IP-mode switch/);
  const vni = members[0].cli('DEFINE', 'VSWITCH', 'SW9', 'VXLAN', '16777216');
  assert.match(vni.stdout + vni.stderr, /bad VNI '16777216'/);
});

test('guests on two members: ping and a checked TCP transfer through the overlay, carried as UDP 4789 on the underlay', async () => {
  members[0].commands(['SET VSWITCH SW1 GRANT VXA', 'SET VSWITCH SW1 GRANT VXB']);
  await waitFor(() => (members[1].json('QUERY', 'VSWITCH', 'SW1', 'ACCESSLIST').switches[0].accessList as any[]).length === 2, 15_000, 100);
  ga = lab.adopt(lab.name('ga'));
  gb = lab.adopt(lab.name('gb'));
  members[0].commands([`DEFINE GUEST VXA NETNS ${ga}`, 'DEFINE NIC 0600 FOR VXA', 'COUPLE 0600 TO SYSTEM SW1 FOR VXA']);
  members[1].commands([`DEFINE GUEST VXB NETNS ${gb}`, 'DEFINE NIC 0600 FOR VXB', 'COUPLE 0600 TO SYSTEM SW1 FOR VXB']);
  lab.configureNic(ga, 'enc600', `${A}/24`);
  lab.configureNic(gb, 'enc600', `${B}/24`);
  const macB = guestMac(members[1], 'VXB');
  const macA = guestMac(members[0], 'VXA');
  // Each member learns the other's guest from the store, and programs it into its device.
  assert.ok(await waitFor(() => overlay(members[0]).remotes.some((r: any) => r.ip === B && r.member === 'M2' && r.vtep === `${UNDERLAY}.2`), 30_000, 200),
    JSON.stringify(overlay(members[0])));
  assert.ok(await waitFor(() => overlay(members[1]).remotes.some((r: any) => r.ip === A && r.mac.toLowerCase() === macA), 30_000, 200));
  assert.ok(await waitFor(() => kernelFdb(0).some((e) => e.mac === macB && e.dst === `${UNDERLAY}.2`), 10_000, 200), JSON.stringify(kernelFdb(0)));
  assert.ok(await waitFor(() => kernelFdb(1).some((e) => e.mac === macA && e.dst === `${UNDERLAY}.1`), 10_000, 200), JSON.stringify(kernelFdb(1)));
  assert.ok(overlay(members[0]).entries.some((e: any) => e.mac === macB && e.dst === `${UNDERLAY}.2`), 'QUERY shows the programmed entry');
  const cap = await tcpdump(spawnIn, net.bridgeNs, 'ul', 'udp port 4789');
  assert.ok(await waitFor(() => ping(ga, B), 20_000, 300), 'VXA on M1 pings VXB on M2');
  assert.ok(ping(gb, A, 3), 'and back');
  // ARP for the remote guest was answered locally with its own MAC (from the store).
  const neigh = lab.exec(ga, 'ip', ['neigh', 'show', B]).stdout.toLowerCase();
  assert.ok(neigh.includes(macB), neigh);
  const t = await tcpTransfer(lab, ga, gb, B, 4 << 20);
  assert.equal(t.receivedBytes, t.bytes);
  assert.equal(t.receivedSha256, t.sentSha256);
  const lines = await cap.stop();
  // tcpdump prints the outer header, then the inner frame on the next line.
  const carried = lines.filter((l, i) => l.includes(`vni ${VNI}`) && (lines[i + 1] ?? '').includes(`${A} > ${B}`));
  assert.ok(carried.length > 0, `the underlay carries the guests' traffic in VXLAN: ${lines.slice(0, 5).join('\n')}`);
  assert.ok(lines.some((l, i) => l.includes(`vni ${VNI}`) && /: Flags \[/.test(lines[i + 1] ?? '') && (lines[i + 1] ?? '').includes(`${A}.`)), 'the TCP transfer too');
  assert.ok(lines.some((l) => l.includes(`${UNDERLAY}.1.`) && l.includes(`> ${UNDERLAY}.2.4789`)), 'from M1\'s VTEP to M2\'s, UDP 4789');
  assert.ok(!lines.some((l) => /ARP, Request who-has/.test(l) && l.includes(B)), 'no ARP for the remote guest crossed the overlay (answered locally)');
  // Offloads: outer packets longer than the underlay's MTU are GSO super-frames the kernel segments later (a figure, not a check).
  const outer = lines.map((l) => /length (\d+): 192\.168\.236\.1\.\d+ > /.exec(l)).filter((m) => m !== null).map((m) => Number(m![1]));
  console.log(`# FIGURE VXLAN underlay M1->M2 during the transfer: ${outer.length} outer packets, largest ${Math.max(...outer)} bytes, ${outer.filter((n) => n > 1600).length} above the underlay MTU (GSO kept)`);
});

test('IPv6 across the overlay: ping6 and a checked TCP transfer between the guests on two members, NDP answered locally, link-local kept off', async () => {
  for (const [ns, addrs] of [[ga, [A6, A6G]], [gb, [B6, B6G]]] as const) {
    for (const a of addrs) lab.ip(ns, '-6', 'addr', 'add', `${a}/64`, 'dev', 'enc600', 'nodad');
  }
  const macA = guestMac(members[0], 'VXA');
  const macB = guestMac(members[1], 'VXB');
  const remotes = (i: number): string[] => (overlay(members[i]).remotes as any[]).map((r) => `${r.ip} ${String(r.mac).toLowerCase()} ${r.member}`);
  // Each member reads the other's guest's IPv6 addresses (once that member holds their claims), under the guest's MAC.
  assert.ok(await waitFor(() => [B6, B6G].every((a) => remotes(0).includes(`${a} ${macB} M2`)), 40_000, 250), JSON.stringify(remotes(0)));
  assert.ok(await waitFor(() => [A6, A6G].every((a) => remotes(1).includes(`${a} ${macA} M1`)), 40_000, 250), JSON.stringify(remotes(1)));
  // Link-local addresses stay each member's own: never published, never remote.
  assert.ok(!remotes(0).some((r) => r.startsWith('fe80:')), JSON.stringify(remotes(0)));
  // Entries in the store that are not overlay entries (a link-local address, text that is not canonical, a bad MAC) are skipped and logged.
  const bad = [['fe80::21', macB.replace(/:/g, '')], ['FD00:237::99', macB.replace(/:/g, '')], ['fd00:237::98', 'zz']];
  for (const [ip, v] of bad) assert.equal(etcd.ctl(['put', `/vswitch/overlay6/SW1/M2/${ip}`, v]).code, 0);
  assert.ok(await waitFor(() => bad.every(([ip]) => members[0].stderr.includes(`/vswitch/overlay6/SW1/M2/${ip}`)), 15_000, 250), members[0].stderr.slice(-2000));
  assert.ok(!remotes(0).some((r) => /^(fe80::21|fd00:237::98|fd00:237::99) /i.test(r)), JSON.stringify(remotes(0)));
  for (const [ip] of bad) etcd.ctl(['del', `/vswitch/overlay6/SW1/M2/${ip}`]);
  // A member's VTEP that is not a unicast address (here multicast: the guest's frames would go to
  // the whole underlay) is skipped and logged; its guests are not remotes, no entry points at it.
  assert.equal(etcd.ctl(['put', '/vswitch/vteps/M3', '224.0.0.5']).code, 0);
  assert.equal(etcd.ctl(['put', '/vswitch/overlay/SW1/M3/10.237.0.77', '02b003000001']).code, 0);
  try {
    assert.ok(await waitFor(() => members[0].stderr.includes('/vswitch/vteps/M3'), 15_000, 250), members[0].stderr.slice(-2000));
    assert.ok(!JSON.stringify(overlay(members[0])).includes('10.237.0.77'), JSON.stringify(overlay(members[0])));
    assert.ok(!kernelFdb(0).some((e) => e.dst === '224.0.0.5'), JSON.stringify(kernelFdb(0)));
  } finally {
    etcd.ctl(['del', '/vswitch/overlay/SW1/M3/10.237.0.77']);
    etcd.ctl(['del', '/vswitch/vteps/M3']);
  }
  // A member name that is not a system name (here with a newline: it would write lines of its own
  // into QUERY's answer) is skipped and logged, its VTEP and its guests alike.
  const evil = 'M4\n    10.9.9.9         MAC: 02-00-00-00-00-09';
  assert.equal(etcd.ctl(['put', `/vswitch/vteps/${evil}`, `${UNDERLAY}.44`]).code, 0);
  assert.equal(etcd.ctl(['put', `/vswitch/overlay/SW1/${evil}/10.237.0.78`, '02b004000001']).code, 0);
  try {
    assert.ok(await waitFor(() => members[0].stderr.includes('/vswitch/overlay/SW1/M4\\n'), 15_000, 250), members[0].stderr.slice(-2000));
    const o = JSON.stringify(overlay(members[0]));
    assert.ok(!o.includes('10.237.0.78') && !o.includes(`${UNDERLAY}.44`), o);
    assert.doesNotMatch(members[0].cli('QUERY', 'VSWITCH', 'SW1', 'DETAILS').stdout, /10\.9\.9\.9/);
  } finally {
    etcd.ctl(['del', `/vswitch/overlay/SW1/${evil}/10.237.0.78`]);
    etcd.ctl(['del', `/vswitch/vteps/${evil}`]);
  }
  const text = members[0].cli('QUERY', 'VSWITCH', 'SW1', 'DETAILS').stdout;
  assert.match(text, /Remote guests:[\s\S]*fd00:237::21 +MAC: [0-9A-F-]+ +Member: M2/);
  // The one MAC has one forwarding entry, whatever its addresses.
  assert.equal(kernelFdb(0).filter((e) => e.mac === macB).length, 1, JSON.stringify(kernelFdb(0)));
  lab.exec(ga, 'ip', ['-6', 'neigh', 'flush', 'dev', 'enc600']);
  lab.exec(gb, 'ip', ['-6', 'neigh', 'flush', 'dev', 'enc600']);
  const cap = await tcpdump(spawnIn, net.bridgeNs, 'ul', 'udp port 4789');
  const ping6 = (ns: string, ip: string, count = 1): boolean => lab.exec(ns, 'ping', ['-6', '-c', String(count), '-i', '0.2', '-W', '2', ip]).code === 0;
  assert.ok(await waitFor(() => ping6(ga, B6), 20_000, 300), 'VXA on M1 pings VXB on M2 over IPv6 (ULA)');
  assert.ok(ping6(gb, A6, 3), 'and back');
  assert.ok(await waitFor(() => ping6(ga, B6G), 10_000, 300), 'the global addresses too');
  assert.ok(ping6(gb, A6G, 2), 'and back');
  // The NS for the remote guest was answered locally with its own MAC (from the store).
  const neigh = lab.exec(ga, 'ip', ['-6', 'neigh', 'show', B6]).stdout.toLowerCase();
  assert.ok(neigh.includes(macB), neigh);
  const t = await tcpTransfer(lab, ga, gb, B6, 4 << 20, 5003);
  assert.equal(t.receivedBytes, t.bytes);
  assert.equal(t.receivedSha256, t.sentSha256);
  const back = await tcpTransfer(lab, gb, ga, A6G, 1 << 20, 5004);
  assert.equal(back.receivedSha256, back.sentSha256);
  const lines = await cap.stop();
  const inner = (i: number): string => lines[i + 1] ?? '';
  assert.ok(lines.some((l, i) => l.includes(`vni ${VNI}`) && inner(i).includes(`${A6} > ${B6}`) && inner(i).includes('ICMP6, echo request')),
    `the underlay carries the IPv6 ping in VXLAN: ${lines.slice(0, 6).join('\n')}`);
  assert.ok(lines.some((l, i) => l.includes(`vni ${VNI}`) && /: Flags \[/.test(inner(i)) && inner(i).includes(`${A6}.`)), 'the IPv6 TCP transfer too');
  assert.ok(lines.some((l) => l.includes(`${UNDERLAY}.2.`) && l.includes(`> ${UNDERLAY}.1.4789`)), 'from M2\'s VTEP to M1\'s, UDP 4789');
  assert.ok(!lines.some((l) => /neighbor (solicitation|advertisement)/.test(l)), 'no NDP crossed the overlay (answered locally)');
  const outer = lines.map((l) => /length (\d+): 192\.168\.236\.1\.\d+ > /.exec(l)).filter((m) => m !== null).map((m) => Number(m![1]));
  console.log(`# FIGURE VXLAN underlay M1->M2 during the IPv6 transfer: ${outer.length} outer packets, largest ${Math.max(...outer)} bytes, ${outer.filter((n) => n > 1600).length} above the underlay MTU`);
  // What M1 counted as dropped meanwhile (a figure: its guest's MLD reports have no uplink to go to).
  const d = members[0].json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].drops ?? {};
  console.log(`# FIGURE IPv6 over the overlay: ${lines.length} tcpdump lines; M1 drops ${JSON.stringify(d)}`);
});

test('a hand-made Linux VXLAN endpoint (ip link ... type vxlan, bridge fdb append) pings a guest and the guest pings it', async () => {
  lab.ip(peerNs, 'link', 'add', 'vxp', 'type', 'vxlan', 'id', String(VNI), 'dstport', '4789', 'nolearning', 'local', PEER_VTEP);
  run('ip', ['netns', 'exec', peerNs, 'bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxp', 'dst', `${UNDERLAY}.1`]);
  lab.ip(peerNs, 'addr', 'add', `${PEER}/24`, 'dev', 'vxp');
  lab.ip(peerNs, 'link', 'set', 'vxp', 'up');
  assert.ok(await waitFor(() => ping(peerNs, A), 20_000, 300), 'the endpoint pings VXA');
  assert.ok(ping(ga, PEER, 3), 'VXA pings the endpoint');
  const t = await tcpTransfer(lab, peerNs, ga, A, 1 << 20, 5002);
  assert.equal(t.receivedSha256, t.sentSha256);
});

test('an uncoupled guest\'s forwarding entry leaves the other member\'s VXLAN device', async () => {
  const macB = guestMac(members[1], 'VXB');
  members[1].commands(['UNCOUPLE 0600 FOR VXB']);
  assert.ok(await waitFor(() => !kernelFdb(0).some((e) => e.mac === macB), 20_000, 200), JSON.stringify(kernelFdb(0)));
  assert.ok(!overlay(members[0]).remotes.some((r: any) => r.ip === B || r.ip === B6 || r.ip === B6G), JSON.stringify(overlay(members[0]).remotes));
  assert.ok(!ping(ga, B), 'VXB is no longer reached');
  assert.equal(lab.exec(ga, 'ping', ['-6', '-c', '1', '-W', '2', B6]).code === 0, false, 'nor over IPv6');
  // The static VTEP's flood entry stays.
  assert.ok(kernelFdb(0).some((e) => e.mac === '00:00:00:00:00:00' && e.dst === PEER_VTEP));
});

test('a member that dies: its guests\' entries leave the other members\' devices once its lease runs out', async () => {
  members[1].commands(['COUPLE 0600 TO SYSTEM SW1 FOR VXB']);
  const macB = guestMac(members[1], 'VXB');
  assert.ok(await waitFor(() => kernelFdb(0).some((e) => e.mac === macB), 30_000, 200), 'VXB is back on M1\'s device');
  assert.ok(await waitFor(() => ping(ga, B), 20_000, 300), 'and reached again');
  const t0 = Date.now();
  await members[1].kill9();
  // The lease is 10 s (src/daemon/cluster/keys.ts LEASE_TTL_S); M1 reads the store every second.
  assert.ok(await waitFor(() => !kernelFdb(0).some((e) => e.mac === macB), 40_000, 250), JSON.stringify(kernelFdb(0)));
  console.log(`# FIGURE kill -9 of M2 -> its guest's entry gone from M1's VXLAN device after ${Date.now() - t0} ms`);
  assert.ok(!overlay(members[0]).remotes.some((r: any) => r.member === 'M2'));
  // M2's device is its host's: it stays (a restarted daemon takes it over); its own guest is gone with the daemon's port.
  await members[1].start();
  assert.ok(await waitFor(() => overlay(members[1])?.state === 'READY', 20_000, 200), JSON.stringify(overlay(members[1])));
  assert.ok(await waitFor(() => kernelFdb(0).some((e) => e.mac === macB), 40_000, 250), 'the restarted member publishes its guest again');
  assert.ok(await waitFor(() => ping(ga, B), 20_000, 300), 'and VXA reaches VXB again');
});

test('a member publishing another member\'s VTEP (published first) is refused: its guests are no remotes, no entry points at them; logged', async () => {
  const vtep2 = `${UNDERLAY}.2`;
  assert.ok(overlay(members[0]).memberVteps.some((m: any) => m.member === 'M2' && m.vtep === vtep2), JSON.stringify(overlay(members[0])));
  assert.equal(etcd.ctl(['put', '/vswitch/vteps/M3', vtep2]).code, 0);
  assert.equal(etcd.ctl(['put', '/vswitch/overlay/SW1/M3/10.237.0.79', '02b003000079']).code, 0);
  try {
    const logged = (d: Daemon): boolean => /"member":"M3","vtep":"192\.168\.236\.2","heldBy":"M2".*publishes a VTEP another member published first/.test(d.stderr);
    assert.ok(await waitFor(() => logged(members[0]) && logged(members[1]), 15_000, 250), members[0].stderr.slice(-2000));
    const o = overlay(members[0]);
    assert.ok(!o.remotes.some((r: any) => r.member === 'M3' || r.ip === '10.237.0.79'), JSON.stringify(o.remotes));
    assert.ok(!o.memberVteps.some((m: any) => m.member === 'M3'), JSON.stringify(o.memberVteps));
    assert.ok(o.memberVteps.some((m: any) => m.member === 'M2' && m.vtep === vtep2), 'M2 keeps its VTEP');
    assert.ok(!kernelFdb(0).some((e) => e.mac === '02:b0:03:00:00:79'), JSON.stringify(kernelFdb(0)));
  } finally {
    etcd.ctl(['del', '/vswitch/overlay/SW1/M3/10.237.0.79']);
    etcd.ctl(['del', '/vswitch/vteps/M3']);
  }
});

test('a switch detached while a member is down: that member\'s VXLAN device is gone once it is back, a hand-made vx-* device stays', async () => {
  const h2 = net.hosts[1].netns;
  const hasLink = (ns: string, dev: string): boolean => run('ip', ['netns', 'exec', ns, 'ip', 'link', 'show', 'dev', dev]).code === 0;
  lab.ip(h2, 'link', 'add', 'vx-mine', 'type', 'vxlan', 'id', '4243', 'dstport', '4789', 'nolearning', 'local', `${UNDERLAY}.2`);
  assert.ok(hasLink(h2, 'vx-sw1'));
  await members[1].kill9();
  members[0].commands(['UNCOUPLE 0600 FOR VXA']);
  const r = members[0].cli('DETACH', 'VSWITCH', 'SW1');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(await waitFor(() => !hasLink(net.hosts[0].netns, 'vx-sw1'), 15_000, 200), 'the member that detached it removes its device');
  assert.ok(hasLink(h2, 'vx-sw1'), 'the member that is down still has its device');
  await members[1].start();
  assert.ok(await waitFor(() => !hasLink(h2, 'vx-sw1'), 30_000, 200), `M2 removes its device once back: ${members[1].stderr.slice(-2000)}`);
  assert.ok(await waitFor(() => members[1].json('QUERY', 'VSWITCH', 'ALL').switches.every((s: any) => s.name !== 'SW1'), 20_000, 200), 'and has no SW1');
  assert.ok(hasLink(h2, 'vx-mine'), 'a hand-made vx-* device is left');
});
