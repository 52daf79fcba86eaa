import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  checkEthernet, ethHeaderFits, ethDstHi, ethDstLo, ethSrcHi, ethSrcLo, ethType, ethIsTagged, ethVlanTci, vlanTci,
  ethPayloadType, ethDstIsGroup, ethDstIsBroadcast, ethSrcIsBad, emitEthernet, emitEthernetVlan, setEthDstHL,
  setEthSrcHL, insertVlanTag, stripVlanTag, Eth, EtherType,
} from '../../src/wire/ethernet.js';

const untagged = hex('ffffffffffff 020000000001 0806' + '00'.repeat(28));
const tagged = hex('0200000000aa 020000000001 8100 a064 0800' + '45'.padEnd(40, '0'));
// The same IPv4 frame without and with an 802.1Q tag (VID 100, PCP 5: TCI 0xa064).
const plain = hex('0200000000aa 020000000001 0800 4500 0014 0000');
const withTag = hex('0200000000aa 020000000001 8100 a064 0800 4500 0014 0000');

test('ethernet: parse untagged header', () => {
  assert.equal(checkEthernet(untagged, 0, untagged.length), 14);
  assert.equal(ethHeaderFits(untagged, 0, untagged.length), true);
  assert.equal(ethDstHi(untagged, 0), 0xffffff);
  assert.equal(ethDstLo(untagged, 0), 0xffffff);
  assert.equal(ethSrcHi(untagged, 0), 0x020000);
  assert.equal(ethSrcLo(untagged, 0), 0x000001);
  assert.equal(ethType(untagged, 0), EtherType.Arp);
  assert.equal(ethPayloadType(untagged, 0), EtherType.Arp);
  assert.equal(ethIsTagged(untagged, 0), false);
  assert.equal(ethVlanTci(untagged, 0), -1);
  assert.equal(ethDstIsGroup(untagged, 0), true);
  assert.equal(ethDstIsBroadcast(untagged, 0), true);
  assert.equal(ethSrcIsBad(untagged, 0), false);
});

test('ethernet: parse 802.1Q tag (VID 100, PCP 5) and report it', () => {
  assert.equal(checkEthernet(tagged, 0, tagged.length), 18);
  assert.equal(ethType(tagged, 0), EtherType.Vlan);
  assert.equal(ethIsTagged(tagged, 0), true);
  assert.equal(ethVlanTci(tagged, 0), 0xa064);
  assert.equal(vlanTci(100, 5), 0xa064);
  assert.equal(ethPayloadType(tagged, 0), EtherType.Ipv4);
  assert.equal(ethDstIsGroup(tagged, 0), false);
  assert.equal(ethDstIsBroadcast(tagged, 0), false);
  assert.equal(ethDstLo(tagged, 0), 0x0000aa);
});

test('ethernet: parse at an offset', () => {
  const b = new Uint8Array(10 + untagged.length);
  b.set(untagged, 10);
  assert.equal(checkEthernet(b, 10, b.length), 14);
  assert.equal(ethSrcLo(b, 10), 1);
});

test('ethernet: check rejects truncated frames', () => {
  assert.equal(checkEthernet(untagged, 0, 13), -1);
  assert.equal(checkEthernet(tagged, 0, 17), -1);
  assert.equal(checkEthernet(untagged, 0, untagged.length + 1), -1);
  assert.equal(checkEthernet(untagged, -1, 20), -1);
  assert.equal(checkEthernet(untagged, NaN, 20), -1);
  assert.equal(ethHeaderFits(untagged, 0, 13), false);
  assert.equal(ethHeaderFits(tagged, 0, 14), true, 'the untagged 14 bytes fit');
  assert.equal(ethHeaderFits(untagged, 0, untagged.length + 1), false);
  assert.equal(ethHeaderFits(untagged, -1, 20), false);
  assert.equal(ethHeaderFits(untagged, NaN, 20), false);
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
  assert.equal(emitEthernet(b, 2, 0xffffffffffff, 0x020000000001, EtherType.Arp), 16);
  assert.equal(toHex(b), 'a5a5' + 'ffffffffffff' + '020000000001' + '0806' + 'a5a5a5a5');
  const t = stale(20);
  assert.equal(emitEthernetVlan(t, 0, 0x0200000000aa, 0x020000000001, 100, 5, EtherType.Ipv4), 18);
  assert.equal(toHex(t, 0, 18), toHex(tagged, 0, 18));
  assert.equal(toHex(t, 18), 'a5a5');
  setEthDstHL(b, 2, 0x0a0b0c, 0x0d0e0f);
  setEthSrcHL(b, 2, 0x010203, 0x040506);
  assert.equal(toHex(b, 2, 14), '0a0b0c0d0e0f010203040506');
  assert.equal(toHex(b, 0, 2) + toHex(b, 16), 'a5a5' + 'a5a5a5a5');
});

test('ethernet: insert an 802.1Q tag in place, into the 4 bytes before the frame', () => {
  const b = stale(4 + plain.length + 2);
  b.set(plain, 4);
  const start = insertVlanTag(b, 4, vlanTci(100, 5));
  assert.equal(start, 0);
  assert.equal(toHex(b, 0, 4 + plain.length), toHex(withTag));
  assert.equal(toHex(b, 4 + plain.length), 'a5a5', 'the frame end stays');
  assert.equal(checkEthernet(b, start, 4 + plain.length), Eth.VlanHeaderLen);
  assert.equal(ethPayloadType(b, start), EtherType.Ipv4);
});

test('ethernet: strip the tag in place; the frame then starts 4 bytes later', () => {
  const b = stale(withTag.length + 2);
  b.set(withTag, 0);
  const start = stripVlanTag(b, 0);
  assert.equal(start, Eth.TagLen);
  assert.equal(toHex(b, start, withTag.length), toHex(plain));
  assert.equal(toHex(b, withTag.length), 'a5a5', 'the frame end stays');
  assert.equal(ethVlanTci(b, start), -1);
});

test('ethernet: insert then strip gives the frame back', () => {
  const b = stale(4 + plain.length);
  b.set(plain, 4);
  const tagStart = insertVlanTag(b, 4, vlanTci(4095, 7) | 0x1000);
  assert.equal(ethVlanTci(b, tagStart), 0xffff, 'the whole TCI, DEI included');
  const start = stripVlanTag(b, tagStart);
  assert.equal(start, 4);
  assert.equal(toHex(b, 4), toHex(plain));
  const t = new Uint8Array(withTag);
  const tci = ethVlanTci(t, 0);
  const back = insertVlanTag(t, stripVlanTag(t, 0), tci);
  assert.equal(back, 0);
  assert.equal(toHex(t), toHex(withTag));
});
