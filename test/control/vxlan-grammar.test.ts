/**
 * DEFINE VSWITCH ... VXLAN vni [VTEP addr ...] (issue 15): parse, canonical format and back,
 * and the refusals with their reasons (pure: the grammar only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { format, parse, MAX_STATIC_VTEPS, type Command } from '../../src/control/grammar.js';

function ok(text: string): Extract<Command, { kind: 'define-vswitch' }> {
  const r = parse(text);
  if (!r.ok) assert.fail(`${text}: ${r.error.message}`);
  assert.equal(r.cmd.kind, 'define-vswitch');
  return r.cmd as Extract<Command, { kind: 'define-vswitch' }>;
}

function refused(text: string): string {
  const r = parse(text);
  assert.ok(!r.ok, `${text} should not parse`);
  return (r as { ok: false; error: { message: string } }).error.message;
}

test('VXLAN vni and VTEP addresses, in any order among the other operands, abbreviations as z/VM writes them', () => {
  const a = ok('def vsw sw1 vxlan 4242 rdev none ip');
  assert.deepEqual(a.vxlan, { vni: 4242, vteps: [] });
  const b = ok('DEFINE VSWITCH SW1 VTEP 192.168.50.9 10.0.0.7 VXLAN 16777215 IP');
  assert.deepEqual(b.vxlan, { vni: 16777215, vteps: ['192.168.50.9', '10.0.0.7'] });
  // Canonical text and back: the same command.
  assert.match(format(b), / VXLAN 16777215 VTEP 192\.168\.50\.9 10\.0\.0\.7$/);
  assert.deepEqual(ok(format(b)), b);
  // A switch without VXLAN keeps its canonical text (journals written before the overlay read the same).
  const c = ok('DEFINE VSWITCH SW2 RDEV eth1 IP');
  assert.equal(c.vxlan, undefined);
  assert.doesNotMatch(format(c), /VXLAN/);
});

test('bad VXLAN operands are refused with the reason', () => {
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN'), /VNI/);
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN 0'), /bad VNI '0'/);
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN 16777216'), /bad VNI/);
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN 0x10'), /bad VNI/);
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN 5 VXLAN 6'), /given twice/);
  assert.match(refused('DEFINE VSWITCH SW1 VTEP 10.0.0.1'), /needs VXLAN vni/);
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN 5 VTEP'), /remote VTEP address/);
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN 5 VTEP 10.0.0.256'), /bad VTEP/);
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN 5 VTEP 224.0.0.1'), /bad VTEP/);
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN 5 VTEP 127.0.0.1'), /bad VTEP/);
  assert.match(refused('DEFINE VSWITCH SW1 VXLAN 5 VTEP 10.0.0.1 10.0.0.1'), /given twice/);
  const many = Array.from({ length: MAX_STATIC_VTEPS + 1 }, (_, i) => `10.0.1.${i + 1}`).join(' ');
  assert.match(refused(`DEFINE VSWITCH SW1 VXLAN 5 VTEP ${many}`), /too many VTEPs/);
  assert.match(refused('DEFINE VSWITCH SW1 ETHERNET VXLAN 5'), /VXLAN needs an IP-mode switch/);
  assert.match(refused('DEFINE VSWITCH SW1 VLAN 10 VXLAN 5'), /VXLAN needs a VLAN-unaware switch/);
});
