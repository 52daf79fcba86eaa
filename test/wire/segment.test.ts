import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hex, toHex } from './hex.js';
import { segmentTcp, finishChecksum } from '../../src/wire/segment.js';
import { emitVnetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP, VIRTIO_NET_HDR_GSO_ECN } from '../../src/wire/vnet.js';
import { emitEthernet, emitEthernetVlan, EtherType } from '../../src/wire/ethernet.js';
import { emitIpv4, IpProto } from '../../src/wire/ipv4.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { emitTcp, TCP_ACK, TCP_CWR, TCP_FIN, TCP_PSH } from '../../src/wire/tcp.js';
import { emitUdp } from '../../src/wire/udp.js';
import { fold16, pseudoSum4, pseudoSum6, sum16 } from '../../src/wire/checksum.js';
import { parseIpv4 } from '../../src/wire/addr.js';

/** Independent reference checksum over a byte list (RFC 1071, fold every step). */
function ref(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    s += (bytes[i] << 8) | (i + 1 < bytes.length ? bytes[i + 1] : 0);
    s = (s & 0xffff) + (s >>> 16);
  }
  return s;
}
const u16 = (b: Uint8Array, o: number) => b[o] << 8 | b[o + 1];
const u32 = (b: Uint8Array, o: number) => (b[o] << 24 | b[o + 1] << 16 | b[o + 2] << 8 | b[o + 3]) >>> 0;

/** Verify an IPv4 or IPv6 TCP frame (untagged or tagged) with the reference checksum. */
function checkFrame(f: Uint8Array, l2: number, v6: boolean): { seq: number; flags: number; data: Uint8Array; id: number } {
  const ip = l2;
  let tcp: number;
  let tlen: number;
  let pseudo: number[];
  let id = -1;
  if (v6) {
    tcp = ip + 40;
    tlen = u16(f, ip + 4);
    assert.equal(ip + 40 + tlen, f.length, 'ipv6 payload length');
    pseudo = [...f.subarray(ip + 8, ip + 40), tlen >>> 8, tlen & 0xff, 0, 6].map(Number);
    pseudo = [...f.subarray(ip + 8, ip + 40), 0, 0, tlen >>> 8, tlen & 0xff, 0, 0, 0, 6];
  } else {
    const ihl = (f[ip] & 15) * 4;
    tcp = ip + ihl;
    assert.equal(u16(f, ip + 2), f.length - ip, 'ipv4 total length');
    assert.equal(ref([...f.subarray(ip, ip + ihl)]), 0xffff, 'ipv4 header checksum');
    tlen = f.length - tcp;
    pseudo = [...f.subarray(ip + 12, ip + 20), 0, 6, tlen >>> 8, tlen & 0xff];
    id = u16(f, ip + 4);
  }
  assert.equal(ref([...pseudo, ...f.subarray(tcp)]), 0xffff, 'tcp checksum');
  const thl = (f[tcp + 12] >>> 4) * 4;
  return { seq: u32(f, tcp + 4), flags: f[tcp + 13], data: f.slice(tcp + thl), id };
}

interface Built { buf: Uint8Array; hdr: number; eth: number; end: number; payload: Uint8Array }

function superFrame(v6: boolean, dataLen: number, mss: number, flags: number, opts: { vlan?: boolean; ecn?: boolean; tl0?: boolean; seq?: number } = {}): Built {
  const payload = new Uint8Array(dataLen);
  for (let i = 0; i < dataLen; i++) payload[i] = (i * 7 + 3) & 0xff;
  const buf = new Uint8Array(2 + 10 + 18 + 40 + 32 + dataLen).fill(0xa5);
  const hdr = 2;
  const eth = hdr + 10;
  const l3 = opts.vlan
    ? emitEthernetVlan(buf, eth, 0x020000000002, 0x020000000001, 5, 0, v6 ? EtherType.Ipv6 : EtherType.Ipv4)
    : emitEthernet(buf, eth, 0x020000000002, 0x020000000001, v6 ? EtherType.Ipv6 : EtherType.Ipv4);
  let tcp: number;
  const tcpLen = 32 + dataLen;
  if (v6) {
    const s = hex('fd000000000000000000000000000001');
    const d = hex('fd000000000000000000000000000002');
    tcp = emitIpv6(buf, l3, s, d, IpProto.Tcp, tcpLen);
  } else {
    tcp = emitIpv4(buf, l3, parseIpv4('10.1.0.1'), parseIpv4('10.1.0.2'), IpProto.Tcp, tcpLen, 0xfffe);
    if (opts.tl0) { buf[l3 + 2] = 0; buf[l3 + 3] = 0; }
  }
  const p = emitTcp(buf, tcp, 40000, 5201, opts.seq ?? 0xfffff000, 77, flags, 500);
  // 12 bytes of options (NOP NOP timestamp): data offset 8.
  buf[tcp + 12] = 8 << 4;
  buf.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], p);
  buf.set(payload, p + 12);
  const end = p + 12 + dataLen;
  // Linux leaves the pseudo-header sum (folded, not complemented) in the checksum field.
  const ps = v6 ? pseudoSum6(buf, l3, IpProto.Tcp, tcpLen) : pseudoSum4(buf, l3, IpProto.Tcp, tcpLen);
  const f = fold16(ps);
  buf[tcp + 16] = f >>> 8; buf[tcp + 17] = f & 0xff;
  const gso = (v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4) | (opts.ecn ? VIRTIO_NET_HDR_GSO_ECN : 0);
  emitVnetHdr(buf, hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, gso, p + 12 - eth, mss, tcp - eth, 16);
  return { buf, hdr, eth, end, payload };
}

function collect(b: Built): { frames: Uint8Array[]; n: number; scratchHdr: string[] } {
  const frames: Uint8Array[] = [];
  const scratchHdr: string[] = [];
  const n = segmentTcp(b.buf, b.hdr, b.eth, b.end, (s, start, end) => {
    frames.push(s.slice(start, end));
    scratchHdr.push(toHex(s, start - 10, start));
  });
  return { frames, n, scratchHdr };
}

for (const v6 of [false, true]) {
  test(`segment: TCPv${v6 ? 6 : 4} super-frame into MSS-sized frames with correct headers`, () => {
    const b = superFrame(v6, 2500, 1000, TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, { ecn: true });
    const { frames, n, scratchHdr } = collect(b);
    assert.equal(n, 3);
    assert.equal(frames.length, 3);
    const l2 = 14;
    const hl = l2 + (v6 ? 40 : 20) + 32;
    assert.deepEqual(frames.map((f) => f.length), [hl + 1000, hl + 1000, hl + 500]);
    const parts = frames.map((f) => checkFrame(f, l2, v6));
    assert.deepEqual(parts.map((p) => p.seq), [0xfffff000, 0xfffff000 + 1000, (0xfffff000 + 2000) >>> 0]);
    assert.deepEqual(parts.map((p) => p.flags), [TCP_ACK | TCP_CWR, TCP_ACK, TCP_ACK | TCP_PSH | TCP_FIN]);
    if (!v6) assert.deepEqual(parts.map((p) => p.id), [0xfffe, 0xffff, 0]);
    const joined = new Uint8Array(2500);
    let o = 0;
    for (const p of parts) { joined.set(p.data, o); o += p.data.length; }
    assert.deepEqual(joined, b.payload);
    // Headers other than the patched fields are copied: MACs, ports, options.
    for (const f of frames) {
      assert.equal(toHex(f, 0, 14), toHex(b.buf, b.eth, b.eth + 14));
      const tcp = l2 + (v6 ? 40 : 20);
      assert.equal(toHex(f, tcp, tcp + 4), toHex(b.buf, b.eth + tcp, b.eth + tcp + 4));
      assert.equal(toHex(f, tcp + 20, tcp + 32), '0101080a0000000100000002');
    }
    assert.deepEqual(scratchHdr, ['00'.repeat(10), '00'.repeat(10), '00'.repeat(10)]);
  });
}

test('segment: 802.1Q-tagged IPv4 frame and total length 0 (BIG TCP style)', () => {
  const b = superFrame(false, 3000, 1448, TCP_ACK, { vlan: true, tl0: true });
  const { frames, n } = collect(b);
  assert.equal(n, 3);
  const parts = frames.map((f) => checkFrame(f, 18, false));
  assert.deepEqual(parts.map((p) => p.data.length), [1448, 1448, 104]);
});

test('segment: payload that fits one segment gives one frame, exact multiple gives no empty tail', () => {
  assert.equal(collect(superFrame(false, 500, 1000, TCP_ACK)).n, 1);
  const r = collect(superFrame(false, 2000, 1000, TCP_ACK | TCP_FIN));
  assert.equal(r.n, 2);
  assert.deepEqual(r.frames.map((f) => checkFrame(f, 14, false).flags), [TCP_ACK, TCP_ACK | TCP_FIN]);
});

test('segment: unsupported GSO type, gso_size 0, non-TCP, truncated headers give -1 and emit nothing', () => {
  let calls = 0;
  const emit = () => { calls++; };
  const a = superFrame(false, 2500, 1000, TCP_ACK);
  a.buf[a.hdr + 1] = VIRTIO_NET_HDR_GSO_UDP;
  assert.equal(segmentTcp(a.buf, a.hdr, a.eth, a.end, emit), -1);
  const b = superFrame(false, 2500, 0, TCP_ACK);
  assert.equal(segmentTcp(b.buf, b.hdr, b.eth, b.end, emit), -1);
  const c = superFrame(false, 2500, 1000, TCP_ACK);
  c.buf[c.eth + 14 + 9] = IpProto.Udp;
  assert.equal(segmentTcp(c.buf, c.hdr, c.eth, c.end, emit), -1);
  const d = superFrame(true, 2500, 1000, TCP_ACK);
  d.buf[d.hdr + 1] = VIRTIO_NET_HDR_GSO_TCPV4;
  assert.equal(segmentTcp(d.buf, d.hdr, d.eth, d.end, emit), -1, 'TCPV4 on an IPv6 frame');
  const e = superFrame(false, 2500, 1000, TCP_ACK);
  assert.equal(segmentTcp(e.buf, e.hdr, e.eth, e.eth + 40, emit), -1);
  assert.equal(calls, 0);
});

test('segment: never throws on random headers and bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.nat(12), (bytes, hdrLen) => {
    const hdr = 0;
    const eth = Math.min(hdrLen, bytes.length);
    const r = segmentTcp(bytes, hdr, eth, bytes.length, () => {});
    assert.ok(r === -1 || r >= 1);
    finishChecksum(bytes, hdr, eth, bytes.length);
  }));
});

/** UDP 10.0.0.1:1234 -> 10.0.0.2:5678 "hi" with NEEDS_CSUM as a guest hands it over. */
function partialUdp(): { buf: Uint8Array; eth: number; end: number } {
  const buf = new Uint8Array(10 + 14 + 30).fill(0xa5);
  const eth = emitVnetHdr(buf, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 6);
  const ip = emitEthernet(buf, eth, 0x020000000002, 0x020000000001, EtherType.Ipv4);
  const u = emitIpv4(buf, ip, parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2'), IpProto.Udp, 10);
  const p = emitUdp(buf, u, 1234, 5678, 2);
  buf[p] = 0x68; buf[p + 1] = 0x69;
  const f = fold16(pseudoSum4(buf, ip, IpProto.Udp, 10));
  buf[u + 6] = f >>> 8; buf[u + 7] = f & 0xff;
  return { buf, eth, end: p + 2 };
}

test('finishChecksum: completes a partial UDP checksum (known value 0x686e) and clears NEEDS_CSUM', () => {
  const { buf, eth, end } = partialUdp();
  assert.equal(finishChecksum(buf, 0, eth, end), true);
  assert.equal(toHex(buf, eth + 34 + 6, eth + 34 + 8), '686e');
  assert.equal(buf[0], 0);
  // A second call does nothing (flag cleared).
  assert.equal(finishChecksum(buf, 0, eth, end), true);
  assert.equal(toHex(buf, eth + 40, eth + 42), '686e');
});

test('finishChecksum: offsets outside the frame are refused; no header or no flag leaves bytes alone', () => {
  const a = partialUdp();
  a.buf[6] = 200;
  const before = toHex(a.buf);
  assert.equal(finishChecksum(a.buf, 0, a.eth, a.end), false);
  assert.equal(toHex(a.buf), before);
  const b = partialUdp();
  b.buf[0] = 0;
  const bb = toHex(b.buf);
  assert.equal(finishChecksum(b.buf, 0, b.eth, b.end), true);
  assert.equal(toHex(b.buf), bb);
  const c = partialUdp();
  const cc = toHex(c.buf);
  assert.equal(finishChecksum(c.buf, c.eth, c.eth, c.end), true);
  assert.equal(toHex(c.buf), cc);
});

test('segment: GSO_NONE + NEEDS_CSUM finishes the checksum and emits the frame itself', () => {
  const { buf, eth, end } = partialUdp();
  const out: string[] = [];
  assert.equal(segmentTcp(buf, 0, eth, end, (s, a, e) => { out.push(toHex(s, a, e)); }), 1);
  assert.equal(out.length, 1);
  assert.equal(out[0].slice((34 + 6) * 2, (34 + 8) * 2), '686e');
  // No header at all: the frame is emitted untouched.
  const p = partialUdp();
  const seen: string[] = [];
  assert.equal(segmentTcp(p.buf, p.eth, p.eth, p.end, (s, a, e) => { seen.push(toHex(s, a, e)); }), 1);
  assert.equal(seen[0], toHex(p.buf, p.eth, p.end));
});

test('finishChecksum: random TCP payloads verify after completion', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
    const b = superFrame(false, data.length, 0, TCP_ACK);
    b.buf.set(data, b.end - data.length);
    b.buf[b.hdr + 1] = 0;
    assert.equal(finishChecksum(b.buf, b.hdr, b.eth, b.end), true);
    const f = b.buf.slice(b.eth, b.end);
    checkFrame(f, 14, false);
    void sum16;
  }));
});
