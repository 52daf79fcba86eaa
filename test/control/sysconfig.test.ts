/**
 * SYSTEM CONFIG reading: comments, continuations, line numbers of bad statements.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { format } from '../../src/control/grammar.js';
import { readConfig } from '../../src/control/sysconfig.js';

test('statements, comments and continuation lines', () => {
  const r = readConfig([
    '* vswitch SYSTEM CONFIG',
    '/* a block comment',
    '   over two lines */',
    'VMLAN MACPREFIX 02AB00   /* trailing comment */',
    'DEFINE VSWITCH SW1 RDEV eth1,',
    '   IP,',
    '   QUEUESTORAGE 2M',
    '',
    '   * indented comment line',
    'define guest linux1 netns ns1',
    'DEF NIC 600 FOR LINUX1',
    'MODIFY VSWITCH SW1 GRANT LINUX1',
    'COUPLE 600 TO SYSTEM SW1 FOR LINUX1  ',
  ].join('\n'));
  assert.ok(r.ok, r.ok ? '' : `${r.line}: ${r.message}`);
  assert.deepEqual(r.statements.map((s) => [s.line, format(s.cmd)]), [
    [4, 'VMLAN MACPREFIX 02AB00'],
    [5, 'DEFINE VSWITCH SW1 RDEV eth1 IP CONTROLLER * QUEUESTORAGE 2M VLAN UNAWARE PORTTYPE ACCESS'],
    [10, 'DEFINE GUEST LINUX1 NETNS ns1'],
    [11, 'DEFINE NIC 0600 TYPE QDIO FOR LINUX1'],
    [12, 'MODIFY VSWITCH SW1 GRANT LINUX1'],
    [13, 'COUPLE 0600 TO SYSTEM SW1 FOR LINUX1'],
  ]);
});

test('bad statements report their line', () => {
  assert.deepEqual(readConfig('* x\nDEFINE VSWITCH SW1\nDEFINE VSWITCH\n'), { ok: false, line: 3, message: 'missing word: expected switch name' });
  const q = readConfig('\n\nQUERY VSWITCH\n');
  assert.ok(!q.ok && q.line === 3 && /not a SYSTEM CONFIG statement/.test(q.message));
  assert.equal(!q.ok && q.message, 'QUERY VSWITCH is not a SYSTEM CONFIG statement (use DEFINE VSWITCH, DEFINE GUEST, DEFINE NIC, COUPLE, VMLAN or MODIFY VSWITCH)');
  const d = readConfig('DETACH VSWITCH SW1');
  assert.ok(!d.ok && d.line === 1);
  const c = readConfig('DEFINE VSWITCH SW1 RDEV eth1,\n  IP,\n');
  assert.ok(!c.ok && c.line === 1 && /past the end/.test(c.message));
  const u = readConfig('DEFINE VSWITCH SW1\n/* not closed\nDEFINE VSWITCH SW2\n');
  assert.ok(!u.ok && u.line === 2 && /not closed/.test(u.message));
  const w = readConfig('DEFINE VSWITCH SW1,\n  BOGUS\n');
  assert.ok(!w.ok && w.line === 1 && /'BOGUS'/.test(w.message));
  assert.deepEqual(readConfig(''), { ok: true, statements: [], skipped: [] });
});

test("z/VM's record qualifier: a statement for one member only", () => {
  const text = [
    'M1: VMLAN MACPREFIX 020001',
    'm2: VMLAN MACPREFIX 020002',
    'DEFINE VSWITCH SW1 RDEV eth1 IP',
    'M2:DEFINE VSWITCH SW2,',
    '  RDEV eth2',
  ].join('\n');
  const m2 = readConfig(text, 'M2');
  assert.ok(m2.ok);
  const unqualified = readConfig('\nVMLAN MACPREFIX 020002\nDEFINE VSWITCH SW1 RDEV eth1 IP\nDEFINE VSWITCH SW2 RDEV eth2\n');
  assert.ok(unqualified.ok);
  assert.deepEqual(m2.statements.map((s) => [s.line, format(s.cmd)]), unqualified.statements.map((s) => [s.line, format(s.cmd)]));
  assert.deepEqual(m2.skipped, [{ line: 1, member: 'M1' }]);
  // Without a member name every qualified statement is another member's: skipped (and noted by the daemon).
  const none = readConfig(text);
  assert.ok(none.ok);
  assert.deepEqual(none.statements.map((s) => s.line), [3]);
  assert.deepEqual(none.skipped.map((s) => s.member), ['M1', 'M2', 'M2']);
  // A qualified statement is still parsed: a bad one stops the file, whoever it is for.
  const bad = readConfig('M3: DEFINE VSWITCH\n', 'M1');
  assert.ok(!bad.ok && bad.line === 1);
});
