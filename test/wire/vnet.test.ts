import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  vnetFlags, vnetGsoType, vnetGsoKind, vnetGsoSize, vnetCsumStart, vnetCsumOffset, emitVnetHdr, emitZeroVnetHdr,
  vnetHasGso, setVnetFlags, VNET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP,
} from '../../src/wire/vnet.js';

// NEEDS_CSUM, TCPV4, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16 (little-endian).
const h = hex('01 01 4200 a805 2200 1000');

test('vnet: constants match linux/virtio_net.h', () => {
  assert.equal(VNET_HDR_LEN, 10);
  assert.equal(VIRTIO_NET_HDR_F_NEEDS_CSUM, 1);
  assert.equal(VIRTIO_NET_HDR_GSO_NONE, 0);
  assert.equal(VIRTIO_NET_HDR_GSO_TCPV4, 1);
  assert.equal(VIRTIO_NET_HDR_GSO_UDP, 3);
  assert.equal(VIRTIO_NET_HDR_GSO_TCPV6, 4);
  assert.equal(VIRTIO_NET_HDR_GSO_ECN, 0x80);
});

test('vnet: parse little-endian fields', () => {
  assert.equal(vnetFlags(h, 0), 1);
  assert.equal(vnetGsoType(h, 0), 1);
  assert.equal(vnetGsoKind(h, 0), VIRTIO_NET_HDR_GSO_TCPV4);
  assert.equal(vnetGsoSize(h, 0), 1448);
  assert.equal(vnetCsumStart(h, 0), 34);
  assert.equal(vnetCsumOffset(h, 0), 16);
  assert.equal(vnetHasGso(h, 0, 10), true);
  assert.equal(vnetHasGso(h, 0, 0), false);
  assert.equal(vnetHasGso(h, -1, 9), false, 'no header before the buffer');
  const e = hex('80 80 0000 0000 0000 0000');
  assert.equal(vnetHasGso(e, 0, 10), false, 'ECN bit alone is not GSO');
  assert.equal(vnetGsoKind(hex('00 84'), 0), VIRTIO_NET_HDR_GSO_TCPV6, 'the kind without the ECN bit');
});

test('vnet: emit into a stale buffer', () => {
  const b = stale(12);
  assert.equal(emitVnetHdr(b, 1, 1, 1, 66, 1448, 34, 16), 11);
  assert.equal(toHex(b), 'a5' + toHex(h) + 'a5');
  emitZeroVnetHdr(b, 1);
  assert.equal(toHex(b), 'a5' + '00'.repeat(10) + 'a5');
  setVnetFlags(b, 1, VIRTIO_NET_HDR_F_NEEDS_CSUM);
  assert.equal(toHex(b), 'a5' + '01' + '00'.repeat(9) + 'a5');
});
