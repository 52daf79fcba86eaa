/**
 * The TAP transmit-queue lever (issue 14; src/host/devices.ts openTap): with VSWITCH_TAP_TXQLEN=N
 * in the environment a TAP the switch makes has txqueuelen N; without it the kernel's default
 * (1000). devices.ts reads the variable when it is loaded, so this file sets it before loading
 * it (each test file runs in its own process). The TAPs live in a namespace made here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { addNs, delNs, ip, uniq } from '../helpers/netns.js';

const ns = uniq('vstq');
before(() => addNs(ns));
after(() => delNs(ns));

function qlen(dev: string): number {
  return (JSON.parse(ip('-n', ns, '-j', 'link', 'show', 'dev', dev)) as Array<{ txqlen: number }>)[0]!.txqlen;
}

test('VSWITCH_TAP_TXQLEN sets the txqueuelen of the TAPs openTap makes', async () => {
  process.env.VSWITCH_TAP_TXQLEN = '4321';
  const { openTap } = await import('../../src/host/devices.js');
  const { close } = await import('../../src/sys/libc.js');
  const t = openTap({ netns: ns, name: 'enc600', mac: 0x020000000f01, persist: false });
  try {
    assert.equal(qlen('enc600'), 4321);
  } finally {
    close(t.fd);
  }
  ip('-n', ns, 'tuntap', 'add', 'mode', 'tap', 'name', 'other0');
  assert.equal(qlen('other0'), 1000, 'a TAP made otherwise keeps the kernel default');
});
