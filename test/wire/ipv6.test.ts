import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stale, toHex } from './hex.js';
import { capturedNs } from './ipv6-fixtures.js';
import {
  checkIpv6, checkIpv6Length, classifyIpv6Addr, emitIpv6Words, formatIpv6, ip6FromHex, ip6Hex, ip6HexOfWords, ip6Words,
  ipv6DstWord, ipv6End, ipv6GroupMac, ipv6SrcWord, ipv6UpperLayer, parseIpv6, solicitedNodeW3, upperIsFragment, upperOffset,
  upperProto, Ipv6Dst, MAX_EXT_HEADERS, Nh,
} from '../../src/wire/ipv6.js';

test('ipv6: the fixed header of a captured NS', () => {
  assert.equal(checkIpv6(capturedNs, 14, capturedNs.length), true);
  assert.equal(checkIpv6Length(capturedNs, 14, capturedNs.length), true);
  assert.equal(ipv6End(capturedNs, 14), capturedNs.length);
  assert.equal(ipv6SrcWord(capturedNs, 14, 0) >>> 0, 0x20010db8);
  assert.equal(ipv6SrcWord(capturedNs, 14, 3), 1);
  assert.equal(ipv6DstWord(capturedNs, 14, 3) >>> 0, 0xff000002);
  const r = ipv6UpperLayer(capturedNs, 14, capturedNs.length);
  assert.equal(upperProto(r), 58);
  assert.equal(upperOffset(r), 54);
  assert.equal(upperIsFragment(r), false);
  assert.equal(classifyIpv6Addr(capturedNs, 38), Ipv6Dst.All);
  assert.equal(checkIpv6(capturedNs, 14, 50), false, 'truncated header');
  assert.equal(checkIpv6Length(capturedNs, 14, capturedNs.length - 1), false, 'payload past the frame');
});

test('ipv6: emitIpv6Words writes every byte of the header', () => {
  const b = stale(40);
  emitIpv6Words(b, 0, 17, 8, 64, 0x20010db8, 0, 0, 1, 0xff020000 | 0, 0, 0, 2);
  assert.equal(toHex(b), '6000000000081140' + '20010db8000000000000000000000001' + 'ff020000000000000000000000000002');
});

/** A packet with the given chain of extension headers (each [type, len bytes]) before UDP. */
function chain(headers: Array<[number, number]>, tail = 8): Uint8Array {
  const total = headers.reduce((n, [, l]) => n + l, 0) + tail;
  const b = new Uint8Array(40 + total);
  b[0] = 0x60; b[4] = total >> 8; b[5] = total & 0xff;
  let p = 40;
  b[6] = headers.length ? headers[0][0] : 17;
  headers.forEach(([type, len], i) => {
    b[p] = i + 1 < headers.length ? headers[i + 1][0] : 17;
    if (type === Nh.Ah) b[p + 1] = len / 4 - 2;
    else if (type !== Nh.Fragment) b[p + 1] = len / 8 - 1;
    p += len;
  });
  return b;
}

test('ipv6: the extension-header walk reaches the upper layer, and refuses a chain past the end', () => {
  const b = chain([[Nh.HopByHop, 8], [Nh.DestOpts, 16], [Nh.Routing, 24], [Nh.Fragment, 8], [Nh.Ah, 12]]);
  const r = ipv6UpperLayer(b, 0, b.length);
  assert.equal(upperProto(r), 17);
  assert.equal(upperOffset(r), 40 + 8 + 16 + 24 + 8 + 12);
  assert.equal(upperIsFragment(r), true);
  // The last header claims more than there is.
  const cut = chain([[Nh.HopByHop, 8], [Nh.DestOpts, 16]], 0);
  assert.equal(ipv6UpperLayer(cut, 0, cut.length - 1), -1);
  // A header that starts at the end.
  assert.equal(ipv6UpperLayer(chain([[Nh.HopByHop, 8]], 0), 0, 48 - 1), -1);
  // Too many headers.
  const long = chain(new Array<[number, number]>(MAX_EXT_HEADERS + 1).fill([Nh.DestOpts, 8]));
  assert.equal(ipv6UpperLayer(long, 0, long.length), -1);
  const ok = chain(new Array<[number, number]>(MAX_EXT_HEADERS).fill([Nh.DestOpts, 8]));
  assert.equal(upperProto(ipv6UpperLayer(ok, 0, ok.length)), 17);
  // A later fragment ends the walk: its payload is no header.
  const later = chain([[Nh.Fragment, 8]]);
  later[40 + 3] = 0x08; // offset 1
  const lr = ipv6UpperLayer(later, 0, later.length);
  assert.equal(upperProto(lr), Nh.Fragment);
  assert.equal(upperIsFragment(lr), true);
});

test('ipv6: the walk on random bytes ends within the packet or says malformed', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 40, maxLength: 200 }), (b) => {
    b[0] = 0x60;
    const r = ipv6UpperLayer(b, 0, b.length);
    if (r !== -1) assert.ok(upperOffset(r) <= b.length && upperOffset(r) >= 40);
  }), { numRuns: 5000 });
});

test('ipv6: text, hex and words', () => {
  const cases: Array<[string, string]> = [
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['fe80::200:ff:fe00:1', 'fe800000000000000200' + '00fffe000001'],
    ['ff02::1:ff00:2', 'ff0200000000000000000001ff000002'],
    ['2001:db8:0:1:1:1:1:1', '20010db8000000010001000100010001'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
  ];
  for (const [t, h] of cases) {
    const a = parseIpv6(t);
    assert.ok(a, t);
    assert.equal(ip6Hex(a), h, t);
    assert.equal(formatIpv6(ip6FromHex(h)!), t === '::ffff:10.0.0.1' ? '::ffff:a00:1' : t);
    const w = ip6Words(a);
    assert.equal(ip6HexOfWords(w[0], w[1], w[2], w[3]), h);
  }
  assert.equal(formatIpv6(parseIpv6('2001:0db8:0000:0000:0001:0000:0000:0001')!), '2001:db8::1:0:0:1');
  for (const bad of ['', ':', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', '::1.2.3.256', 'fe80::1%eth0', '1:2:3:4:5:6:7:8::']) {
    assert.equal(parseIpv6(bad), null, bad);
  }
  assert.equal(ip6FromHex('xyz'), null);
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (a) => {
    assert.deepEqual(parseIpv6(formatIpv6(a)), a);
  }));
});

test('ipv6: solicited-node groups and group MACs', () => {
  assert.equal(solicitedNodeW3(0x12345678) >>> 0, 0xff345678);
  assert.equal(ipv6GroupMac(0xff000002 | 0), 0x3333ff000002);
  const g = new Uint8Array(16); g[0] = 0xff; g[1] = 0x0e;
  assert.equal(classifyIpv6Addr(g, 0), Ipv6Dst.Group);
  g[1] = 0x05;
  assert.equal(classifyIpv6Addr(g, 0), Ipv6Dst.Group);
  g[1] = 0x02;
  assert.equal(classifyIpv6Addr(g, 0), Ipv6Dst.All);
  g[0] = 0x20;
  assert.equal(classifyIpv6Addr(g, 0), Ipv6Dst.Unicast);
});
