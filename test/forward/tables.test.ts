import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MacTable, LEARN_OK, LEARN_EVICTED, LEARN_REFUSED } from '../../src/forward/mac-table.js';
import { LanIpTable } from '../../src/forward/lan-ip-table.js';

test('mac-table: random learn/forget/flush/expire agrees with a simple model', () => {
  const op = fc.oneof(
    fc.record({ k: fc.constant('learn' as const), mac: fc.integer({ min: 0, max: 40 }), port: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ k: fc.constant('forget' as const), mac: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ k: fc.constant('flush' as const), port: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ k: fc.constant('expire' as const) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
    // Small table, macs spread over the 48-bit space so hashes collide in varied ways.
    const t = new MacTable(64, 50);
    const model = new Map<number, { port: number; used: number }>();
    let now = 0;
    for (const o of ops) {
      now += 1;
      if (o.k === 'learn') {
        const mac = o.mac * 0x10000000001 % 0x1000000000000;
        assert.equal(t.learn(mac, o.port, now), LEARN_OK);
        model.set(mac, { port: o.port, used: now });
      } else if (o.k === 'forget') {
        const mac = o.mac * 0x10000000001 % 0x1000000000000;
        assert.equal(t.forget(mac), model.delete(mac));
      } else if (o.k === 'flush') {
        let n = 0;
        for (const [m, e] of model) if (e.port === o.port) { model.delete(m); n++; }
        assert.equal(t.flushPort(o.port), n);
      } else {
        let n = 0;
        for (const [m, e] of model) if (e.used + 50 <= now) { model.delete(m); n++; }
        assert.equal(t.expire(now), n);
      }
      assert.equal(t.size, model.size);
    }
    for (let m = 0; m <= 40; m++) {
      const mac = m * 0x10000000001 % 0x1000000000000;
      assert.equal(t.lookup(mac), model.get(mac)?.port ?? -1);
    }
    const seen = new Map<number, number>();
    t.forEach((mac, port) => seen.set(mac, port));
    assert.deepEqual(seen, new Map([...model].map(([m, e]) => [m, e.port])));
  }));
});

test('mac-table: 100,000 entries with heavy collisions stay consistent through removals', () => {
  const t = new MacTable(100000, 1e12);
  for (let i = 0; i < 100000; i++) t.learn(0x020000000000 + i * 256, i % 7, i);
  assert.equal(t.size, 100000);
  for (let i = 0; i < 100000; i += 2) assert.equal(t.forget(0x020000000000 + i * 256), true);
  for (let i = 0; i < 100000; i++) assert.equal(t.lookup(0x020000000000 + i * 256), i % 2 ? i % 7 : -1);
  assert.equal(t.learn(0x0200000000ff, 1, 0), LEARN_OK);
});

test('mac-table: size bound, eviction result codes, maxEntries 0', () => {
  const t = new MacTable(2, 1000);
  assert.equal(t.learn(1, 1, 0), LEARN_OK);
  assert.equal(t.learn(2, 1, 1), LEARN_OK);
  assert.equal(t.learn(3, 2, 2), LEARN_EVICTED);
  assert.equal(t.lookup(1), -1);
  assert.equal(t.size, 2);
  const z = new MacTable(0, 1000);
  assert.equal(z.learn(1, 1, 0), LEARN_REFUSED);
  assert.equal(z.lookup(1), -1);
});

test('mac-table: refresh keeps an entry ahead of older ones for eviction (LRU per port)', () => {
  const t = new MacTable(3, 1000);
  t.learn(1, 1, 0);
  t.learn(2, 1, 1);
  t.learn(3, 1, 2);
  t.learn(1, 1, 3); // 1 is now the most recent
  t.learn(4, 1, 4);
  assert.equal(t.lookup(2), -1);
  assert.equal(t.lookup(1), 1);
});

test('lan-ip-table: set, replace, clear, clearPort, entry reuse', () => {
  const t = new LanIpTable();
  t.set(0x0a000001, 1, true);
  t.set(0xc0a80001, 2, false);
  t.set(0xffffffff, 3, false);
  assert.equal(t.lookup(0x0a000001)?.port, 1);
  assert.equal(t.lookup(0x0a000001)?.localOnly, true);
  assert.equal(t.lookup(0xc0a80001)?.ip, 0xc0a80001);
  assert.equal(t.lookup(0xffffffff)?.port, 3);
  t.set(0x0a000001, 4, false);
  assert.equal(t.lookup(0x0a000001)?.port, 4);
  assert.equal(t.size, 3);
  const e = t.lookup(0xc0a80001);
  assert.equal(t.clear(0xc0a80001), true);
  assert.equal(t.clear(0xc0a80001), false);
  assert.equal(t.lookup(0xc0a80001), undefined);
  t.set(0x08080808, 9, false);
  assert.equal(t.lookup(0x08080808), e, 'freed entry reused');
  assert.equal(t.clearPort(4), 1);
  assert.equal(t.size, 2);
  const all: number[] = [];
  t.forEach((ip) => all.push(ip));
  assert.deepEqual(all.sort(), [0x08080808, 0xffffffff].sort());
});

test('lan-ip-table: 100,000 addresses across the whole uint32 range', () => {
  const t = new LanIpTable();
  const ips: number[] = [];
  for (let i = 0; i < 100000; i++) ips.push(Math.imul(i + 1, 0x9e3779b1) >>> 0);
  ips.forEach((a, i) => t.set(a, i % 500, i % 3 === 0));
  assert.equal(t.size, new Set(ips).size);
  ips.forEach((a, i) => {
    const e = t.lookup(a);
    assert.ok(e);
    assert.equal(e.port, i % 500);
  });
  assert.equal(t.lookup(0), undefined);
});
