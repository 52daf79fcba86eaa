import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import { moveBytes, readI32, readU16, readU32, writeU16, writeU32 } from '../../src/wire/bytes.js';

// An IPv4 source and destination as they stand in a header: 192.168.0.1, 10.0.0.2.
const words = hex('c0a8 0001 0a00 0002');

test('bytes: read big-endian fields; a 32-bit field in both forms', () => {
  assert.equal(readU16(words, 0), 0xc0a8);
  assert.equal(readU16(words, 6), 0x0002);
  assert.equal(readU32(words, 0), 0xc0a80001);
  assert.equal(readI32(words, 0), 0xc0a80001 | 0, 'the signed form of the same bits');
  assert.equal(readI32(words, 0) < 0, true);
  assert.equal(readI32(words, 4), 0x0a000002, 'below 2^31 both forms agree');
  assert.equal(readU32(words, 4), 0x0a000002);
  assert.equal(readI32(hex('ffffffff'), 0), -1);
});

test('bytes: write into a stale buffer, from either form', () => {
  const b = stale(12);
  writeU16(b, 1, 0x1234);
  writeU32(b, 3, 0xc0a80001);
  writeU32(b, 7, 0xc0a80001 | 0);
  assert.equal(toHex(b), 'a5' + '1234' + 'c0a80001' + 'c0a80001' + 'a5');
  writeU32(b, 3, 0);
  assert.equal(toHex(b, 3, 7), '00000000');
});

test('bytes: move bytes within a buffer, overlapping either way, as memmove does', () => {
  const up = hex('000102030405060708');
  moveBytes(up, 0, 2, 5);
  assert.equal(toHex(up), '020304050605060708');
  const down = hex('000102030405060708');
  moveBytes(down, 2, 0, 5);
  assert.equal(toHex(down), '000100010203040708');
  const none = hex('0001');
  moveBytes(none, 0, 1, 0);
  assert.equal(toHex(none), '0001');
});
