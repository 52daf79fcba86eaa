/**
 * The overlay's kernel VXLAN devices (src/host/vxlan.ts VxlanDevices) on the real kernel: the
 * module runs in a child node process inside a namespace this test makes (its `ip` and `bridge`
 * act on that namespace only), and the test reads the devices' forwarding entries there with
 * `bridge -j fdb show`. Checked: a guest MAC the store gives two VTEPs (two members publishing one
 * MAC: a relocation's overlap, a bad entry) is programmed to one of them and the programming ends,
 * so another device's entries are still made. And whose a device is: each device made carries
 * the daemon's mark (the interface alias overlayMark(stateDir)); a restarted daemon (a new
 * VxlanDevices with the same mark) takes its own over, `sweep` removes only its own devices it
 * is not told to keep, and a hand-made `vx-*` device or one marked by another state directory
 * is refused by `ensure` and left by `remove` and `sweep`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { NetLab, waitFor } from '../helpers/netlab.js';

const lab = new NetLab('hvx');
after(() => lab.cleanup());

const MODULE = fileURLToPath(new URL('../../src/host/vxlan.js', import.meta.url));

/** Run `body` (an async function body given `VxlanDevices`, `overlayMark` and `log`) in a node inside `ns`; its return value, as JSON. */
function inNetns(ns: string, body: string): unknown {
  const script = `
    const { VxlanDevices, overlayMark } = await import(${JSON.stringify(MODULE)});
    const log = { info() {}, warn(o, m) { console.error('WARN', m, JSON.stringify(o)); } };
    const out = await (async () => { ${body} })();
    console.log(JSON.stringify(out));
  `;
  const r = lab.exec(ns, 'node', ['--input-type=module', '-e', script], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

interface Link { ifname: string; ifindex: number; ifalias?: string; linkinfo?: { info_kind?: string; info_data?: { id?: number } } }

function links(ns: string): Map<string, Link> {
  const all = JSON.parse(lab.ip(ns, '-d', '-j', 'link', 'show')) as Link[];
  return new Map(all.map((l) => [l.ifname, l]));
}

function fdb(ns: string, dev: string): Array<{ mac: string; dst?: string }> {
  return (JSON.parse(lab.exec(ns, 'bridge', ['-j', 'fdb', 'show', 'dev', dev]).stdout || '[]') as Array<{ mac: string; dst?: string }>)
    .filter((e) => e.dst !== undefined);
}

test('a guest MAC given two VTEPs is programmed to one; the programming ends and another device still gets its entries', async () => {
  const ns = lab.netns('m');
  lab.ip(ns, 'addr', 'add', '192.0.2.1/32', 'dev', 'lo');
  const script = `
    const { VxlanDevices } = await import(${JSON.stringify(MODULE)});
    const log = { info() {}, warn(o, m) { console.log('WARN', m, JSON.stringify(o)); } };
    const d = new VxlanDevices(log, 'vswitchd: overlay of /tmp/hvx-test');
    d.ensure({ name: 'vx-a', vni: 41, local: '192.0.2.1' });
    d.ensure({ name: 'vx-b', vni: 42, local: '192.0.2.1' });
    d.program('vx-a', new Map([['02:aa:00:00:00:01', new Set(['192.0.2.10', '192.0.2.11'])]]));
    d.program('vx-b', new Map([['02:bb:00:00:00:01', new Set(['192.0.2.12'])]]));
    setTimeout(() => {}, 120000);
  `;
  const child = lab.spawn(ns, 'node', ['--input-type=module', '-e', script]);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
  try {
    // vx-b's entry is made once vx-a's programming has ended (one bridge command at a time).
    assert.ok(await waitFor(() => fdb(ns, 'vx-b').some((e) => e.mac === '02:bb:00:00:00:01' && e.dst === '192.0.2.12'), 30_000, 200),
      `vx-b's entry was never made: ${out}`);
    const a = fdb(ns, 'vx-a').filter((e) => e.mac === '02:aa:00:00:00:01');
    assert.equal(a.length, 1, JSON.stringify(a));
    assert.ok(['192.0.2.10', '192.0.2.11'].includes(a[0].dst!));
    assert.match(out, /WARN .*several VTEPs/);
  } finally {
    child.kill('SIGKILL');
  }
});

test('the daemon marks the devices it makes; it takes over, sweeps and removes only its own, never a hand-made or another daemon\'s', () => {
  const ns = lab.netns('own');
  lab.ip(ns, 'addr', 'add', '192.0.2.1/32', 'dev', 'lo');
  const mine = '/var/lib/hvx-mine';
  // Made by hand (no alias; learning on, as the overlay never makes one), by hand with an alias
  // of its own, by the daemon of another state directory; and one with no alias exactly as the
  // overlay makes it (a daemon killed between add and mark, or a version before the marks).
  lab.ip(ns, 'link', 'add', 'vx-hand', 'type', 'vxlan', 'id', '51', 'dstport', '4789', 'local', '192.0.2.1');
  lab.ip(ns, 'link', 'add', 'vx-old', 'type', 'vxlan', 'id', '54', 'dstport', '4789', 'nolearning', 'local', '192.0.2.1');
  const oldIndex = links(ns).get('vx-old')!.ifindex;
  lab.ip(ns, 'link', 'add', 'vx-named', 'type', 'vxlan', 'id', '52', 'dstport', '4789', 'local', '192.0.2.1');
  lab.ip(ns, 'link', 'set', 'dev', 'vx-named', 'alias', 'my own tunnel');
  lab.ip(ns, 'link', 'add', 'vx-other', 'type', 'vxlan', 'id', '53', 'dstport', '4789', 'nolearning', 'local', '192.0.2.1');
  const other = inNetns(ns, `return overlayMark('/var/lib/hvx-other');`) as string;
  lab.ip(ns, 'link', 'set', 'dev', 'vx-other', 'alias', other);
  lab.ip(ns, 'link', 'add', 'vx-dummy', 'type', 'bridge');
  const first = inNetns(ns, `
    const d = new VxlanDevices(log, overlayMark(${JSON.stringify(mine)}));
    const tries = {};
    for (const [name, vni] of [['vx-hand', 51], ['vx-named', 52], ['vx-other', 3], ['vx-dummy', 4]]) {
      try { d.ensure({ name, vni, local: '192.0.2.1' }); tries[name] = 'made'; } catch (e) { tries[name] = e.message; }
    }
    d.ensure({ name: 'vx-keep', vni: 61, local: '192.0.2.1' });
    d.ensure({ name: 'vx-gone', vni: 62, local: '192.0.2.1' });
    d.ensure({ name: 'vx-old', vni: 54, local: '192.0.2.1' });
    const removed = ['vx-hand', 'vx-named', 'vx-other', 'vx-dummy'].filter((n) => d.remove(n));
    return { tries, removed, mark: overlayMark(${JSON.stringify(mine)}), long: overlayMark('/' + 'a'.repeat(300)) };
  `) as { tries: Record<string, string>; removed: string[]; mark: string; long: string };
  assert.equal(first.mark, `vswitchd: overlay of ${mine}`);
  assert.match(first.long, /^vswitchd: overlay of sha256:[0-9a-f]{64}$/, 'a state directory too long for an alias is marked by its digest');
  assert.match(first.tries['vx-hand'], /a VXLAN device vx-hand exists that this daemon did not make \(no mark\): not touched/);
  assert.match(first.tries['vx-named'], /vx-named exists that this daemon did not make \(alias "my own tunnel"\)/);
  assert.match(first.tries['vx-other'], /vx-other exists that this daemon did not make \(alias "vswitchd: overlay of \/var\/lib\/hvx-other"\)/);
  assert.match(first.tries['vx-dummy'], /is not a VXLAN device: not touched/);
  assert.deepEqual(first.removed, [], 'remove leaves what is not its own');
  let l = links(ns);
  for (const [name, vni] of [['vx-hand', 51], ['vx-named', 52], ['vx-other', 53]] as const) {
    assert.equal(l.get(name)?.linkinfo?.info_data?.id, vni, `${name} is as it was made`);
  }
  assert.equal(l.get('vx-other')?.ifalias, other);
  assert.equal(l.get('vx-named')?.ifalias, 'my own tunnel');
  assert.equal(l.get('vx-hand')?.ifalias, undefined, 'nothing was marked on the hand-made device');
  assert.equal(l.get('vx-keep')?.ifalias, first.mark, 'a device made carries the mark');
  assert.equal(l.get('vx-gone')?.ifalias, first.mark);
  assert.equal(l.get('vx-old')?.ifalias, first.mark, 'the unmarked device made as the overlay makes it is adopted');
  assert.equal(l.get('vx-old')?.ifindex, oldIndex, 'taken over, not made again');
  const keepIndex = l.get('vx-keep')!.ifindex;
  // A restarted daemon (same state directory): takes its device over as it is, sweeps its other one, and nothing else.
  const second = inNetns(ns, `
    const d = new VxlanDevices(log, overlayMark(${JSON.stringify(mine)}));
    d.ensure({ name: 'vx-keep', vni: 61, local: '192.0.2.1' });
    return d.sweep((n) => n === 'vx-keep');
  `) as string[];
  assert.deepEqual(second.sort(), ['vx-gone', 'vx-old'], 'the adopted device is its own now');
  l = links(ns);
  assert.ok(!l.has('vx-gone'), 'its own device of no switch is removed');
  assert.equal(l.get('vx-keep')?.ifindex, keepIndex, 'its kept device is taken over, not made again');
  for (const name of ['vx-hand', 'vx-named', 'vx-other', 'vx-dummy']) assert.ok(l.has(name), `${name} is left`);
  // Another daemon's sweep keeps nothing, and removes only what carries its own mark.
  const third = inNetns(ns, `return new VxlanDevices(log, overlayMark('/var/lib/hvx-other')).sweep(() => false);`) as string[];
  assert.deepEqual(third, ['vx-other']);
  l = links(ns);
  assert.ok(l.has('vx-keep') && l.has('vx-hand') && l.has('vx-named') && !l.has('vx-other'));
});
