/**
 * Property-based fuzzing of the command path at the grammar level: well-formed commands over a
 * few names with one word mutated, random word lists (CP vocabulary mixed with random strings)
 * and random bytes decoded as command text, through `parse` and through the real ControlPlane
 * on a real State (a journal that records what it is given). For every input: nothing throws; a refused command is one
 * line with a message id, journals nothing and changes nothing; an accepted definition is
 * journaled once, in its canonical words, which parse back to the same command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { verbOf } from '../../src/control/commands/index.js';
import { NO_RUNTIME } from '../../src/control/commands/types.js';
import type { CommandJournal } from '../../src/control/controlplane.js';
import { format, parse } from '../../src/control/grammar.js';
import { State } from '../../src/control/state.js';
import { controlPlane, definitions } from '../helpers/control.js';

const VOCAB = ['Q', 'QUERY', 'DEF', 'DEFINE', 'DET', 'DETACH', 'VSW', 'VSWITCH', 'GUEST', 'NIC', 'COUP', 'COUPLE', 'UNCOUP', 'TO', 'SYS',
  'SYSTEM', 'FOR', 'RDEV', 'NONE', 'IP', 'ETH', 'CONTR', 'CONTROLLER', '*', 'QUEUESTOR', '8M', 'DETAILS', 'ALL', 'TYPE', 'QDIO', 'NETNS',
  'QEMU', 'STREAM', 'DGRAM', 'VMLAN', 'MACPREFIX', '020000', 'SET', 'SWITCHOVER', 'UPLINK', 'CONNECT', 'DISCONNECT',
  'GRANT', 'REVOKE', 'VLAN', 'AWARE', 'UNAWARE', 'NATIVE', 'PORTTYPE', 'ACCESS', 'TRUNK', 'ISOLATION', 'MACPROTECT', 'PROMISCUOUS',
  'NOPROM', 'ON', 'OFF', 'ACCESSLIST', 'MODIFY', 'USERPREFIX', 'MACID', '00A1B2', 'LAN', 'VIRTUAL', '10', '20-22', '4095',
  'SW1', 'SW2', 'LINUX1', 'VM1', 'DTCVSW1', 'eth0', 'eth1', 'ns1', 'ns2', '600', '603', '700', 'FFFD', 'FFFE',
  'DEFıNE', 'vswıtch', 'ſW1', 'LİNUX1', '\u00a0', '\u2028', '\u0000', '😀', 'x'.repeat(200)];

const wordsArb = fc.tuple(
  fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...VOCAB) }, fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), { minLength: 1, maxLength: 10 }),
  fc.constantFrom(' ', '\t', '  ', ' \r\n '),
).map(([words, sep]) => words.join(sep));
const bytesArb = fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('utf8'));
/** Well-formed commands over a few names (many apply, many are refused by the state), some with one word mutated. */
const sw = fc.constantFrom('SW1', 'SW2', 'sw3');
const guest = fc.constantFrom('LINUX1', 'VM1', 'vm2');
const vdev = fc.constantFrom('600', '603', '700', 'A00');
const wellFormedArb = fc.oneof(
  fc.tuple(sw, fc.constantFrom('eth0', 'eth1', 'NONE', 'eth0 eth1'), fc.constantFrom('IP', 'ETH', '')).map(([a, r, m]) => `DEFINE VSWITCH ${a} RDEV ${r} ${m}`),
  sw.map((a) => `DETACH VSWITCH ${a}`),
  fc.tuple(guest, fc.constantFrom('NETNS ns1', 'NETNS ns2', 'QEMU', 'QEMU DGRAM')).map(([g, t]) => `DEFINE GUEST ${g} ${t}`),
  guest.map((g) => `DETACH GUEST ${g}`),
  fc.tuple(vdev, guest).map(([v, g]) => `DEFINE NIC ${v} FOR ${g}`),
  fc.tuple(vdev, guest).map(([v, g]) => `DETACH NIC ${v} FOR ${g}`),
  fc.tuple(vdev, sw, guest).map(([v, a, g]) => `COUPLE ${v} TO SYSTEM ${a} FOR ${g}`),
  fc.tuple(vdev, guest).map(([v, g]) => `UNCOUPLE ${v} FOR ${g}`),
  fc.tuple(sw, guest, fc.constantFrom('', 'PROMISCUOUS', 'VLAN 10', 'PORTTYPE TRUNK VLAN 10 20', 'NOPROM')).map(([a, g, o]) => `SET VSWITCH ${a} GRANT ${g} ${o}`),
  fc.tuple(sw, guest).map(([a, g]) => `SET VSWITCH ${a} REVOKE ${g}`),
  fc.tuple(sw, fc.constantFrom('ISOLATION ON', 'MACPROTECT OFF')).map(([a, o]) => `SET VSWITCH ${a} ${o}`),
  fc.tuple(vdev, guest, fc.constantFrom('PROMISCUOUS', 'NOPROMISCUOUS', 'MACPROTECT ON', 'MACPROTECT UNSPECIFIED')).map(([v, g, o]) => `SET NIC ${v} ${o} FOR ${g}`),
  fc.tuple(sw, fc.constantFrom('VLAN 10', 'VLAN 10 NATIVE NONE PORTTYPE TRUNK', 'ISOLATION ETH')).map(([a, o]) => `DEFINE VSWITCH ${a} RDEV NONE ${o}`),
  fc.tuple(vdev, guest).map(([v, g]) => `DEFINE NIC ${v} MACID 00A1B2 FOR ${g}`),
  fc.tuple(fc.constantFrom('SW1', ''), fc.constantFrom('ACCESSLIST', 'PROMISCUOUS')).map(([a, o]) => `Q VSW ${a} ${o}`),
  fc.constantFrom('Q LAN', 'Q LAN SW1 DET', 'Q VIRTUAL NIC FOR LINUX1', 'MODIFY VSWITCH SW1 GRANT VM1'),
  fc.tuple(sw, fc.constantFrom('CONTROLLER DTCVSW1', 'CONTROLLER *', 'CONTROLLER OTHER', 'SWITCHOVER', 'UPLINK CONNECT')).map(([a, o]) => `SET VSWITCH ${a} ${o}`),
  fc.tuple(fc.constantFrom('SW1', 'ALL', ''), fc.constantFrom('DET', '')).map(([a, d]) => `Q VSW ${a} ${d}`),
  guest.map((g) => `Q NIC DET FOR ${g}`),
  fc.constantFrom('Q GUEST', 'Q VMLAN', 'Q CONTROLLER', 'VMLAN MACPREFIX 020001'),
);
const mutatedArb = fc.tuple(wellFormedArb, fc.nat(), fc.constantFrom(...VOCAB), fc.constantFrom('keep', 'replace', 'drop', 'repeat'))
  .map(([text, at, word, how]) => {
    const w = text.split(' ');
    const i = at % w.length;
    if (how === 'replace') w[i] = word;
    else if (how === 'drop') w.splice(i, 1);
    else if (how === 'repeat') w.splice(i, 0, w[i]);
    return w.join(' ');
  });
const textArb = fc.oneof({ weight: 8, arbitrary: mutatedArb }, { weight: 3, arbitrary: wordsArb }, bytesArb);

test('property: parse never throws; its errors are one line naming what was expected', () => {
  fc.assert(fc.property(textArb, (text) => {
    const r = parse(text);
    if (!r.ok) {
      assert.ok(r.error.message.length > 0 && !r.error.message.includes('\n'), r.error.message);
    } else {
      assert.deepEqual(parse(format(r.cmd)), r, 'whatever parses, re-parses from its canonical form');
    }
  }), { numRuns: 5000 });
});

test('property: through the real engine, nothing throws and a refused command changes nothing and journals nothing', () => {
  fc.assert(fc.property(fc.array(textArb, { minLength: 1, maxLength: 30 }), (texts) => {
    const journaled: string[] = [];
    let seq = 0;
    const journal: CommandJournal = { append: (cmd, alloc) => { journaled.push(cmd); return { v: 2, seq: ++seq, at: '', cmd, ...(alloc ? { alloc } : {}) }; } };
    const state = new State();
    const cp = controlPlane(state, { interfaceExists: (n) => n === 'eth0' }, { journal, runtime: { ...NO_RUNTIME, hasController: (n) => n === 'DTCVSW1' } });
    // A state with something in it, so checks have definitions to refuse against.
    for (const c of ['DEFINE VSWITCH SW1 RDEV eth0', 'DEFINE GUEST LINUX1 NETNS ns1', 'DEFINE NIC 600 FOR LINUX1', 'SET VSWITCH SW1 GRANT LINUX1', 'COUPLE 600 TO SYSTEM SW1 FOR LINUX1']) {
      assert.ok(cp.execute(c).ok, c);
    }
    for (const text of texts) {
      const before = definitions(state);
      const journaledBefore = journaled.length;
      const r = cp.execute(text);
      if (!r.ok) {
        assert.equal(r.lines.length, 1, `${JSON.stringify(text)}: one line`);
        assert.match(r.lines[0], /^VSW\d{4}E [^\n]+$/, `${JSON.stringify(text)}: message id, one line`);
        assert.deepEqual(definitions(state), before, `${JSON.stringify(text)} was refused and changed nothing`);
        assert.equal(journaled.length, journaledBefore, `${JSON.stringify(text)} was refused and journaled nothing`);
        continue;
      }
      const p = parse(text);
      assert.ok(p.ok);
      if (verbOf(p.cmd).journaled) {
        assert.equal(journaled.length, journaledBefore + 1, `${text}: journaled once`);
        assert.equal(journaled[journaled.length - 1], format(p.cmd), 'in canonical words');
      } else {
        assert.equal(journaled.length, journaledBefore, `${text}: a query is not journaled`);
        assert.deepEqual(definitions(state), before, `${text}: a query changes nothing`);
      }
    }
  }), { numRuns: 800 });
});
