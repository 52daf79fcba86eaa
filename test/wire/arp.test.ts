import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, toHex, stale } from './hex.js';
import {
  checkArp, arpOp, arpSha, arpSpa, arpTha, arpTpa, emitArp, emitArpFrame, setArpOp, setArpSha, setArpSpa,
  setArpTha, setArpTpa, ARP_OP_REQUEST, ARP_OP_REPLY, ARP_LEN,
} from '../../src/wire/arp.js';
import { parseIpv4 } from '../../src/wire/addr.js';

// A real who-has 10.0.0.2 tell 10.0.0.1 from 02:00:00:00:00:01 (tcpdump -xx), padded to 60 bytes.
const request = hex(`
  ffffffffffff 020000000001 0806
  0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002
  000000000000000000000000000000000000`);

test('arp: parse a request', () => {
  assert.equal(checkArp(request, 14, request.length), true);
  assert.equal(arpOp(request, 14), ARP_OP_REQUEST);
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
  assert.equal(checkArp(request, 14, 14 + ARP_LEN - 1), false);
  assert.equal(checkArp(request, 14, 14 + ARP_LEN), true);
  assert.equal(checkArp(request, 14, request.length + 1), false);
});

test('arp: emit a frame equal to the captured bytes, no stale bytes left', () => {
  const b = stale(50);
  const end = emitArpFrame(b, 4, 0xffffffffffff, 0x020000000001, ARP_OP_REQUEST, 0x020000000001,
    parseIpv4('10.0.0.1'), 0, parseIpv4('10.0.0.2'));
  assert.equal(end, 4 + 42);
  assert.equal(toHex(b, 4, end), toHex(request, 0, 42));
  assert.equal(toHex(b, 0, 4), 'a5a5a5a5');
  assert.equal(toHex(b, end), 'a5a5a5a5');
});

test('arp: setters turn a request into a reply', () => {
  const b = stale(ARP_LEN);
  emitArp(b, 0, ARP_OP_REQUEST, 1, 2, 3, 4);
  setArpOp(b, 0, ARP_OP_REPLY);
  setArpSha(b, 0, 0x02000000000b);
  setArpSpa(b, 0, parseIpv4('10.0.0.2'));
  setArpTha(b, 0, 0x020000000001);
  setArpTpa(b, 0, parseIpv4('10.0.0.1'));
  assert.equal(toHex(b), '0001080006040002' + '02000000000b0a000002' + '0200000000010a000001');
});
