/**
 * The CP command grammar: abbreviations, case, errors that name the bad word, and properties
 * (random word lists never throw; parse(format(x)) gives x back for every command value).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_QUEUE_BYTES, format, parse, type Command } from '../../src/control/grammar.js';

function ok(text: string): Command {
  const r = parse(text);
  if (!r.ok) assert.fail(`${text}: ${r.error.message}`);
  return r.cmd;
}

function err(text: string): { message: string; word: string | null } {
  const r = parse(text);
  assert.ok(!r.ok, `${text} should not parse`);
  return (r as { ok: false; error: { message: string; word: string | null } }).error;
}

test('z/VM abbreviations and case blindness', () => {
  assert.deepEqual(ok('q vsw sw1 det'), { kind: 'query-vswitch', name: 'SW1', details: true });
  assert.deepEqual(ok('Query VSWITCH'), { kind: 'query-vswitch', name: null, details: false });
  assert.deepEqual(ok('Q VSWITCH ALL DETAILS'), { kind: 'query-vswitch', name: null, details: true });
  assert.deepEqual(ok('Q VSW DET'), { kind: 'query-vswitch', name: null, details: true });
  assert.deepEqual(ok('def vsw sw1 rdev eth1 eth2 ip contr * queuestor 2m'),
    { kind: 'define-vswitch', name: 'SW1', rdevs: ['eth1', 'eth2'], mode: 'IP', controller: '*', queueBytes: 2 << 20 });
  assert.deepEqual(ok('DEFINE VSWITCH SW2 ETH CONTROLLER dtcvsw1 QUEUESTORAGE 512K RDEV NONE'),
    { kind: 'define-vswitch', name: 'SW2', rdevs: [], mode: 'ETHERNET', controller: 'DTCVSW1', queueBytes: 512 * 1024 });
  assert.deepEqual(ok('DEFINE VSWITCH SW3'), { kind: 'define-vswitch', name: 'SW3', rdevs: [], mode: 'IP', controller: '*', queueBytes: DEFAULT_QUEUE_BYTES });
  assert.equal((ok('DEF VSW SW4 QUEUESTOR 4') as { queueBytes: number }).queueBytes, 4 << 20, 'plain n is megabytes');
  assert.deepEqual(ok('det vsw sw1'), { kind: 'detach-vswitch', name: 'SW1' });
  assert.deepEqual(ok('def guest linux1 netns Ns-1'), { kind: 'define-guest', userid: 'LINUX1', netns: 'Ns-1', qemu: null });
  assert.deepEqual(ok('def gue vm1 qemu'), { kind: 'define-guest', userid: 'VM1', netns: null, qemu: 'STREAM' }, 'STREAM is the default');
  assert.deepEqual(ok('def gue vm1 qemu str'), { kind: 'define-guest', userid: 'VM1', netns: null, qemu: 'STREAM' });
  assert.deepEqual(ok('DEFINE GUEST VM2 QEMU DGRAM'), { kind: 'define-guest', userid: 'VM2', netns: null, qemu: 'DGRAM' });
  assert.deepEqual(ok('def guest vm2 qemu dg'), { kind: 'define-guest', userid: 'VM2', netns: null, qemu: 'DGRAM' });
  assert.deepEqual(ok('def nic 600 type qdio for linux1'), { kind: 'define-nic', vdev: 0x600, userid: 'LINUX1' });
  assert.deepEqual(ok('def nic 0600 qdio for linux1'), { kind: 'define-nic', vdev: 0x600, userid: 'LINUX1' });
  assert.deepEqual(ok('DEF NIC 600 FOR LINUX1'), { kind: 'define-nic', vdev: 0x600, userid: 'LINUX1' });
  assert.deepEqual(ok('coup 600 to sys sw1 for linux1'), { kind: 'couple', vdev: 0x600, sw: 'SW1', userid: 'LINUX1' });
  assert.deepEqual(ok('uncoup 600 for linux1'), { kind: 'uncouple', vdev: 0x600, userid: 'LINUX1' });
  assert.deepEqual(ok('det nic 600 for linux1'), { kind: 'detach-nic', vdev: 0x600, userid: 'LINUX1' });
  assert.deepEqual(ok('q nic for linux1'), { kind: 'query-nic', vdev: null, details: false, userid: 'LINUX1' });
  assert.deepEqual(ok('q nic 600 det for linux1'), { kind: 'query-nic', vdev: 0x600, details: true, userid: 'LINUX1' });
  assert.deepEqual(ok('q nic det for linux1'), { kind: 'query-nic', vdev: null, details: true, userid: 'LINUX1' });
  assert.deepEqual(ok('q guest'), { kind: 'query-guest', userid: null });
  assert.deepEqual(ok('q guest linux1'), { kind: 'query-guest', userid: 'LINUX1' });
  assert.deepEqual(ok('vmlan macprefix 02abcd'), { kind: 'vmlan-macprefix', prefix: 0x02abcd });
  assert.deepEqual(ok('  q\tvsw  '), { kind: 'query-vswitch', name: null, details: false });
});

test('abbreviations shorter than the minimum are refused', () => {
  assert.match(err('DE VSWITCH SW1').message, /unexpected word 'DE': expected QUERY \(Q\), DEFINE \(DEF\)/);
  assert.match(err('Q VS').message, /unexpected word 'VS'.*VSWITCH \(VSW\)/);
  assert.match(err('COU 600 TO SYSTEM SW1 FOR X').message, /'COU'/);
  assert.match(err('DEF VSW SW1 QUEUEST 8M').message, /'QUEUEST'.*QUEUESTORAGE \(QUEUESTOR\)/);
  assert.match(err('DEF VSW SW1 CONT *').message, /'CONT'.*CONTROLLER \(CONTR\)/);
  assert.match(err('QUERYX VSW').message, /'QUERYX'/);
});

test('errors name the bad word and what was expected', () => {
  assert.deepEqual(err('DEFINE NIC 600 FOR'), { message: 'missing word: expected user id', word: null });
  assert.equal(err('DEFINE NIC xyz FOR LINUX1').word, 'xyz');
  assert.match(err('DEFINE NIC xyz FOR LINUX1').message, /bad virtual device number 'xyz': expected 1-4 hex digits/);
  assert.match(err('DEFINE NIC FFFE FOR LINUX1').message, /no room for its triplet/);
  assert.match(err('DEFINE NIC 600 TYPE HIPER FOR LINUX1').message, /unexpected word 'HIPER': expected QDIO/);
  assert.match(err('DEFINE VSWITCH TOOLONGNAME').message, /bad switch name 'TOOLONGNAME'/);
  assert.match(err('DEFINE VSWITCH ALL').message, /reserved/);
  assert.match(err('DEFINE VSWITCH SW1 IP ETHERNET').message, /exclusive/);
  assert.match(err('DEFINE VSWITCH SW1 RDEV a b c d').message, /too many RDEVs/);
  assert.match(err('DEFINE VSWITCH SW1 RDEV a a').message, /same interface twice/);
  assert.match(err('DEFINE VSWITCH SW1 RDEV a RDEV b').message, /given twice/);
  assert.match(err('DEFINE VSWITCH SW1 QUEUESTORAGE 1K').message, /out of range/);
  assert.match(err('DEFINE VSWITCH SW1 QUEUESTORAGE 8G').message, /bad QUEUESTORAGE amount '8G'/);
  assert.match(err('DEFINE VSWITCH SW1 RDEV eth/0').message, /bad interface name 'eth\/0'/);
  assert.match(err('DEFINE GUEST X NETNS').message, /missing word: expected a network namespace name/);
  assert.match(err('DEFINE GUEST X NETNS a/b').message, /bad namespace name/);
  assert.match(err('DEFINE GUEST X QEMU TUN').message, /unexpected word 'TUN': expected STREAM \(STR\), DGRAM \(DG\), TAP/);
  assert.match(err('DEFINE GUEST X QEMU S').message, /unexpected word 'S': expected STREAM \(STR\), DGRAM \(DG\), TAP/);
  assert.match(err('DEFINE GUEST X QEMU STREAM DGRAM').message, /unexpected word 'DGRAM': expected end of command/);
  assert.match(err('DEFINE GUEST X NETNS ns1 STREAM').message, /unexpected word 'STREAM': expected end of command/);
  assert.match(err('COUPLE 600 TO SW1 FOR X').message, /unexpected word 'SW1': expected SYSTEM \(SYS\)/);
  assert.match(err('Q VSWITCH SW1 EXTRA').message, /unexpected word 'EXTRA': expected end of command/);
  assert.match(err('VMLAN MACPREFIX 030000').message, /multicast/);
  assert.match(err('').message, /empty command/);
});

test('case folding is ASCII only: Unicode letters that upper-case to ASCII are refused, in keywords and names', () => {
  // 'ı'.toUpperCase() is 'I', 'ſ'.toUpperCase() is 'S', 'ﬁ'.toUpperCase() is 'FI', 'K' (Kelvin) lower-cases to 'k'.
  assert.equal('ı'.toUpperCase(), 'I', 'the trap this guards against');
  assert.match(err('DEFıNE VSWITCH SW1').message, /unexpected word 'DEFıNE': expected QUERY \(Q\), DEFINE \(DEF\)/);
  assert.match(err('DEFINE VSWıTCH SW1').message, /unexpected word 'VSWıTCH'/);
  assert.match(err('Q VSW SW1 DETAıLS').message, /'DETAıLS'/);
  assert.match(err('ſET VSWITCH SW1 SWITCHOVER').message, /'ſET'/);
  assert.match(err('DEFINE VSWITCH SW1 QUEUEſTORAGE 8M').message, /'QUEUEſTORAGE'/);
  assert.match(err('DEFINE GUEST LİNUX1 NETNS n1').message, /bad user id 'LİNUX1'/);
  assert.match(err('DEFINE GUEST lınux1 NETNS n1').message, /bad user id 'lınux1'/);
  assert.match(err('DEFINE VSWITCH ſW1').message, /bad switch name 'ſW1'/);
  assert.match(err('DEFINE VSWITCH SW1 CONTROLLER DTCVſW1').message, /bad controller name/);
  assert.match(err('DEFINE NIC 600 FOR ﬁ').message, /bad user id 'ﬁ'/);
  assert.match(err('DEFINE VSWITCH SW1 QUEUESTORAGE 8\u212A').message, /bad QUEUESTORAGE amount/);
  assert.match(err('DEFINE NIC ６００ FOR LINUX1').message, /bad virtual device number/, 'full-width digits are not hex digits');
  // Only ASCII white space separates words: a no-break space is part of a word.
  assert.match(err('DEFINE\u00a0VSWITCH SW1').message, /unexpected word 'DEFINE\u00a0VSWITCH'/);
  assert.match(err('DEFINE VSWITCH\u2003SW1').message, /unexpected word 'VSWITCH\u2003SW1'/);
  // ASCII case folding itself still works everywhere.
  assert.deepEqual(ok('dEfInE vSwItCh sw1\tcOnTr dtcvsw1\r\n'),
    { kind: 'define-vswitch', name: 'SW1', rdevs: [], mode: 'IP', controller: 'DTCVSW1', queueBytes: DEFAULT_QUEUE_BYTES });
});

// ---- properties ----

const nameArb = fc.stringMatching(/^[A-Z0-9@#$_]{1,8}$/).filter((s) => !['A', 'AL', 'ALL'].includes(s) && !/^DET(A|AI|AIL|AILS)?$/.test(s) && !/^FOR$/.test(s));
const ifArb = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,14}$/)
  .filter((s) => !/^(ip|eth(e|er|ern|erne|ernet)?|rdev|none|contr(o|ol|oll|olle|oller)?|queuestor(a|ag|age)?)$/i.test(s));
const nsArb = fc.stringMatching(/^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]{0,20}$/);
const vdevArb = fc.integer({ min: 0, max: 0xfffd });
const queueArb = fc.oneof(fc.integer({ min: 1, max: 1024 }).map((m) => m << 20), fc.integer({ min: 64, max: 4096 }).map((k) => k * 1024));

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constant('define-vswitch' as const),
    name: nameArb,
    rdevs: fc.uniqueArray(ifArb, { maxLength: 3 }),
    mode: fc.constantFrom('IP' as const, 'ETHERNET' as const),
    controller: fc.oneof(fc.constant('*'), nameArb),
    queueBytes: queueArb,
  }),
  fc.record({ kind: fc.constant('detach-vswitch' as const), name: nameArb }),
  fc.record({ kind: fc.constant('define-guest' as const), userid: nameArb, netns: nsArb, qemu: fc.constant(null) }),
  fc.record({ kind: fc.constant('define-guest' as const), userid: nameArb, netns: fc.constant(null), qemu: fc.constantFrom('STREAM' as const, 'DGRAM' as const) }),
  fc.record({ kind: fc.constant('detach-guest' as const), userid: nameArb }),
  fc.record({ kind: fc.constant('define-nic' as const), vdev: vdevArb, userid: nameArb }),
  fc.record({ kind: fc.constant('detach-nic' as const), vdev: vdevArb, userid: nameArb }),
  fc.record({ kind: fc.constant('couple' as const), vdev: vdevArb, sw: nameArb, userid: nameArb }),
  fc.record({ kind: fc.constant('uncouple' as const), vdev: vdevArb, userid: nameArb }),
  fc.record({ kind: fc.constant('query-vswitch' as const), name: fc.option(nameArb, { nil: null }), details: fc.boolean() }),
  fc.record({ kind: fc.constant('query-nic' as const), vdev: fc.option(vdevArb, { nil: null }), details: fc.boolean(), userid: nameArb }),
  fc.record({ kind: fc.constant('query-guest' as const), userid: fc.option(nameArb, { nil: null }) }),
  fc.constant({ kind: 'query-vmlan' as const }),
  fc.record({ kind: fc.constant('vmlan-macprefix' as const), prefix: fc.integer({ min: 0, max: 0xffffff }).filter((p) => ((p >> 16) & 1) === 0) }),
).map((c) => ({ ...c }) as Command); // plain objects (fc.record makes null-prototype ones)

test('property: parse(format(x)) gives x back', () => {
  fc.assert(fc.property(commandArb, (cmd) => {
    const r = parse(format(cmd));
    assert.ok(r.ok, `${format(cmd)}: ${r.ok ? '' : r.error.message}`);
    assert.deepEqual(r.cmd, cmd);
  }), { numRuns: 2000 });
});

test('property: lower-case, abbreviated and re-spaced words parse to the same command', () => {
  fc.assert(fc.property(commandArb, fc.boolean(), (cmd, lower) => {
    const text = format(cmd)
      .replace(/\bQUERY\b/, 'Q').replace(/\bDEFINE\b/, 'DEF').replace(/\bDETACH\b/, 'DET')
      .replace(/\bVSWITCH\b/, 'VSW').replace(/\bCOUPLE\b/, 'COUP').replace(/\bUNCOUPLE\b/, 'UNCOUP')
      .replace(/\bCONTROLLER\b/, 'CONTR').replace(/\bQUEUESTORAGE\b/, 'QUEUESTOR');
    // User ids and switch names fold to upper case; namespace and interface names keep theirs.
    const words = text.split(' ');
    const keep = new Set<string>([...(cmd.kind === 'define-vswitch' ? cmd.rdevs : []), ...(cmd.kind === 'define-guest' && cmd.netns ? [cmd.netns] : [])]);
    const spaced = words.map((w) => (lower && !keep.has(w) ? w.toLowerCase() : w)).join('  \t ');
    const r = parse(spaced);
    assert.ok(r.ok, `${spaced}: ${r.ok ? '' : r.error.message}`);
    assert.deepEqual(r.cmd, cmd);
  }), { numRuns: 1000 });
});

const vocab = ['Q', 'QUERY', 'DEF', 'DEFINE', 'DET', 'DETACH', 'VSW', 'VSWITCH', 'GUEST', 'NIC', 'COUP', 'UNCOUP', 'TO', 'SYSTEM',
  'FOR', 'RDEV', 'NONE', 'IP', 'ETH', 'CONTR', '*', 'QUEUESTOR', 'DETAILS', 'ALL', 'TYPE', 'QDIO', 'NETNS', 'QEMU', 'STREAM', 'DGRAM', 'VMLAN',
  'MACPREFIX', '600', 'FFFF', 'SW1', 'LINUX1', 'eth0', '8M', '0K', '', '\u0000', '😀', 'x'.repeat(300)];

test('property: random word lists never throw and errors are one line', () => {
  fc.assert(fc.property(fc.array(fc.oneof(fc.constantFrom(...vocab), fc.string(), fc.string({ unit: 'grapheme' })), { maxLength: 12 }), (words) => {
    const r = parse(words.join(' '));
    if (!r.ok) {
      assert.equal(typeof r.error.message, 'string');
      assert.ok(r.error.message.length > 0);
      assert.ok(!r.error.message.includes('\n'), 'one line: words are split on white space, so none carries a newline');
      assert.ok(r.error.message.length < 400, 'long words are clipped in messages');
    } else {
      assert.deepEqual(parse(format(r.cmd)), r, 'whatever parses, re-parses from its canonical form');
    }
  }), { numRuns: 3000 });
});
