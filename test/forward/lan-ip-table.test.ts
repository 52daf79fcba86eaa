/**
 * The LAN IP table's open addressing (src/forward/lan-ip-table.ts) against a Map as the model:
 * random sequences of set, clear and clearPort over few distinct keys (so probe runs form,
 * wrap around the end of the array and are shifted back by deletions), then every key's
 * lookup, the size and forEach must agree with the model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LanIpTable } from '../../src/forward/lan-ip-table.js';

type Op = { op: 'set'; ip: number; port: number; local: boolean } | { op: 'clear'; ip: number } | { op: 'clearPort'; port: number };

// Keys: small consecutive numbers, the uint32 extremes, and multiples of 2^16 (same low bits).
const key = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(0xffffffff, 0x80000000, 0x7fffffff),
  fc.integer({ min: 0, max: 40 }).map((x) => (x * 0x10000) >>> 0));
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), ip: key, port: fc.integer({ min: 0, max: 4 }), local: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('clear' as const), ip: key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clearPort' as const), port: fc.integer({ min: 0, max: 4 }) }) },
);

test('lan-ip-table: any sequence of set / clear / clearPort agrees with a Map', () => {
  fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
    const t = new LanIpTable();
    const model = new Map<number, { port: number; local: boolean }>();
    for (const o of ops) {
      if (o.op === 'set') { t.set(o.ip, o.port, o.local); model.set(o.ip, { port: o.port, local: o.local }); }
      else if (o.op === 'clear') assert.equal(t.clear(o.ip), model.delete(o.ip));
      else {
        let n = 0;
        for (const [ip, v] of model) if (v.port === o.port) { model.delete(ip); n++; }
        assert.equal(t.clearPort(o.port), n);
      }
      assert.equal(t.size, model.size);
    }
    for (let x = 0; x <= 40; x++) {
      for (const ip of [x, (x * 0x10000) >>> 0]) {
        const e = t.lookup(ip), m = model.get(ip);
        assert.equal(e === undefined, m === undefined, `lookup ${ip}`);
        if (e && m) { assert.equal(e.ip, ip); assert.equal(e.port, m.port); assert.equal(e.localOnly, m.local); }
      }
    }
    for (const ip of [0xffffffff, 0x80000000, 0x7fffffff]) assert.equal(t.lookup(ip)?.port, model.get(ip)?.port);
    const seen = new Map<number, number>();
    t.forEach((ip, port) => seen.set(ip, port));
    assert.deepEqual([...seen].sort((a, b) => a[0] - b[0]), [...model].map(([ip, v]) => [ip, v.port]).sort((a, b) => a[0] - b[0]));
  }), { numRuns: 300 });
});
