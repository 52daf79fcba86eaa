/**
 * 802.1Q tags on frames behind a virtio-net header (src/wire/vlan.ts): byte fixtures both ways,
 * in buffers pre-filled with 0xa5 so stray writes show; csum_start and hdr_len follow the tag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tagFrame, untagFrame, csumStartInTag } from '../../src/wire/vlan.js';

function hex(b: Uint8Array, s = 0, e = b.length): string {
  return Buffer.from(b.subarray(s, e)).toString('hex');
}
function stale(n: number): Uint8Array {
  return new Uint8Array(n).fill(0xa5);
}

// flags NEEDS_CSUM, gso TCPV4, hdr_len 54, gso_size 1448, csum_start 34, csum_offset 16
const vnet = '0101' + '3600' + 'a805' + '2200' + '1000';
const vnetTagged = '0101' + '3a00' + 'a805' + '2600' + '1000';
const macs = '0200000000aa' + '020000000001';
const payload = '0800' + '4500001c';
const untagged = vnet + macs + payload;
const tagged = vnetTagged + macs + '8100' + 'a064' + payload;

test('vlan: tagFrame moves the header and the MACs 4 bytes back, writes the tag, shifts csum_start and hdr_len', () => {
  const b = stale(4 + untagged.length / 2 + 2);
  b.set(Buffer.from(untagged, 'hex'), 4);
  const eth = tagFrame(b, 4, 14, 0xa064);
  assert.equal(eth, 10);
  assert.equal(hex(b, 0, 4 + untagged.length / 2), tagged);
  assert.equal(hex(b, b.length - 2), 'a5a5', 'the frame end stays');
});

test('vlan: untagFrame is the exact inverse', () => {
  const b = stale(tagged.length / 2 + 2);
  b.set(Buffer.from(tagged, 'hex'), 0);
  const eth = untagFrame(b, 0, 10);
  assert.equal(eth, 14);
  assert.equal(hex(b, 4, tagged.length / 2), untagged);
  assert.equal(hex(b, b.length - 2), 'a5a5');
});

test('vlan: without a header (hdr === eth) only the MACs move; no NEEDS_CSUM: csum_start untouched; hdr_len 0 stays 0', () => {
  const plain = macs + payload;
  const b = stale(4 + plain.length / 2);
  b.set(Buffer.from(plain, 'hex'), 4);
  assert.equal(tagFrame(b, 4, 4, 0x0014), 0);
  assert.equal(hex(b), macs + '81000014' + payload);
  assert.equal(untagFrame(b, 0, 0), 4);
  assert.equal(hex(b, 4), plain);
  const h = '0000' + '0000' + '0000' + '2200' + '0000';
  const c = stale(4 + (h + plain).length / 2);
  c.set(Buffer.from(h + plain, 'hex'), 4);
  const e = tagFrame(c, 4, 14, 5);
  assert.equal(hex(c, 0, 10), h, 'csum_start without NEEDS_CSUM and hdr_len 0 as they were');
  untagFrame(c, 0, e);
  assert.equal(hex(c, 4), h + plain);
});

test('vlan: csumStartInTag flags a partial checksum starting inside a tagged header', () => {
  const b = new Uint8Array(Buffer.from(tagged, 'hex'));
  assert.equal(csumStartInTag(b, 0, 10), false, 'csum_start 38');
  b[6] = 17; b[7] = 0;
  assert.equal(csumStartInTag(b, 0, 10), true);
  b[0] = 0;
  assert.equal(csumStartInTag(b, 0, 10), false, 'no NEEDS_CSUM');
  assert.equal(csumStartInTag(b, 10, 10), false, 'no header');
});
