/**
 * Who may command (issue 10), against the real daemon and real local users: the test creates
 * an administrators' group and two unprivileged users with unique names (removed afterwards,
 * also on failure), starts bin/vswitchd with `--admin-group` that group, and runs bin/vswitch
 * as those users (runuser), as an operator would:
 * - a guest's OWNER is refused the system's commands (DEFINE VSWITCH, SET VSWITCH, DETACH
 *   GUEST, the ALL queries) and another guest's NICs, with VSW0003E, exit status 1, and nothing
 *   changes; it may DEFINE NIC, COUPLE and QUERY its own guest (the TAP appears in the guest's
 *   namespace) and query the switch its guest is coupled to; the OWNER survives a restart
 *   (journaled);
 * - a member of the administrators' group may do class B;
 * - a controller registration (bin/vswitch-controller) from the unprivileged user is refused
 *   and the controller exits 1; the same controller run by the administrators' group member
 *   registers (so the refusal is the privilege's, not something else's);
 * - the sockets are mode 0666 (authority is SO_PEERCRED's), the state directory 0700;
 * - QEMU need not be root: the OWNER's QEMU (a listening socket run as that user) is connected
 *   to; another user's socket under the NIC's name is refused; the QEMU directory is sticky;
 * - a `qemu/` directory a user made first next to a socket in a world-writable directory
 *   stops the daemon's start (issue 9, item 9).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sleep, waitFor, type NetLab } from '../helpers/netlab.js';
import { ROOT, VSWITCHD, type Daemon } from '../helpers/daemon.js';
import { rig } from '../helpers/rig.js';
import { VSWITCH_CONTROLLER } from '../helpers/controller.js';

const the = rig('vpr');
const tag = `${(process.pid % 46656).toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
const GROUP = `vswpg${tag}`;
const OWNER = `vswpo${tag}`;
const ADMIN = `vswpa${tag}`;
const CLI = join(ROOT, 'dist/src/cli/main.js');

let d: Daemon;
let lab: NetLab;
let ns1: string;
let ns2: string;

/** useradd and friends take a lock on /etc/passwd that other tests on this machine may hold for a moment: try again. */
async function must(cmd: string, args: string[]): Promise<void> {
  let last = '';
  for (let i = 0; i < 20; i++) {
    const r = run(cmd, args);
    if (r.code === 0) return;
    last = r.stderr;
    await sleep(250);
  }
  throw new Error(`${cmd} ${args.join(' ')}: ${last}`);
}

async function tryTo(cmd: string, args: string[]): Promise<void> {
  for (let i = 0; i < 20 && run(cmd, args).code !== 0; i++) {
    if (cmd === 'userdel' && run('id', [args[args.length - 1]]).code !== 0) return;
    if (cmd === 'groupdel' && run('getent', ['group', args[args.length - 1]]).code !== 0) return;
    await sleep(250);
  }
}

/** bin/vswitch's code, stdout and stderr, as `user`. */
function as(user: string, ...words: string[]): { code: number; out: string; err: string } {
  const r = run('runuser', ['-u', user, '--', process.execPath, CLI, '--socket', d.socket, ...words]);
  return { code: r.code, out: r.stdout, err: r.stderr };
}

function refused(user: string, words: string, why: RegExp): void {
  const r = as(user, ...words.split(' '));
  assert.equal(r.code, 1, `${user}: ${words}: ${r.out}${r.err}`);
  assert.match(r.err, /^vswitch: VSW0003E not authorized: /, `${words}: ${r.err}`);
  assert.match(r.err, why, `${words}: ${r.err}`);
  assert.match(r.err, /nothing was changed/);
}

function allowed(user: string, words: string): string {
  const r = as(user, ...words.split(' '));
  assert.equal(r.code, 0, `${user}: ${words}: ${r.out}${r.err}`);
  return r.out;
}

before(async () => {
  await must('groupadd', [GROUP]);
  await must('useradd', ['-M', '-N', '-s', '/usr/sbin/nologin', OWNER]);
  await must('useradd', ['-M', '-N', '-s', '/usr/sbin/nologin', '-G', GROUP, ADMIN]);
  lab = the.lab();
  const host = lab.netns('h');
  ns1 = lab.adopt(lab.name('g1'));
  ns2 = lab.adopt(lab.name('g2'));
  d = the.daemon({ netns: host, args: ['--admin-group', GROUP] });
  await d.start();
  chmodSync(d.dir, 0o711); // the test's private directory: let the users reach the sockets (not list it)
  d.commands([
    'DEFINE VSWITCH SW1 RDEV NONE',
    `DEFINE GUEST G1 NETNS ${ns1} OWNER ${OWNER}`,
    `DEFINE GUEST G2 NETNS ${ns2} OWNER root`,
    'DEFINE NIC 0700 FOR G2',
  ]);
});

after(async () => {
  await tryTo('userdel', [OWNER]);
  await tryTo('userdel', [ADMIN]);
  await tryTo('groupdel', [GROUP]);
});

test('the sockets are 0666 (SO_PEERCRED decides), the state directory 0700, its journal 0600', () => {
  assert.equal(statSync(d.socket).mode & 0o777, 0o666);
  assert.equal(statSync(`${d.socket}.trace`).mode & 0o777, 0o666);
  assert.equal(statSync(d.stateDir).mode & 0o777, 0o700);
  assert.equal(statSync(join(d.stateDir, 'journal.jsonl')).mode & 0o777, 0o600);
});

test('a guest\'s OWNER is refused the system\'s commands, with VSW0003E and exit 1, and nothing changes', () => {
  refused(OWNER, 'DEFINE VSWITCH SW9 RDEV NONE', /DEFINE VSWITCH is a class B command .* is neither/);
  refused(OWNER, 'SET VSWITCH SW1 CONTROLLER *', /SET VSWITCH is a class B command/);
  refused(OWNER, 'SET VSWITCH SW1 UPLINK DISCONNECT', /SET VSWITCH is a class B command/);
  refused(OWNER, 'SET VSWITCH SW1 GRANT G1', /SET VSWITCH is a class B command/);
  refused(OWNER, 'SET VSWITCH SW1 REVOKE G1', /SET VSWITCH is a class B command/);
  refused(OWNER, `DEFINE GUEST G3 NETNS ${ns1}x OWNER ${OWNER}`, /DEFINE GUEST is a class B command/);
  refused(OWNER, 'DETACH GUEST G1', /DETACH GUEST is a class B command/);
  refused(OWNER, 'DETACH VSWITCH SW1', /DETACH VSWITCH is a class B command/);
  refused(OWNER, 'QUERY CONTROLLER', /class B/);
  refused(OWNER, 'QUERY VSWITCH ALL', /QUERY VSWITCH ALL is for the system administrator/);
  refused(OWNER, 'QUERY GUEST ALL', /QUERY GUEST ALL is for the system administrator/);
  const sw = d.json('QUERY', 'VSWITCH', 'ALL');
  assert.deepEqual(JSON.stringify(sw).includes('SW9'), false, 'no SW9 was made');
  assert.ok(d.cli('QUERY', 'GUEST', 'G1').stdout.includes(`OWNER ${OWNER}`));
  assert.equal(d.cli('QUERY', 'GUEST', 'G3').code, 1, 'no G3 was made');
});

test('another guest\'s NIC is refused, whether or not the guest exists (the same words), and nothing changes', () => {
  refused(OWNER, 'DEFINE NIC 0600 FOR G2', new RegExp(`uid \\d+ \\(${OWNER}\\) is not the OWNER of GUEST G2`));
  refused(OWNER, 'COUPLE 0700 TO SYSTEM SW1 FOR G2', /is not the OWNER of GUEST G2/);
  refused(OWNER, 'DETACH NIC 0700 FOR G2', /is not the OWNER of GUEST G2/);
  refused(OWNER, 'QUERY NIC ALL FOR G2', /is not the OWNER of GUEST G2/);
  refused(OWNER, 'QUERY GUEST G2', /is not the OWNER of GUEST G2/);
  refused(OWNER, 'DEFINE NIC 0600 FOR NOSUCH', /is not the OWNER of GUEST NOSUCH/);
  const g2 = d.json('QUERY', 'NIC', 'ALL', 'FOR', 'G2');
  assert.deepEqual(g2.nics.map((n: { vdev: string }) => n.vdev), ['0700']);
  assert.equal(g2.nics[0].switch, null);
  // Someone who owns nothing at all may not even ask what the MAC prefix is.
  const nobody = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, '--socket', d.socket, 'QUERY', 'VMLAN']);
  assert.equal(nobody.code, 1, nobody.stderr);
  assert.match(nobody.stderr, /VSW0003E not authorized: uid 65534 \(nobody\) owns no guest/);
});

test('its own guest: DEFINE NIC (the TAP appears in its namespace), COUPLE, QUERY NIC and GUEST, QUERY of its switch; kept across a restart', async () => {
  assert.match(allowed(OWNER, 'DEFINE NIC 0600 FOR G1'), /NIC 0600 is created/);
  await waitFor(() => run('ip', ['-n', ns1, 'link', 'show', 'enc600']).code === 0, 10_000);
  refused(OWNER, 'QUERY VSWITCH SW1', /no guest of .* is granted VSWITCH SW1/);
  d.commands(['SET VSWITCH SW1 GRANT G1']); // the administrator grants; the owner couples
  allowed(OWNER, 'COUPLE 0600 TO SYSTEM SW1 FOR G1');
  assert.match(allowed(OWNER, 'QUERY NIC 0600 DETAILS FOR G1'), /SW1/);
  assert.match(allowed(OWNER, 'QUERY GUEST G1'), new RegExp(`GUEST G1 .*OWNER ${OWNER}`));
  assert.match(allowed(OWNER, 'QUERY VSWITCH SW1'), /SW1/);
  assert.match(allowed(OWNER, 'QUERY VMLAN'), /MACPREFIX/);
  const nic = d.json('QUERY', 'NIC', '0600', 'FOR', 'G1').nics[0];
  assert.equal(nic.switch, 'SW1');
  await d.restart();
  assert.match(allowed(OWNER, 'QUERY GUEST G1'), new RegExp(`OWNER ${OWNER}`));
  allowed(OWNER, 'UNCOUPLE 0600 FOR G1');
  allowed(OWNER, 'DETACH NIC 0600 FOR G1');
  assert.equal(d.json('QUERY', 'NIC', 'ALL', 'FOR', 'G1').nics.length, 0);
});

test('a member of the administrators\' group may do class B', () => {
  allowed(ADMIN, `DEFINE VSWITCH SW2 RDEV ${lab.name('x')}`); // an RDEV that is not there: a warning
  allowed(ADMIN, 'SET VSWITCH SW2 CONTROLLER *');
  assert.match(allowed(ADMIN, 'QUERY VSWITCH ALL'), /SW2/);
  allowed(ADMIN, `DEFINE GUEST G4 QEMU OWNER ${OWNER}`);
  allowed(ADMIN, 'DETACH GUEST G4');
  allowed(ADMIN, 'DETACH VSWITCH SW2');
  assert.equal(d.cli('QUERY', 'VSWITCH', 'SW2').code, 1, 'SW2 is gone');
});

test('a controller registration from an unprivileged user is refused (the controller exits 1); from the administrators\' group it registers', async () => {
  const r = run('setpriv', ['--reuid', OWNER, '--regid', 'users', '--init-groups', VSWITCH_CONTROLLER, '--name', 'FAKECTL', '--socket', d.socket], { timeoutMs: 20_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /registration refused: VSW0003E not authorized: registering as a controller is for the system/);
  assert.doesNotMatch(d.cli('QUERY', 'CONTROLLER', 'ALL').stdout, /FAKECTL/);
  assert.ok(await waitFor(() => /controller registration refused: not authorized/.test(d.stderr), 5000), 'the refusal is logged');

  const ok = spawn('setpriv', ['--reuid', ADMIN, '--regid', 'users', '--init-groups', VSWITCH_CONTROLLER, '--name', 'ADMINCTL', '--socket', d.socket], { stdio: 'ignore' });
  try {
    await waitFor(() => d.cli('QUERY', 'CONTROLLER', 'ADMINCTL').code === 0, 15_000);
    assert.match(d.cli('QUERY', 'CONTROLLER', 'ADMINCTL').stdout, new RegExp(`PID: ${ok.pid}`));
  } finally {
    ok.kill('SIGKILL');
  }
});

/** A listening unix socket at `path` run as `user` (a stand-in for that user's QEMU, -netdev stream,server=on). */
function listenAs(user: string, path: string): ChildProcess {
  const script = `require('net').createServer((c) => c.on('error', () => {})).listen(${JSON.stringify(path)}, () => console.log('listening'))`;
  return spawn('setpriv', ['--reuid', user, '--regid', 'users', '--init-groups', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
}

async function listening(p: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    p.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('listening')) resolve(); });
    p.once('exit', (code) => reject(new Error(`listener exited ${code}`)));
  });
}

test('QEMU need not be root: the OWNER\'s QEMU socket is connected to; another user\'s under the NIC\'s name is refused, and the sticky directory keeps them apart', async () => {
  d.commands([`DEFINE GUEST VM1 QEMU OWNER ${OWNER}`, 'SET VSWITCH SW1 GRANT VM1']);
  allowed(OWNER, 'DEFINE NIC 0600 FOR VM1');
  allowed(OWNER, 'COUPLE 0600 TO SYSTEM SW1 FOR VM1');
  const dir = join(d.dir, 'qemu');
  assert.equal(statSync(dir).mode & 0o7777, 0o3770, 'set-group-id and sticky, nothing for others');
  chownSync(dir, 0, Number(run('getent', ['group', 'users']).stdout.split(':')[2])); // the administrator lets the QEMU users' group make sockets
  const path: string = d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1').nics[0].qemu.paths.qemu;
  const state = (): string => d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1').nics[0].qemu.state;

  const squatter = listenAs(ADMIN, path); // in the group, but not VM1's OWNER
  try {
    await listening(squatter);
    assert.ok(await waitFor(() => /ERROR: .* belongs to uid \d+, not to the guest's OWNER or root/.test(state()), 15_000), state());
  } finally {
    squatter.kill('SIGKILL');
  }
  const rm = run('runuser', ['-u', OWNER, '--', 'rm', '-f', path]);
  assert.notEqual(rm.code, 0, 'the sticky directory: the OWNER cannot remove another user\'s socket');
  rmSync(path); // the administrator can
  const qemu = listenAs(OWNER, path);
  try {
    await listening(qemu);
    assert.ok(await waitFor(() => state().startsWith('CONNECTED'), 40_000), state());
  } finally {
    qemu.kill('SIGKILL');
  }
});

test('a QEMU directory a user made first, where the socket is in a world-writable directory, stops the start (issue 9, item 9)', () => {
  const shared = join(d.dir, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777); // as /tmp
  const r0 = run('runuser', ['-u', OWNER, '--', 'mkdir', '-m', '0777', join(shared, 'qemu')]);
  assert.equal(r0.code, 0, r0.stderr);
  writeFileSync(join(d.dir, 'empty.config'), '* empty\n');
  const host = lab.netns('s');
  const r = run('nsenter', [`--net=/run/netns/${host}`, VSWITCHD, '--socket', join(shared, 'vswitchd.sock'), '--state-dir', join(d.dir, 'state2'),
    '--config', join(d.dir, 'empty.config')], { timeoutMs: 30_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /vswitchd: the QEMU socket directory cannot be trusted: .*\/shared\/qemu is owned by uid \d+, not by the daemon's uid 0; not started/);
  assert.equal(existsSync(join(shared, 'vswitchd.sock')), false, 'it never listened');
});

