/**
 * End to end, overlapping address spaces in the VLANs of one IP-mode switch: an address belongs
 * to a (switch, VLAN), not to a switch. A real vswitchd driven by CP commands, a controller,
 * guests in network namespaces and ping as the users' side. SW1 is `DEFINE VSWITCH ... IP VLAN
 * 10`; two tenants, G10 an ACCESS port in VLAN 10 and G20 one in VLAN 20, both use 10.0.0.5/24
 * and 2001:db8:7::5/64. The uplink is a trunk: the LAN namespace has VLAN devices lan0.10 (LAN
 * host L10) and lan0.20 (moved into a namespace of its own: LAN host L20), the kernel's where it
 * has 802.1Q, else the vlan-relay stand-in (test/helpers/vlan-devices.ts); the two LAN hosts
 * both hold the tenants' gateway address 10.0.0.1 / 2001:db8:7::1 too. Who answered a ping is
 * told by the TTL / hop limit of the reply: each namespace sends with its own (G10 10, G20 20,
 * L10 110, L20 120; the switch does not change them).
 * Checked: QUERY VSWITCH DETAILS lists 10.0.0.5 and 2001:db8:7::5 twice, in VLAN 10 for G10 and
 * in VLAN 20 for G20, both registered, no conflict counted; QUERY NIC DETAILS shows each address
 * with its VLAN; each guest reaches its own VLAN's LAN host (the gateway address answered by
 * that VLAN's host) and not the other VLAN's, and each LAN host reaches its own VLAN's guest at
 * the shared address; a third guest in VLAN 10 configuring the same addresses is refused
 * (CONFLICT held by G10, counted address-conflict) while G10 keeps them; a trunk guest with one
 * address on its VLAN devices enc600.10 and enc600.20 has it registered in both VLANs and
 * reaches each VLAN's LAN host through the device of that VLAN; the LAN's addresses are per
 * VLAN too: the VLAN-10 LAN host's own address is free for a guest in VLAN 20 and refused (in
 * use on the LAN) for one in VLAN 10. Every namespace has a name
 * unique to this run and goes at the end, also on failure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab, waitFor } from '../helpers/netlab.js';
import { Daemon } from '../helpers/daemon.js';
import { Controller } from '../helpers/controller.js';
import { dropCount } from '../helpers/query.js';
import { vlanDevices, type SpawnIn } from '../helpers/vlan-devices.js';

const lab = new NetLab('vov');
const spawnIn: SpawnIn = (ns, cmd, args) => lab.spawn(ns, cmd, args);
let d: Daemon;
let ctl: Controller;
const V4 = '10.0.0.5', V6 = '2001:db8:7::5';
const GW4 = '10.0.0.1', GW6 = '2001:db8:7::1';
type Guest = 'G10' | 'G20';
type Lan = 'L10' | 'L20';
const GUESTS: Guest[] = ['G10', 'G20'];
const VLAN: Record<Guest | Lan, number> = { G10: 10, G20: 20, L10: 10, L20: 20 };
/** The TTL / hop limit each namespace sends with: the reply's tells who answered. */
const TTL: Record<Guest | Lan, number> = { G10: 10, G20: 20, L10: 110, L20: 120 };
/** Each LAN host's address of its own (besides the shared gateway address). */
const OWN4: Record<Lan, string> = { L10: '10.0.0.10', L20: '10.0.0.20' };
const OWN6: Record<Lan, string> = { L10: '2001:db8:7::10', L20: '2001:db8:7::20' };
const ns = {} as Record<Guest | Lan | 'G3' | 'T', string>;
const LANDEV: Record<Lan, string> = { L10: 'lan0.10', L20: 'lan0.20' };
let hostNs = '', up = '';

interface Entry { ip?: string; ip6?: string; vlan: number; guest: string; localOnly: boolean }
function doc(): any {
  return d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS');
}
function table(): Entry[] {
  const s = doc().switches[0];
  return [...(s.ipTable ?? []), ...(s.ipTable6 ?? [])] as Entry[];
}
function entries(addr: string): Array<[string, number, boolean]> {
  return table().filter((e) => (e.ip ?? e.ip6) === addr).map((e) => [e.guest, e.vlan, e.localOnly]);
}
function nicAddresses(userid: string): { addresses: Array<{ ip: string; vlan: number | null; state: string }>; addresses6: Array<{ ip6: string; vlan: number | null; state: string }> } {
  return d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', userid).nics[0];
}

/** The TTL of the reply to one ping from `from` to `to` (-6 for IPv6), or null when none came. */
function replyTtl(from: string, to: string, extra: string[] = []): number | null {
  const r = lab.exec(from, 'ping', [...(to.includes(':') ? ['-6'] : []), '-c', '1', '-W', '1', ...extra, to]);
  const m = /ttl=(\d+)/.exec(r.stdout);
  return r.code === 0 && m ? Number(m[1]) : null;
}

/** Retry a ping for up to `ms` (the first one may wait for ARP / neighbour discovery); the reply's TTL. */
async function answeredBy(from: string, to: string, extra: string[] = [], ms = 10_000): Promise<number | null> {
  return (await waitFor(() => replyTtl(from, to, extra), ms, 200)) ?? null;
}

/** Not one of three pings answered. */
function unreachable(from: string, to: string): boolean {
  return [0, 1, 2].every(() => replyTtl(from, to) === null);
}

function setTtl(n: string, dev: string, ttl: number): void {
  lab.exec(n, 'sysctl', ['-qw', `net.ipv4.ip_default_ttl=${ttl}`]);
  lab.exec(n, 'sysctl', ['-qw', `net/ipv6/conf/${dev}/hop_limit=${ttl}`]);
}

/** A namespace guest USERID on SW1 with `grant`, its NIC 0600 (enc600) up; its namespace. */
function guest(userid: string, part: string, grant: string): string {
  const n = lab.adopt(lab.name(part));
  d.commands([`DEFINE GUEST ${userid} NETNS ${n}`, `DEFINE NIC 0600 TYPE QDIO FOR ${userid}`,
    `SET VSWITCH SW1 GRANT ${userid} ${grant}`, `COUPLE 0600 TO SYSTEM SW1 FOR ${userid}`]);
  return n;
}

before(async () => {
  hostNs = lab.netns('h');
  ns.L10 = lab.netns('l');
  ns.L20 = lab.netns('m');
  up = lab.name('u');
  lab.veth(hostNs, up, ns.L10, 'lan0');
  await vlanDevices(ns.L10, 'lan0', [10, 20], spawnIn);
  lab.ip(ns.L10, 'link', 'set', 'lan0.20', 'netns', ns.L20);
  lab.ip(ns.L10, 'link', 'set', 'lan0', 'up');
  for (const l of ['L10', 'L20'] as Lan[]) {
    setTtl(ns[l], LANDEV[l], TTL[l]);
    lab.configureNic(ns[l], LANDEV[l], `${GW4}/24`, `${OWN4[l]}/24`, `${GW6}/64 nodad`, `${OWN6[l]}/64 nodad`);
  }
  d = new Daemon({ netns: hostNs });
  await d.start();
  ctl = new Controller('DTCVSW1', hostNs, d);
  await ctl.start();
  d.commands([`DEFINE VSWITCH SW1 RDEV ${up} IP VLAN 10`]);
  for (const g of GUESTS) {
    ns[g] = guest(g, g.toLowerCase(), `VLAN ${VLAN[g]}`);
    setTtl(ns[g], 'enc600', TTL[g]);
    lab.configureNic(ns[g], 'enc600', `${V4}/24`, `${V6}/64 nodad`);
  }
  const ok = await waitFor(() => [V4, V6].every((a) => {
    const e = entries(a);
    return GUESTS.every((g) => e.some(([who, vlan, local]) => who === g && vlan === VLAN[g] && !local));
  }), 20_000, 100);
  assert.ok(ok, `both guests' addresses registered, each in its VLAN: ${JSON.stringify(table())}`);
});

after(async () => {
  try { await ctl?.stop(); await d?.stop(); } finally { lab.cleanup(); }
});

test('overlapping VLANs: QUERY VSWITCH DETAILS lists the shared address in VLAN 10 and in VLAN 20, no conflict; QUERY NIC DETAILS shows each address\'s VLAN', () => {
  for (const a of [V4, V6]) {
    assert.deepEqual(entries(a).sort(), [['G10', 10, false], ['G20', 20, false]], `${a}: ${JSON.stringify(table())}`);
  }
  assert.equal(dropCount(doc(), 'SW1', 'address-conflict'), 0, 'no conflict counted');
  const text = d.cli('Q', 'VSWITCH', 'SW1', 'DET').stdout;
  assert.match(text, /10\.0\.0\.5\s+G10\s+0600\s+VLAN 10\s+REGISTERED/, text);
  assert.match(text, /10\.0\.0\.5\s+G20\s+0600\s+VLAN 20\s+REGISTERED/, text);
  assert.match(text, /2001:db8:7::5\s+G20\s+0600\s+VLAN 20\s+REGISTERED/, text);
  const n = nicAddresses('G20');
  assert.deepEqual(n.addresses.filter((a) => a.ip === V4), [{ ip: V4, vlan: 20, state: 'REGISTERED' }]);
  assert.deepEqual(n.addresses6.filter((a) => a.ip6 === V6), [{ ip6: V6, vlan: 20, state: 'REGISTERED' }]);
  assert.match(d.cli('Q', 'NIC', '0600', 'DET', 'FOR', 'G20').stdout, /Address: 10\.0\.0\.5  VLAN 20  REGISTERED/);
});

test('overlapping VLANs: each guest reaches its own VLAN\'s LAN host at the shared gateway address, and not the other VLAN\'s', async () => {
  for (const [g, l, other] of [['G10', 'L10', 'L20'], ['G20', 'L20', 'L10']] as Array<[Guest, Lan, Lan]>) {
    assert.equal(await answeredBy(ns[g], GW4), TTL[l], `${g} -> ${GW4} answered by ${l}`);
    assert.equal(await answeredBy(ns[g], GW6), TTL[l], `${g} -> ${GW6} answered by ${l}`);
    assert.equal(await answeredBy(ns[g], OWN4[l]), TTL[l], `${g} reaches ${l}'s own address`);
    assert.ok(unreachable(ns[g], OWN4[other]), `${g} does not reach ${other} (${OWN4[other]})`);
    assert.ok(unreachable(ns[g], OWN6[other]), `${g} does not reach ${other} (${OWN6[other]})`);
  }
});

test('overlapping VLANs: each LAN host reaches its own VLAN\'s guest at the shared address', async () => {
  for (const [l, g] of [['L10', 'G10'], ['L20', 'G20']] as Array<[Lan, Guest]>) {
    assert.equal(await answeredBy(ns[l], V4, ['-I', OWN4[l]]), TTL[g], `${l} -> ${V4} answered by ${g}`);
    assert.equal(await answeredBy(ns[l], V6, ['-I', OWN6[l]]), TTL[g], `${l} -> ${V6} answered by ${g}`);
  }
});

test('overlapping VLANs: the same address twice in ONE VLAN is still a conflict: a third guest in VLAN 10 is refused, counted; G10 keeps it', async () => {
  const before = dropCount(doc(), 'SW1', 'address-conflict');
  ns.G3 = guest('G3', 'g3', 'VLAN 10');
  lab.configureNic(ns.G3, 'enc600', `${V4}/24`, `${V6}/64 nodad`);
  const refused = await waitFor(() => {
    const n = nicAddresses('G3');
    return n.addresses.some((a) => a.ip === V4 && a.vlan === 10 && a.state === 'CONFLICT (held by G10 0600)')
      && n.addresses6.some((a) => a.ip6 === V6 && a.vlan === 10 && a.state === 'CONFLICT (held by G10 0600)');
  }, 15_000, 100);
  assert.ok(refused, `G3's claims refused: ${JSON.stringify(nicAddresses('G3'))}`);
  assert.equal(dropCount(doc(), 'SW1', 'address-conflict'), before + 2, 'one refusal counted per address');
  for (const a of [V4, V6]) assert.deepEqual(entries(a).sort(), [['G10', 10, false], ['G20', 20, false]], `${a} still G10's in VLAN 10`);
  assert.equal(await answeredBy(ns.L10, V4, ['-I', OWN4.L10]), TTL.G10, 'the VLAN-10 LAN host still reaches G10');
  assert.equal(await answeredBy(ns.G10, GW4), TTL.L10, 'G10 still reaches its gateway');
});

test('a trunk guest\'s address on its VLAN devices enc600.10 and enc600.20 is registered in both VLANs and reaches each VLAN\'s LAN host', async () => {
  const T = '10.0.0.7';
  ns.T = guest('TR', 't', 'PORTTYPE TRUNK VLAN 10 20');
  lab.ip(ns.T, 'link', 'set', 'enc600', 'up');
  await vlanDevices(ns.T, 'enc600', [10, 20], spawnIn);
  // The same address on both devices; a host route per VLAN picks the device of each LAN host.
  for (const [v, l] of [[10, 'L10'], [20, 'L20']] as Array<[number, Lan]>) {
    lab.configureNic(ns.T, `enc600.${v}`, `${T}/32`);
    lab.ip(ns.T, 'route', 'add', `${OWN4[l]}/32`, 'dev', `enc600.${v}`);
  }
  const ok = await waitFor(() => {
    const e = entries(T);
    return e.some(([g, v, local]) => g === 'TR' && v === 10 && !local) && e.some(([g, v, local]) => g === 'TR' && v === 20 && !local);
  }, 20_000, 100);
  assert.ok(ok, `T's address registered in VLAN 10 and VLAN 20: ${JSON.stringify(entries(T))}`);
  assert.deepEqual(nicAddresses('TR').addresses.filter((a) => a.ip === T).map((a) => [a.vlan, a.state]), [[10, 'REGISTERED'], [20, 'REGISTERED']]);
  assert.equal(await answeredBy(ns.T, OWN4.L10, ['-I', 'enc600.10']), TTL.L10, 'from enc600.10 T reaches the VLAN-10 LAN host');
  assert.equal(await answeredBy(ns.T, OWN4.L20, ['-I', 'enc600.20']), TTL.L20, 'from enc600.20 T reaches the VLAN-20 LAN host');
});

test('the LAN\'s addresses are per VLAN too: the VLAN-10 LAN host\'s own address is free for a guest in VLAN 20, and refused (in use on the LAN) for one in VLAN 10', async () => {
  // L10 uses its own address on the LAN (a fresh ARP from it: the switch sees it held in VLAN 10).
  lab.ip(ns.L10, 'neigh', 'flush', 'dev', LANDEV.L10);
  assert.equal(await answeredBy(ns.L10, V4, ['-I', OWN4.L10]), TTL.G10);
  const X = OWN4.L10;
  lab.ip(ns.G20, 'addr', 'add', `${X}/24`, 'dev', 'enc600');
  lab.ip(ns.G3, 'addr', 'add', `${X}/24`, 'dev', 'enc600');
  const reason = (g: string): string | null | undefined => (doc().switches[0].ipTable as Array<Entry & { reason: string | null }>)
    .find((e) => e.ip === X && e.guest === g)?.reason;
  const settled = await waitFor(() => {
    const e = entries(X);
    return e.some(([g, v, local]) => g === 'G20' && v === 20 && !local) && /^in use on the LAN by MAC/.test(reason('G3') ?? '');
  }, 15_000, 100);
  assert.ok(settled, `G20 holds ${X} in VLAN 20, G3's claim in VLAN 10 is in use on the LAN: ${JSON.stringify(doc().switches[0].ipTable.filter((e: Entry) => e.ip === X))}`);
  assert.equal(await answeredBy(ns.L20, X, ['-I', OWN4.L20]), TTL.G20, 'the VLAN-20 LAN host reaches G20 at it');
});
