/**
 * Local peers against the real daemon (bin/vswitchd in a namespace of its own, driven through
 * its socket and bin/vswitch), each test the attack it guards against:
 * - a client pipelining QUERY VSWITCH DETAILS without reading its replies: the daemon's RSS
 *   stays bounded and other clients are served meanwhile (item 7);
 * - the CLI writing into a pipe whose reader is gone exits quietly (item 10);
 * - keywords and names with non-ASCII letters that upper-case to ASCII are refused, the
 *   controller's --name too (item 10);
 * - an RDEV that another switch holds is refused, from the socket and in SYSTEM CONFIG (item 11).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { run, sleep, type NetLab } from '../helpers/netlab.js';
import { VSWITCH, type Daemon } from '../helpers/daemon.js';
import { rig } from '../helpers/rig.js';
import { VSWITCH_CONTROLLER } from '../helpers/controller.js';

const the = rig('vp');
const sockets: Socket[] = [];
after(() => { for (const s of sockets) s.destroy(); });

async function daemon(config?: string): Promise<{ d: Daemon; lab: NetLab; host: string }> {
  const lab = the.lab();
  const host = lab.netns('h');
  const d = the.daemon({ netns: host, config });
  await d.start();
  return { d, lab, host };
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'VmRSS');
  return Number(m[1]);
}

test('a client that pipelines QUERY VSWITCH DETAILS and never reads: RSS stays bounded, others are served', async () => {
  const { d } = await daemon();
  // A state whose full query is a few tens of kilobytes, so unread replies pile up fast.
  await d.batch([
    ...Array.from({ length: 40 }, (_, i) => `DEFINE VSWITCH SW${i} RDEV NONE`),
    ...Array.from({ length: 10 }, (_, i) => [`DEFINE GUEST VM${i} QEMU`, `DEFINE NIC 600 FOR VM${i}`, `SET VSWITCH SW${i} GRANT VM${i}`, `COUPLE 600 TO SYSTEM SW${i} FOR VM${i}`]).flat(),
  ]);
  const replyBytes = Buffer.byteLength(JSON.stringify(d.json('QUERY', 'VSWITCH', 'DETAILS')));
  assert.ok(replyBytes > 10_000, `reply size ${replyBytes}`);
  const before = rssKb(d.pid);

  const attackers = await Promise.all([0, 1].map(() => new Promise<Socket>((resolve, reject) => {
    const c = createConnection(d.socket);
    sockets.push(c);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  })));
  const req = `${JSON.stringify({ command: 'Q VSWITCH DETAILS' })}\n`.repeat(500);
  for (const c of attackers) {
    c.pause(); // never read a reply
    c.on('error', () => { /* closed by the daemon */ });
    const write = (): void => { while (!c.destroyed && c.write(req)) { /* until the daemon pushes back */ } };
    c.on('drain', write);
    write();
  }
  // Before the fix this grew the daemon by hundreds of MB a second.
  let peak = before;
  const servedMs: number[] = [];
  for (let i = 0; i < 8; i++) {
    await sleep(400);
    peak = Math.max(peak, rssKb(d.pid));
    const t = Date.now();
    const r = d.cli('QUERY', 'VSWITCH', 'SW1');
    servedMs.push(Date.now() - t);
    assert.equal(r.code, 0, `another client is served during the attack: ${r.stderr}`);
  }
  const growthMb = (peak - before) / 1024;
  assert.ok(growthMb < 64, `RSS grew ${growthMb.toFixed(1)} MB (from ${(before / 1024).toFixed(0)} MB) under two clients that never read`);
  assert.ok(Math.max(...servedMs) < 5000, `CLI latency during the attack: ${servedMs.join(', ')} ms`);
  for (const c of attackers) c.destroy();
});

test('the CLI writing into a pipe whose reader has gone exits quietly', async () => {
  const { d } = await daemon();
  await d.batch(Array.from({ length: 30 }, (_, i) => `DEFINE VSWITCH SW${i} RDEV NONE`));
  // `true` exits before the CLI writes: every write meets EPIPE. `head -c 1` closes after the first byte.
  for (const reader of ['true', 'head -c 1 >/dev/null']) {
    for (const args of ['q vsw all det', '--json q vsw all det']) {
      const r = run('bash', ['-c', `"$0" --socket "$1" ${args} | ${reader}; echo "status \${PIPESTATUS[0]}" >&2`, VSWITCH, d.socket]);
      assert.equal(r.stderr, 'status 0\n', `${args} | ${reader}: no message, no stack trace, the command's status`);
    }
  }
  // A refused command keeps its status (1) and its one line on stderr.
  const refused = run('bash', ['-c', `"$0" --socket "$1" --json q vsw nosuch | true; echo "status \${PIPESTATUS[0]}" >&2`, VSWITCH, d.socket]);
  assert.match(refused.stderr, /^vswitch: VSW0011E VSWITCH SYSTEM NOSUCH does not exist\nstatus 1\n$/);
});

test('keywords and names are case blind in ASCII only, through the daemon', async () => {
  const { d } = await daemon();
  for (const [cmd, re] of [
    ['DEFıNE VSWITCH SW1', /VSW0001E unexpected word 'DEFıNE'/],
    ['define vswıtch sw1', /VSW0001E unexpected word 'vswıtch'/],
    ['DEFINE GUEST LİNUX1 QEMU', /VSW0001E bad user id 'LİNUX1'/],
    ['DEFINE GUEST ſYS1 QEMU', /VSW0001E bad user id 'ſYS1'/],
  ] as const) {
    const r = d.cli(...cmd.split(' '));
    assert.equal(r.code, 1, cmd);
    assert.match(r.stderr, re);
  }
  assert.equal(d.json('QUERY', 'VSWITCH').switches.length, 0, 'nothing was defined');
  assert.equal(d.json('QUERY', 'GUEST').guests.length, 0);
  assert.equal(d.cli('define', 'vswitch', 'sw1').code, 0, 'ASCII case folding still works');
  // The controller's name too: 'dtcvſw1'.toUpperCase() is 'DTCVSW1'.
  const ctl = run(VSWITCH_CONTROLLER, ['--name', 'dtcvſw1', '--socket', d.socket]);
  assert.equal(ctl.code, 2);
  assert.match(ctl.stderr, /bad controller name 'dtcvſw1'/);
});

test('one RDEV, one switch: a second switch on it is refused with the switch that holds it, also in SYSTEM CONFIG', async () => {
  const { d, lab, host } = await daemon();
  const up = lab.name('u');
  const lan = lab.netns('l');
  lab.veth(host, up, lan, 'lan0');
  d.commands([`DEFINE VSWITCH SW1 RDEV ${up} IP`]);
  const r = d.cli('DEFINE', 'VSWITCH', 'SW2', 'RDEV', 'eth9', up, 'ETHERNET');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `vswitch: VSW0015E RDEV ${up} already belongs to VSWITCH SYSTEM SW1\n`);
  assert.deepEqual(d.json('QUERY', 'VSWITCH').switches.map((s: { name: string }) => s.name), ['SW1'], 'nothing changed');
  // Free again once its switch is gone.
  d.commands(['DETACH VSWITCH SW1', `DEFINE VSWITCH SW2 RDEV ${up} ETHERNET`]);

  const bad = the.daemon({ netns: host, config: `DEFINE VSWITCH A RDEV ${up}\nDEFINE VSWITCH B RDEV ${up}\n` });
  await assert.rejects(bad.start(5000), new RegExp(`line 2: DEFINE VSWITCH B RDEV ${up} .*VSW0015E RDEV ${up} already belongs to VSWITCH SYSTEM A; not started`));
});
