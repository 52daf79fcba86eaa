import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  checkArp, arpOp, arpSha, arpSpa, arpTha, arpTpa, arpReplyInPlace, emitArp, emitArpFrame, setArpShaHL, setArpThaHL,
  Arp, ArpOp,
} from '../../src/wire/arp.js';
import { parseIpv4 } from '../../src/wire/addr.js';

// A real who-has 10.0.0.2 tell 10.0.0.1 from 02:00:00:00:00:01 (tcpdump -xx), padded to 60 bytes.
const request = hex(`
  ffffffffffff 020000000001 0806
  0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002
  000000000000000000000000000000000000`);

test('arp: parse a request', () => {
  assert.equal(checkArp(request, 14, request.length), true);
  assert.equal(arpOp(request, 14), ArpOp.Request);
  assert.equal(arpSha(request, 14), 0x020000000001);
  assert.equal(arpSpa(request, 14), parseIpv4('10.0.0.1'));
  assert.equal(arpTha(request, 14), 0);
  assert.equal(arpTpa(request, 14), parseIpv4('10.0.0.2'));
});

test('arp: check rejects wrong htype, ptype, hlen, plen and short packets', () => {
  for (const [i, v] of [[1, 6], [2, 0x86], [4, 8], [5, 16]] as const) {
    const b = request.slice();
    b[14 + i] = v;
    assert.equal(checkArp(b, 14, b.length), false, `byte ${i}`);
  }
  assert.equal(checkArp(request, 14, 14 + Arp.Len - 1), false);
  assert.equal(checkArp(request, 14, 14 + Arp.Len), true);
  assert.equal(checkArp(request, 14, request.length + 1), false);
});

test('arp: emit a frame equal to the captured bytes, no stale bytes left', () => {
  const b = stale(50);
  const end = emitArpFrame(b, 4, 0xffffffffffff, 0x020000000001, ArpOp.Request, 0x020000000001,
    parseIpv4('10.0.0.1'), 0, parseIpv4('10.0.0.2'));
  assert.equal(end, 4 + 42);
  assert.equal(toHex(b, 4, end), toHex(request, 0, 42));
  assert.equal(toHex(b, 0, 4), 'a5a5a5a5');
  assert.equal(toHex(b, end), 'a5a5a5a5');
});

// The answer to `request` from 02:00:00:00:00:0b, which holds 10.0.0.2: "10.0.0.2 is-at 02:00:00:00:00:0b",
// to the requester; the padding stays.
const reply = hex(`
  020000000001 02000000000b 0806
  0001 0800 06 04 0002 02000000000b 0a000002 020000000001 0a000001
  000000000000000000000000000000000000`);

test('arp: a request answered in place becomes the reply, and no byte outside the frame changes', () => {
  const b = stale(2 + request.length + 2);
  b.set(request, 2);
  arpReplyInPlace(b, 2, 2 + 14, 0x020000, 0x00000b);
  assert.equal(toHex(b, 2, 2 + request.length), toHex(reply));
  assert.equal(toHex(b, 0, 2) + toHex(b, 2 + request.length), 'a5a5' + 'a5a5');
  assert.equal(arpOp(b, 16), ArpOp.Reply);
  assert.equal(arpSha(b, 16), 0x02000000000b);
  assert.equal(arpTha(b, 16), 0x020000000001);
});

test('arp: sender and target MAC setters, from the MAC halves', () => {
  const b = stale(Arp.Len);
  emitArp(b, 0, ArpOp.Request, 1, 2, 3, 4);
  setArpShaHL(b, 0, 0x020000, 0x00000b);
  setArpThaHL(b, 0, 0x020000, 0x000001);
  assert.equal(toHex(b), '0001080006040001' + '02000000000b00000002' + '02000000000100000004');
});
