/**
 * End to end, the attack of issue 9 item 1 on the real kernel: a namespace guest configures
 * the LAN host's address (the gateway's, say). The uplink probes the LAN for it, the LAN host
 * answers, and the claim is refused: QUERY shows the address local only with the reason "in
 * use on the LAN by MAC x", the refusal is counted as address-conflict, and the LAN host keeps
 * the other guest's traffic (a background ping loses nothing). Also items 3 and 4 seen from
 * the LAN: the hijacker's frames from the stolen address reach no one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { NetLab, waitFor } from '../helpers/netlab.js';
import type { Daemon } from '../helpers/daemon.js';
import { startIpLab, type IpLab } from '../helpers/ip-lab.js';
import { lanTable, dropCount } from '../helpers/query.js';

const lab = new NetLab('ag');
let the: IpLab;
let d: Daemon;
let lanNs: string, g1: string, g2: string;
const LAN = '10.93.0.1', A = '10.93.0.11', B = '10.93.0.12';
/** LINUX1 is the attacker (its user id sorts first, so the watcher tends to report its claims first), LINUX2 the victim. */
const EVIL = 'LINUX1', GOOD = 'LINUX2';

before(async () => {
  the = await startIpLab(lab, '10.93.0');
  ({ d, lanNs, g1, g2 } = the);
});

/** The MAC namespace `ns` holds for `ip` ('' when none). */
function neighMac(ns: string, ip: string): string {
  return (JSON.parse(lab.ip(ns, '-j', 'neigh', 'show', ip)) as Array<{ lladdr?: string }>)[0]?.lladdr ?? '';
}

/** A guest's NIC MAC as the neighbour table writes it. */
function guestMac(userid: string): string {
  return (d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', userid).nics[0].mac as string).toLowerCase().replace(/-/g, ':');
}

after(async () => {
  try { await the?.stop(); } finally { lab.cleanup(); }
});

test('a guest that configures the LAN host\'s address is refused; the LAN host keeps the other guest\'s traffic', async () => {
  const doc0 = d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS');
  const conflicts0 = dropCount(doc0, 'SW1', 'address-conflict');
  const ping = lab.spawn(g2, 'ping', ['-c', '30', '-i', '0.1', '-W', '2', LAN]);
  let out = '';
  ping.stdout!.on('data', (b) => { out += String(b); });
  const done = once(ping, 'close'); // 'close': stdout read to its end
  lab.ip(g1, 'addr', 'add', `${LAN}/32`, 'dev', 'enc600');
  const lanMac = (JSON.parse(lab.ip(lanNs, '-j', 'link', 'show', 'lan0'))[0].address as string);
  const refused = await waitFor(() => {
    const e = (d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable as Array<{ ip: string; localOnly: boolean; reason: string | null }>).find((x) => x.ip === LAN);
    return e && e.reason?.startsWith('in use on the LAN') ? e : null;
  }, 5000);
  assert.ok(refused, 'the stolen address is refused');
  assert.equal(refused.localOnly, true);
  assert.equal(refused.reason, `in use on the LAN by MAC ${lanMac}`);
  assert.match(d.cli('QUERY', 'VSWITCH', 'SW1', 'DETAILS').stdout, new RegExp(`${LAN.replace(/\./g, '\\.')}.*LOCAL ONLY \\(in use on the LAN by MAC ${lanMac}\\)`));
  assert.equal(dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'address-conflict'), conflicts0 + 1);
  // The hijacker cannot reach the LAN from the stolen address either (its frames are spoofed).
  const spoofed0 = dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'spoofed-source');
  lab.exec(g1, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', LAN, B]);
  assert.ok(dropCount(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1', 'spoofed-source') > spoofed0, 'frames from the stolen address dropped');
  await done;
  assert.match(out, /30 packets transmitted, 30 received, 0% packet loss/, out);
  assert.notEqual(neighMac(g2, LAN), guestMac(EVIL), 'the good guest was never told the hijacker\'s MAC for the gateway');
  // The LAN host still reaches the good guest; once the hijacker drops the stolen address
  // (while it holds it, its replies to the LAN host stay inside it) its own address works at once.
  assert.equal(lab.exec(lanNs, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', B]).code, 0);
  lab.ip(g1, 'addr', 'del', `${LAN}/32`, 'dev', 'enc600');
  assert.equal(lab.exec(lanNs, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', A]).code, 0);
  assert.ok(await waitFor(() => !lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').some((e) => e.ip === LAN), 3000), 'the refused entry is gone');
});

test('a guest cannot steal another guest\'s address: the first holder keeps it when it drops and adds it again, and after a restart', async () => {
  const holderOf = (): string | null => lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').find((e) => e.ip === B)?.guest ?? null;
  const evilState = (): string => (d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', EVIL).nics[0].addresses as Array<{ ip: string; state: string }>)
    .find((a) => a.ip === B)?.state ?? 'none';
  // The attacker (whose user id sorts first) claims the victim's address: refused.
  lab.ip(g1, 'addr', 'add', `${B}/32`, 'dev', 'enc600');
  assert.ok(await waitFor(() => evilState().startsWith('CONFLICT'), 5000), `refused: ${evilState()}`);
  assert.equal(holderOf(), GOOD);
  // The victim drops its address and adds it again: the attacker's claim does not take it meanwhile.
  lab.ip(g2, 'addr', 'del', `${B}/24`, 'dev', 'enc600');
  assert.ok(await waitFor(() => holderOf() === null, 5000), 'no one holds it while the victim has not got it');
  lab.ip(g2, 'addr', 'add', `${B}/24`, 'dev', 'enc600');
  assert.ok(await waitFor(() => holderOf() === GOOD, 5000), `the victim has it back, not ${holderOf()}`);
  assert.match(evilState(), /^CONFLICT/);
  // The daemon crashes and starts again: the watcher reports both claims in its own order; the first holder keeps it.
  await d.restart();
  assert.ok(await waitFor(() => holderOf() !== null, 10_000), 'the address is back in the table');
  for (let i = 0; i < 10; i++) {
    assert.equal(holderOf(), GOOD, 'the holder from before the restart');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(evilState(), /^CONFLICT/);
  assert.ok(await waitFor(() => lanTable(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS'), 'SW1').find((e) => e.ip === B)?.localOnly === false, 15_000),
    'registered again once the controller is back');
  assert.equal(lab.exec(lanNs, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', B]).code, 0, 'the LAN reaches the victim');
  lab.ip(g1, 'addr', 'del', `${B}/32`, 'dev', 'enc600');
});
