/**
 * VSWITCH_TAP_RPS (src/host/cpu-placement.ts): the CPU list and mask arithmetic (pure), and on
 * the real kernel: with the lever on, the data-plane thread is pinned to the last online CPU,
 * a TAP the daemon makes in a namespace gets Receive Packet Steering to the other CPUs (read
 * back through that namespace's own sysfs), the daemon's mounts are left as they were, and a
 * ping crosses the switch. Namespaces made here (unique names) are removed.
 */
process.env.VSWITCH_TAP_RPS = '1'; // placement() reads it once, at its first call

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cpuMask, parseCpuList, placement, placementFor } from '../../src/host/cpu-placement.js';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap } from '../../src/host/devices.js';
import { workerTid } from '../dataplane/worker-io.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { addNs, delNs, inNs, ip, uniq } from '../helpers/netns.js';

test('CPU lists and masks as the kernel writes them', () => {
  assert.deepEqual(parseCpuList('0-3,8\n'), [0, 1, 2, 3, 8]);
  assert.deepEqual(parseCpuList('0'), [0]);
  assert.throws(() => parseCpuList('0-x'), /bad CPU list/);
  assert.equal(cpuMask([0]), '1');
  assert.equal(cpuMask([0, 1, 2, 3, 8]), '10f');
  assert.equal(cpuMask([0, 40]), '100,00000001');
  assert.deepEqual(placementFor([0, 1]), { workerCpu: 1, rpsMask: '1' });
  assert.deepEqual(placementFor([0, 1, 2, 3]), { workerCpu: 3, rpsMask: '7' });
  assert.equal(placementFor([0]), null, 'one CPU: nothing to steer to');
});

const online = parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
const nsA = uniq('vcpa'), nsB = uniq('vcpb');
after(() => { delNs(nsA); delNs(nsB); });

test('the lever on: the worker pinned, the TAPs steered, frames cross', { skip: online.length < 2 ? 'one CPU' : false }, async () => {
  const p = placement();
  assert.ok(p !== null);
  assert.equal(p.workerCpu, online.at(-1));
  addNs(nsA); addNs(nsB);
  const sysfsMounts = (): string[] => readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => / sysfs /.test(l));
  const before = sysfsMounts();
  const dp = await DataPlane.start();
  try {
    const tid = workerTid();
    const allowed = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))?.[1];
    assert.equal(allowed, String(p.workerCpu), 'pinned to the last online CPU');
    dp.post({ op: 'switch-add', sw: 4, mode: 'IP', queueBytes: 0 });
    for (const [ns, port, addr] of [[nsA, 41, '10.79.8.11'], [nsB, 42, '10.79.8.12']] as const) {
      const mac = 0x020000000800 + port;
      const t = openTap({ netns: ns, name: 'enc600', mac, persist: false });
      dp.post({ op: 'port-add', port, sw: 4, role: 'nic', kind: 'tap', fd: t.fd, mac, vnet: true, name: ns });
      ip('-n', ns, 'addr', 'replace', `${addr}/24`, 'dev', 'enc600');
      ip('-n', ns, 'link', 'set', 'enc600', 'up');
      dp.post({ op: 'ip-set', sw: 4, ip: parseIpv4(addr), port, localOnly: true });
      const got = inNs(ns, 'cat', '/sys/class/net/enc600/queues/rx-0/rps_cpus').trim().replace(/^[0,]+(?=.)/, '');
      assert.equal(got, p.rpsMask, `${ns}: the guest's receive work goes to the other CPUs`);
    }
    assert.match(inNs(nsA, 'ping', '-c', '5', '-i', '0.1', '-W', '2', '10.79.8.12'), / 0% packet loss/);
    assert.deepEqual(sysfsMounts(), before, 'the private sysfs mounts did not leak');
  } finally {
    await dp.stop();
  }
});
