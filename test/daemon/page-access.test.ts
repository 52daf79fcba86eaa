/**
 * Who is shown the live page (src/daemon/http/page-access.ts, src/sys/tcp-owner.ts): a real
 * vswitchd in its own namespace with the page and /metrics on one loopback port; curl as root
 * and as `nobody` (setpriv), from the daemon's namespace and from another one over a veth.
 * The page is for root and the administrators' group; /metrics for anyone; --http-open and
 * --admin-group change who is admitted, and nothing the client sends does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab } from '../helpers/netlab.js';
import { Daemon } from '../helpers/daemon.js';
import { encodeProcAddress } from '../../src/sys/tcp-owner.js';

const lab = new NetLab('pga');
let hostNs: string;
let otherNs: string;
const PORT = 9470;
const running: Daemon[] = [];

before(() => {
  hostNs = lab.netns('h');
  otherNs = lab.netns('o');
  lab.veth(hostNs, lab.name('a'), otherNs, lab.name('b'));
  lab.ip(hostNs, 'addr', 'add', '10.247.0.1/24', 'dev', lab.name('a'));
  lab.ip(otherNs, 'addr', 'add', '10.247.0.2/24', 'dev', lab.name('b'));
});

after(async () => {
  for (const d of running) await d.stop();
  lab.cleanup();
});

async function daemon(...args: string[]): Promise<Daemon> {
  const d = new Daemon({ netns: hostNs, args });
  running.push(d);
  await d.start();
  return d;
}

/** curl in `ns` as `user` (root: no setpriv): [HTTP status, body]. */
function get(ns: string, user: 'root' | 'nobody', url: string): [number, string] {
  const curl = ['curl', '-s', '-m', '10', '-H', 'X-Remote-User: root', '-w', '\n%{http_code}', url];
  const r = user === 'root' ? lab.exec(ns, curl[0]!, curl.slice(1))
    : lab.exec(ns, 'setpriv', ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', ...curl]);
  const i = r.stdout.lastIndexOf('\n');
  return [Number(r.stdout.slice(i + 1)), r.stdout.slice(0, i)];
}

test('the kernel tables\' address format', () => {
  assert.equal(encodeProcAddress('127.0.0.1'), '0100007F');
  assert.equal(encodeProcAddress('10.247.0.2'), '0200F70A');
  assert.equal(encodeProcAddress('::1'), '00000000000000000000000001000000');
  assert.equal(encodeProcAddress('::ffff:127.0.0.1'), '0000000000000000FFFF00000100007F');
  assert.equal(encodeProcAddress('fe80::1:2'), '000080FE000000000000000002000100');
});

test('the page: root yes, nobody no (with the reason), from afar no; /metrics for anyone', async () => {
  const d = await daemon('--http', `0.0.0.0:${PORT}`, '--metrics', `0.0.0.0:${PORT}`);
  const local = `http://127.0.0.1:${PORT}`;
  for (const path of ['/', '/view.json', '/page.js']) assert.equal(get(hostNs, 'root', local + path)[0], 200, `root gets ${path}`);
  for (const path of ['/', '/view.json', '/events', '/page.js']) {
    const [status, body] = get(hostNs, 'nobody', local + path);
    assert.equal(status, 403, `nobody is refused ${path}`);
    assert.match(body, /shown to root and the members of group vswitch only, not to nobody/);
  }
  assert.doesNotMatch(get(hostNs, 'nobody', `${local}/`)[1], /LAN|vswitch</, 'the refusal shows nothing of the page');
  const [mStatus, mBody] = get(hostNs, 'nobody', `${local}/metrics`);
  assert.equal(mStatus, 200, '/metrics is not guarded');
  assert.match(mBody, /^# HELP /m);
  const [farStatus, farBody] = get(otherNs, 'root', `http://10.247.0.1:${PORT}/view.json`);
  assert.equal(farStatus, 403, 'root of another host (namespace) is not identified');
  assert.match(farBody, /10\.247\.0\.2 is not a local connection.*--http-open/);
  assert.equal(get(otherNs, 'root', `http://10.247.0.1:${PORT}/metrics`)[0], 200);
  await d.stop();
});

test('--admin-group admits its members; --http-open admits anyone', async () => {
  // An IPv6 listener: the peer found over ::1 (tcp6) and over 127.0.0.1 (an IPv4 socket, ::ffff:127.0.0.1 here).
  let d = await daemon('--http', `[::]:${PORT}`, '--admin-group', 'nogroup');
  for (const host of ['127.0.0.1', '[::1]']) {
    assert.equal(get(hostNs, 'nobody', `http://${host}:${PORT}/view.json`)[0], 200, `nobody (over ${host}) is in nogroup, the administrators' group here`);
  }
  await d.stop();
  d = await daemon('--http', `0.0.0.0:${PORT}`, '--http-open');
  assert.equal(get(hostNs, 'nobody', `http://127.0.0.1:${PORT}/view.json`)[0], 200);
  assert.equal(get(otherNs, 'root', `http://10.247.0.1:${PORT}/view.json`)[0], 200);
  assert.match(d.stderr, /--http-open: the live page .* is shown to anyone who can connect/);
  await d.stop();
});
