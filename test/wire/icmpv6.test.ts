import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hex, stale, toHex } from './hex.js';
import { capturedNs } from './ipv6-fixtures.js';
import {
  checkIcmpv6, checkMld, checkNdp, emitNa, fillIcmpv6Checksum, llaIsEthernet, llaMacHi, llaMacLo, mld2FirstRecord,
  mld2RecordCount, mld2RecordEnd, mld2RecordGroupWord, mld2RecordSources, mld2RecordType, naFlags, ndpFindOption,
  ndpOptionsOk, ndpTargetWord, rewriteLinkLayerOptions, Icmp6, Ndp, NA_PACKET_LEN,
} from '../../src/wire/icmpv6.js';
import { emitIpv6Words } from '../../src/wire/ipv6.js';

// Captured with tcpdump -xx on a veth (Linux 6.18): 2001:db8::2's answer to capturedNs.
const capturedNa = hex(`
  020000000001 020000000002 86dd 6000
  0000 0020 3aff 20010db8000000000000000000000002 20010db8000000000000000000000001
  8800 8a71 6000 0000 20010db8000000000000000000000002 0201 020000000002`);

const IP = 14, ICMP = 54;

test('icmpv6: the captured NS and NA check, and their options read', () => {
  for (const f of [capturedNs, capturedNa]) {
    assert.equal(checkIcmpv6(f, IP, ICMP, f.length), true);
    assert.equal(checkNdp(f, IP, ICMP, f.length), true);
  }
  const s = ndpFindOption(capturedNs, ICMP, capturedNs.length, Ndp.OptSourceLla);
  assert.equal(s, ICMP + 24);
  assert.equal(llaIsEthernet(capturedNs, s), true);
  assert.equal(llaMacHi(capturedNs, s), 0x020000);
  assert.equal(llaMacLo(capturedNs, s), 0x000001);
  assert.equal(ndpFindOption(capturedNs, ICMP, capturedNs.length, Ndp.OptTargetLla), -1);
  assert.equal(ndpTargetWord(capturedNs, ICMP, 3), 2);
  assert.equal(naFlags(capturedNa, ICMP), Ndp.FlagSolicited | Ndp.FlagOverride);
});

test('icmpv6: a changed byte, a wrong hop limit, a zero-length option, a multicast target are refused', () => {
  const flip = capturedNs.slice(); flip[ICMP + 20] ^= 1;
  assert.equal(checkIcmpv6(flip, IP, ICMP, flip.length), false);
  const hop = capturedNs.slice(); hop[IP + 7] = 64;
  assert.equal(checkNdp(hop, IP, ICMP, hop.length), false);
  const zero = capturedNs.slice(); zero[ICMP + 25] = 0;
  assert.equal(checkNdp(zero, IP, ICMP, zero.length), false);
  const long = capturedNs.slice(); long[ICMP + 25] = 2;
  assert.equal(checkNdp(long, IP, ICMP, long.length), false, 'option past the end');
  const mc = capturedNs.slice(); mc[ICMP + 8] = 0xff;
  assert.equal(checkNdp(mc, IP, ICMP, mc.length), false);
  const code = capturedNs.slice(); code[ICMP + 1] = 1;
  assert.equal(checkNdp(code, IP, ICMP, code.length), false);
  assert.equal(checkNdp(capturedNs, IP, ICMP, ICMP + 23), false, 'shorter than an NS');
  assert.equal(ndpOptionsOk(capturedNs, ICMP + 24, capturedNs.length - 1), false);
  assert.equal(checkIcmpv6(capturedNs, IP, ICMP, ICMP + 3), false);
});

test('icmpv6: rewriting the source link-layer option keeps the checksum right', () => {
  const f = capturedNs.slice();
  assert.equal(rewriteLinkLayerOptions(f, IP, ICMP, f.length, Ndp.OptSourceLla, 0x0affee, 0x123456), 1);
  assert.equal(toHex(f, ICMP + 26, ICMP + 32), '0affee123456');
  assert.equal(checkIcmpv6(f, IP, ICMP, f.length), true);
  assert.equal(rewriteLinkLayerOptions(f, IP, ICMP, f.length, Ndp.OptTargetLla, 1, 2), 0);
  assert.equal(toHex(f, ICMP + 26, ICMP + 32), '0affee123456');
});

test('icmpv6: emitNa writes the answer Linux writes (byte for byte, the capture)', () => {
  const b = stale(14 + NA_PACKET_LEN);
  b.set(capturedNa.subarray(0, 14));
  const end = emitNa(b, IP, 0x20010db8, 0, 0, 2, 0x20010db8, 0, 0, 1, Ndp.FlagSolicited | Ndp.FlagOverride,
    0x20010db8, 0, 0, 2, 0x020000, 0x000002);
  assert.equal(end, b.length);
  assert.equal(toHex(b), toHex(capturedNa));
});

test('icmpv6: MLDv2 report records are walked within the message', () => {
  // One record: CHANGE_TO_EXCLUDE ff05::1:3, no sources; a second that runs past the end.
  const b = new Uint8Array(40 + 8 + 20 + 20);
  emitIpv6Words(b, 0, Icmp6.NextHeader, 48, 1, 0xfe800000 | 0, 0, 0, 1, 0xff020000 | 0, 0, 0, 0x16);
  const m = 40;
  b[m] = Icmp6.Mld2Report; b[m + 7] = 2;
  const r = mld2FirstRecord(m);
  b[r] = 4; b[r + 4] = 0xff; b[r + 5] = 0x05; b[r + 17] = 1; b[r + 19] = 3;
  b[r + 20] = 4; b[r + 23] = 9; // 9 sources: does not fit
  fillIcmpv6Checksum(b, 0, m, b.length);
  assert.equal(checkIcmpv6(b, 0, m, b.length), true);
  assert.equal(checkMld(b, m, b.length), true);
  assert.equal(mld2RecordCount(b, m), 2);
  assert.equal(mld2RecordType(b, r), 4);
  assert.equal(mld2RecordSources(b, r), 0);
  assert.equal(mld2RecordGroupWord(b, r, 0) >>> 0, 0xff050000);
  assert.equal(mld2RecordEnd(b, r, b.length), r + 20);
  assert.equal(mld2RecordEnd(b, r + 20, b.length), -1);
  assert.equal(checkMld(b, m, m + 7), false);
});

test('icmpv6: the checks never throw and never accept options of length 0 (random NDP bytes)', () => {
  fc.assert(fc.property(fc.integer({ min: 133, max: 137 }), fc.uint8Array({ minLength: 0, maxLength: 80 }), (type, body) => {
    const b = new Uint8Array(40 + 4 + body.length);
    emitIpv6Words(b, 0, Icmp6.NextHeader, 4 + body.length, 255, 0xfe800000 | 0, 0, 0, 1, 0xff020000 | 0, 0, 0, 1);
    b[40] = type;
    b.set(body, 44);
    fillIcmpv6Checksum(b, 0, 40, b.length);
    assert.equal(checkIcmpv6(b, 0, 40, b.length), true);
    if (checkNdp(b, 0, 40, b.length)) {
      // Every option walked has a non-zero length within the message.
      for (const t of [1, 2, 3, 4, 5]) {
        const o = ndpFindOption(b, 40, b.length, t);
        if (o >= 0) assert.ok(b[o + 1] > 0 && o + b[o + 1] * 8 <= b.length);
      }
      rewriteLinkLayerOptions(b, 0, 40, b.length, 1, 1, 2);
      assert.equal(checkIcmpv6(b, 0, 40, b.length), true);
    }
  }), { numRuns: 3000 });
});
