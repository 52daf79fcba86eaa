/**
 * End to end, IP mode, on the real kernel (issue 2): two namespace guests on one IP-mode
 * switch whose uplink is a veth to a namespace holding a LAN host. Checks ping and a checked
 * TCP transfer guest-guest, guest-LAN and LAN-guest; that the LAN sees only the uplink's MAC;
 * that a datagram to an unregistered address is discarded and counted (seed Fig. 6, step 522);
 * and that removing a guest's address stops LAN traffic to it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab, waitFor } from '../helpers/netlab.js';
import type { Daemon } from '../helpers/daemon.js';
import type { Controller } from '../helpers/controller.js';
import { startIpLab } from '../helpers/ip-lab.js';
import { tcpTransfer } from '../helpers/tcp.js';
import { lanTable, dropCount, uplinkMac } from '../helpers/query.js';

const lab = new NetLab('vi');
let d: Daemon;
let ctl: Controller;
let hostNs: string, lanNs: string, g1: string, g2: string, up: string;
const LAN = '10.77.0.1', A = '10.77.0.11', B = '10.77.0.12', GHOST = '10.77.0.99';

before(async () => {
  // The usual IP-mode lab (test/helpers/ip-lab.ts): LAN host, LINUX1 and LINUX2, both registered with the uplink.
  ({ d, ctl, hostNs, lanNs, g1, g2, up } = await startIpLab(lab, '10.77.0'));
});

after(async () => {
  try { await ctl?.stop(); await d?.stop(); } finally { lab.cleanup(); }
});

function ping(ns: string, ip: string, count = 3): boolean {
  return lab.exec(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', ip]).code === 0;
}

test('guest to guest: ping and a checked TCP transfer', async () => {
  assert.ok(ping(g1, B), 'LINUX1 pings LINUX2');
  const r = await tcpTransfer(lab, g1, g2, B, 8 << 20);
  assert.equal(r.receivedBytes, r.bytes);
  assert.equal(r.receivedSha256, r.sentSha256);
});

test('guest to LAN and LAN to guest: ping and checked TCP transfers', async () => {
  assert.ok(ping(g1, LAN), 'LINUX1 pings the LAN host');
  assert.ok(ping(lanNs, B), 'the LAN host pings LINUX2');
  const out = await tcpTransfer(lab, g1, lanNs, LAN, 4 << 20, 5002);
  assert.equal(out.receivedSha256, out.sentSha256);
  const inbound = await tcpTransfer(lab, lanNs, g2, B, 4 << 20, 5003);
  assert.equal(inbound.receivedSha256, inbound.sentSha256);
});

test('the LAN sees the uplink MAC for every guest', () => {
  assert.ok(ping(lanNs, A, 1) && ping(lanNs, B, 1));
  const mac = lab.ip(hostNs, '-j', 'link', 'show', up);
  const upMac = JSON.parse(mac)[0].address as string;
  assert.equal(uplinkMac(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1')?.toLowerCase(), upMac.toLowerCase());
  const neigh = JSON.parse(lab.ip(lanNs, '-j', 'neigh', 'show', 'dev', 'lan0')) as Array<{ dst: string; lladdr?: string }>;
  for (const ip of [A, B]) {
    const e = neigh.find((n) => n.dst === ip);
    assert.ok(e, `LAN host has a neighbour entry for ${ip}`);
    assert.equal(e!.lladdr?.toLowerCase(), upMac.toLowerCase(), `${ip} is at the uplink MAC`);
  }
});

test('a datagram to an unregistered address is discarded and counted', async () => {
  const mac = JSON.parse(lab.ip(hostNs, '-j', 'link', 'show', up))[0].address as string;
  const before = dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'unknown-destination');
  // The switch does not answer ARP for it, so point the LAN host at the uplink by hand.
  lab.ip(lanNs, 'neigh', 'replace', GHOST, 'lladdr', mac, 'dev', 'lan0', 'nud', 'permanent');
  assert.ok(!ping(lanNs, GHOST, 3), 'nobody answers for an unregistered address');
  const afterCount = await waitFor(() => {
    const n = dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'unknown-destination');
    return n >= before + 3 ? n : 0;
  }, 3000);
  assert.ok(afterCount >= before + 3, `unknown-destination went from ${before} to at least ${before + 3}`);
});

test('removing a guest address stops LAN traffic to it', async () => {
  lab.ip(g2, 'addr', 'del', `${B}/24`, 'dev', 'enc600');
  const gone = await waitFor(() => !lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').some((e) => e.ip === B), 5000);
  assert.ok(gone, 'the address left the LAN IP table');
  assert.ok(!ping(lanNs, B, 2), 'the LAN host no longer reaches the removed address');
  assert.ok(ping(lanNs, A, 1), 'the other guest is still reachable');
});
