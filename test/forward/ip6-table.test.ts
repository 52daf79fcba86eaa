import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Ip6Table } from '../../src/forward/ip6-table.js';

const key = (v: number, w: number[]) => `${v}/${w.join(',')}`;

test('ip6 table: inserts, finds and removes like a Map (random operations, backward-shift deletion)', () => {
  const word = fc.constantFrom(0, 1, -1, 0x20010db8 | 0, 0xfe800000 | 0, 7);
  const op = fc.tuple(fc.boolean(), fc.constantFrom(0, 10), fc.tuple(word, word, word, fc.integer({ min: 0, max: 40 })), fc.integer());
  fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
    const t = new Ip6Table(1000, true, 16);
    const m = new Map<string, number>();
    for (const [add, vid, w, v] of ops) {
      if (add) {
        const s = t.insert(vid, w[0], w[1], w[2], w[3]);
        t.a[s] = v; // t.a read after the insert (which may grow it)
        m.set(key(vid, w), v);
      } else {
        assert.equal(t.delete(vid, w[0], w[1], w[2], w[3]), m.delete(key(vid, w)));
      }
      assert.equal(t.size, m.size);
    }
    for (const [k, v] of m) {
      const [vid, ws] = k.split('/');
      const w = ws.split(',').map(Number);
      const s = t.find(Number(vid), w[0], w[1], w[2], w[3]);
      assert.ok(s >= 0, k);
      assert.equal(t.a[s], v);
    }
    let seen = 0;
    t.sweep(() => { seen++; return false; });
    assert.equal(seen, m.size);
  }), { numRuns: 500 });
});

test('ip6 table: 100,000 addresses, each found; the VLAN id is part of the key; a growable table stops at max', () => {
  const t = new Ip6Table(200_000, true);
  for (let i = 0; i < 100_000; i++) {
    const slot = t.insert(0, 0x20010db8 | 0, 0, i >>> 16, i); // before reading t.a: an insert may grow the arrays
    t.a[slot] = i;
  }
  for (let i = 0; i < 100_000; i++) assert.equal(t.a[t.find(0, 0x20010db8 | 0, 0, i >>> 16, i)], i);
  assert.equal(t.find(5, 0x20010db8 | 0, 0, 0, 1), -1);
  const small = new Ip6Table(2, true);
  small.insert(0, 0, 0, 0, 1);
  small.insert(0, 0, 0, 0, 2);
  assert.equal(small.insert(0, 0, 0, 0, 3), -1);
  assert.equal(small.size, 2);
});

test('ip6 table: a full fixed table evicts the oldest entry near the key, and never grows', () => {
  const t = new Ip6Table(64, false);
  for (let i = 0; i < 64; i++) {
    const slot = t.insert(0, 0, 0, 0, i);
    t.t[slot] = 100 + i;
  }
  let evicted = 0;
  for (let i = 64; i < 1064; i++) {
    const slot = t.insert(0, 0, 0, 0, i);
    t.t[slot] = 1000 + i;
    assert.equal(t.size, 64);
    assert.ok(t.find(0, 0, 0, 0, i) >= 0, 'the new entry is in');
  }
  for (let i = 0; i < 64; i++) if (t.find(0, 0, 0, 0, i) < 0) evicted++;
  assert.equal(evicted, 64, 'the old entries went first');
  const young = [...Array(1064).keys()].filter((i) => i >= 1000 && t.find(0, 0, 0, 0, i) >= 0).length;
  assert.equal(t.sweep((s) => t.t[s] < 2000), 64 - young);
  assert.equal(t.size, young);
});
