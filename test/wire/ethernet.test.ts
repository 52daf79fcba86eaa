import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  checkEthernet, ethDst, ethSrc, ethType, ethIsTagged, ethVlanId, ethVlanPcp, ethPayloadType,
  ethDstIsGroup, ethDstIsBroadcast, ethSrcIsBad, emitEthernet, emitEthernetVlan, setEthDst, setEthSrc,
  ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_VLAN,
} from '../../src/wire/ethernet.js';

const untagged = hex('ffffffffffff 020000000001 0806' + '00'.repeat(28));
const tagged = hex('0200000000aa 020000000001 8100 a064 0800' + '45'.padEnd(40, '0'));

test('ethernet: parse untagged header', () => {
  assert.equal(checkEthernet(untagged, 0, untagged.length), 14);
  assert.equal(ethDst(untagged, 0), 0xffffffffffff);
  assert.equal(ethSrc(untagged, 0), 0x020000000001);
  assert.equal(ethType(untagged, 0), ETHERTYPE_ARP);
  assert.equal(ethPayloadType(untagged, 0), ETHERTYPE_ARP);
  assert.equal(ethIsTagged(untagged, 0), false);
  assert.equal(ethVlanId(untagged, 0), -1);
  assert.equal(ethDstIsGroup(untagged, 0), true);
  assert.equal(ethDstIsBroadcast(untagged, 0), true);
  assert.equal(ethSrcIsBad(untagged, 0), false);
});

test('ethernet: parse 802.1Q tag (VID 100, PCP 5) and report it', () => {
  assert.equal(checkEthernet(tagged, 0, tagged.length), 18);
  assert.equal(ethType(tagged, 0), ETHERTYPE_VLAN);
  assert.equal(ethIsTagged(tagged, 0), true);
  assert.equal(ethVlanId(tagged, 0), 100);
  assert.equal(ethVlanPcp(tagged, 0), 5);
  assert.equal(ethPayloadType(tagged, 0), ETHERTYPE_IPV4);
  assert.equal(ethDstIsGroup(tagged, 0), false);
  assert.equal(ethDstIsBroadcast(tagged, 0), false);
});

test('ethernet: parse at an offset', () => {
  const b = new Uint8Array(10 + untagged.length);
  b.set(untagged, 10);
  assert.equal(checkEthernet(b, 10, b.length), 14);
  assert.equal(ethSrc(b, 10), 0x020000000001);
});

test('ethernet: check rejects truncated frames', () => {
  assert.equal(checkEthernet(untagged, 0, 13), -1);
  assert.equal(checkEthernet(tagged, 0, 17), -1);
  assert.equal(checkEthernet(untagged, 0, untagged.length + 1), -1);
  assert.equal(checkEthernet(untagged, -1, 20), -1);
});

test('ethernet: bad source detection', () => {
  const b = hex('020000000002 000000000000 0800');
  assert.equal(ethSrcIsBad(b, 0), true);
  const m = hex('020000000002 010000000000 0800');
  assert.equal(ethSrcIsBad(m, 0), true);
  const ok = hex('020000000002 000000000100 0800');
  assert.equal(ethSrcIsBad(ok, 0), false);
});

test('ethernet: emit untagged and tagged into stale buffers', () => {
  const b = stale(20);
  assert.equal(emitEthernet(b, 2, 0xffffffffffff, 0x020000000001, ETHERTYPE_ARP), 16);
  assert.equal(toHex(b), 'a5a5' + 'ffffffffffff' + '020000000001' + '0806' + 'a5a5a5a5');
  const t = stale(20);
  assert.equal(emitEthernetVlan(t, 0, 0x0200000000aa, 0x020000000001, 100, 5, ETHERTYPE_IPV4), 18);
  assert.equal(toHex(t, 0, 18), toHex(tagged, 0, 18));
  assert.equal(toHex(t, 18), 'a5a5');
  setEthDst(b, 2, 0x0a0b0c0d0e0f);
  setEthSrc(b, 2, 0x010203040506);
  assert.equal(toHex(b, 2, 14), '0a0b0c0d0e0f010203040506');
});
