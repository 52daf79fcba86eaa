import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  readMac, readMacHi, readMacLo, writeMac, writeMacHL, macHi, macLo, macFromHalves, formatMac, parseMac,
} from '../../src/wire/addr.js';

const mac = hex('fe0a0b0c0d0f');

test('addr: a MAC read whole and as its two 24-bit halves', () => {
  assert.equal(readMac(mac, 0), 0xfe0a0b0c0d0f);
  assert.equal(readMacHi(mac, 0), 0xfe0a0b);
  assert.equal(readMacLo(mac, 0), 0x0c0d0f);
  assert.equal(macHi(0xfe0a0b0c0d0f), 0xfe0a0b);
  assert.equal(macLo(0xfe0a0b0c0d0f), 0x0c0d0f);
  assert.equal(macFromHalves(0xfe0a0b, 0x0c0d0f), 0xfe0a0b0c0d0f);
  assert.equal(macFromHalves(macHi(0xffffffffffff), macLo(0xffffffffffff)), 0xffffffffffff);
});

test('addr: write a MAC, whole or from its halves, into a stale buffer', () => {
  const b = stale(14);
  writeMac(b, 1, 0xfe0a0b0c0d0f);
  writeMacHL(b, 7, 0x020000, 0x000001);
  assert.equal(toHex(b), 'a5' + 'fe0a0b0c0d0f' + '020000000001' + 'a5');
});

test('addr: MAC text forms', () => {
  assert.equal(parseMac('fe:0a:0b:0c:0d:0f'), 0xfe0a0b0c0d0f);
  assert.equal(formatMac(0xfe0a0b0c0d0f, '-'), 'fe-0a-0b-0c-0d-0f');
  assert.equal(parseMac('fe:0a:0b:0c:0d'), -1);
});
