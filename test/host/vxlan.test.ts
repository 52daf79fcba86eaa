/**
 * The overlay's kernel VXLAN devices (src/host/vxlan.ts VxlanDevices) on the real kernel: the
 * module runs in a child node process inside a namespace this test makes (its `ip` and `bridge`
 * act on that namespace only), and the test reads the devices' forwarding entries there with
 * `bridge -j fdb show`. Checked: a guest MAC the store gives two VTEPs (two members publishing one
 * MAC: a relocation's overlap, a bad entry) is programmed to one of them and the programming ends,
 * so another device's entries are still made.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { NetLab, waitFor } from '../helpers/netlab.js';

const lab = new NetLab('hvx');
after(() => lab.cleanup());

const MODULE = fileURLToPath(new URL('../../src/host/vxlan.js', import.meta.url));

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
    const d = new VxlanDevices(log);
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
