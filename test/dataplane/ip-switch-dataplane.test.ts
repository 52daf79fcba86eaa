/**
 * The data-plane worker with the production forwarders (default factory), IP mode, on the real
 * kernel: two guest TAPs and an AF_PACKET uplink to a LAN namespace. Checks the control
 * messages reach the IpSwitch (ip-set, localOnly, ip-clear, announce) and its events come back
 * ('saw-address'); traffic: guest <-> guest, guest <-> LAN, a TCP transfer to the LAN.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap, openUplink } from '../../src/host/devices.js';
import { DropReason } from '../../src/forward/api.js';
import { PortCounter, dropSlot, portSlot } from '../../src/forward/counters.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import type { FromWorker } from '../../src/protocol/dataplane.js';
import { addNs, delNs, inNs, ip, tcpTransfer, until, uniq } from '../helpers/netns.js';

const nsA = uniq('vsia'), nsB = uniq('vsib'), nsC = uniq('vsic'), nsU = uniq('vsiu'), nsL = uniq('vsil');
const all = [nsA, nsB, nsC, nsU, nsL];
let dp: DataPlane;
const saw: FromWorker[] = [];
const SW = 5;

function ping(ns: string, to: string): boolean {
  try { inNs(ns, 'ping', '-c', '2', '-i', '0.2', '-W', '1', to); return true; } catch { return false; }
}

before(async () => {
  for (const ns of all) addNs(ns);
  dp = await DataPlane.start();
  dp.on('saw-address', (m: FromWorker) => saw.push(m));
  ip('-n', nsU, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', nsL);
  ip('-n', nsU, 'link', 'set', 'up0', 'up');
  ip('-n', nsL, 'addr', 'add', '10.79.0.1/24', 'dev', 'lan0');
  ip('-n', nsL, 'link', 'set', 'lan0', 'up');
  const u = openUplink('up0', { netns: nsU });
  dp.post({ op: 'switch-add', sw: SW, mode: 'IP', queueBytes: 0 });
  dp.post({ op: 'port-add', port: 50, sw: SW, role: 'uplink', kind: 'afpacket', fd: u.fd, mac: u.mac, vnet: true, name: 'up0' });
  const guests: Array<[string, number, string]> = [[nsA, 51, '10.79.0.11'], [nsB, 52, '10.79.0.12'], [nsC, 53, '10.79.0.13']];
  for (const [ns, port, addr] of guests) {
    const mac = 0x020000000000 + port;
    const t = openTap({ netns: ns, name: 'enc600', mac, persist: false });
    dp.post({ op: 'port-add', port, sw: SW, role: 'nic', kind: 'tap', fd: t.fd, mac, vnet: true, name: ns });
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'enc600');
    ip('-n', ns, 'link', 'set', 'enc600', 'up');
  }
  dp.post({ op: 'ip-set', sw: SW, ip: parseIpv4('10.79.0.11'), port: 51, localOnly: false });
  dp.post({ op: 'ip-set', sw: SW, ip: parseIpv4('10.79.0.12'), port: 52, localOnly: true });
  // 10.79.0.13 (port 53) is deliberately not registered.
});

after(async () => {
  try { if (dp) await dp.stop(); } finally { for (const ns of all) delNs(ns); }
});

test('guest to guest and guest to LAN through the IpSwitch', () => {
  assert.ok(ping(nsA, '10.79.0.12'), 'A -> B (both registered)');
  assert.ok(ping(nsA, '10.79.0.1'), 'A -> LAN');
  assert.ok(ping(nsL, '10.79.0.11'), 'LAN -> A');
});

test('a 4 MiB TCP transfer from a guest to the LAN and back passes intact', async () => {
  const [got1, sent1] = await tcpTransfer(nsL, nsA, '10.79.0.1', 4 << 20);
  assert.equal(got1, sent1);
  const [got2, sent2] = await tcpTransfer(nsA, nsL, '10.79.0.11', 4 << 20);
  assert.equal(got2, sent2);
});

test('a local-only address is not reachable from the LAN; the drop is counted', () => {
  const before = dp.counters[dropSlot(SW, DropReason.LocalOnly)] + dp.counters[dropSlot(SW, DropReason.UnknownDestination)]
    + dp.counters[dropSlot(SW, DropReason.ArpIgnored)];
  assert.equal(ping(nsL, '10.79.0.12'), false);
  const after = dp.counters[dropSlot(SW, DropReason.LocalOnly)] + dp.counters[dropSlot(SW, DropReason.UnknownDestination)]
    + dp.counters[dropSlot(SW, DropReason.ArpIgnored)];
  assert.ok(after > before, 'LAN traffic to the local-only address was dropped and counted');
  dp.post({ op: 'ip-set', sw: SW, ip: parseIpv4('10.79.0.12'), port: 52, localOnly: false });
  assert.ok(ping(nsL, '10.79.0.12'), 'reachable once registered');
});

test('an unregistered guest address is reported as saw-address', async () => {
  ping(nsC, '10.79.0.11');
  assert.ok(await until(() => saw.some((m) => m.ev === 'saw-address' && m.port === 53 && m.ip === parseIpv4('10.79.0.13') && m.sw === SW), 2000));
});

test('ip-clear removes the address; announce sends a gratuitous ARP out the uplink', async () => {
  const tx = dp.counters[portSlot(50, PortCounter.TxFrames)];
  dp.post({ op: 'announce', sw: SW, ip: parseIpv4('10.79.0.11') });
  assert.ok(await until(() => dp.counters[portSlot(50, PortCounter.TxFrames)] > tx, 1000), 'a frame left through the uplink');
  dp.post({ op: 'ip-clear', sw: SW, ip: parseIpv4('10.79.0.12') });
  ip('-n', nsL, 'neigh', 'flush', 'dev', 'lan0');
  assert.equal(ping(nsL, '10.79.0.12'), false);
});
