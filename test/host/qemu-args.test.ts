/**
 * devices.qemuArgs / qemuArgsText: the exact QEMU 7.2 arguments a user copies for a NIC
 * (qemu-real.test.ts runs QEMU with them). Pure string checks: forms, MAC format, comma
 * escaping in paths, shell quoting, and refusal of bad ids and relative paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qemuArgs, qemuArgsText } from '../../src/host/devices.js';

test('stream form', () => {
  assert.deepEqual(qemuArgs('qemu-stream', { qemu: '/run/vswitch/vm1-0600.sock' }, 0x020000000a01, 'vsw0600'), [
    '-netdev', 'stream,id=vsw0600,server=on,addr.type=unix,addr.path=/run/vswitch/vm1-0600.sock',
    '-device', 'virtio-net-pci,mac=02:00:00:00:0a:01,netdev=vsw0600',
  ]);
});

test('dgram form', () => {
  assert.deepEqual(qemuArgs('qemu-dgram', { qemu: '/run/q.sock', daemon: '/run/d.sock' }, 0x02abcdef0102, 'n1'), [
    '-netdev', 'dgram,id=n1,local.type=unix,local.path=/run/q.sock,remote.type=unix,remote.path=/run/d.sock',
    '-device', 'virtio-net-pci,mac=02:ab:cd:ef:01:02,netdev=n1',
  ]);
});

test('a comma in a path is doubled (QEMU option escaping); the text form quotes words that need it', () => {
  const a = qemuArgs('qemu-stream', { qemu: '/tmp/a,b c.sock' }, 2, 'x');
  assert.equal(a[1], 'stream,id=x,server=on,addr.type=unix,addr.path=/tmp/a,,b c.sock');
  assert.equal(qemuArgsText('qemu-stream', { qemu: '/tmp/a.sock' }, 2, 'x'),
    '-netdev stream,id=x,server=on,addr.type=unix,addr.path=/tmp/a.sock -device virtio-net-pci,mac=00:00:00:00:00:02,netdev=x');
  assert.match(qemuArgsText('qemu-stream', { qemu: "/tmp/it's here.sock" }, 2, 'x'), /'stream,id=x,server=on,addr\.type=unix,addr\.path=\/tmp\/it'\\''s here\.sock'/);
});

test('bad ids, relative paths and a dgram NIC without the daemon path are refused', () => {
  const code = (c: string) => (e: Error & { code?: string }) => e.code === c;
  assert.throws(() => qemuArgs('qemu-stream', { qemu: '/a.sock' }, 2, '0bad'), code('EINVAL'));
  assert.throws(() => qemuArgs('qemu-stream', { qemu: '/a.sock' }, 2, 'a,b'), code('EINVAL'));
  assert.throws(() => qemuArgs('qemu-stream', { qemu: 'a.sock' }, 2, 'n'), code('EINVAL'));
  assert.throws(() => qemuArgs('qemu-dgram', { qemu: '/a.sock' }, 2, 'n'), code('EINVAL'));
  assert.throws(() => qemuArgs('qemu-stream', { qemu: '/' + 'x'.repeat(120) }, 2, 'n'), code('EINVAL'));
});
