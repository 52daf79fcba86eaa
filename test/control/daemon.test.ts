/**
 * Command transcripts through the real daemon: bin/vswitchd in a fresh network namespace of
 * its own (temp socket and state dir), driven by bin/vswitch. Replies, errors with nothing
 * changed, SYSTEM CONFIG at start, kill -9 and restart on the same state, bad socket input.
 * Guest namespaces are made by the test (unique names) and removed afterwards, even on failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { waitFor, run, type NetLab } from '../helpers/netlab.js';
import { VSWITCH, type Daemon } from '../helpers/daemon.js';
import { rig } from '../helpers/rig.js';

const the = rig('vc');

function lab(): NetLab {
  return the.lab();
}

async function daemon(netns: string, config?: string, stateDir?: string): Promise<Daemon> {
  const d = the.daemon({ netns, config, stateDir });
  await d.start();
  return d;
}

function ok(d: Daemon, cmd: string): string[] {
  const r = d.cli(...cmd.split(/\s+/));
  assert.equal(r.code, 0, `${cmd}: ${r.stdout}${r.stderr}`);
  return r.stdout.trimEnd().split('\n');
}

/** Everything QUERY shows, minus the numbers traffic moves (counters), when the MAC table was read, and IPv6 (link-locals come on DAD's time). */
function snapshot(d: Daemon): unknown {
  const strip = (o: unknown): unknown => JSON.parse(JSON.stringify(o, (k, v) => (k === 'counters' || k === 'drops' || k === 'control' || k === 'readAt' || k === 'addresses6' || k === 'ipTable6' ? undefined : v)));
  const guests = d.json('QUERY', 'GUEST');
  return strip({
    sw: d.json('QUERY', 'VSWITCH', 'ALL', 'DETAILS'),
    guests,
    nics: guests.guests.map((g: { userid: string }) => d.json('QUERY', 'NIC', 'DETAILS', 'FOR', g.userid)),
  });
}

function refused(d: Daemon, cmd: string, re: RegExp): void {
  const before = snapshot(d);
  const r = d.cli(...cmd.split(/\s+/));
  assert.equal(r.code, 1, `${cmd} should be refused: ${r.stdout}${r.stderr}`);
  assert.equal(r.stdout, '');
  const line = r.stderr.trimEnd();
  assert.ok(!line.includes('\n'), `one line: ${line}`);
  assert.match(line, re);
  assert.deepEqual(snapshot(d), before, `${cmd}: nothing changed`);
}

test('transcript: every command, its replies and its errors', async () => {
  const l = lab();
  const host = l.netns('h');
  const lan = l.netns('l');
  const g1 = l.netns('g1');
  const g2 = l.netns('g2');
  const up = l.name('u');
  l.veth(host, up, lan, 'lan0');
  const d = await daemon(host);
  const ctl = the.controller('DTCVSW1', host, d);
  await ctl.start();

  assert.deepEqual(ok(d, 'q vsw'), ['No VSWITCHes are defined']);
  assert.deepEqual(ok(d, `DEFINE VSWITCH SW1 RDEV ${up} IP`), ['VSWITCH SYSTEM SW1 is created']);
  const late = l.name('v');
  assert.deepEqual(ok(d, `def vsw sw2 rdev ${late} queuestor 1m`), [
    `VSW0013W RDEV ${late} does not exist; the uplink of VSWITCH SYSTEM SW2 waits for it`,
    'VSWITCH SYSTEM SW2 is created',
  ]);
  assert.deepEqual(ok(d, `DEFINE GUEST LINUX1 NETNS ${g1}`), [`GUEST LINUX1 is defined (NETNS ${g1})`]);
  assert.deepEqual(ok(d, `def guest linux2 netns ${g2}`), [`GUEST LINUX2 is defined (NETNS ${g2})`]);
  assert.deepEqual(ok(d, 'DEFINE GUEST VM1 QEMU'), ['GUEST VM1 is defined (QEMU STREAM)']);
  // A namespace that does not exist yet is created, and DETACH GUEST removes it again (the daemon made it).
  const g3 = l.adopt(l.name('g3'));
  assert.ok(!run('ip', ['netns', 'list']).stdout.includes(g3));
  assert.deepEqual(ok(d, `DEFINE GUEST LINUX3 NETNS ${g3}`), [`GUEST LINUX3 is defined (NETNS ${g3})`]);
  assert.equal(run('ip', ['-n', g3, 'link', 'show', 'lo']).code, 0, 'namespace created');
  assert.deepEqual(ok(d, 'DEFINE NIC 0A00 FOR LINUX3'), ['NIC 0A00 is created; devices 0A00-0A02 defined']);
  assert.equal(run('ip', ['-n', g3, 'link', 'show', 'enca00']).code, 0, 'TAP enca00 created in it');
  assert.deepEqual(ok(d, 'DETACH NIC A00 FOR LINUX3'), ['NIC 0A00 is destroyed; devices 0A00-0A02 detached']);
  assert.deepEqual(ok(d, 'DETACH GUEST LINUX3'), ['GUEST LINUX3 is removed']);
  assert.ok(await waitFor(() => !run('ip', ['netns', 'list']).stdout.includes(g3), 5000), 'the namespace the daemon made is removed');
  assert.deepEqual(ok(d, 'DEFINE NIC 0600 TYPE QDIO FOR LINUX1'), ['NIC 0600 is created; devices 0600-0602 defined']);
  assert.deepEqual(ok(d, 'def nic 600 for linux2'), ['NIC 0600 is created; devices 0600-0602 defined']);
  // Coupling needs a grant: refused with the reason, and nothing changes.
  refused(d, 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1', /^vswitch: VSW0042E NIC 0600 not coupled: GUEST LINUX1 is not authorized for VSWITCH SYSTEM SW1 \(SET VSWITCH SW1 GRANT LINUX1 first\)$/);
  assert.equal(d.json('QUERY', 'NIC', '600', 'FOR', 'LINUX1').nics[0].switch, null, 'the refused COUPLE coupled nothing');
  assert.deepEqual(ok(d, 'SET VSWITCH SW1 GRANT LINUX1'), ['LINUX1 granted for VSWITCH SYSTEM SW1: PORTTYPE ACCESS NOPROMISCUOUS']);
  assert.deepEqual(ok(d, 'set vsw sw1 gra linux2'), ['LINUX2 granted for VSWITCH SYSTEM SW1: PORTTYPE ACCESS NOPROMISCUOUS']);
  assert.deepEqual(ok(d, 'Q VSWITCH SW1 ACCESSLIST').slice(-3), ['  Authorized userids:', '    LINUX1    PORTTYPE ACCESS NOPROMISCUOUS', '    LINUX2    PORTTYPE ACCESS NOPROMISCUOUS']);
  assert.deepEqual(ok(d, 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1'), ['NIC 0600 is connected to VSWITCH SYSTEM SW1']);
  assert.deepEqual(ok(d, 'coup 600 sys sw1 for linux2'), ['NIC 0600 is connected to VSWITCH SYSTEM SW1'], 'TO is optional');

  // The TAP is in the guest's namespace, named like Linux on Z, with the NIC's MAC.
  const nic = d.json('QUERY', 'NIC', '600', 'DETAILS', 'FOR', 'LINUX1').nics[0];
  const link = JSON.parse(l.ip(g1, '-j', 'link', 'show', 'enc600'))[0];
  assert.equal(link.address, nic.mac);
  assert.equal(nic.mac, '02:00:00:00:00:02', 'serial 1 went to NIC 0A00 of LINUX3 and is not handed out again');
  assert.equal(d.json('QUERY', 'NIC', 'FOR', 'LINUX2').nics[0].mac, '02:00:00:00:00:03');

  // Errors, each leaving everything as it was.
  refused(d, `DEFINE VSWITCH SW1 RDEV ${up}`, /^vswitch: VSW0010E VSWITCH SYSTEM SW1 already exists$/);
  refused(d, 'DEFINE NIC 0700 FOR NOBODY', /VSW0021E GUEST NOBODY does not exist/);
  refused(d, 'DEFINE NIC 0601 FOR LINUX1', /VSW0030E devices 0601-0603 overlap NIC 0600 \(devices 0600-0602\) of GUEST LINUX1/);
  refused(d, 'DEFINE GUEST VM2 QEMU TUN', /VSW0001E unexpected word 'TUN': expected STREAM \(STR\), DGRAM \(DG\), TAP/);
  refused(d, 'COUPLE 0600 TO SYSTEM NOSUCH FOR LINUX1', /VSW0011E VSWITCH SYSTEM NOSUCH does not exist/);
  refused(d, 'DEFINE VSWITCH', /VSW0001E missing word: expected switch name/);
  refused(d, 'DEFINE NIC 06X0 FOR LINUX1', /VSW0001E bad virtual device number '06X0'/);
  refused(d, 'DE VSWITCH SW3', /VSW0001E unexpected word 'DE': expected QUERY \(Q\), DEFINE \(DEF\)/);
  refused(d, 'DETACH VSWITCH SW1', /VSW0012E VSWITCH SYSTEM SW1 not detached: 2 NICs are coupled \(LINUX1 0600, LINUX2 0600\); UNCOUPLE first/);
  refused(d, 'DETACH GUEST LINUX1', /VSW0022E GUEST LINUX1 not detached: it has NICs \(0600\)/);
  refused(d, 'UNCOUPLE 0700 FOR LINUX1', /NIC 0700 does not exist/);

  // Uplink: READY on an existing RDEV; WAITING until a missing one appears, then READY.
  assert.ok(await waitFor(() => d.json('QUERY', 'VSWITCH', 'SW1').switches[0].uplink.state === 'READY', 5000));
  const sws = d.json('QUERY', 'VSWITCH', 'ALL').switches;
  const mac = JSON.parse(l.ip(host, '-j', 'link', 'show', up))[0].address;
  assert.deepEqual(sws[0].uplink, { ...sws[0].uplink, rdevs: [up], active: up, state: 'READY', mac });
  assert.equal(sws[1].uplink.state, `WAITING FOR DEVICE ${late}`);
  l.veth(host, late, lan, 'lan1');
  const ready = await waitFor(() => d.json('QUERY', 'VSWITCH', 'SW2').switches[0].uplink.state === 'READY', 5000);
  assert.ok(ready, 'the uplink came up when its RDEV appeared');
  const q = ok(d, 'q vsw sw2');
  assert.deepEqual(q, [
    'VSWITCH SYSTEM SW2       Type: QDIO    Connected: 0    Mode: IP',
    '  QueueStorage: 1M    Controller: DTCVSW1 (READY) selected by *',
    `  RDEV: ${late}    Active: ${late}    State: READY    MAC: ${JSON.parse(l.ip(host, '-j', 'link', 'show', late))[0].address.toUpperCase().replace(/:/g, '-')}`,
    '  VLAN: UNAWARE    Isolation: OFF    MACprotect: OFF',
  ]);

  // Address registration: the guest configures its interface; the switch registers it.
  l.ip(g1, 'addr', 'add', '10.66.0.11/24', 'dev', 'enc600');
  l.ip(g1, 'link', 'set', 'enc600', 'up');
  l.ip(g2, 'addr', 'add', '10.66.0.12/24', 'dev', 'enc600');
  l.ip(g2, 'link', 'set', 'enc600', 'up');
  const table = await waitFor(() => {
    const t = d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable;
    return t.length === 2 && t.every((e: { localOnly: boolean }) => !e.localOnly) ? t : null; // after the LAN probe (300 ms)
  }, 5000);
  assert.deepEqual(table, [
    { ip: '10.66.0.11', vlan: 0, guest: 'LINUX1', vdev: '0600', localOnly: false, reason: null },
    { ip: '10.66.0.12', vlan: 0, guest: 'LINUX2', vdev: '0600', localOnly: false, reason: null },
  ]);
  const det = ok(d, 'Q VSWITCH SW1 DETAILS');
  assert.ok(det.includes('    10.66.0.11       LINUX1    0600  REGISTERED'), det.join('\n'));
  assert.deepEqual(d.json('QUERY', 'NIC', '600', 'DETAILS', 'FOR', 'LINUX2').nics[0].addresses, [{ ip: '10.66.0.12', vlan: 0, state: 'REGISTERED' }]);
  // One address, one NIC: a second claim is refused and counted.
  l.ip(g2, 'addr', 'add', '10.66.0.11/32', 'dev', 'enc600');
  const conflict = await waitFor(() => d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].drops['address-conflict'] === 1, 5000);
  assert.ok(conflict, 'address-conflict counted');
  assert.equal(d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable.find((e: { ip: string }) => e.ip === '10.66.0.11').guest, 'LINUX1');
  assert.match(ok(d, 'Q NIC 600 DET FOR LINUX2').join('\n'), /Address: 10\.66\.0\.11  CONFLICT \(held by LINUX1 0600\)/);
  l.ip(g2, 'addr', 'del', '10.66.0.11/32', 'dev', 'enc600');

  // Guest to guest through the daemon.
  assert.equal(l.exec(g1, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.66.0.12']).code, 0, 'LINUX1 pings LINUX2');

  // UNCOUPLE: the address leaves the table, the TAP stays (NO-CARRIER).
  assert.deepEqual(ok(d, 'UNCOUPLE 600 FOR LINUX2'), ['NIC 0600 is disconnected from VSWITCH SYSTEM SW1']);
  const gone = await waitFor(() => d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable.length === 1, 3000);
  assert.ok(gone);
  const carrier = await waitFor(() => JSON.parse(l.ip(g2, '-j', 'link', 'show', 'enc600'))[0].flags.includes('NO-CARRIER'), 3000);
  assert.ok(carrier, 'uncoupled NIC: TAP kept, no carrier');
  refused(d, 'UNCOUPLE 600 FOR LINUX2', /VSW0041E NIC 0600 is not coupled/);
  ok(d, 'SET VSWITCH SW2 GRANT LINUX2');
  assert.deepEqual(ok(d, 'COUPLE 600 TO SYSTEM SW2 FOR LINUX2'), ['NIC 0600 is connected to VSWITCH SYSTEM SW2']);
  assert.ok(await waitFor(() => !JSON.parse(l.ip(g2, '-j', 'link', 'show', 'enc600'))[0].flags.includes('NO-CARRIER'), 3000), 'coupled: carrier');
  // REVOKE of a coupled guest uncouples it: the guest sees NO-CARRIER.
  assert.deepEqual(ok(d, 'SET VSWITCH SW2 REVOKE LINUX2'), ['NIC 0600 of GUEST LINUX2 is disconnected from VSWITCH SYSTEM SW2', 'LINUX2 revoked for VSWITCH SYSTEM SW2']);
  assert.ok(await waitFor(() => JSON.parse(l.ip(g2, '-j', 'link', 'show', 'enc600'))[0].flags.includes('NO-CARRIER'), 3000), 'revoked: NO-CARRIER');
  assert.equal(d.json('QUERY', 'NIC', '600', 'FOR', 'LINUX2').nics[0].switch, null);
  assert.deepEqual(d.json('QUERY', 'VSWITCH', 'SW2', 'ACCESSLIST').switches[0].accessList, []);
  refused(d, 'SET VSWITCH SW2 REVOKE LINUX2', /VSW0042E LINUX2 is not authorized for VSWITCH SYSTEM SW2/);
  refused(d, 'COUPLE 600 TO SYSTEM SW2 FOR LINUX2', /VSW0042E NIC 0600 not coupled: GUEST LINUX2 is not authorized/);
  ok(d, 'SET VSWITCH SW2 GRANT LINUX2');
  assert.deepEqual(ok(d, 'COUPLE 600 TO SYSTEM SW2 FOR LINUX2'), ['NIC 0600 is connected to VSWITCH SYSTEM SW2']);
  assert.deepEqual(ok(d, 'DETACH NIC 600 FOR LINUX2'), [
    'NIC 0600 is disconnected from VSWITCH SYSTEM SW2',
    'NIC 0600 is destroyed; devices 0600-0602 detached',
  ]);
  assert.notEqual(run('ip', ['-n', g2, 'link', 'show', 'enc600']).code, 0, 'TAP destroyed');
  assert.deepEqual(ok(d, 'DETACH GUEST LINUX2'), ['GUEST LINUX2 is removed']);
  assert.equal(run('ip', ['netns', 'list']).stdout.includes(g2), true, 'the namespace stays');
  assert.deepEqual(ok(d, 'DETACH VSWITCH SW2'), ['VSWITCH SYSTEM SW2 is destroyed']);
  assert.deepEqual(ok(d, 'Q GUEST'), ['GUEST LINUX1    NETNS ' + g1 + '  NICs: 0600', 'GUEST VM1       QEMU STREAM  NICs: none']);
  assert.equal(d.json('QUERY', 'VMLAN').macPrefix, '020000');
});

test('SYSTEM CONFIG brings the topology up; kill -9 and restart bring back every acknowledged definition', async () => {
  const l = lab();
  const host = l.netns('h');
  const lan = l.netns('l');
  const g1 = l.netns('g1');
  const g2 = l.netns('g2');
  const up = l.name('u');
  l.veth(host, up, lan, 'lan0');
  const config = [
    '* test topology',
    'VMLAN MACPREFIX 02AA00',
    `DEFINE VSWITCH SW1 RDEV ${up},`,
    '   IP QUEUESTORAGE 4M   /* the LAN */',
    `DEFINE GUEST LINUX1 NETNS ${g1}`,
    'DEFINE NIC 600 FOR LINUX1',
    'MODIFY VSWITCH SW1 GRANT LINUX1',
    'COUPLE 600 TO SYSTEM SW1 FOR LINUX1',
  ].join('\n');
  const d = await daemon(host, config);
  const ctl = the.controller('DTCVSW1', host, d);
  await ctl.start();
  assert.ok(await waitFor(() => d.json('QUERY', 'VSWITCH', 'SW1').switches[0].uplink.state === 'READY', 5000));
  const sw = d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0];
  assert.equal(sw.queueStorage, 4 << 20);
  assert.equal(sw.uplink.state, 'READY');
  assert.deepEqual(sw.nics.map((n: { guest: string; vdev: string; mac: string }) => [n.guest, n.vdev, n.mac]), [['LINUX1', '0600', '02:aa:00:00:00:01']]);
  assert.equal(JSON.parse(l.ip(g1, '-j', 'link', 'show', 'enc600'))[0].address, '02:aa:00:00:00:01');

  // Dynamic definitions on top, then a crash.
  ok(d, `DEFINE GUEST LINUX2 NETNS ${g2}`);
  ok(d, 'DEFINE NIC 0700 FOR LINUX2');
  ok(d, 'DEFINE NIC 0800 FOR LINUX2');
  ok(d, 'SET VSWITCH SW1 GRANT LINUX2 PROMISCUOUS');
  ok(d, 'COUPLE 700 TO SYSTEM SW1 FOR LINUX2');
  ok(d, 'DEFINE VSWITCH SW2 RDEV NONE ETHERNET VLAN 10 NATIVE NONE');
  ok(d, 'SET VSWITCH SW2 GRANT LINUX2 PORTTYPE TRUNK VLAN 10 20-21');
  ok(d, 'COUPLE 800 TO SYSTEM SW2 FOR LINUX2');
  ok(d, 'SET VSWITCH SW2 ISOLATION ON');
  ok(d, 'SET VSWITCH SW1 MACPROTECT ON');
  ok(d, 'SET NIC 700 PROMISCUOUS FOR LINUX2');
  ok(d, 'SET NIC 800 MACPROTECT OFF FOR LINUX2');
  ok(d, 'UNCOUPLE 600 FOR LINUX1');
  ok(d, 'COUPLE 600 TO SYSTEM SW1 FOR LINUX1');
  l.ip(g1, 'addr', 'add', '10.67.0.11/24', 'dev', 'enc600');
  l.ip(g1, 'link', 'set', 'enc600', 'up');
  l.ip(g2, 'addr', 'add', '10.67.0.12/24', 'dev', 'enc700');
  l.ip(g2, 'link', 'set', 'enc700', 'up');
  assert.ok(await waitFor(() => {
    const t = d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable;
    return t.length === 2 && t.every((e: { localOnly: boolean }) => !e.localOnly);
  }, 5000));
  assert.equal(l.exec(g1, 'ping', ['-c', '1', '-W', '2', '10.67.0.12']).code, 0);
  const before = snapshot(d);
  await d.kill9();
  await d.start();
  assert.ok(await waitFor(() => {
    const t = d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable;
    return t.length === 2 && t.every((e: { localOnly: boolean }) => !e.localOnly);
  }, 5000), 'addresses re-read and registered again (the controller reconnected)');
  // The guests' IPv6 link-local addresses come and register on their own time (DAD): not compared here (test/e2e/ipv6.test.ts).
  const strip = (o: any): unknown => JSON.parse(JSON.stringify(o, (k, v) => (k === 'port' || k === 'addresses6' || k === 'ipTable6' ? undefined : v)));
  assert.deepEqual(strip(snapshot(d)), strip(before), 'switches, guests, NICs (same MACs), couplings, access lists, layer-2 settings, addresses all back');
  const sw2 = d.json('QUERY', 'VSWITCH', 'SW2', 'DETAILS').switches[0];
  assert.deepEqual([sw2.isolation, sw2.vlan, sw2.accessList[0].vlans], [true, { aware: true, defaultVid: 10, nativeVid: 0, portType: 'ACCESS' }, [10, 20, 21]]);
  assert.deepEqual(sw2.nics.map((n: { portType: string; vlans: number[]; pvid: number; macProtect: boolean }) => [n.portType, n.vlans, n.pvid, n.macProtect]), [['TRUNK', [10, 20, 21], 0, false]]);
  const n700 = d.json('QUERY', 'NIC', '700', 'FOR', 'LINUX2').nics[0];
  assert.deepEqual([n700.promiscuous, n700.policy.promiscuous, n700.policy.macProtect], [true, true, true], 'SET NIC PROMISCUOUS and the switch MACPROTECT came back');
  assert.equal(d.json('QUERY', 'NIC', '700', 'FOR', 'LINUX2').nics[0].mac, '02:aa:00:00:00:02');
  assert.match(l.ip(g2, 'addr', 'show', 'enc700'), /10\.67\.0\.12\/24/, 'the persistent TAP kept the guest address');
  assert.equal(l.exec(g1, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.67.0.12']).code, 0, 'traffic resumes');
  // A torn journal record after a crash is ignored, and the daemon still starts.
  await d.kill9();
  run('sh', ['-c', `printf '{"v":1,"seq":99,"cmd":"DEFINE VSW' >> ${d.stateDir}/journal.jsonl`]);
  await d.start();
  // The log line is written before the socket answers, but reaches this process's pipe on its own time.
  assert.ok(await waitFor(() => /torn last record/.test(d.stderr), 5000), `torn record logged: ${d.stderr.slice(-2000)}`);
  assert.equal(d.json('QUERY', 'VSWITCH').switches.length, 2);
  ok(d, 'DEFINE VSWITCH SW3');
  await d.kill9();
  await d.start();
  assert.equal(d.json('QUERY', 'VSWITCH').switches.length, 3, 'records after a cut tail are read');
});

test('a bad SYSTEM CONFIG stops start-up with its line number; a second DEFINE VSWITCH of a name is an error of its own', async () => {
  const l = lab();
  const host = l.netns('h');
  const d = the.daemon({ netns: host, config: 'DEFINE VSWITCH SW1\n\nMODIFY VSWITCH SW9 GRANT A\n' });
  await assert.rejects(d.start(3000), /line 3: MODIFY VSWITCH SW9 GRANT A: VSW0011E VSWITCH SYSTEM SW9 does not exist; not started/);
  // z/VM: "the first definition will be accepted and subsequent statements will receive an error".
  const dup = await daemon(host, 'DEFINE VSWITCH SW1\n\nDEFINE VSWITCH SW1 RDEV NONE ETHERNET\nDEFINE VSWITCH SW2\n');
  assert.deepEqual(dup.json('QUERY', 'VSWITCH').switches.map((s: { name: string; mode: string }) => [s.name, s.mode]), [['SW1', 'IP'], ['SW2', 'IP']]);
  assert.ok(await waitFor(() => /VSW0016E SYSTEM CONFIG line 3: VSWITCH SW1 is defined again; the first definition stands/.test(dup.stderr), 5000), dup.stderr.slice(-2000));
  await dup.stop();
  const e = the.daemon({ netns: host, config: '* ok\nDEFINE VSWITCH SW1 RDEV,\n' });
  await assert.rejects(e.start(3000), /line 2: /);
});

test('the daemon survives garbage on its socket; the CLI reports a missing daemon', async () => {
  const l = lab();
  const host = l.netns('h');
  const d = await daemon(host);
  const talk = (payload: string | Buffer, endAfter = true): Promise<string> => new Promise((resolve) => {
    const c = createConnection(d.socket);
    let out = '';
    c.setEncoding('utf8');
    c.on('data', (x: string) => { out += x; });
    c.on('close', () => resolve(out));
    c.on('error', () => resolve(out));
    c.on('connect', () => { c.write(payload); if (endAfter) c.end(); });
  });
  const r1 = await talk('not json\n{"command": 5}\n[1,2]\n{"id":7,"command":"Q VSW"}\n{"words":["q","guest"]}\n');
  const replies = r1.trim().split('\n').map((x) => JSON.parse(x));
  assert.equal(replies.length, 5);
  assert.deepEqual(replies.map((r) => r.ok), [false, false, false, true, true]);
  assert.match(replies[0].lines[0], /VSW0001E request is not JSON/);
  assert.deepEqual(replies[3], { id: 7, ok: true, lines: ['No VSWITCHes are defined'], data: { switches: [] } });
  const huge = await talk(Buffer.alloc(200_000, 0x41), false);
  assert.match(huge, /longer than 65536 bytes/);
  await talk('{"command":"DEFINE VSW');
  await talk(Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0xc3, 0x28, 0x0a]));
  assert.deepEqual(ok(d, 'q vsw'), ['No VSWITCHes are defined'], 'still answering');
  const nobody = run(VSWITCH, ['--socket', `${d.dir}/nothing.sock`, 'q', 'vsw']);
  assert.equal(nobody.code, 3);
  assert.equal(nobody.stderr, `vswitch: daemon not running at ${d.dir}/nothing.sock\n`);
  const usage = run(VSWITCH, ['--socket', d.socket]);
  assert.equal(usage.code, 2);
});

test('ETHERNET mode: QUERY VSWITCH DETAILS shows the learned MAC table the data plane answers, in bridge -j fdb names', async () => {
  const l = lab();
  const host = l.netns('h');
  const g1 = l.netns('e1');
  const g2 = l.netns('e2');
  const d = await daemon(host);
  for (const c of ['DEFINE VSWITCH ESW RDEV NONE ETHERNET', `DEFINE GUEST E1 NETNS ${g1}`, `DEFINE GUEST E2 NETNS ${g2}`,
    'DEFINE NIC 600 FOR E1', 'DEFINE NIC 600 FOR E2', 'SET VSWITCH ESW GRANT E1', 'SET VSWITCH ESW GRANT E2',
    'COUPLE 600 TO SYSTEM ESW FOR E1', 'COUPLE 600 TO SYSTEM ESW FOR E2']) ok(d, c);
  l.ip(g1, 'addr', 'add', '10.68.0.1/24', 'dev', 'enc600');
  l.ip(g1, 'link', 'set', 'enc600', 'up');
  l.ip(g2, 'addr', 'add', '10.68.0.2/24', 'dev', 'enc600');
  l.ip(g2, 'link', 'set', 'enc600', 'up');
  const macs = ['E1', 'E2'].map((g) => d.json('QUERY', 'NIC', '600', 'FOR', g).nics[0].mac as string);
  assert.ok(await waitFor(() => l.exec(g1, 'ping', ['-c', '1', '-W', '1', '10.68.0.2']).code === 0, 10_000), 'the guests reach each other');
  type Entry = { mac: string; ifname: string; master: string; vlan?: number };
  const table: Entry[] | null = await waitFor((): Entry[] | null => {
    const t = d.json('QUERY', 'VSWITCH', 'ESW', 'DETAILS').switches[0].macTable;
    const e = (t.entries ?? []) as Entry[];
    return macs.every((m) => e.some((x) => x.mac === m)) ? e : null;
  }, 10_000);
  assert.ok(table, 'both guests\' MACs learned');
  for (const [i, g] of ['E1 0600', 'E2 0600'].entries()) {
    const e: Entry = table.find((x) => x.mac === macs[i])!;
    assert.deepEqual([e.ifname, e.master, e.vlan], [g, 'ESW', undefined]);
  }
  assert.ok(ok(d, 'Q VSWITCH ESW DETAILS').some((line) => line.includes(`${macs[0].toUpperCase().replace(/:/g, '-')}  VLAN: NONE  Port: E1 0600`)));
});
