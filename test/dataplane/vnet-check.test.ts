/**
 * The ingress check of virtio-net headers (src/dataplane/vnet-check.ts), on built frames: what
 * a Linux guest's TAP really produces passes (TSO over IPv4 and IPv6, with ECN, tagged, partial
 * checksums of UDP, plain frames), and every lie the kernel or the switch refuses fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_GSO_SEGS, vnetHeaderOk } from '../../src/dataplane/vnet-check.js';
import {
  emitVnetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP,
} from '../../src/wire/vnet.js';
import { emitEthernet, emitEthernetVlan, EtherType } from '../../src/wire/ethernet.js';
import { emitIpv4, IpProto } from '../../src/wire/ipv4.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { emitTcp, TCP_ACK } from '../../src/wire/tcp.js';
import { emitUdp } from '../../src/wire/udp.js';

interface Frame { buf: Uint8Array; hdr: number; eth: number; end: number }

const HDR = 4; // bytes before the header, so offsets are not 0

/** A TCP frame behind a virtio-net header; the header fields are set afterwards by the tests. */
function tcpFrame(v6: boolean, dataLen: number, vlan = false): Frame & { tcp: number } {
  const buf = new Uint8Array(HDR + 10 + 18 + 40 + 20 + dataLen);
  const eth = HDR + 10;
  const type = v6 ? EtherType.Ipv6 : EtherType.Ipv4;
  const ip = vlan ? emitEthernetVlan(buf, eth, 0x020000000002, 0x020000000001, 5, 0, type)
    : emitEthernet(buf, eth, 0x020000000002, 0x020000000001, type);
  const tcp = v6
    ? emitIpv6(buf, ip, new Uint8Array(16).fill(1), new Uint8Array(16).fill(2), IpProto.Tcp, 20 + dataLen)
    : emitIpv4(buf, ip, 0x0a000001, 0x0a000002, IpProto.Tcp, 20 + dataLen);
  emitTcp(buf, tcp, 1000, 80, 1, 1, TCP_ACK, 65535);
  return { buf, hdr: HDR, eth, end: tcp + 20 + dataLen, tcp };
}

/** The header a Linux guest's TAP writes for a TSO frame. */
function tso(f: Frame & { tcp: number }, gsoType: number, gsoSize: number): Frame {
  emitVnetHdr(f.buf, f.hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType, f.tcp + 20 - f.eth, gsoSize, f.tcp - f.eth, 16);
  return f;
}

const ok = (f: Frame): boolean => vnetHeaderOk(f.buf, f.hdr, f.eth, f.end);

test('what a guest really sends passes: TSO v4/v6, ECN, tagged, partial UDP checksum, plain, no header', () => {
  assert.ok(ok(tso(tcpFrame(false, 60000), VIRTIO_NET_HDR_GSO_TCPV4, 1448)));
  assert.ok(ok(tso(tcpFrame(true, 60000), VIRTIO_NET_HDR_GSO_TCPV6, 1428)));
  assert.ok(ok(tso(tcpFrame(false, 30000), VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448)));
  assert.ok(ok(tso(tcpFrame(false, 30000, true), VIRTIO_NET_HDR_GSO_TCPV4, 1448)));
  // GSO without NEEDS_CSUM: the kernel accepts it (the switch recomputes checksums anyway).
  const noCsum = tcpFrame(false, 3000);
  emitVnetHdr(noCsum.buf, noCsum.hdr, 0, VIRTIO_NET_HDR_GSO_TCPV4, 0, 1448, 0, 0);
  assert.ok(ok(noCsum));
  // A frame whose payload fits one segment is not really GSO: fine even with a tiny gso_size.
  assert.ok(ok(tso(tcpFrame(false, 1), VIRTIO_NET_HDR_GSO_TCPV4, 1)));
  // UDP with a partial checksum (NEEDS_CSUM, no GSO), as every offloading guest sends it.
  const u = new Uint8Array(HDR + 10 + 14 + 20 + 8 + 100);
  const ip = emitEthernet(u, HDR + 10, 2, 0x020000000001, EtherType.Ipv4);
  const l4 = emitIpv4(u, ip, 0x0a000001, 0x0a000002, IpProto.Udp, 108);
  emitUdp(u, l4, 53, 53, 108);
  emitVnetHdr(u, HDR, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, l4 - HDR - 10, 6);
  assert.ok(vnetHeaderOk(u, HDR, HDR + 10, u.length));
  // All-zero header, and a port without one (hdr === eth).
  const z = tcpFrame(false, 10);
  assert.ok(ok(z));
  assert.ok(vnetHeaderOk(z.buf, z.eth, z.eth, z.end));
});

test('the attack of issue 9 fails: gso_size 1 with 60,000 bytes of payload (and any frame past MAX_GSO_SEGS)', () => {
  assert.equal(ok(tso(tcpFrame(false, 60000), VIRTIO_NET_HDR_GSO_TCPV4, 1)), false);
  assert.equal(ok(tso(tcpFrame(true, 60000), VIRTIO_NET_HDR_GSO_TCPV6, 100)), false);
  const mss = 200;
  assert.ok(ok(tso(tcpFrame(false, mss * MAX_GSO_SEGS), VIRTIO_NET_HDR_GSO_TCPV4, mss)), 'exactly MAX_GSO_SEGS segments');
  assert.equal(ok(tso(tcpFrame(false, mss * MAX_GSO_SEGS + 1), VIRTIO_NET_HDR_GSO_TCPV4, mss)), false, 'one more');
});

test('gso_type must match the packet, and be one the switch can segment', () => {
  assert.equal(ok(tso(tcpFrame(true, 3000), VIRTIO_NET_HDR_GSO_TCPV4, 1448)), false, 'TCPV4 on IPv6');
  assert.equal(ok(tso(tcpFrame(false, 3000), VIRTIO_NET_HDR_GSO_TCPV6, 1448)), false, 'TCPV6 on IPv4');
  assert.equal(ok(tso(tcpFrame(false, 3000), VIRTIO_NET_HDR_GSO_UDP, 1448)), false, 'UFO');
  assert.equal(ok(tso(tcpFrame(false, 3000), 5 /* UDP_L4 */, 1448)), false, 'USO');
  assert.equal(ok(tso(tcpFrame(false, 3000), VIRTIO_NET_HDR_GSO_ECN, 1448)), false, 'the ECN bit alone');
  assert.equal(ok(tso(tcpFrame(false, 3000), 2, 1448)), false, 'an unknown type');
  const udp = tso(tcpFrame(false, 3000), VIRTIO_NET_HDR_GSO_TCPV4, 1448);
  udp.buf[udp.eth + 14 + 9] = IpProto.Udp;
  assert.equal(ok(udp), false, 'TCPV4 on a UDP packet');
  const arp = tso(tcpFrame(false, 3000), VIRTIO_NET_HDR_GSO_TCPV4, 1448);
  arp.buf[arp.eth + 12] = EtherType.Arp >>> 8; arp.buf[arp.eth + 13] = EtherType.Arp & 0xff;
  assert.equal(ok(arp), false, 'TCPV4 on ARP');
  const frag = tso(tcpFrame(false, 3000), VIRTIO_NET_HDR_GSO_TCPV4, 1448);
  frag.buf[frag.eth + 14 + 6] |= 0x20;
  assert.equal(ok(frag), false, 'TCPV4 on a fragment');
  const zero = tso(tcpFrame(false, 3000), VIRTIO_NET_HDR_GSO_TCPV4, 0);
  assert.equal(ok(zero), false, 'gso_size 0');
  const badIhl = tso(tcpFrame(false, 3000), VIRTIO_NET_HDR_GSO_TCPV4, 1448);
  badIhl.buf[badIhl.eth + 14] = 0x44;
  assert.equal(ok(badIhl), false, 'IPv4 header length 16');
  const badDoff = tso(tcpFrame(false, 3000), VIRTIO_NET_HDR_GSO_TCPV4, 1448);
  badDoff.buf[badDoff.eth + 34 + 12] = 0x40;
  assert.equal(ok(badDoff), false, 'TCP data offset 4');
  const cut = tso(tcpFrame(false, 0), VIRTIO_NET_HDR_GSO_TCPV4, 1448);
  assert.equal(vnetHeaderOk(cut.buf, cut.hdr, cut.eth, cut.end - 1), false, 'TCP header cut short');
});

test('offsets that do not fit the frame fail: hdr_len, csum_start/offset, GSO checksum not at TCP', () => {
  const f = tso(tcpFrame(false, 100), VIRTIO_NET_HDR_GSO_TCPV4, 50);
  const len = f.end - f.eth;
  const set16 = (o: number, v: number): void => { f.buf[f.hdr + o] = v & 0xff; f.buf[f.hdr + o + 1] = v >>> 8; };
  assert.ok(ok(f));
  set16(2, len); assert.ok(ok(f), 'hdr_len = frame length');
  set16(2, len + 1); assert.equal(ok(f), false, 'hdr_len past the frame');
  set16(2, 54);
  set16(6, 35); assert.equal(ok(f), false, 'GSO checksum not starting at the TCP header');
  set16(6, 34); set16(8, 6); assert.equal(ok(f), false, 'GSO checksum field not TCP\'s');
  // Without GSO, csum_start/offset only have to fit.
  f.buf[f.hdr + 1] = 0;
  set16(6, len - 2); set16(8, 0); assert.ok(ok(f), 'field in the last two bytes');
  set16(6, len - 1); assert.equal(ok(f), false, 'field past the end');
  set16(6, 34); set16(8, 0xffff); assert.equal(ok(f), false, 'offset past the end');
  f.buf[f.hdr] = 0; assert.ok(ok(f), 'no NEEDS_CSUM: the offsets mean nothing');
});

test('property: never throws, reads nothing outside the frame, and what passes is bounded work', () => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 10, maxLength: 200 }), fc.nat(300), fc.boolean(),
    (bytes, extra, gso) => {
      // Random bytes behind a random header; the frame sits in a larger buffer of 0xa5 traps.
      const buf = new Uint8Array(bytes.length + 64 + extra).fill(0xa5);
      buf.set(bytes, 32);
      if (gso) buf[33] = VIRTIO_NET_HDR_GSO_TCPV4;
      const hdr = 32, eth = 42, end = 32 + bytes.length;
      const r = vnetHeaderOk(buf, hdr, eth, end);
      if (r) {
        const gsoSize = buf[hdr + 4] | buf[hdr + 5] << 8;
        if ((buf[hdr + 1] & 0x7f) !== 0) assert.ok(gsoSize > 0 && (end - eth) <= gsoSize * MAX_GSO_SEGS + 200);
        assert.ok((buf[hdr + 2] | buf[hdr + 3] << 8) <= end - eth);
      }
      // The same bytes with the traps changed give the same answer: nothing outside was read.
      buf.fill(0x00, 0, 32);
      buf.fill(0x00, end);
      assert.equal(vnetHeaderOk(buf, hdr, eth, end), r);
    }), { numRuns: 2000 });
});
