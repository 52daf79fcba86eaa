/**
 * AddressWatcher on the real kernel (namespaces made by the test, persistent TAPs as interfaces), and the
 * rtnetlink parser on hand-made bytes (a known RTM_NEWADDR, then malformed variants).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { AddressWatcher } from '../../src/host/address-watcher.js';
import { parseMessages, type NetlinkEvent, RTM_NEWADDR, RTM_NEWLINK } from '../../src/sys/netlink.js';
import { formatIpv4 } from '../../src/wire/addr.js';
import { addNs, delNs, ip, uniq } from '../helpers/netns.js';

const made: string[] = [];
after(() => { for (const ns of made) delNs(ns); });

type Ev = { key: string; addr: string; added: boolean; at: number; vid: number };

function collect(w: AddressWatcher): Ev[] {
  const evs: Ev[] = [];
  w.on('address', (key: string, a: number, pl: number, added: boolean, vid: number) => {
    evs.push({ key, addr: `${formatIpv4(a)}/${pl}`, added, at: Date.now(), vid });
  });
  return evs;
}

async function waitFor(evs: Ev[], pred: (e: Ev) => boolean, ms: number): Promise<Ev> {
  const end = Date.now() + ms;
  for (;;) {
    const e = evs.find(pred);
    if (e) return e;
    if (Date.now() > end) throw new Error(`no matching event within ${ms} ms; got ${JSON.stringify(evs)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('initial dump, then add and delete reported within a second; other interfaces and namespaces ignored', async () => {
  const ns = uniq('vsaw');
  const other = uniq('vsaw');
  made.push(ns, other);
  addNs(ns);
  addNs(other);
  ip('-n', ns, 'tuntap', 'add', 'dev', 'enc600', 'mode', 'tap');
  ip('-n', ns, 'tuntap', 'add', 'dev', 'enc700', 'mode', 'tap');
  ip('-n', other, 'tuntap', 'add', 'dev', 'enc600', 'mode', 'tap');
  ip('-n', ns, 'addr', 'add', '10.1.1.1/24', 'dev', 'enc600');
  const w = new AddressWatcher();
  try {
    const evs = collect(w);
    w.watch('g1', ns, 'enc600');
    await waitFor(evs, (e) => e.key === 'g1' && e.addr === '10.1.1.1/24' && e.added, 2000);

    let t0 = Date.now();
    ip('-n', ns, 'addr', 'add', '10.1.1.2/16', 'dev', 'enc600');
    let e = await waitFor(evs, (x) => x.addr === '10.1.1.2/16' && x.added, 1000);
    assert.ok(e.at - t0 < 1000);

    ip('-n', ns, 'addr', 'add', '10.2.2.2/24', 'dev', 'enc700');
    ip('-n', other, 'addr', 'add', '10.3.3.3/24', 'dev', 'enc600');

    t0 = Date.now();
    ip('-n', ns, 'addr', 'del', '10.1.1.2/16', 'dev', 'enc600');
    e = await waitFor(evs, (x) => x.addr === '10.1.1.2/16' && !x.added, 1000);
    assert.ok(e.at - t0 < 1000);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(evs.map((x) => `${x.key} ${x.addr} ${x.added}`), [
      'g1 10.1.1.1/24 true', 'g1 10.1.1.2/16 true', 'g1 10.1.1.2/16 false',
    ]);
  } finally {
    await w.close();
  }
});

test('an interface created later, deleted, and re-created under the same name is followed', async () => {
  const ns = uniq('vsaw');
  made.push(ns);
  addNs(ns);
  const w = new AddressWatcher();
  try {
    const evs = collect(w);
    w.watch('g2', ns, 'enc600');
    await new Promise((r) => setTimeout(r, 100));
    ip('-n', ns, 'tuntap', 'add', 'dev', 'enc600', 'mode', 'tap');
    ip('-n', ns, 'addr', 'add', '10.4.0.1/24', 'dev', 'enc600');
    await waitFor(evs, (x) => x.addr === '10.4.0.1/24' && x.added, 1000);
    ip('-n', ns, 'link', 'del', 'enc600');
    await waitFor(evs, (x) => x.addr === '10.4.0.1/24' && !x.added, 1000);
    ip('-n', ns, 'tuntap', 'add', 'dev', 'enc600', 'mode', 'tap');
    ip('-n', ns, 'addr', 'add', '10.4.0.9/24', 'dev', 'enc600');
    await waitFor(evs, (x) => x.addr === '10.4.0.9/24' && x.added, 1000);
    // Renamed into place, carrying an address already: picked up.
    ip('-n', ns, 'link', 'del', 'enc600');
    ip('-n', ns, 'tuntap', 'add', 'dev', 'tmp0', 'mode', 'tap');
    ip('-n', ns, 'addr', 'add', '10.4.0.77/24', 'dev', 'tmp0');
    ip('-n', ns, 'link', 'set', 'tmp0', 'name', 'enc600');
    await waitFor(evs, (x) => x.addr === '10.4.0.77/24' && x.added, 1000);
    assert.ok(evs.some((x) => x.addr === '10.4.0.9/24' && !x.added));
    // After unwatch nothing more is reported.
    w.unwatch('g2');
    const n = evs.length;
    ip('-n', ns, 'addr', 'add', '10.4.0.78/24', 'dev', 'enc600');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(evs.length, n);
  } finally {
    await w.close();
  }
});

test('watching in a namespace that does not exist reports watch-error', async () => {
  const w = new AddressWatcher();
  try {
    const err = await new Promise<[string, string]>((resolve) => {
      w.on('watch-error', (key: string, msg: string) => resolve([key, msg]));
      w.watch('nope', uniq('vsnone'), 'enc600');
    });
    assert.equal(err[0], 'nope');
    assert.match(err[1], /ENOENT/);
  } finally {
    await w.close();
  }
});

// ---- parser fixtures -------------------------------------------------------------------------

/** RTM_NEWADDR for 192.168.7.9/24 on ifindex 5: nlmsghdr, ifaddrmsg, IFA_ADDRESS, IFA_LOCAL, IFA_LABEL "eth0". */
const NEWADDR = Uint8Array.from([
  0x38, 0, 0, 0, RTM_NEWADDR, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr len 56, type 20, seq 0
  2, 24, 0x80, 0, 5, 0, 0, 0, // ifaddrmsg: AF_INET, /24, flags, scope, index 5
  8, 0, 1, 0, 192, 168, 7, 255, // IFA_ADDRESS (peer/broadcast style, must lose to IFA_LOCAL)
  8, 0, 2, 0, 192, 168, 7, 9, // IFA_LOCAL
  9, 0, 3, 0, 0x65, 0x74, 0x68, 0x30, 0, 0, 0, 0, // IFA_LABEL "eth0", padded
  0, 0, 0, 0, // trailing pad inside the message
]);

function parseAll(b: Uint8Array): NetlinkEvent[] {
  const out: NetlinkEvent[] = [];
  parseMessages(b, b.length, (e) => out.push(e));
  return out;
}

test('netlink parser: a known RTM_NEWADDR', () => {
  assert.deepEqual(parseAll(NEWADDR), [{ kind: 'addr', seq: 0, multi: false, added: true, index: 5, ip: 0xc0a80709, prefixLen: 24 }]);
  const two = new Uint8Array(NEWADDR.length * 2);
  two.set(NEWADDR, 0);
  two.set(NEWADDR, NEWADDR.length);
  assert.equal(parseAll(two).length, 2);
});

test('netlink parser: malformed messages are skipped without throwing', () => {
  // Truncated at every length: never throws, never reports a half message.
  for (let n = 0; n < NEWADDR.length; n++) {
    const evs = parseAll(NEWADDR.subarray(0, n));
    assert.equal(evs.length, 0, `truncated to ${n}`);
  }
  // Message length smaller than a header, or larger than the datagram.
  for (const len of [0, 4, 15, 57, 0xffffffff]) {
    const b = Uint8Array.from(NEWADDR);
    new DataView(b.buffer).setUint32(0, len, true);
    assert.deepEqual(parseAll(b), []);
  }
  // Attribute length running past the message: the address is not reported.
  const bad = Uint8Array.from(NEWADDR);
  bad[24] = 200;
  assert.deepEqual(parseAll(bad), []);
  // An IPv6 address message is ignored; an attribute of the wrong size is ignored.
  const v6 = Uint8Array.from(NEWADDR);
  v6[16] = 10;
  assert.deepEqual(parseAll(v6), []);
  const short = Uint8Array.from(NEWADDR);
  short[32] = 6; short[24] = 6; // both address attributes 2 bytes of payload
  assert.deepEqual(parseAll(short).length, 0);
  // A link message with a name that lacks its NUL still parses, bounded by the attribute.
  const link = Uint8Array.from([
    40, 0, 0, 0, RTM_NEWLINK, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    8, 0, 3, 0, 0x61, 0x62, 0x63, 0x64,
  ]);
  assert.deepEqual(parseAll(link), [{ kind: 'link', seq: 1, multi: false, added: true, index: 7, name: 'abcd' }]);
  // Random bytes: no throw.
  for (let i = 0; i < 2000; i++) {
    const r = new Uint8Array(Math.floor(Math.random() * 200));
    for (let j = 0; j < r.length; j++) r[j] = Math.floor(Math.random() * 256);
    if (r.length >= 8) { r[0] = r.length; r[1] = 0; r[2] = 0; r[3] = 0; r[4] = 20 + (i % 2); r[5] = 0; }
    parseAll(r);
  }
});

test('VLAN sub-devices IFNAME.N: their addresses come with vid N (present at the start, added, removed with the device); other names are not followed', async () => {
  const ns = uniq('vsawv');
  made.push(ns);
  addNs(ns);
  // The watcher follows sub-devices by their `.N` name. This machine's kernel has no 802.1Q
  // devices (no 8021q: `ip link add ... type vlan` says "Unknown device type"), so the
  // sub-devices here are TAPs named as `ip link add link enc600 name enc600.20 type vlan id 20` names one.
  const sub = (name: string): void => { ip('-n', ns, 'tuntap', 'add', 'dev', name, 'mode', 'tap'); };
  ip('-n', ns, 'tuntap', 'add', 'dev', 'enc600', 'mode', 'tap');
  sub('enc600.20');
  sub('vl30');
  ip('-n', ns, 'addr', 'add', '10.20.0.1/24', 'dev', 'enc600.20');
  ip('-n', ns, 'addr', 'add', '10.30.0.1/24', 'dev', 'vl30');
  ip('-n', ns, 'addr', 'add', '10.0.0.1/24', 'dev', 'enc600');
  const w = new AddressWatcher();
  try {
    const evs = collect(w);
    w.watch('g', ns, 'enc600');
    await waitFor(evs, (e) => e.addr === '10.20.0.1/24' && e.added && e.vid === 20, 5000);
    await waitFor(evs, (e) => e.addr === '10.0.0.1/24' && e.added && e.vid === 0, 5000);
    sub('enc600.40');
    ip('-n', ns, 'addr', 'add', '10.40.0.1/24', 'dev', 'enc600.40');
    await waitFor(evs, (e) => e.addr === '10.40.0.1/24' && e.added && e.vid === 40, 5000);
    ip('-n', ns, 'link', 'del', 'enc600.20');
    await waitFor(evs, (e) => e.addr === '10.20.0.1/24' && !e.added && e.vid === 20, 5000);
    ip('-n', ns, 'addr', 'add', '10.0.0.2/24', 'dev', 'enc600');
    await waitFor(evs, (e) => e.addr === '10.0.0.2/24' && e.added, 5000);
    assert.ok(!evs.some((e) => e.addr === '10.30.0.1/24'), 'vl30 is not named enc600.N: not followed');
    assert.deepEqual(evs.map((e) => `${e.addr} ${e.added} ${e.vid}`).sort(), [
      '10.0.0.1/24 true 0', '10.0.0.2/24 true 0', '10.20.0.1/24 false 20', '10.20.0.1/24 true 20', '10.40.0.1/24 true 40',
    ]);
  } finally {
    await w.close();
  }
});
