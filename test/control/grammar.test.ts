/**
 * The CP command grammar: abbreviations, case, errors that name the bad word, and properties
 * (random word lists never throw; parse(format(x)) gives x back for every command value).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_QUEUE_BYTES, format, parse, type Command } from '../../src/control/grammar.js';

/** The layer-2 operands of a DEFINE VSWITCH that gives none: VLAN UNAWARE, PORTTYPE ACCESS, no ISOLATION. */
const L2 = { vlan: null, nativeVid: 0, portType: 'ACCESS' as const, isolation: false };

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
    { kind: 'define-vswitch', name: 'SW1', rdevs: ['eth1', 'eth2'], mode: 'IP', controller: '*', queueBytes: 2 << 20, ...L2 });
  assert.deepEqual(ok('DEFINE VSWITCH SW2 ETH CONTROLLER dtcvsw1 QUEUESTORAGE 512K RDEV NONE'),
    { kind: 'define-vswitch', name: 'SW2', rdevs: [], mode: 'ETHERNET', controller: 'DTCVSW1', queueBytes: 512 * 1024, ...L2 });
  assert.deepEqual(ok('DEFINE VSWITCH SW3'), { kind: 'define-vswitch', name: 'SW3', rdevs: [], mode: 'IP', controller: '*', queueBytes: DEFAULT_QUEUE_BYTES, ...L2 });
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
  assert.match(err('Q VSWITCH SW1 EXTRA').message, /unexpected word 'EXTRA': expected DETAILS \(DET\), ACCESSLIST/);
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
    { kind: 'define-vswitch', name: 'SW1', rdevs: [], mode: 'IP', controller: 'DTCVSW1', queueBytes: DEFAULT_QUEUE_BYTES, ...L2 });
});

// ---- properties ----

const nameArb = fc.stringMatching(/^[A-Z0-9@#$_]{1,8}$/).filter((s) => !['A', 'AL', 'ALL'].includes(s) && !/^DET(A|AI|AIL|AILS)?$/.test(s) && !/^FOR$/.test(s));
const ifArb = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,14}$/)
  .filter((s) => !/^(ip|eth(e|er|ern|erne|ernet)?|rdev|none|contr(o|ol|oll|olle|oller)?|queuestor(a|ag|age)?|vlan|nat(i|iv|ive)?|portt(y|yp|ype)?|isol(a|at|ati|atio|ation)?)$/i.test(s));
const vidArb = fc.integer({ min: 1, max: 4094 });
const vidsetArb = fc.uniqueArray(vidArb, { minLength: 1, maxLength: 6 }).map((a) => a.sort((x, y) => x - y));
const grantArb = fc.record({
  t: fc.constant('grant' as const), userid: nameArb,
  portType: fc.option(fc.constantFrom('ACCESS' as const, 'TRUNK' as const), { nil: undefined }),
  vlans: fc.option(vidsetArb, { nil: undefined }),
  promiscuous: fc.option(fc.boolean(), { nil: undefined }),
}).map((g) => Object.fromEntries(Object.entries(g).filter(([, v]) => v !== undefined)) as { t: 'grant'; userid: string });
const modifyArb = fc.oneof(grantArb, fc.record({ t: fc.constantFrom('isolation' as const, 'macprotect' as const), on: fc.boolean() }).map((o) => ({ ...o })));
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
    vlan: fc.option(vidArb, { nil: null }),
    nativeVid: fc.oneof(fc.constant(0), vidArb),
    portType: fc.constantFrom('ACCESS' as const, 'TRUNK' as const),
    isolation: fc.boolean(),
  }).map((c) => (c.vlan === null ? { ...c, nativeVid: 0, portType: 'ACCESS' as const } : { ...c })),
  fc.record({ kind: fc.constant('detach-vswitch' as const), name: nameArb }),
  fc.record({ kind: fc.constant('define-guest' as const), userid: nameArb, netns: nsArb, qemu: fc.constant(null) }),
  fc.record({ kind: fc.constant('define-guest' as const), userid: nameArb, netns: fc.constant(null), qemu: fc.constantFrom('STREAM' as const, 'DGRAM' as const) }),
  fc.record({ kind: fc.constant('detach-guest' as const), userid: nameArb }),
  fc.record({ kind: fc.constant('define-nic' as const), vdev: vdevArb, userid: nameArb }),
  fc.record({ kind: fc.constant('define-nic' as const), vdev: vdevArb, userid: nameArb, macId: fc.integer({ min: 1, max: 0xffffff }) }),
  fc.record({ kind: fc.constant('detach-nic' as const), vdev: vdevArb, userid: nameArb }),
  fc.record({ kind: fc.constant('couple' as const), vdev: vdevArb, sw: nameArb, userid: nameArb }),
  fc.record({ kind: fc.constant('uncouple' as const), vdev: vdevArb, userid: nameArb }),
  fc.record({ kind: fc.constant('query-vswitch' as const), name: fc.option(nameArb, { nil: null }), details: fc.boolean() }),
  fc.record({ kind: fc.constant('query-vswitch' as const), name: fc.option(nameArb, { nil: null }), details: fc.constant(false), list: fc.constantFrom('ACCESSLIST' as const, 'PROMISCUOUS' as const) }),
  fc.record({ kind: fc.constant('query-lan' as const), name: fc.option(nameArb, { nil: null }), details: fc.boolean() }),
  fc.record({ kind: fc.constant('query-nic' as const), vdev: fc.option(vdevArb, { nil: null }), details: fc.boolean(), userid: nameArb, virtual: fc.constant(true as const) }),
  fc.record({ kind: fc.constant('set-vswitch' as const), name: nameArb, op: fc.oneof(modifyArb, fc.record({ t: fc.constant('revoke' as const), userid: nameArb }).map((o) => ({ ...o }))) }),
  fc.record({ kind: fc.constant('modify-vswitch' as const), name: nameArb, op: modifyArb }),
  fc.record({ kind: fc.constant('set-nic' as const), vdev: vdevArb, userid: nameArb, op: fc.oneof(
    fc.record({ t: fc.constant('promiscuous' as const), on: fc.boolean() }).map((o) => ({ ...o })),
    fc.record({ t: fc.constant('macprotect' as const), value: fc.constantFrom('ON' as const, 'OFF' as const, null) }).map((o) => ({ ...o })),
  ) }),
  fc.record({ kind: fc.constant('vmlan-userprefix' as const), prefix: fc.integer({ min: 0, max: 0xffffff }).filter((p) => ((p >> 16) & 1) === 0) }),
  fc.record({ kind: fc.constant('query-nic' as const), vdev: fc.option(vdevArb, { nil: null }), details: fc.boolean(), userid: nameArb }),
  fc.record({ kind: fc.constant('query-guest' as const), userid: fc.option(nameArb, { nil: null }) }),
  fc.constant({ kind: 'query-vmlan' as const }),
  fc.record({ kind: fc.constant('vmlan-macprefix' as const), prefix: fc.integer({ min: 0, max: 0xffffff }).filter((p) => ((p >> 16) & 1) === 0) }),
  fc.record({ kind: fc.constant('vmrelocate' as const), op: fc.constantFrom('TEST' as const, 'MOVE' as const), userid: nameArb, member: nameArb }),
  fc.constant({ kind: 'vmrelocate' as const, op: 'STATUS' as const, userid: null, member: null }),
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

test('issue 10: DEFINE VSWITCH operands in any order; RDEV stops at the next keyword', () => {
  // Was: RDEVs `eth1 VLAN 100` and exit status 0.
  assert.deepEqual(ok('DEF VSW ZT1 RDEV eth1 VLAN 100'),
    { kind: 'define-vswitch', name: 'ZT1', rdevs: ['eth1'], mode: 'IP', controller: '*', queueBytes: DEFAULT_QUEUE_BYTES, vlan: 100, nativeVid: 1, portType: 'ACCESS', isolation: false });
  assert.deepEqual(ok('define vswitch zt2 vlan 20 aware native none porttype trunk rdev eth1 eth2 ethernet isol'),
    { kind: 'define-vswitch', name: 'ZT2', rdevs: ['eth1', 'eth2'], mode: 'ETHERNET', controller: '*', queueBytes: DEFAULT_QUEUE_BYTES, vlan: 20, nativeVid: 0, portType: 'TRUNK', isolation: true });
  assert.deepEqual(ok('DEF VSW ZT3 NATIVE 7 VLAN 5 RDEV eth1 PORTT ACCESS'),
    { kind: 'define-vswitch', name: 'ZT3', rdevs: ['eth1'], mode: 'IP', controller: '*', queueBytes: DEFAULT_QUEUE_BYTES, vlan: 5, nativeVid: 7, portType: 'ACCESS', isolation: false });
  assert.deepEqual(ok('DEF VSW ZT4 VLAN UNAWARE RDEV eth1'), { kind: 'define-vswitch', name: 'ZT4', rdevs: ['eth1'], mode: 'IP', controller: '*', queueBytes: DEFAULT_QUEUE_BYTES, ...L2 });
  assert.match(err('DEF VSW ZT1 RDEV eth1 eth2 eth3 eth4').message, /too many RDEVs/);
  assert.match(err('DEF VSW ZT1 VLAN 100 VLAN 200').message, /option VLAN given twice/);
  assert.match(err('DEF VSW ZT1 VLAN 4095').message, /bad default VLAN id '4095'/);
  assert.match(err('DEF VSW ZT1 VLAN 0').message, /bad default VLAN id '0'/);
  assert.match(err('DEF VSW ZT1 NATIVE 5').message, /NATIVE needs a VLAN-aware switch/);
  assert.match(err('DEF VSW ZT1 PORTTYPE TRUNK').message, /PORTTYPE TRUNK needs a VLAN-aware switch/);
  assert.equal(format(ok('DEF VSW ZT1 RDEV eth1 VLAN 100 NAT 3 ISOLATION')),
    'DEFINE VSWITCH ZT1 RDEV eth1 IP CONTROLLER * QUEUESTORAGE 8M VLAN 100 AWARE NATIVE 3 PORTTYPE ACCESS ISOLATION');
});

test('issue 10: SET VSWITCH GRANT / REVOKE / ISOLATION / MACPROTECT, MODIFY VSWITCH, SET NIC', () => {
  assert.deepEqual(ok('set vsw sw1 grant linux1'), { kind: 'set-vswitch', name: 'SW1', op: { t: 'grant', userid: 'LINUX1' } });
  assert.deepEqual(ok('SET VSWITCH SW1 GRANT LINUX1 PRO VLAN 30 10-12,20 PORTTYPE TRUNK'),
    { kind: 'set-vswitch', name: 'SW1', op: { t: 'grant', userid: 'LINUX1', promiscuous: true, vlans: [10, 11, 12, 20, 30], portType: 'TRUNK' } });
  assert.equal(format(ok('SET VSWITCH SW1 GRANT LINUX1 VLAN 2,200 NOPROM')), 'SET VSWITCH SW1 GRANT LINUX1 VLAN 2 200 NOPROMISCUOUS');
  assert.equal(format(ok('SET VSWITCH SW1 GRANT LINUX1 VLAN 10 11 12 14')), 'SET VSWITCH SW1 GRANT LINUX1 VLAN 10-12 14');
  assert.deepEqual(ok('set vsw sw1 rev linux1'), { kind: 'set-vswitch', name: 'SW1', op: { t: 'revoke', userid: 'LINUX1' } });
  assert.deepEqual(ok('set vsw sw1 isol on'), { kind: 'set-vswitch', name: 'SW1', op: { t: 'isolation', on: true } });
  assert.deepEqual(ok('set vsw sw1 macp off'), { kind: 'set-vswitch', name: 'SW1', op: { t: 'macprotect', on: false } });
  assert.deepEqual(ok('MODIFY VSWITCH SW1 GRANT LINUX2 VLAN 7'), { kind: 'modify-vswitch', name: 'SW1', op: { t: 'grant', userid: 'LINUX2', vlans: [7] } });
  assert.match(err('MODIFY VSWITCH SW1 REVOKE LINUX2').message, /'REVOKE': expected GRANT/);
  assert.match(err('SET VSWITCH SW1 GRANT LINUX1 VLAN 5-3').message, /bad VLAN id set '5-3'/);
  assert.match(err('SET VSWITCH SW1 GRANT LINUX1 VLAN').message, /missing word: expected a VLAN id set/);
  assert.match(err('SET VSWITCH SW1 GRANT LINUX1 PROM NOPROM').message, /exclusive/);
  assert.match(err('SET VSWITCH SW1 ISOLATION MAYBE').message, /'MAYBE': expected ON, OFF/);
  assert.deepEqual(ok('set nic 600 prom for linux1'), { kind: 'set-nic', vdev: 0x600, userid: 'LINUX1', op: { t: 'promiscuous', on: true } });
  assert.deepEqual(ok('SET NIC 0600 NOPROMISCUOUS FOR LINUX1'), { kind: 'set-nic', vdev: 0x600, userid: 'LINUX1', op: { t: 'promiscuous', on: false } });
  assert.deepEqual(ok('SET NIC 600 MACP UNSPEC FOR LINUX1'), { kind: 'set-nic', vdev: 0x600, userid: 'LINUX1', op: { t: 'macprotect', value: null } });
  assert.equal(format(ok('SET NIC 600 MACP ON FOR LINUX1')), 'SET NIC 0600 MACPROTECT ON FOR LINUX1');
});

test('issue 10: COUPLE [TO], QUERY ACCESSLIST / PROMISCUOUS / VIRTUAL NIC / LAN, VMLAN USERPREFIX, MACID', () => {
  assert.deepEqual(ok('COUPLE 600 SYSTEM SW1 FOR LINUX1'), { kind: 'couple', vdev: 0x600, sw: 'SW1', userid: 'LINUX1' });
  assert.deepEqual(ok('q vsw sw1 acc'), { kind: 'query-vswitch', name: 'SW1', details: false, list: 'ACCESSLIST' });
  assert.deepEqual(ok('Q VSWITCH SW1 PROMISCUOUS'), { kind: 'query-vswitch', name: 'SW1', details: false, list: 'PROMISCUOUS' });
  assert.deepEqual(ok('Q VSWITCH ACCESSLIST'), { kind: 'query-vswitch', name: null, details: false, list: 'ACCESSLIST' });
  assert.deepEqual(ok('Q V NIC 600 DET FOR LINUX1'), { kind: 'query-nic', vdev: 0x600, details: true, userid: 'LINUX1', virtual: true });
  assert.equal(format(ok('q virtual nic for linux1')), 'QUERY VIRTUAL NIC ALL FOR LINUX1');
  assert.deepEqual(ok('q lan'), { kind: 'query-lan', name: null, details: false });
  assert.deepEqual(ok('Q LAN SW1 DET'), { kind: 'query-lan', name: 'SW1', details: true });
  assert.deepEqual(ok('VMLAN USERPREFIX 02ABCD'), { kind: 'vmlan-userprefix', prefix: 0x02abcd });
  assert.match(err('VMLAN USERPREFIX 030000').message, /multicast prefix/);
  assert.deepEqual(ok('DEF NIC 600 MACID 00a1b2 NAME eth0 FOR LINUX1'), { kind: 'define-nic', vdev: 0x600, userid: 'LINUX1', name: 'eth0', macId: 0xa1b2 });
  assert.equal(format(ok('DEF NIC 600 MACID 00a1b2 FOR LINUX1')), 'DEFINE NIC 0600 TYPE QDIO MACID 00A1B2 FOR LINUX1');
  assert.match(err('DEF NIC 600 MACID 000000 FOR LINUX1').message, /MACID 000000 is not allowed/);
  assert.match(err('DEF NIC 600 MACID 12345 FOR LINUX1').message, /bad MACID '12345'/);
});

test('issue 15: VMRELOCATE TEST | MOVE [USER] userid [TO] member, VMRELOCATE STATUS (z/VM abbreviations)', () => {
  assert.deepEqual(ok('VMRELOCATE MOVE USER linux1 TO m2'), { kind: 'vmrelocate', op: 'MOVE', userid: 'LINUX1', member: 'M2' });
  assert.deepEqual(ok('vmrel test linux1 m2'), { kind: 'vmrelocate', op: 'TEST', userid: 'LINUX1', member: 'M2' });
  assert.deepEqual(ok('VMRELOC STAT'), { kind: 'vmrelocate', op: 'STATUS', userid: null, member: null });
  assert.equal(format(ok('vmrel move linux1 to m2')), 'VMRELOCATE MOVE USER LINUX1 TO M2');
  assert.match(err('VMRE MOVE LINUX1 M2').message, /unexpected word 'VMRE'/);
  assert.match(err('VMRELOCATE MOVE USER LINUX1').message, /member name/);
  assert.match(err('VMRELOCATE STATUS USER LINUX1').message, /USER/);
});
