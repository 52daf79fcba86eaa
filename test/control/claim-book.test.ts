/**
 * The claim book (src/control/claim-book.ts) on a real state directory: the order of address
 * claims survives a restart, whichever claim the watcher reports first; seeds not claimed again
 * within the grace are dropped; an unreadable book is set aside and read as none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ClaimBook, CLAIM_BOOK_FILE, CLAIM_SEED_GRACE_MS } from '../../src/control/claim-book.js';
import type { ControlPlane } from '../../src/control/controlplane.js';
import { State } from '../../src/control/state.js';
import { controlPlane } from '../helpers/control.js';
import { ManualClock } from '../helpers/manual-clock.js';

const log = pino({ level: 'silent' });
const IP = 0x0a000009;

/** A daemon's state as the journal gives it at start: two guests coupled to SW1. */
function boot(dir: string, clock: ManualClock): { cp: ControlPlane; book: ClaimBook } {
  const state = new State();
  const cp = controlPlane(state, { interfaceExists: () => true });
  for (const c of ['DEFINE VSWITCH SW1', 'DEFINE GUEST AAA NETNS na', 'DEFINE GUEST BBB NETNS nb', 'DEFINE NIC 600 FOR AAA', 'DEFINE NIC 600 FOR BBB',
    'SET VSWITCH SW1 GRANT AAA', 'SET VSWITCH SW1 GRANT BBB',
    'COUPLE 600 TO SYSTEM SW1 FOR AAA', 'COUPLE 600 TO SYSTEM SW1 FOR BBB']) assert.ok(cp.execute(c).ok, c);
  return { cp, book: ClaimBook.start(dir, state, clock, log) };
}

function holder(cp: ControlPlane): string | undefined {
  cp.state.recomputeLanIp('SW1', false);
  return cp.state.switches.get('SW1')!.lanIp.get(IP)?.userid;
}

test('the first holder keeps its address across a restart, whichever claim comes first after it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimbook-'));
  try {
    const clock = new ManualClock(0);
    const a = boot(dir, clock);
    a.cp.state.addressEvent('BBB', 0x600, IP, true);
    assert.equal(holder(a.cp), 'BBB');
    a.cp.state.addressEvent('AAA', 0x600, IP, true);
    assert.equal(holder(a.cp), 'BBB', 'the later claim is refused');
    clock.drain();
    const doc = JSON.parse(readFileSync(join(dir, CLAIM_BOOK_FILE), 'utf8'));
    assert.deepEqual(doc.claims.map((c: { userid: string; refused: boolean }) => [c.userid, c.refused]), [['BBB', false], ['AAA', true]]);
    a.book.close();
    // Restart: AAA's address is reported first this time.
    const clock2 = new ManualClock(0);
    const b = boot(dir, clock2);
    b.cp.state.addressEvent('AAA', 0x600, IP, true);
    assert.equal(holder(b.cp), undefined, 'AAA\'s claim was refused before the restart: still refused');
    b.cp.state.addressEvent('BBB', 0x600, IP, true);
    assert.equal(holder(b.cp), 'BBB');
    b.book.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('claims from before the restart not made again within the grace are dropped: they cannot take an address later', () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimbook-'));
  try {
    const clock = new ManualClock(0);
    const a = boot(dir, clock);
    a.cp.state.addressEvent('BBB', 0x600, IP, true);
    clock.drain();
    a.book.close();
    const clock2 = new ManualClock(0);
    const b = boot(dir, clock2);
    clock2.advance(CLAIM_SEED_GRACE_MS); // BBB gave the address up while the daemon was down
    b.cp.state.addressEvent('AAA', 0x600, IP, true);
    b.cp.state.addressEvent('BBB', 0x600, IP, true);
    assert.equal(holder(b.cp), 'AAA', 'AAA claimed it first after the grace');
    clock2.drain();
    const doc = JSON.parse(readFileSync(join(dir, CLAIM_BOOK_FILE), 'utf8'));
    assert.deepEqual(doc.claims.map((c: { userid: string }) => c.userid), ['AAA', 'BBB']);
    b.book.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unreadable claim book is set aside and read as none', () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimbook-'));
  try {
    for (const text of ['{"version":1,"claims":[{"userid":"AAA","vdev":1536,"ip":-1,"serial":0,"refused":false}]}', 'not json', '{"version":9,"claims":[]}',
      '{"version":1,"claims":[{"userid":"AAA","vdev":1536,"ip6":"2001:DB8::1","serial":0,"refused":false}]}',
      '{"version":1,"claims":[{"userid":"AAA","vdev":1536,"ip":1,"ip6":"2001:db8::1","serial":0,"refused":false}]}']) {
      writeFileSync(join(dir, CLAIM_BOOK_FILE), text);
      const { cp, book } = boot(dir, new ManualClock(0));
      assert.ok(existsSync(join(dir, `${CLAIM_BOOK_FILE}.bad`)), text);
      assert.ok(!existsSync(join(dir, CLAIM_BOOK_FILE)));
      assert.deepEqual(cp.state.claimRecords(), []);
      book.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('IPv6 claims are in the book too: the first holder keeps its IPv6 address across a restart; IPv4 and IPv6 claims kept apart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimbook-'));
  const V6 = '2001:db8::9';
  const holder6 = (cp: ControlPlane): string | undefined => {
    cp.state.recomputeLanIp6('SW1', () => false);
    return cp.state.switches.get('SW1')!.lanIp6.get(V6)?.userid;
  };
  try {
    const clock = new ManualClock(0);
    const a = boot(dir, clock);
    a.cp.state.addressEvent6('BBB', 0x600, V6, true);
    a.cp.state.addressEvent('AAA', 0x600, IP, true);
    a.cp.state.addressEvent6('AAA', 0x600, V6, true);
    assert.equal(holder6(a.cp), 'BBB');
    assert.equal(holder(a.cp), 'AAA');
    clock.drain();
    const doc = JSON.parse(readFileSync(join(dir, CLAIM_BOOK_FILE), 'utf8'));
    assert.deepEqual(doc.claims.map((c: { userid: string; ip?: number; ip6?: string; refused: boolean }) => [c.userid, c.ip ?? c.ip6, c.refused]),
      [['BBB', V6, false], ['AAA', IP, false], ['AAA', V6, true]]);
    a.book.close();
    const clock2 = new ManualClock(0);
    const b = boot(dir, clock2);
    b.cp.state.addressEvent6('AAA', 0x600, V6, true);
    assert.equal(holder6(b.cp), undefined, 'AAA\'s IPv6 claim was refused before the restart: still refused');
    b.cp.state.addressEvent6('BBB', 0x600, V6, true);
    assert.equal(holder6(b.cp), 'BBB');
    b.cp.state.addressEvent('BBB', 0x600, IP, true);
    b.cp.state.addressEvent('AAA', 0x600, IP, true);
    assert.equal(holder(b.cp), 'AAA', 'the IPv4 claim kept its own place');
    b.book.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a claim book from before claims were per VLAN (records without `on`) still loads: each record is the NIC\'s claim where it configures the address', () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimbook-'));
  try {
    // Written by the daemon before addresses belonged to a VLAN: BBB claimed first, AAA's claim refused.
    writeFileSync(join(dir, CLAIM_BOOK_FILE), `${JSON.stringify({ version: 1, claims: [
      { userid: 'BBB', vdev: 0x600, ip: IP, serial: 0, refused: false },
      { userid: 'AAA', vdev: 0x600, ip: IP, serial: 1, refused: true },
    ] })}\n`);
    const clock = new ManualClock(0);
    const b = boot(dir, clock);
    assert.ok(existsSync(join(dir, CLAIM_BOOK_FILE)), 'not set aside as unreadable');
    b.cp.state.addressEvent('AAA', 0x600, IP, true);
    assert.equal(holder(b.cp), undefined, 'AAA\'s old refused claim takes its place');
    b.cp.state.addressEvent('BBB', 0x600, IP, true);
    assert.equal(holder(b.cp), 'BBB', 'BBB holds it as before the upgrade');
    clock.drain();
    const doc = JSON.parse(readFileSync(join(dir, CLAIM_BOOK_FILE), 'utf8'));
    assert.deepEqual(doc.claims.map((c: { userid: string; on: number; serial: number }) => [c.userid, c.on, c.serial]), [['BBB', 0, 0], ['AAA', 0, 1]],
      'written again with the interface');
    b.book.close();
    // A bad `on` makes the book unreadable, as any malformed record does.
    writeFileSync(join(dir, CLAIM_BOOK_FILE), `${JSON.stringify({ version: 1, claims: [{ userid: 'BBB', vdev: 0x600, ip: IP, on: 5000, serial: 0, refused: false }] })}\n`);
    const c = boot(dir, new ManualClock(0));
    assert.deepEqual(c.cp.state.claimRecords(), []);
    assert.ok(existsSync(join(dir, `${CLAIM_BOOK_FILE}.bad`)));
    c.book.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
