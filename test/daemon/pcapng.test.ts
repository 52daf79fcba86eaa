/** The pcapng blocks of a trace stream (src/daemon/pcapng.ts), against byte fixtures worked out from the format. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PCAPNG_OUTBOUND, enhancedPacket, interfaceDescription, sectionHeader } from '../../src/daemon/pcapng.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fixture = (s: string): string => s.replace(/\s+/g, '');

test('pcapng: section header (little-endian magic, version 1.0, length unknown, shb_userappl)', () => {
  assert.equal(hex(sectionHeader()), fixture(`0a0d0d0a 2c000000 4d3c2b1a 0100 0000 ffffffffffffffff
    0400 0700 76737769746368 00  0000 0000  2c000000`));
});

test('pcapng: interface description (Ethernet, snaplen, if_name padded to 4)', () => {
  assert.equal(hex(interfaceDescription('A 1', 65535)), fixture(`01000000 20000000 0100 0000 ffff0000
    0200 0300 41203100  0000 0000  20000000`));
});

test('pcapng: enhanced packet (64-bit microseconds, data padded, epb_flags direction, comment)', () => {
  const b = enhancedPacket(1, 2 ** 32 + 2, Uint8Array.from([0xaa, 0xbb, 0xcc]), 60, PCAPNG_OUTBOUND, 'x');
  assert.equal(hex(b), fixture(`06000000 38000000 01000000 01000000 02000000 03000000 3c000000 aabbcc00
    0200 0400 02000000  0100 0100 78000000  0000 0000  38000000`));
  const plain = enhancedPacket(0, 5, new Uint8Array(4), 4, 1);
  assert.equal(plain.readUInt32LE(4), plain.length);
  assert.equal(plain.length, 12 + 20 + 4 + 8 + 4, 'no comment option without a comment');
});
