/**
 * ensureOwnDir (src/host/own-dir.ts) on the real file system, as root: made with its mode;
 * an old, more open directory of the daemon's own tightened; the set-group-id and sticky bits
 * added; and refused: a symbolic link, a file, a directory of another uid, one writable by
 * others, one in a parent writable by everyone without the sticky bit.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureOwnDir } from '../../src/host/own-dir.js';

const top = mkdtempSync(join(tmpdir(), 'vsw-owndir-'));
after(() => rmSync(top, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(top, `d${n++}`);
const mode = (p: string): number => statSync(p).mode & 0o7777;

test('absent: made with the mode (whatever the umask), parents too', () => {
  const d = join(fresh(), 'state');
  const r = ensureOwnDir(d, 0o700);
  assert.ok(r.ok);
  assert.equal(mode(d), 0o700);
  assert.equal(ensureOwnDir(d, 0o700).ok, true);
  assert.deepEqual(ensureOwnDir(d, 0o700), { ok: true, note: null }, 'nothing to do the second time');
});

test('its own, more readable than the mode: read bits taken away; set-group-id and sticky added', () => {
  const d = fresh();
  mkdirSync(d, { mode: 0o755 });
  chmodSync(d, 0o755);
  const r = ensureOwnDir(d, 0o700);
  assert.ok(r.ok && r.note !== null && /was mode 0755; now 0700/.test(r.note), JSON.stringify(r));
  assert.equal(mode(d), 0o700);
  const q = fresh();
  mkdirSync(q);
  chmodSync(q, 0o2770);
  assert.ok(ensureOwnDir(q, 0o3770).ok);
  assert.equal(mode(q), 0o3770);
});

test('refused: a symbolic link, a file, another uid\'s, writable by others, a parent writable by all without the sticky bit', () => {
  const target = fresh();
  mkdirSync(target, { mode: 0o700 });
  const link = fresh();
  symlinkSync(target, link);
  assert.match(String((ensureOwnDir(link, 0o700) as { error?: string }).error), /is a symbolic link/);
  const file = fresh();
  writeFileSync(file, '');
  assert.match(String((ensureOwnDir(file, 0o700) as { error?: string }).error), /is not a directory/);
  const theirs = fresh();
  mkdirSync(theirs, { mode: 0o700 });
  chownSync(theirs, 65534, 65534);
  assert.match(String((ensureOwnDir(theirs, 0o700) as { error?: string }).error), /is owned by uid 65534, not by the daemon's uid 0/);
  const open = fresh();
  mkdirSync(open);
  chmodSync(open, 0o777);
  assert.match(String((ensureOwnDir(open, 0o3770) as { error?: string }).error), /writable by everyone \(mode 0777\)/);
  assert.equal(mode(open), 0o777, 'a refused directory is left as it is');
  const groupW = fresh();
  mkdirSync(groupW);
  chmodSync(groupW, 0o770);
  assert.match(String((ensureOwnDir(groupW, 0o700) as { error?: string }).error), /writable by its group/);
  const shared = fresh();
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  const inShared = join(shared, 'qemu');
  assert.match(String((ensureOwnDir(inShared, 0o3770) as { error?: string }).error), /writable by everyone without the sticky bit/);
  assert.equal(existsSync(inShared), false, 'nothing made there');
  chmodSync(shared, 0o1777);
  assert.equal(ensureOwnDir(inShared, 0o3770).ok, true, 'with the sticky bit (as /tmp) it is fine');
});
