/**
 * Issue 12's traces, end to end on the real kernel: `vswitch trace` against a running vswitchd
 * (IP mode, two namespace guests, a LAN host behind the uplink, a controller), read back by the
 * real tools:
 *  - a ping between the guests, traced to a file (-w) and through a pipe (| tcpdump -r -), read
 *    by tcpdump: requests and replies, as received and as sent, timestamps never going back;
 *  - tshark sees one interface per port (named after the NIC), the direction in each packet's
 *    flags, and a dropped frame's reason in its comment;
 *  - UPLINK traces the uplink only, under the RDEV's name;
 *  - a reader that stops reading does not slow the data path: the ring fills, the ping keeps
 *    its latency and loses nothing, and the frames the trace lost are said at the end;
 *  - who may trace: the system only (SO_PEERCRED: root or the administrators' group); bad requests.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetLab, run, sleep, waitFor } from '../helpers/netlab.js';
import { VSWITCH, type Daemon } from '../helpers/daemon.js';
import { startIpLab, type IpLab } from '../helpers/ip-lab.js';

const lab = new NetLab('vt');
let l: IpLab;
let d: Daemon;
let g1: string, g2: string, up: string;
let LAN: string, A: string, B: string;
const dir = mkdtempSync(join(tmpdir(), 'vswtrace-'));

before(async () => {
  l = await startIpLab(lab, '10.86.0');
  ({ d, g1, g2, up, lan: LAN, a: A, b: B } = l);
  assert.ok(ping(g1, B, 2) && ping(g1, LAN, 1), 'neighbours settled');
});

after(async () => {
  try { await l?.stop(); } finally { lab.cleanup(); rmSync(dir, { recursive: true, force: true }); }
});

function ping(ns: string, to: string, count: number, extra: string[] = []): boolean {
  return lab.exec(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', ...extra, to]).code === 0;
}

/** A running `vswitch trace ...`; `started` resolves once the daemon said what it traces. */
function trace(args: string[], stdout: 'ignore' | 'pipe' = 'ignore'): { child: ChildProcess; started: Promise<void>; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(VSWITCH, ['--socket', d.socket, 'trace', ...args], { stdio: ['ignore', stdout, 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  const started = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (s: string) => { stderr += s; if (stderr.includes('Tracing')) resolve(); });
    child.once('exit', () => reject(new Error(`trace ended before it started: ${stderr}`)));
  });
  started.catch(() => {});
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  return { child, started, done };
}

/** Trace with `args` to a new file while `act` runs, end it with SIGINT; the file and the CLI's stderr. */
async function traceToFile(name: string, args: string[], act: () => void): Promise<{ file: string; stderr: string }> {
  const file = join(dir, name);
  const t = trace([...args, '-w', file]);
  await t.started;
  act();
  await sleep(150); // the daemon drains the ring every 20 ms
  t.child.kill('SIGINT');
  const r = await t.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\d+ frames captured, 0 lost/, r.stderr);
  return { file, stderr: r.stderr };
}

/** tcpdump's reading of a file: one line per packet, "-tt" epoch timestamps first. */
function tcpdump(file: string, filter: string[] = []): string[] {
  const r = run('tcpdump', ['-n', '-tt', '-r', file, ...filter]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('a ping between guests, traced to a file, is read back by tcpdump in both directions, timestamps increasing', async () => {
  const { file } = await traceToFile('ping.pcapng', ['SW1'], () => assert.ok(ping(g1, B, 3)));
  const lines = tcpdump(file, ['icmp']);
  const req = lines.filter((l) => l.includes(`${A} > ${B}: ICMP echo request`));
  const rep = lines.filter((l) => l.includes(`${B} > ${A}: ICMP echo reply`));
  // Each seen twice: as received from the sender's port and as sent to the receiver's.
  assert.equal(req.length, 6, lines.join('\n'));
  assert.equal(rep.length, 6, lines.join('\n'));
  const times = tcpdump(file).map((l) => Number(l.split(' ')[0]));
  for (let i = 1; i < times.length; i++) assert.ok(times[i] >= times[i - 1], `timestamps never go back: ${times.join(' ')}`);
  assert.ok(Math.abs(times[0] - Date.now() / 1000) < 60, 'timestamps are wall-clock times');
});

test('vswitch trace NIC ... --count N | tcpdump -n -r - reads the stream from a pipe', async () => {
  const sh = spawn('sh', ['-c', `"${VSWITCH}" --socket "${d.socket}" trace SW1 nic linux1 0600 --count 4 | tcpdump -n -r - icmp`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  sh.stdout!.on('data', (s) => { out += s; });
  sh.stderr!.on('data', (s) => { err += s; });
  const exited = new Promise<number | null>((r) => sh.once('exit', (c) => r(c)));
  await waitFor(() => err.includes('Tracing'), 5000);
  assert.ok(ping(g1, B, 2));
  assert.equal(await exited, 0, err);
  assert.match(err, /4 frames captured, 0 lost; 4 frames captured/, err);
  const lines = out.split('\n').filter(Boolean);
  assert.ok(lines.some((l) => l.includes(`${A} > ${B}: ICMP echo request`)), out);
  assert.ok(lines.some((l) => l.includes(`${B} > ${A}: ICMP echo reply`)), out);
});

test('tshark: an interface per port, the direction in the flags, a drop with its reason in the comment', async () => {
  const { file } = await traceToFile('tshark.pcapng', ['SW1'], () => {
    assert.ok(ping(g1, B, 1));
    ping(g1, 'ff02::1%enc600', 1, ['-6']); // IPv6: an IP-mode switch drops it as not-ip
  });
  const r = run('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.interface_name',
    '-e', 'frame.packet_flags_direction', '-e', 'frame.comment', '-e', 'icmp.type']);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.split('\n').filter(Boolean).map((l) => l.split('|'));
  // tshark prints epb_flags' direction as a number (1 inbound, 2 outbound; some versions in hex).
  const has = (iface: string, dir: number, comment: RegExp, icmp: string): boolean =>
    rows.some((x) => x[0] === iface && Number(x[1]) === dir && comment.test(x[2]) && x[3] === icmp);
  assert.ok(has('LINUX1 0600', 1, /^$/, '8'), `the request as received from LINUX1: ${r.stdout}`);
  assert.ok(has('LINUX2 0600', 2, /^$/, '8'), `the request as sent to LINUX2: ${r.stdout}`);
  assert.ok(has('LINUX2 0600', 1, /^$/, '0') && has('LINUX1 0600', 2, /^$/, '0'), `the reply both ways: ${r.stdout}`);
  assert.ok(rows.some((x) => x[0] === 'LINUX1 0600' && Number(x[1]) === 1 && x[2] === 'dropped: not-ip'), `the IPv6 ping dropped as not-ip: ${r.stdout}`);
});

test('UPLINK traces the uplink only, under the RDEV\'s name', async () => {
  const { file } = await traceToFile('uplink.pcapng', ['sw1', 'UPLINK'], () => {
    assert.ok(ping(g1, LAN, 1));
    assert.ok(ping(g1, B, 1));
  });
  const r = run('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.interface_name',
    '-e', 'frame.packet_flags_direction', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type']);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.split('\n').filter(Boolean).map((l) => l.split('|'));
  assert.ok(rows.length > 0 && rows.every((x) => x[0] === `UPLINK ${up}`), r.stdout);
  assert.ok(rows.some((x) => Number(x[1]) === 2 && x[2] === A && x[3] === LAN && x[4] === '8'), `request out: ${r.stdout}`);
  assert.ok(rows.some((x) => Number(x[1]) === 1 && x[2] === LAN && x[3] === A && x[4] === '0'), `reply in: ${r.stdout}`);
  assert.ok(!rows.some((x) => x[3] === B), 'guest-to-guest frames are not on the uplink');
});

/** Ping `count` times every 20 ms; loss and average round trip (ms). */
function pingStats(ns: string, to: string, count: number): { lost: number; avg: number } {
  const r = lab.exec(ns, 'ping', ['-c', String(count), '-i', '0.02', '-W', '1', '-q', to]);
  const p = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  const a = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  assert.ok(p && a, r.stdout + r.stderr);
  return { lost: Number(p[1]) - Number(p[2]), avg: Number(a[1]) };
}

test('a reader that stops reading does not slow the data path; the lost trace frames are said at the end', async () => {
  const baseline = pingStats(g1, B, 50);
  const t = trace(['SW1'], 'pipe');
  await t.started;
  t.child.stdout!.pause(); // the reader stops reading: the pipe, the socket, then the ring fill up
  // Bulk traffic (64 KiB super-frames) fills the trace's 4 MiB ring many times over.
  const srv = lab.spawn(g2, 'iperf3', ['-s', '-1', '-B', B]);
  await sleep(300);
  const cli = lab.spawn(g1, 'iperf3', ['-c', B, '-t', '2']);
  const iperfDone = new Promise<number | null>((r) => cli.once('exit', (c) => r(c)));
  assert.equal(await iperfDone, 0, 'iperf3 ran at full speed with the trace stuck');
  srv.kill();
  const stuck = pingStats(g1, B, 50);
  assert.equal(stuck.lost, 0, 'the ping lost nothing while the trace reader was stuck');
  assert.ok(stuck.avg < baseline.avg * 3 + 1, `the ping kept its latency: ${stuck.avg} ms with the reader stuck, ${baseline.avg} ms before`);
  // The reader reads again, then stops the trace: the summary says what was lost.
  t.child.stdout!.resume();
  t.child.stdout!.on('data', () => {});
  await sleep(200);
  t.child.kill('SIGINT');
  const r = await t.done;
  assert.equal(r.code, 0, r.stderr);
  const m = /(\d+) frames captured, (\d+) lost \(this reader fell behind/.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.ok(Number(m[2]) > 0, `frames lost by the trace were counted: ${r.stderr}`);
});

test('tracing is for the system: a peer that is neither root nor in the administrators\' group is refused (SO_PEERCRED), the socket is 0666', async () => {
  const sock = `${d.socket}.trace`;
  chmodSync(d.dir, 0o711); // the daemon's directory is the test's private one: let others reach the sockets
  try {
    assert.equal(statSync(sock).mode & 0o777, 0o666);
    const nobody = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', VSWITCH, '--socket', d.socket, 'trace', 'SW1', '-w', '/dev/null']);
    assert.equal(nobody.code, 1, nobody.stdout + nobody.stderr);
    assert.match(nobody.stderr, /VSW0003E not authorized: tracing is for the system administrator \(class B\)/);
    const script = `const c = require('net').createConnection(${JSON.stringify(sock)}); let b = '';
      c.on('connect', () => c.write(JSON.stringify({ trace: { switch: 'SW1' } }) + '\\n'));
      c.on('data', (d) => { b += d; }); c.on('close', () => { process.stdout.write(b); });`;
    const r = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script]);
    assert.ok(r.stdout.length > 0, `no answer: ${r.stderr}`);
    const reply = JSON.parse(r.stdout.split("\n")[0]);
    assert.equal(reply.ok, false);
    assert.match(reply.lines[0], /not authorized/);
  } finally {
    chmodSync(d.dir, 0o700);
  }
});

test('bad requests are refused with the reason', async () => {
  const cases: Array<[string[], RegExp, number]> = [
    [['NOSUCH'], /VSWITCH NOSUCH does not exist/, 1],
    [['SW1', 'NIC', 'LINUX9', '0600'], /NIC 0600 of LINUX9 does not exist/, 1],
    [['SW1', '--vlan', '5000'], /--vlan must be a whole number from 0 to 4094/, 1],
    [['SW1', 'NIC', 'LINUX1'], /NIC userid vdev, or UPLINK/, 2],
    [['SW1', '--count'], /--count needs a whole number/, 2],
  ];
  for (const [args, msg, code] of cases) {
    const r = run(VSWITCH, ['--socket', d.socket, 'trace', ...args, '-w', '/dev/null']);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
  // Not JSON, straight on the socket: an error line, and the daemon carries on.
  const script = `const c = require('net').createConnection(${JSON.stringify(`${d.socket}.trace`)}); let b = '';
    c.on('connect', () => c.write('not json\\n')); c.on('data', (d) => { b += d; }); c.on('close', () => process.stdout.write(b));`;
  const garbage = run(process.execPath, ['-e', script]);
  assert.match(garbage.stdout, /"ok":false.*not JSON/, garbage.stdout + garbage.stderr);
  assert.equal(d.cli('QUERY', 'VSWITCH', 'SW1').code, 0, 'the daemon still answers');
  const tty = run('script', ['-qec', `"${VSWITCH}" --socket "${d.socket}" trace SW1`, '/dev/null']);
  assert.match(tty.stdout, /will not write a pcapng stream to a terminal/);
});
