/**
 * Issue 9, item 16, on the real kernel: DETACH GUEST deletes the namespace the daemon made for
 * the guest (DEFINE GUEST ... NETNS of a namespace that did not exist), also after a daemon
 * crash and restart in between (the mark is on the namespace: its loopback's alias), and
 * leaves alone a namespace that was there before DEFINE GUEST, with what the user put in it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab, run, waitFor } from '../helpers/netlab.js';
import { Daemon } from '../helpers/daemon.js';
import { MADE_NETNS_ALIAS } from '../../src/host/devices.js';

const lab = new NetLab('vn');
let d: Daemon | undefined;

after(async () => {
  try {
    await d?.stop();
  } finally {
    lab.cleanup();
  }
});

const exists = (ns: string): boolean => run('ip', ['netns', 'list']).stdout.split('\n').some((l) => l.split(' ')[0] === ns);
const loAlias = (ns: string): string | undefined => JSON.parse(lab.ip(ns, '-j', 'link', 'show', 'dev', 'lo'))[0].ifalias;

function ok(words: string): string {
  const r = d!.cli(...words.split(' '));
  assert.equal(r.code, 0, `${words}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('DETACH GUEST removes the namespace the daemon made (across a restart), never the user\'s', async () => {
  const host = lab.netns('h');
  const made = lab.adopt(lab.name('m'));
  const users = lab.netns('u');
  lab.ip(users, 'link', 'add', 'keepme', 'type', 'bridge');
  assert.ok(!exists(made));
  d = new Daemon({ netns: host });
  await d.start();
  ok(`DEFINE GUEST MADE NETNS ${made}`);
  ok(`DEFINE GUEST OWN NETNS ${users}`);
  assert.ok(exists(made), 'DEFINE GUEST made the namespace');
  assert.equal(loAlias(made), MADE_NETNS_ALIAS, 'and marked it as made by the daemon');
  assert.equal(loAlias(users), undefined, 'the user\'s namespace is not marked');
  ok('DEFINE NIC 600 FOR MADE');
  ok('DEFINE NIC 600 FOR OWN');
  // A crash and restart in between: the daemon still knows which namespace it made.
  await d.kill9();
  await d.start();
  ok('DETACH NIC 600 FOR MADE');
  ok('DETACH NIC 600 FOR OWN');
  assert.ok(exists(made), 'the namespace stays while its guest exists');
  assert.match(ok('DETACH GUEST MADE'), /GUEST MADE is removed/);
  assert.ok(!exists(made), 'DETACH GUEST deleted the namespace the daemon made');
  assert.ok(await waitFor(() => /the namespace made for it deleted/.test(d!.stderr), 2000), 'logged'); // stderr is read between CLI calls
  ok('DETACH GUEST OWN');
  assert.ok(exists(users), 'the namespace that was there before DEFINE GUEST stays');
  assert.match(lab.ip(users, 'link', 'show', 'keepme'), /keepme/, 'with what the user put in it');
  assert.equal(run('ip', ['-n', users, 'link', 'show', 'enc600']).code === 0, false, 'the TAP is gone from it');
});
