/**
 * The switch as the guests' MLD querier (issue 11): an MLDv2 general query (RFC 3810) at startup
 * and, while IPv6 memberships exist, every query interval, from the IGMP querier's one timer
 * (ip-switch.ts): its bytes (link-local EUI-64 source from the uplink's MAC, ff02::1, hop limit
 * 1, Hop-by-Hop Router Alert, type 130, QRV, QQIC, checksum), each NIC in its untagged VLAN,
 * and the guest's answer (an MLDv2 report) taken as a join. Pure, with the recording egress.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpSwitch, QUERY_INTERVAL_MS } from '../../src/forward/ip-switch.js';
import { PortRole } from '../../src/forward/api.js';
import { MLD_QUERY_RESPONSE_MS } from '../../src/forward/ip6-switch.js';
import { checkIcmpv6, checkMld, Icmp6 } from '../../src/wire/icmpv6.js';
import { ipv6UpperLayer, upperOffset, upperProto, formatIpv6 } from '../../src/wire/ipv6.js';
import { readMac } from '../../src/wire/addr.js';
import { RecordingEgress, counters } from './helpers.js';
import { mld2, w6 } from './ip6-frames.js';

const SW = 3;
const A = 0x020000000001, B = 0x020000000002, T = 0x020000000004, U = 0x52540012abcd;
const PA = 1, PB = 2, PT = 4, PU = 9;

function setup(vlans = false) {
  const eg = new RecordingEgress();
  const joins: number[] = [];
  const sw = new IpSwitch(SW, counters(), eg, { joinedGroup6: (p) => { joins.push(p); } });
  if (vlans) sw.setSwitchPolicy({ vlanAware: true, nativeVid: 1, isolation: false });
  sw.addPort(PA, PortRole.Nic, A);
  sw.addPort(PB, PortRole.Nic, B);
  sw.addPort(PU, PortRole.Uplink, U);
  sw.setAddress6(vlans ? 10 : 0, ...w6('fe80::a'), PA, false);
  return { sw, eg, joins };
}
const ipv6Sent = (s: ReturnType<typeof setup>) => s.eg.sent.filter((x) => x.frame[12] === 0x86 && x.frame[13] === 0xdd);

test('MLD querier: the startup query is an MLDv2 general query from the uplink\'s link-local EUI-64 address, to every NIC', () => {
  const s = setup();
  s.sw.tick(0);
  const q = ipv6Sent(s);
  assert.deepEqual(q.map((x) => x.port), [PA, PB]);
  const f = q[0].frame;
  assert.equal(readMac(f, 0), 0x333300000001);
  assert.equal(readMac(f, 6), U);
  assert.equal(formatIpv6(f, 22), 'fe80::5054:ff:fe12:abcd', 'modified EUI-64 of 52:54:00:12:ab:cd');
  assert.equal(formatIpv6(f, 38), 'ff02::1');
  assert.equal(f[21], 1, 'hop limit 1');
  assert.equal(f[20], 0, 'a Hop-by-Hop header first');
  assert.deepEqual([...f.subarray(56, 60)], [5, 2, 0, 0], 'Router Alert: MLD');
  const up = ipv6UpperLayer(f, 14, f.length);
  assert.ok(up >= 0 && upperProto(up) === Icmp6.NextHeader && upperOffset(up) === 62);
  assert.equal(f.length, 14 + 40 + 8 + 28);
  assert.ok(checkIcmpv6(f, 14, 62, f.length), 'checksum');
  assert.ok(checkMld(f, 62, f.length));
  assert.equal(f[62], Icmp6.MldQuery);
  assert.equal(f[66] << 8 | f[67], MLD_QUERY_RESPONSE_MS, 'maximum response code, ms');
  assert.ok(f.subarray(70, 86).every((x) => x === 0), 'general query: multicast address ::');
  assert.equal(f[86] & 7, 2, 'QRV');
  assert.equal(f[87], QUERY_INTERVAL_MS / 1000, 'QQIC');
  assert.equal(f[88] << 8 | f[89], 0, 'no sources');
});

test('MLD querier: while IPv6 memberships exist one MLD query per interval (no IGMP one without IPv4 memberships); none without', () => {
  const s = setup();
  s.sw.tick(0);
  s.eg.clear();
  s.sw.tick(QUERY_INTERVAL_MS * 2);
  assert.equal(s.eg.sent.length, 0, 'no membership, no query');
  const t0 = QUERY_INTERVAL_MS * 2 + 500;
  const r = mld2(A, 'fe80::a', [[4, 'ff05::3']]);
  s.sw.input(PA, r.buf, r.hdr, r.eth, r.end, t0);
  assert.deepEqual(s.joins, [PA]);
  s.eg.clear();
  s.sw.tick(t0 + 1000);
  assert.equal(s.eg.sent.length, 0);
  s.sw.tick(t0 + 1000 + QUERY_INTERVAL_MS);
  assert.deepEqual(s.eg.sent.map((x) => `${x.port} ${x.frame[12] << 8 | x.frame[13]}`), [`${PA} ${0x86dd}`, `${PB} ${0x86dd}`]);
  s.eg.clear();
  s.sw.tick(t0 + 2000 + QUERY_INTERVAL_MS);
  assert.equal(s.eg.sent.length, 0, 'one query per interval');
  // Without an uplink the query comes from the querier MAC 02:fe:00:00:00:<switch>.
  s.sw.removePort(PU);
  s.sw.tick(t0 + 3000 + 2 * QUERY_INTERVAL_MS);
  const q = ipv6Sent(s);
  assert.equal(readMac(q[0].frame, 6), 0x02fe00000000 + SW);
  assert.equal(formatIpv6(q[0].frame, 22), 'fe80::fe:ff:fe00:3');
});

test('MLD querier: on a VLAN-aware switch each NIC gets it in its untagged VLAN; a trunk without one gets none', () => {
  const s = setup(true);
  s.sw.setPortPolicy(PA, { portType: 'ACCESS', pvid: 10, vlans: [], promiscuous: false, macProtect: false });
  s.sw.setPortPolicy(PB, { portType: 'TRUNK', pvid: 1, vlans: [10, 20], promiscuous: false, macProtect: false });
  s.sw.addPort(PT, PortRole.Nic, T);
  s.sw.setPortPolicy(PT, { portType: 'TRUNK', pvid: 0, vlans: [10, 20], promiscuous: false, macProtect: false });
  s.eg.clear();
  s.sw.tick(0);
  assert.deepEqual(ipv6Sent(s).map((x) => `${x.port}/${x.tci}`), ['1/10', '2/1']);
  assert.deepEqual(s.eg.sent.filter((x) => x.frame[12] === 0x08).map((x) => `${x.port}/${x.tci}`), ['1/10', '2/1'], 'the IGMP query the same way');
});
