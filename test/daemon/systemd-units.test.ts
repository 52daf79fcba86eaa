/**
 * contrib/systemd: `systemd-analyze verify` passes on vswitchd.service and
 * vswitch-controller@.service with their /opt/vswitch paths pointed at this checkout (verify
 * checks that ExecStart's program exists), and finds a broken unit (so a pass means something
 * on a machine whose PID 1 is not systemd). Also the unit's promises the daemon keeps:
 * Type=notify with a watchdog, the runtime and state directories it uses by default.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/daemon.js';
import { run } from '../helpers/netlab.js';

const UNITS = ['vswitchd.service', 'vswitch-controller@.service'];
const dir = mkdtempSync(join(tmpdir(), 'vswunits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function installed(name: string, edit: (text: string) => string = (t) => t): string {
  const text = readFileSync(join(ROOT, 'contrib/systemd', name), 'utf8').replaceAll('/opt/vswitch', ROOT);
  const path = join(dir, name);
  writeFileSync(path, edit(text));
  return path;
}

test('systemd-analyze verify passes on both units', () => {
  const paths = UNITS.map((u) => installed(u));
  for (const p of paths) {
    const r = run('systemd-analyze', ['verify', '--man=no', p]);
    assert.equal(r.code, 0, `${p}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trim(), '', `no warnings for ${p}`);
  }
});

test('systemd-analyze verify finds a broken unit here', () => {
  const bad = installed('vswitchd.service', (t) => t.replace('bin/vswitchd', 'bin/no-such-program').replace('WatchdogSec=', 'WatchdogSecs='));
  const r = run('systemd-analyze', ['verify', '--man=no', bad]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no-such-program is not executable/);
  assert.match(r.stderr, /Unknown key 'WatchdogSecs'/);
});

test('vswitchd.service: Type=notify, a watchdog, and the default paths of vswitchd', () => {
  const t = readFileSync(join(ROOT, 'contrib/systemd/vswitchd.service'), 'utf8');
  for (const line of ['Type=notify', 'NotifyAccess=main', 'RuntimeDirectory=vswitch', 'StateDirectory=vswitch', 'RuntimeDirectoryPreserve=yes']) {
    assert.ok(t.split('\n').includes(line), line);
  }
  assert.match(t, /^WatchdogSec=\d+s$/m);
  const exec = /^ExecStart=(.*)$/m.exec(t)![1].split(' ');
  assert.equal(exec[0], '/opt/vswitch/bin/vswitchd');
  assert.equal(exec[exec.indexOf('--socket') + 1], '/run/vswitch/vswitchd.sock', 'the socket in RuntimeDirectory');
  assert.equal(exec[exec.indexOf('--state-dir') + 1], '/var/lib/vswitch', 'the journal in StateDirectory');
  const ctl = readFileSync(join(ROOT, 'contrib/systemd/vswitch-controller@.service'), 'utf8');
  assert.match(ctl, /^ExecStart=\/opt\/vswitch\/bin\/vswitch-controller --name %i --socket \/run\/vswitch\/vswitchd\.sock$/m);
});
