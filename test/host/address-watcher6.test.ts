/**
 * AddressWatcher's IPv6 addresses on the real kernel (namespaces joined by a veth pair, so DAD
 * runs and can fail), and the rtnetlink parser on a known AF_INET6 RTM_NEWADDR and its
 * malformed variants.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { AddressWatcher } from '../../src/host/address-watcher.js';
import { parseMessages, type NetlinkEvent } from '../../src/sys/netlink.js';
import { formatIpv6, ip6FromHex } from '../../src/wire/ipv6.js';
import { addNs, delNs, ip, uniq } from '../helpers/netns.js';
import { waitFor as poll } from '../helpers/netlab.js';

const made: string[] = [];
after(() => { for (const ns of made) delNs(ns); });

type Ev = { key: string; addr: string; added: boolean };

function collect(w: AddressWatcher): Ev[] {
  const evs: Ev[] = [];
  w.on('address6', (key: string, a: string, pl: number, added: boolean) => {
    evs.push({ key, addr: `${formatIpv6(ip6FromHex(a)!)}/${pl}`, added });
  });
  return evs;
}

/** The first event matching `pred` within `ms` (polled). */
async function waitFor(evs: Ev[], pred: (e: Ev) => boolean, ms: number): Promise<Ev> {
  const e = await poll(() => evs.find(pred), ms, 20);
  if (!e) throw new Error(`no matching event within ${ms} ms; got ${JSON.stringify(evs)}`);
  return e;
}

test('IPv6: global, unique-local and link-local addresses reported once DAD passed; a DAD-failed one never; deletion reported', async () => {
  const a = uniq('vsw6a'), b = uniq('vsw6b');
  made.push(a, b);
  addNs(a);
  addNs(b);
  ip('link', 'add', 'enc600', 'netns', a, 'type', 'veth', 'peer', 'name', 'peer0', 'netns', b);
  ip('-n', b, 'addr', 'add', '2001:db8:5::9/64', 'dev', 'peer0', 'nodad');
  ip('-n', b, 'link', 'set', 'peer0', 'up');
  const w = new AddressWatcher();
  try {
    const evs = collect(w);
    w.watch('g6', a, 'enc600');
    ip('-n', a, 'link', 'set', 'enc600', 'address', '02:00:00:00:06:01');
    ip('-n', a, 'addr', 'add', '2001:db8:5::1/64', 'dev', 'enc600');
    ip('-n', a, 'addr', 'add', 'fd00:5::1/64', 'dev', 'enc600', 'nodad');
    ip('-n', a, 'addr', 'add', '2001:db8:5::9/64', 'dev', 'enc600'); // held by the peer: DAD fails
    ip('-n', a, 'link', 'set', 'enc600', 'up');
    await waitFor(evs, (e) => e.addr === 'fd00:5::1/64' && e.added, 5000);
    await waitFor(evs, (e) => e.addr === '2001:db8:5::1/64' && e.added, 10_000);
    await waitFor(evs, (e) => e.addr === 'fe80::ff:fe00:601/64' && e.added, 10_000);
    // Let the failed DAD finish: the kernel marks the address dadfailed.
    const end = Date.now() + 10_000;
    while (!ip('-n', a, '-6', 'addr', 'show', 'dev', 'enc600').includes('dadfailed')) {
      if (Date.now() > end) throw new Error('DAD did not fail');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(evs.filter((e) => e.addr.startsWith('2001:db8:5::9')).length, 0, JSON.stringify(evs));
    ip('-n', a, 'addr', 'del', '2001:db8:5::1/64', 'dev', 'enc600');
    await waitFor(evs, (e) => e.addr === '2001:db8:5::1/64' && !e.added, 5000);
    // A fresh watch reports what is there (no tentative or failed address).
    const evs2: Ev[] = [];
    const w2 = new AddressWatcher();
    try {
      w2.on('address6', (key: string, x: string, pl: number, added: boolean) => evs2.push({ key, addr: `${formatIpv6(ip6FromHex(x)!)}/${pl}`, added }));
      w2.watch('again', a, 'enc600');
      await waitFor(evs2, (e) => e.addr === 'fd00:5::1/64', 5000);
      await waitFor(evs2, (e) => e.addr === 'fe80::ff:fe00:601/64', 5000);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(evs2.map((e) => e.addr).sort(), ['fd00:5::1/64', 'fe80::ff:fe00:601/64']);
    } finally {
      await w2.close();
    }
  } finally {
    await w.close();
  }
});

test('IPv6 on a VLAN sub-device IFNAME.N comes with vid N, as IPv4 does; removed with the device', async () => {
  const ns = uniq('vsw6v');
  made.push(ns);
  addNs(ns);
  // No 802.1Q on this kernel (see address-watcher.test.ts): TAPs named as VLAN devices are.
  ip('-n', ns, 'tuntap', 'add', 'dev', 'enc600', 'mode', 'tap');
  ip('-n', ns, 'tuntap', 'add', 'dev', 'enc600.20', 'mode', 'tap');
  ip('-n', ns, 'addr', 'add', '2001:db8:20::1/64', 'dev', 'enc600.20', 'nodad');
  ip('-n', ns, 'addr', 'add', '2001:db8:1::1/64', 'dev', 'enc600', 'nodad');
  const w = new AddressWatcher();
  try {
    const evs: Array<Ev & { vid: number }> = [];
    w.on('address6', (key: string, a: string, pl: number, added: boolean, vid: number) => {
      evs.push({ key, addr: `${formatIpv6(ip6FromHex(a)!)}/${pl}`, added, vid });
    });
    w.watch('g6v', ns, 'enc600');
    await waitFor(evs, (e) => e.addr === '2001:db8:20::1/64' && e.added, 5000);
    await waitFor(evs, (e) => e.addr === '2001:db8:1::1/64' && e.added, 5000);
    ip('-n', ns, 'tuntap', 'add', 'dev', 'enc600.30', 'mode', 'tap');
    ip('-n', ns, 'addr', 'add', '2001:db8:30::1/64', 'dev', 'enc600.30', 'nodad');
    await waitFor(evs, (e) => e.addr === '2001:db8:30::1/64' && e.added, 5000);
    ip('-n', ns, 'link', 'del', 'enc600.20');
    await waitFor(evs, (e) => e.addr === '2001:db8:20::1/64' && !e.added, 5000);
    assert.deepEqual(evs.map((e) => `${e.addr} ${e.added} ${e.vid}`).sort(),
      ['2001:db8:1::1/64 true 0', '2001:db8:20::1/64 false 20', '2001:db8:20::1/64 true 20', '2001:db8:30::1/64 true 30']);
  } finally {
    await w.close();
  }
});

/** RTM_NEWADDR, AF_INET6, prefix 64, flags `flags`, index 7, IFA_ADDRESS 2001:db8::1 (+ IFA_FLAGS when given). */
function newaddr6(flags: number, ifaFlags?: number): Uint8Array {
  const attrs = [20, 0, 1, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  if (ifaFlags !== undefined) attrs.push(8, 0, 8, 0, ifaFlags & 0xff, ifaFlags >> 8 & 0xff, 0, 0);
  const len = 16 + 8 + attrs.length;
  return new Uint8Array([len, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 64, flags, 0, 7, 0, 0, 0, ...attrs]);
}

function parseAll(b: Uint8Array): NetlinkEvent[] {
  const out: NetlinkEvent[] = [];
  parseMessages(b, b.length, (e) => out.push(e));
  return out;
}

test('netlink: an AF_INET6 RTM_NEWADDR parses with its flags; tentative and DAD-failed are not usable; malformed ones skipped', () => {
  assert.deepEqual(parseAll(newaddr6(0x80)), [{ kind: 'addr6', seq: 0, multi: false, added: true, index: 7, ip6: '20010db8000000000000000000000001', prefixLen: 64, usable: true }]);
  assert.equal((parseAll(newaddr6(0x40))[0] as { usable: boolean }).usable, false);
  assert.equal((parseAll(newaddr6(0, 0x08))[0] as { usable: boolean }).usable, false, 'IFA_FLAGS overrides ifa_flags');
  const short = newaddr6(0); short[24] = 12; // IFA_ADDRESS of 8 bytes
  assert.deepEqual(parseAll(short), []);
  const cut = newaddr6(0);
  assert.deepEqual(parseAll(cut.subarray(0, cut.length - 4)), [], 'the message runs past the buffer');
});
