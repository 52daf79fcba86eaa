/**
 * The data-plane worker on the real kernel, with the hub test forwarder:
 *  - two TAPs in two guest namespaces: ping across, counters move (and nothing is dropped
 *    during the ping), an 8 MiB TCP transfer arrives intact and mostly as TSO super-frames
 *    (average frame > 1514 bytes);
 *  - a TAP and an AF_PACKET uplink on a veth whose peer sits in a LAN namespace: ping and TCP
 *    both ways through the uplink port;
 *  - a write refused because the target's interface is down (a TAP: EIO; an AF_PACKET uplink:
 *    ENETDOWN) counts TxDrops at the port and egress-down (not queue-full) at the switch; the
 *    port stays and carries traffic again once the interface is up;
 *  - a port whose interface is deleted is reported 'port-down' and its counters stop;
 *  - a port-add that cannot be honoured (no such switch, an unknown kind) closes the fd.
 * Counter figures are taken over the action measured (CounterSpan), never since set-up: the
 * guests' IPv6 autoconfiguration is flooded while the other TAP may not be up yet.
 * All interfaces live in namespaces this test creates; the worker runs in the test process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap, openUplink } from '../../src/host/devices.js';
import { PortCounter, dropSlot, portSlot } from '../../src/forward/counters.js';
import { DropReason } from '../../src/forward/api.js';
import type { FromWorker, PortKind } from '../../src/protocol/dataplane.js';
import { addNs, delNs, inNs, ip, tcpTransfer, txOffloadOff, uniq, until } from '../helpers/netns.js';
import { CounterSpan } from './counter-span.js';
import { guestAndUplink } from './uplink-lab.js';

const hubUrl = new URL('./hub-forwarder.js', import.meta.url).href;
const nsA = uniq('vsfa');
const nsB = uniq('vsfb');
const nsU = uniq('vsfu');
const nsL = uniq('vsfl');
const nsG = uniq('vsfg');
const nsP = uniq('vsfp');
const nsQ = uniq('vsfq');
const nsH = uniq('vsfh');
const all = [nsA, nsB, nsU, nsL, nsG, nsP, nsQ, nsH];
let dp: DataPlane;
const downs: Extract<FromWorker, { ev: 'port-down' }>[] = [];

function ctr(port: number, c: PortCounter): number {
  return dp.counters[portSlot(port, c)];
}

before(async () => {
  for (const ns of all) addNs(ns);
  dp = await DataPlane.start({ forwarders: hubUrl });
  dp.on('port-down', (m: Extract<FromWorker, { ev: 'port-down' }>) => downs.push(m));

  // Two guests on switch 1.
  const a = openTap({ netns: nsA, name: 'enc600', mac: 0x020000000a01, persist: false });
  const b = openTap({ netns: nsB, name: 'enc600', mac: 0x020000000b01, persist: false });
  dp.post({ op: 'switch-add', sw: 1, mode: 'ETHERNET', queueBytes: 0 });
  dp.post({ op: 'port-add', port: 1, sw: 1, role: 'nic', kind: 'tap', fd: a.fd, mac: 0x020000000a01, vnet: true, name: 'A' });
  dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'tap', fd: b.fd, mac: 0x020000000b01, vnet: true, name: 'B' });
  ip('-n', nsA, 'addr', 'add', '10.77.0.1/24', 'dev', 'enc600');
  ip('-n', nsA, 'link', 'set', 'enc600', 'up');
  ip('-n', nsB, 'addr', 'add', '10.77.0.2/24', 'dev', 'enc600');
  ip('-n', nsB, 'link', 'set', 'enc600', 'up');

  // A guest and an uplink on switch 2: LAN <-veth-> uplink (nsU) <-AF_PACKET-> worker <-TAP-> guest.
  guestAndUplink(dp, { sw: 2, guestPort: 10, uplinkPort: 11, nsU, nsL, nsG, guestMac: 0x020000000c01, lanIp: '10.78.0.1', guestIp: '10.78.0.2' });
});

after(async () => {
  try { if (dp) await dp.stop(); } finally { for (const ns of all) delNs(ns); }
});

/** Ping from `ns`; false when it fails (no reply). */
function pingFails(ns: string, to: string): boolean {
  try { inNs(ns, 'ping', '-c', '2', '-i', '0.2', '-W', '1', to); return false; } catch { return true; }
}

/**
 * Set the interface behind `port` down and ping across it from `from` (the ping fails): what the
 * worker counted meanwhile must be TxDrops at `port` (its writes refused with `errno`), every
 * drop of the switch (`port` and `other`, its only other port) as egress-down and none as
 * queue-full, nothing sent. Then up again: the port is still there and carries the ping.
 */
async function targetDown(t: { ns: string; ifname: string; sw: number; port: number; other: number; from: string; to: string; errno: string }): Promise<void> {
  ip('-n', t.ns, 'link', 'set', t.ifname, 'down');
  try {
    const span = new CounterSpan(dp.counters);
    assert.ok(pingFails(t.from, t.to), 'no reply across an interface that is down');
    span.end();
    const drops = span.port(t.port, PortCounter.TxDrops) + span.port(t.other, PortCounter.TxDrops);
    assert.ok(span.port(t.port, PortCounter.TxDrops) > 0, `the frames to port ${t.port} were refused (${t.errno})`);
    assert.equal(span.drop(t.sw, DropReason.EgressDown), drops, 'every refused write counted as egress-down');
    assert.equal(span.drop(t.sw, DropReason.QueueFull), 0, 'none as queue-full');
    assert.equal(span.port(t.port, PortCounter.TxFrames), 0);
  } finally {
    ip('-n', t.ns, 'link', 'set', t.ifname, 'up');
  }
  assert.ok(await until(() => !pingFails(t.from, t.to), 5000, 100), 'traffic across it again once the interface is up');
  assert.ok(!downs.some((m) => m.ev === 'port-down' && m.port === t.port), `no port-down for port ${t.port}`);
}

test('ping between two TAPs in two namespaces through the worker; counters move', async () => {
  const span = new CounterSpan(dp.counters);
  const out = inNs(nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.77.0.2');
  // The worker counts a frame just after its write returns, which may be after ping has
  // printed the last reply: wait for that count, then close the span.
  await until(() => span.port(1, PortCounter.TxFrames) >= 3, 1000);
  span.end();
  assert.match(out, / 0% packet loss/);
  assert.ok(span.port(1, PortCounter.RxFrames) >= 3, 'port 1 received the echo requests');
  assert.ok(span.port(2, PortCounter.TxFrames) >= 3, 'port 2 sent them on');
  assert.ok(span.port(2, PortCounter.RxFrames) >= 3, 'port 2 received the replies');
  assert.ok(span.port(1, PortCounter.TxFrames) >= 3, 'port 1 sent them on');
  assert.ok(span.port(1, PortCounter.RxBytes) >= 3 * 98);
  assert.equal(span.port(1, PortCounter.TxDrops) + span.port(2, PortCounter.TxDrops), 0, 'nothing dropped during the ping');
});

test('an 8 MiB TCP transfer between the TAPs arrives intact, carried as TSO super-frames', async () => {
  const rxB = ctr(1, PortCounter.RxBytes), rxF = ctr(1, PortCounter.RxFrames);
  const [got, sent] = await tcpTransfer(nsB, nsA, '10.77.0.2', 8 << 20);
  assert.equal(got, sent);
  assert.match(got, /^8388608 [0-9a-f]{64}$/);
  const bytes = ctr(1, PortCounter.RxBytes) - rxB, frames = ctr(1, PortCounter.RxFrames) - rxF;
  assert.ok(bytes > 8 << 20);
  assert.ok(bytes / frames > 1514, `average frame ${Math.round(bytes / frames)} bytes: offloads not in effect`);
});

test('ping and TCP both ways between a guest TAP and a LAN namespace through the AF_PACKET uplink', async () => {
  const pinging = new CounterSpan(dp.counters);
  const out = inNs(nsG, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.78.0.1');
  await until(() => pinging.port(10, PortCounter.TxFrames) >= 3, 1000); // the last reply's count (see above)
  pinging.end();
  assert.match(out, / 0% packet loss/);
  assert.ok(pinging.port(11, PortCounter.RxFrames) >= 3 && pinging.port(11, PortCounter.TxFrames) >= 3);
  const transfers = new CounterSpan(dp.counters);
  const [got1, sent1] = await tcpTransfer(nsL, nsG, '10.78.0.1', 4 << 20);
  assert.equal(got1, sent1, 'guest -> LAN');
  const [got2, sent2] = await tcpTransfer(nsG, nsL, '10.78.0.2', 4 << 20);
  assert.equal(got2, sent2, 'LAN -> guest');
  transfers.end();
  assert.ok(transfers.port(11, PortCounter.RxBytes) > 4 << 20 && transfers.port(11, PortCounter.TxBytes) > 4 << 20);
});

test('a frame to an uplink whose interface is down is dropped as egress-down, not queue-full; the port stays', async () => {
  await targetDown({ ns: nsU, ifname: 'up0', sw: 2, port: 11, other: 10, from: nsG, to: '10.78.0.1', errno: 'ENETDOWN' });
});

test('a plain uplink (no virtio-net header): TSO frames from the guest are segmented and checksummed in software', async () => {
  // LAN (nsQ) <-veth-> plain AF_PACKET uplink (nsP) <-> worker <-> TAP guest (nsH).
  // The LAN side sends plain, fully checksummed frames (tx offloads off), as a real LAN does.
  ip('-n', nsP, 'link', 'add', 'up1', 'type', 'veth', 'peer', 'name', 'lan1', 'netns', nsQ);
  await txOffloadOff(nsQ, 'lan1');
  ip('-n', nsP, 'link', 'set', 'up1', 'up');
  ip('-n', nsQ, 'addr', 'add', '10.76.0.1/24', 'dev', 'lan1');
  ip('-n', nsQ, 'link', 'set', 'lan1', 'up');
  const h = openTap({ netns: nsH, name: 'enc600', mac: 0x020000000d01, persist: false });
  const u = openUplink('up1', { netns: nsP, vnet: false });
  dp.post({ op: 'switch-add', sw: 3, mode: 'ETHERNET', queueBytes: 0 });
  dp.post({ op: 'port-add', port: 20, sw: 3, role: 'nic', kind: 'tap', fd: h.fd, mac: 0x020000000d01, vnet: true, name: 'H' });
  dp.post({ op: 'port-add', port: 21, sw: 3, role: 'uplink', kind: 'afpacket', fd: u.fd, mac: u.mac, vnet: false, name: 'up1' });
  ip('-n', nsH, 'addr', 'add', '10.76.0.2/24', 'dev', 'enc600');
  ip('-n', nsH, 'link', 'set', 'enc600', 'up');
  assert.match(inNs(nsH, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.76.0.1'), / 0% packet loss/);
  const upload = new CounterSpan(dp.counters);
  const [got1, sent1] = await tcpTransfer(nsQ, nsH, '10.76.0.1', 4 << 20);
  upload.end();
  assert.equal(got1, sent1, 'guest -> LAN through software segmentation');
  const [got2, sent2] = await tcpTransfer(nsH, nsQ, '10.76.0.2', 2 << 20);
  assert.equal(got2, sent2, 'LAN -> guest: plain frames get a zero header');
  const txF = upload.port(21, PortCounter.TxFrames), txB = upload.port(21, PortCounter.TxBytes);
  assert.ok(txB / txF <= 1514, `frames on the plain uplink are at most 1514 bytes (average ${Math.round(txB / txF)})`);
  assert.ok(upload.port(20, PortCounter.RxBytes) / upload.port(20, PortCounter.RxFrames) > 1514, 'the guest did send super-frames');
  assert.equal(dp.counters[dropSlot(3, DropReason.BadOffload)], 0, 'no bad offload on this switch since it was made');
});

test('a frame to a TAP whose interface is down is dropped as egress-down, not queue-full; the port stays', async () => {
  await targetDown({ ns: nsB, ifname: 'enc600', sw: 1, port: 2, other: 1, from: nsA, to: '10.77.0.2', errno: 'EIO' });
});

test('deleting a TAP interface reports port-down and the port is closed', async () => {
  ip('-n', nsB, 'link', 'del', 'enc600');
  assert.ok(await until(() => downs.some((m) => m.ev === 'port-down' && m.port === 2), 2000), 'port-down for port 2');
  // The other guest's traffic to it is no longer sent anywhere (port gone): tx on 2 frozen.
  const tx2 = ctr(2, PortCounter.TxFrames);
  try { inNs(nsA, 'ping', '-c', '1', '-W', '1', '10.77.0.2'); } catch { /* expected to fail */ }
  assert.equal(ctr(2, PortCounter.TxFrames), tx2);
});

test('a port-add that cannot be honoured (no such switch, a kind the data plane does not know) closes the fd and reports port-down', async () => {
  const refused: Array<{ port: number; sw: number; kind: string; why: RegExp }> = [
    { port: 3, sw: 99, kind: 'tap', why: /no switch 99/ },
    { port: 4, sw: 1, kind: 'vhost-user', why: /port kind vhost-user not supported/ },
    { port: 5, sw: 1, kind: 'constructor', why: /port kind constructor not supported/ }, // a name every object has
  ];
  for (const r of refused) {
    const ifname = `enc60${r.port}`;
    const mac = 0x020000000a00 + r.port;
    const t = openTap({ netns: nsA, name: ifname, mac, persist: false });
    dp.post({ op: 'port-add', port: r.port, sw: r.sw, role: 'nic', kind: r.kind as PortKind, fd: t.fd, mac, vnet: true, name: 'X' });
    assert.ok(await until(() => downs.some((m) => m.ev === 'port-down' && m.port === r.port), 2000), `port-down for port ${r.port}`);
    assert.match(downs.find((m) => m.ev === 'port-down' && m.port === r.port)!.reason, r.why);
    // The worker closed the fd, so the non-persistent TAP is gone.
    assert.ok(await until(() => !ip('-n', nsA, 'link').includes(ifname), 2000), `${ifname} gone`);
  }
});
