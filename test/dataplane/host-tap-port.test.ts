/**
 * The 'host-tap' port kind on the real kernel (src/dataplane/host-tap-port.ts): a persistent
 * host TAP made by ensureHostTap, its kernel side an AF_PACKET socket with PACKET_VNET_HDR in
 * the worker, on a hub switch with a guest TAP; the test holds the TAP's fd as QEMU would
 * (IFF_VNET_HDR). Frames go both ways (the guest's ARP request reaches "QEMU"; the ARP reply
 * "QEMU" writes reaches the guest's neighbour table); the TAP set down is no failure (the port
 * stays and works again when it is up); "QEMU" closing the TAP is no failure either (carrier
 * off, hostTapLink says so); the TAP deleted makes the port report 'port-down' with reason
 * 'TAP deleted'. ensureHostTap itself: 'created', then 'existing' (nobody has it open) or
 * 'in-use' (QEMU has it), EEXIST when exclusive, EINVAL for a name that is not a TAP, and the
 * host stack kept off the TAP (NOARP, up, IPv6 disabled).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap, openUplink } from '../../src/host/devices.js';
import { ensureHostTap, hostTapLink } from '../../src/host/host-tap.js';
import { withNetns } from '../../src/sys/netns.js';
import { close, raw } from '../../src/sys/libc.js';
import type { FromWorker } from '../../src/protocol/dataplane.js';
import { addNs, delNs, inNs, ip, uniq, until } from '../helpers/netns.js';
import { run } from '../helpers/netlab.js';

const hubUrl = new URL('./hub-forwarder.js', import.meta.url).href;
const nsA = uniq('vsha');
const nsH = uniq('vshh');
let dp: DataPlane;
const downs: Extract<FromWorker, { ev: 'port-down' }>[] = [];
const VM_MAC = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x0e, 0x01]);
const A_MAC = 0x020000000a01;
let qemu = -1;

before(async () => {
  addNs(nsA);
  addNs(nsH);
  dp = await DataPlane.start({ forwarders: hubUrl });
  dp.on('port-down', (m: Extract<FromWorker, { ev: 'port-down' }>) => downs.push(m));
  const a = openTap({ netns: nsA, name: 'enc600', mac: A_MAC, persist: false });
  dp.post({ op: 'switch-add', sw: 1, mode: 'ETHERNET', queueBytes: 0 });
  dp.post({ op: 'port-add', port: 1, sw: 1, role: 'nic', kind: 'tap', fd: a.fd, mac: A_MAC, vnet: true, name: 'A' });
  ip('-n', nsA, 'addr', 'add', '10.66.0.1/24', 'dev', 'enc600');
  ip('-n', nsA, 'link', 'set', 'enc600', 'up');
});

after(async () => {
  close(qemu);
  try { if (dp) await dp.stop(); } finally { delNs(nsA); delNs(nsH); }
});

/** One frame "QEMU" reads from its TAP fd (virtio-net header stripped), or null within `ms`. */
async function qemuRead(ms: number): Promise<Buffer | null> {
  const b = Buffer.alloc(65536);
  let frame: Buffer | null = null;
  await until(() => {
    const n = Number(raw.read(qemu, b, b.length));
    if (n > 10) frame = Buffer.from(b.subarray(10, n));
    return frame !== null;
  }, ms);
  return frame;
}

function pingOnce(ns: string, to: string): void {
  try { inNs(ns, 'ping', '-c', '1', '-W', '1', to); } catch { /* no reply expected */ }
}

test('ensureHostTap: created, existing, in-use; EEXIST when exclusive; EINVAL for a name that is not a TAP; host stack off', async () => {
  withNetns(nsH, () => {
    assert.equal(ensureHostTap({ name: 'vmtap0', uid: 1000, gid: null, exclusive: true }), 'created');
    assert.equal(ensureHostTap({ name: 'vmtap0', uid: 1000, gid: null, exclusive: false }), 'existing');
    assert.throws(() => ensureHostTap({ name: 'vmtap0', uid: null, gid: null, exclusive: true }), (e: { code?: string }) => e.code === 'EEXIST');
    assert.throws(() => ensureHostTap({ name: 'lo', uid: null, gid: null, exclusive: false }), (e: { code?: string; message: string }) => e.code === 'EINVAL' && /not a TAP/.test(e.message));
    assert.deepEqual(hostTapLink('nosuch0'), { exists: false, up: false, carrier: false });
  });
  // The flags follow the carrier through the kernel's link watch, up to a second later.
  assert.ok(await until(() => JSON.stringify(withNetns(nsH, () => hostTapLink('vmtap0'))) === '{"exists":true,"up":true,"carrier":false}', 3000), 'no carrier while nobody has it');
  const link = ip('-n', nsH, '-d', 'link', 'show', 'dev', 'vmtap0');
  assert.match(link, /NOARP,UP/);
  const owner = run('getent', ['passwd', '1000']).stdout.split(':')[0] || '1000';
  assert.ok(link.includes(`tun type tap pi off vnet_hdr on persist on user ${owner} `), link);
  assert.equal(inNs(nsH, 'sysctl', '-n', 'net.ipv6.conf.vmtap0.disable_ipv6').trim(), '1');
  qemu = openTap({ netns: nsH, name: 'vmtap0', mac: 0x020000000e99, persist: true }).fd;
  withNetns(nsH, () => {
    assert.equal(ensureHostTap({ name: 'vmtap0', uid: null, gid: null, exclusive: false }), 'in-use', 'QEMU has it: left alone');
  });
  assert.ok(await until(() => withNetns(nsH, () => hostTapLink('vmtap0').carrier), 3000), 'carrier while QEMU has it');
});

test('frames both ways between the guest and "QEMU" through the host-tap port; a TAP set down is no failure', async () => {
  const side = openUplink('vmtap0', { netns: nsH });
  dp.post({ op: 'port-add', port: 2, sw: 1, role: 'nic', kind: 'host-tap', fd: side.fd, mac: 0x020000000e01, vnet: true, name: 'vmtap0@host' });
  while ((await qemuRead(50)) !== null) { /* drain what came before */ }
  pingOnce(nsA, '10.66.0.9');
  let req: Buffer | null = null;
  for (let i = 0; i < 20 && req === null; i++) {
    const f = await qemuRead(500);
    if (f && f.readUInt16BE(12) === 0x0806 && f.readUInt32BE(38) === 0x0a420009) req = f;
  }
  assert.ok(req, 'the guest\'s ARP request reached QEMU through the TAP');
  // QEMU answers: 10.66.0.9 is at VM_MAC.
  const reply = Buffer.alloc(10 + 42);
  const e = reply.subarray(10);
  req!.copy(e, 0, 6, 12); // dst = the requester
  VM_MAC.copy(e, 6);
  e.writeUInt16BE(0x0806, 12);
  e.writeUInt16BE(1, 14); e.writeUInt16BE(0x0800, 16); e[18] = 6; e[19] = 4; e.writeUInt16BE(2, 20);
  VM_MAC.copy(e, 22); e.writeUInt32BE(0x0a420009, 28);
  req!.copy(e, 32, 22, 28); req!.copy(e, 38, 28, 32);
  assert.equal(Number(raw.write(qemu, reply, reply.length)), reply.length);
  assert.ok(await until(() => /10\.66\.0\.9 dev enc600 lladdr 02:00:00:00:0e:01/.test(ip('-n', nsA, 'neigh', 'show')), 3000),
    `the reply reached the guest: ${ip('-n', nsA, 'neigh', 'show')}`);

  ip('-n', nsH, 'link', 'set', 'vmtap0', 'down');
  pingOnce(nsA, '10.66.0.8');
  ip('-n', nsH, 'link', 'set', 'vmtap0', 'up');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(downs, [], 'down and up again: the port stays');
  pingOnce(nsA, '10.66.0.7');
  let again = false;
  for (let i = 0; i < 20 && !again; i++) {
    const f = await qemuRead(300);
    again = f !== null && f.readUInt16BE(12) === 0x0806 && f.readUInt32BE(38) === 0x0a420007;
  }
  assert.ok(again, 'frames reach QEMU again once the TAP is up');
});

test('QEMU closing the TAP is no failure (carrier off); the TAP deleted: port-down "TAP deleted"', async () => {
  close(qemu);
  qemu = -1;
  assert.ok(await until(() => !withNetns(nsH, () => hostTapLink('vmtap0').carrier), 3000), 'carrier off without QEMU');
  pingOnce(nsA, '10.66.0.6');
  assert.deepEqual(downs, []);
  ip('-n', nsH, 'link', 'del', 'vmtap0');
  for (let i = 0; i < 5 && downs.length === 0; i++) pingOnce(nsA, '10.66.0.5'); // frames for it, in case its read saw only the interface going down
  assert.ok(await until(() => downs.length > 0, 3000), 'port-down reported');
  const down = downs[0] as Extract<FromWorker, { ev: 'port-down' }>;
  assert.equal(down.port, 2);
  assert.match(down.reason, /^TAP deleted/);
});
