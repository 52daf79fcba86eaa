/**
 * The cluster's names and its list of shared kinds (src/daemon/cluster/keys.ts): which
 * commands the cluster shares, the definition keys' order, member names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from '../../../src/control/grammar.js';
import { address6Key, addressKey, defKey, defSeq, isShared, memberName, prefixHex } from '../../../src/daemon/cluster/keys.js';

function cmd(text: string) {
  const p = parse(text);
  if (!p.ok) throw new Error(p.error.message);
  return p.cmd;
}

test('shared: the class-B system definitions of the list, as definitions only', () => {
  for (const t of ['DEFINE VSWITCH SW1 RDEV eth1 IP', 'DETACH VSWITCH SW1', 'SET VSWITCH SW1 CONTROLLER *', 'SET VSWITCH SW1 GRANT LINUX1', 'SET VSWITCH SW1 REVOKE LINUX1', 'SET VSWITCH SW1 ISOLATION ON']) assert.equal(isShared(cmd(t)), true, t);
  for (const t of [
    'SET VSWITCH SW1 SWITCHOVER', // an operation on one member's uplink
    'SET VSWITCH SW1 UPLINK DISCONNECT',
    'DEFINE GUEST LINUX1 NETNS n1', // each member's own guests
    'DEFINE NIC 0600 FOR LINUX1',
    'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1',
    'QUERY VSWITCH ALL',
    'VMLAN MACPREFIX 020001', // SYSTEM CONFIG: each member's own
  ]) assert.equal(isShared(cmd(t)), false, t);
});

test('definition keys sort in their order and read back; other keys are not definitions', () => {
  const keys = [1, 2, 10, 999, 1_000_000].map(defKey);
  assert.deepEqual([...keys].sort(), keys);
  assert.deepEqual(keys.map(defSeq), [1, 2, 10, 999, 1_000_000]);
  assert.equal(defSeq('/vswitch/defs/12'), null);
  assert.equal(defSeq('/vswitch/defs-last'), null);
  assert.equal(defSeq('/vswitch/users/LINUX1'), null);
  assert.equal(addressKey('SW1', '10.1.0.5'), '/vswitch/SW1/ip/10.1.0.5');
  assert.equal(address6Key('SW1', '2001:db8::5'), '/vswitch/SW1/ip6/2001:db8::5');
  assert.ok(!address6Key('SW1', '2001:db8::5').startsWith('/vswitch/SW1/ip/'), 'IPv4 and IPv6 keys are released apart (Claims.keep under a prefix)');
});

test("member names are z/VM's system names; MAC prefixes six hex digits", () => {
  assert.equal(memberName('m1'), 'M1');
  assert.equal(memberName('SYS#$@01'), 'SYS#$@01');
  for (const bad of ['', 'TOOLONG12', 'M-1', 'M 1', 'MEMBER/1', 'Mı']) assert.equal(memberName(bad), null, bad);
  assert.equal(prefixHex(0x2a001), '02A001');
});
