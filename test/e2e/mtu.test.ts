/**
 * Issue 9, item 6, end to end on the real kernel: frames above the egress MTU are counted as
 * 'too-big' (QUERY VSWITCH DETAILS), and on an IP-mode switch a DF packet is answered with ICMP
 * Fragmentation Needed carrying the egress MTU, so path MTU discovery works.
 * Lab: an IP-mode switch whose uplink is a veth of MTU 4000 to a LAN host (MTU 4000); guest
 * LINUX1 with MTU 9000, guest LINUX2 with the TAP's default 1500.
 *  - LINUX1 pings the LAN host with DF and 5000 bytes: "Frag needed and DF set (mtu = 4000)";
 *    tracepath finds pmtu 4000; ping at the learnt size then works.
 *  - the LAN host pings LINUX2 with DF and 3000 bytes: the error comes from LINUX2's address,
 *    mtu 1500 (the TAP's MTU, read in the guest's namespace).
 *  - LINUX1 -> LINUX2 without DF: dropped and counted, no ICMP (the switch does not fragment).
 *  - LINUX2 raises its MTU to 9000: the same packets get through (the MTU is read again).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab } from '../helpers/netlab.js';
import { startIpLab, type IpLab } from '../helpers/ip-lab.js';
import { dropCount } from '../helpers/query.js';

const lab = new NetLab('vm');
let l: IpLab;
let g1: string, g2: string, lanNs: string;
let LAN: string, B: string;

before(async () => {
  l = await startIpLab(lab, '10.83.0', { uplink: 4000, g1: 9000 });
  ({ g1, g2, lanNs, lan: LAN, b: B } = l);
});

after(async () => {
  try { await l?.stop(); } finally { lab.cleanup(); }
});

function query(): any {
  return l.d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS');
}

/** ping with DF (-M do) or without (-M dont); returns the output (stdout and stderr). */
function ping(ns: string, to: string, size: number, df: boolean, count = 1): { ok: boolean; out: string } {
  const r = lab.exec(ns, 'ping', ['-c', String(count), '-W', '2', '-M', df ? 'do' : 'dont', '-s', String(size), to]);
  return { ok: r.code === 0, out: r.stdout + r.stderr };
}

test('a guest with MTU 9000 pinging the LAN over the uplink MTU gets Frag needed (mtu = 4000), counted too-big', () => {
  const before = dropCount(query(), 'SW1', 'too-big');
  const r = ping(g1, LAN, 5000, true);
  assert.equal(r.ok, false);
  assert.match(r.out, /From 10\.83\.0\.1 icmp_seq=1 Frag needed and DF set \(mtu = 4000\)/, r.out);
  assert.equal(dropCount(query(), 'SW1', 'too-big'), before + 1);
  // The guest learnt the path MTU: a packet that fits it passes.
  assert.ok(ping(g1, LAN, 4000 - 28, true).ok, 'a ping at the path MTU passes');
});

test('tracepath from the guest finds the path MTU', () => {
  lab.ip(g1, 'route', 'flush', 'cache');
  const r = lab.exec(g1, 'tracepath', ['-n', '-m', '3', LAN], { timeoutMs: 20_000 });
  assert.match(r.stdout, /pmtu 4000/, r.stdout + r.stderr);
  assert.match(r.stdout, /Resume: pmtu 4000/, r.stdout + r.stderr);
});

test('the LAN host pinging a guest over its TAP MTU gets Frag needed (mtu = 1500) from the guest address', () => {
  const before = dropCount(query(), 'SW1', 'too-big');
  const r = ping(lanNs, B, 3000, true);
  assert.equal(r.ok, false);
  assert.match(r.out, /From 10\.83\.0\.12 icmp_seq=1 Frag needed and DF set \(mtu = 1500\)/, r.out);
  assert.equal(dropCount(query(), 'SW1', 'too-big'), before + 1);
});

test('without DF the packet is dropped and counted, with no ICMP; a raised TAP MTU lets it through', () => {
  const before = dropCount(query(), 'SW1', 'too-big');
  const r = ping(g1, B, 3000, false);
  assert.equal(r.ok, false);
  assert.doesNotMatch(r.out, /Frag needed/, r.out);
  assert.equal(dropCount(query(), 'SW1', 'too-big'), before + 1);
  lab.ip(g2, 'link', 'set', 'enc600', 'mtu', '9000');
  lab.ip(g1, 'route', 'flush', 'cache');
  assert.ok(ping(g1, B, 3000, true).ok, 'LINUX2 takes 3000 bytes once its MTU is 9000');
  assert.equal(dropCount(query(), 'SW1', 'too-big'), before + 1, 'nothing more dropped');
});
