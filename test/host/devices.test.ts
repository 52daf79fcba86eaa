/**
 * devices.ts on the real kernel: TAP creation inside a namespace (name, MAC, offload-capable fd),
 * persistence across close + re-attach (addresses and up state kept), destroyTap, openUplink
 * on a veth in a namespace (MAC, MTU, ENODEV), interfaceExists, ensureNetns.
 * Everything lives in namespaces this test creates and deletes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureNetns, openTap, destroyTap, openUplink, interfaceExists, deleteNetns } from '../../src/host/devices.js';
import { close } from '../../src/sys/libc.js';
import { formatMac } from '../../src/wire/addr.js';
import { addNs, delNs, ip, uniq } from '../helpers/netns.js';

const made: string[] = [];
after(() => { for (const ns of made) delNs(ns); });

test('ensureNetns creates a namespace once and is idempotent', () => {
  const ns = uniq('vsdev');
  made.push(ns);
  assert.equal(interfaceExists('lo', ns), false);
  ensureNetns(ns);
  ensureNetns(ns);
  assert.equal(interfaceExists('lo', ns), true);
  deleteNetns(ns);
  assert.equal(interfaceExists('lo', ns), false);
});

test('openTap creates the TAP inside the namespace with name and MAC; persist keeps addresses across re-attach', () => {
  const ns = uniq('vsdev');
  made.push(ns);
  ensureNetns(ns);
  const mac = 0x02aabb000601;
  const t = openTap({ netns: ns, name: 'enc600', mac, persist: true });
  try {
    assert.ok(t.fd >= 0);
    assert.ok(t.ifindex > 0);
    const link = JSON.parse(ip('-j', '-n', ns, 'link', 'show', 'enc600')) as Array<{ ifindex: number; address: string; link_type: string }>;
    assert.equal(link[0].ifindex, t.ifindex);
    assert.equal(link[0].address, formatMac(mac));
    assert.equal(interfaceExists('enc600', ns), true);
    assert.equal(interfaceExists('enc600'), false, 'the TAP must not appear in the test process namespace');
    ip('-n', ns, 'addr', 'add', '10.250.0.1/24', 'dev', 'enc600');
    ip('-n', ns, 'link', 'set', 'enc600', 'up');
  } finally {
    close(t.fd);
  }
  // Closed but persistent: still there, with its address.
  assert.equal(interfaceExists('enc600', ns), true);
  const t2 = openTap({ netns: ns, name: 'enc600', mac, persist: true });
  try {
    assert.equal(t2.ifindex, t.ifindex, 're-attach must reuse the same interface');
    const a = JSON.parse(ip('-j', '-n', ns, 'addr', 'show', 'enc600')) as Array<{ flags: string[]; addr_info: Array<{ family: string; local: string; prefixlen: number }> }>;
    assert.ok(a[0].flags.includes('UP'));
    assert.ok(a[0].addr_info.some((x) => x.family === 'inet' && x.local === '10.250.0.1' && x.prefixlen === 24));
    // A second opener is refused while we hold it.
    assert.throws(() => openTap({ netns: ns, name: 'enc600', mac, persist: true }), (e: NodeJS.ErrnoException) => e.code === 'EBUSY');
  } finally {
    close(t2.fd);
  }
  destroyTap(ns, 'enc600');
  assert.equal(interfaceExists('enc600', ns), false);
  destroyTap(ns, 'enc600'); // missing is fine
});

test('a non-persistent TAP disappears with its fd; the MAC is changed on re-attach when it differs', () => {
  const ns = uniq('vsdev');
  made.push(ns);
  ensureNetns(ns);
  const t = openTap({ netns: ns, name: 'enc700', mac: 0x020000000700, persist: true });
  close(t.fd);
  const t2 = openTap({ netns: ns, name: 'enc700', mac: 0x020000000701, persist: false });
  const link = JSON.parse(ip('-j', '-n', ns, 'link', 'show', 'enc700')) as Array<{ address: string }>;
  assert.equal(link[0].address, '02:00:00:00:07:01');
  close(t2.fd);
  assert.equal(interfaceExists('enc700', ns), false);
});

test('openUplink on a veth in a namespace: MAC, MTU, ifindex; ENODEV for a missing interface', () => {
  const ns = uniq('vsdev');
  made.push(ns);
  addNs(ns);
  ip('-n', ns, 'link', 'add', 'up0', 'mtu', '1400', 'address', '02:11:22:33:44:55', 'type', 'veth', 'peer', 'name', 'lan0');
  const u = openUplink('up0', { netns: ns, promisc: true });
  try {
    assert.equal(u.mac, 0x021122334455);
    assert.equal(u.mtu, 1400);
    const link = JSON.parse(ip('-d', '-j', '-n', ns, 'link', 'show', 'up0')) as Array<{ ifindex: number; promiscuity: number }>;
    assert.equal(link[0].ifindex, u.ifindex);
    assert.equal(link[0].promiscuity, 1);
  } finally {
    close(u.fd);
  }
  const link = JSON.parse(ip('-d', '-j', '-n', ns, 'link', 'show', 'up0')) as Array<{ promiscuity: number }>;
  assert.equal(link[0].promiscuity, 0, 'promiscuous mode ends with the socket');
  assert.throws(() => openUplink('nosuch0', { netns: ns }), (e: NodeJS.ErrnoException) => e.code === 'ENODEV');
  assert.throws(() => openUplink('lo', { netns: ns }), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
});
