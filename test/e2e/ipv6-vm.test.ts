/**
 * End to end, IPv6 with a real VM (issue 11): a Linux VM in QEMU (TCG; test/helpers/vm.ts) on
 * the IP-mode switch, its NIC with the arguments QUERY NIC DETAILS prints, a LAN namespace
 * running radvd. The VM gets its IPv6 address by the kernel's SLAAC through the switch; its
 * addresses are registered from what it uses (DAD probes, sources: 'saw-address6'); it pings
 * the LAN host over IPv6 and the LAN host pings it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NetLab, waitFor } from '../helpers/netlab.js';
import type { Daemon } from '../helpers/daemon.js';
import type { Controller } from '../helpers/controller.js';
import { ipModeLab } from '../helpers/ip-lab.js';
import { startRadvd } from '../helpers/radvd.js';
import { Vm } from '../helpers/vm.js';

const lab = new NetLab('v6q');
let d: Daemon;
let ctl: Controller;
let vm: Vm | null = null;
let lanNs: string;
const PREFIX = '2001:db8:78::', LAN6 = '2001:db8:78::1';

before(async () => {
  await Vm.image();
  ({ d, ctl, lanNs } = await ipModeLab(lab, { lan: '10.79.0.1' }));
  lab.ip(lanNs, 'addr', 'add', `${LAN6}/64`, 'dev', 'lan0', 'nodad');
  startRadvd(lab, lanNs, 'lan0', PREFIX);
  d.commands(['DEFINE GUEST VM1 QEMU', 'DEFINE NIC 0600 TYPE QDIO FOR VM1', 'SET VSWITCH SW1 GRANT VM1', 'COUPLE 0600 TO SYSTEM SW1 FOR VM1']);
});

after(async () => {
  try {
    await vm?.shutdown();
    await ctl?.stop();
    await d?.stop();
  } finally {
    lab.cleanup();
  }
});

test('IPv6: a QEMU VM autoconfigures by SLAAC through the switch, is registered, and pings the LAN host both ways', { timeout: 300_000 }, async (t) => {
  const nic = d.json('QUERY', 'NIC', '0600', 'DETAILS', 'FOR', 'VM1').nics[0];
  vm = await Vm.boot({ name: `vswtest-v6vm-${process.pid}`, netdevArgs: [], deviceArgs: [], extraArgs: nic.qemu.args, cmdline: 'vsw.ip=10.79.0.21/24 vsw.hostname=v6vm' });
  t.diagnostic(`VM boot to ready: ${(vm.bootMs / 1000).toFixed(2)} s`);
  let global = '';
  const t0 = Date.now();
  while (Date.now() - t0 < 90_000) {
    const r = await vm.run('ip -6 addr show dev eth0', 20_000);
    // The address's line once DAD is done (no "tentative" on it).
    const line = r.output.split('\n').find((l) => /inet6 2001:db8:78:/.test(l) && !l.includes('tentative'));
    if (line) { global = /inet6 ([0-9a-f:]+)\//.exec(line)![1]; break; }
    await new Promise((res) => setTimeout(res, 1000));
  }
  assert.ok(global, 'the VM autoconfigured a global address from the LAN\'s RA');
  t.diagnostic(`SLAAC address ${global} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const p = await vm.run(`ping -6 -c 3 -W 5 ${LAN6} || ping6 -c 3 -W 5 ${LAN6}`, 90_000);
  assert.equal(p.code, 0, p.output);
  const registered = await waitFor(() => (d.json('QUERY', 'VSWITCH', 'SW1', 'DETAILS').switches[0].ipTable6 as Array<{ ip6: string; guest: string; localOnly: boolean }>)
    .some((e) => e.ip6 === global && e.guest === 'VM1' && !e.localOnly), 15_000, 100);
  assert.ok(registered, 'the VM\'s address is registered from what it used');
  assert.ok(await waitFor(() => lab.exec(lanNs, 'ping', ['-6', '-c', '1', '-W', '3', global]).code === 0, 20_000, 500), 'the LAN host pings the VM');
});
