/**
 * Self-test of the VM harness (test/helpers/vm.ts, scripts/vm-image.sh), before and without
 * the switch: a VM with no NIC answers commands with their exact output and exit status, and
 * two VMs joined directly by QEMU's own `-netdev stream` (one listening on a unix socket in a
 * temp dir, the other connecting) ping each other and move 10 MB over TCP with the same sha256.
 * Traffic stays between those two VMs; nothing touches the host's network.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vm } from '../helpers/vm.js';

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function secs(ms: number): string { return `${(ms / 1000).toFixed(2)} s`; }

test('a VM without a NIC runs commands and reports output and exit status', { timeout: 300_000 }, async (t) => {
  const img = await Vm.image();
  const vm = await Vm.boot({ name: `vswtest-solo-${process.pid}`, netdevArgs: [], deviceArgs: [] });
  try {
    t.diagnostic(`boot ${secs(vm.bootMs)} (kernel ${img.kver})`);

    const uname = await vm.run('uname -r');
    assert.deepEqual(uname, { code: 0, output: `${img.kver}\n` });

    const hi = await vm.run('echo hi; false');
    assert.deepEqual(hi, { code: 1, output: 'hi\n' });

    // Quoting, several lines, stderr, no trailing newline, a specific status.
    const multi = await vm.run(`printf '%s|' "a b" 'c'\necho err >&2\nprintf tail; exit 7`);
    assert.deepEqual(multi, { code: 7, output: 'a b|c|err\ntail' });

    // A command over its time limit is killed in the VM, and the VM keeps answering.
    const t0 = Date.now();
    const slow = await vm.run('sleep 30', 2000);
    assert.equal(slow.code, 137);
    assert.ok(Date.now() - t0 < 15_000, 'the command was not killed at its limit');
    assert.deepEqual(await vm.run('echo still here'), { code: 0, output: 'still here\n' });

    // Background jobs that outlive their command (orphans) exit while the next, long command
    // line is being read; no byte of it may be lost.
    const word = 'x'.repeat(1500);
    for (let i = 0; i < 10; i++) {
      const bg = await vm.run('for i in 1 2 3 4 5 6 7 8; do (usleep $((i * 20000)); true) & done; echo bg');
      assert.deepEqual(bg, { code: 0, output: 'bg\n' });
      const long = await vm.run(`echo ${word} | wc -c`);
      assert.deepEqual(long, { code: 0, output: `${word.length + 1}\n` }, `round ${i}`);
    }

    // No NIC: only lo exists.
    const links = await vm.run('ls /sys/class/net');
    assert.deepEqual(links, { code: 0, output: 'lo\n' });
  } finally {
    await vm.shutdown();
  }
});

test('two VMs joined by -netdev stream ping each other and move 10 MB with the same sha256', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vswvm-'));
  const sock = join(dir, 'link.sock');
  const vms: Vm[] = [];
  try {
    const t0 = Date.now();
    await Vm.image();
    const bootA = Vm.boot({
      name: `vswtest-a-${process.pid}`,
      netdevArgs: [`stream,id=n0,server=on,addr.type=unix,addr.path=${sock}`],
      deviceArgs: ['virtio-net-pci,netdev=n0,mac=52:54:00:fa:00:01'],
      cmdline: 'vsw.ip=10.250.0.1/24 vsw.hostname=vma',
    });
    // The client's QEMU connects once, at start-up: the server's socket must exist first.
    const bootB = Promise.race([
      waitFor(sock, () => existsSync(sock), 30_000),
      bootA.then(() => { throw new Error('VM a ready before its socket existed'); }),
    ]).then(() => Vm.boot({
      name: `vswtest-b-${process.pid}`,
      netdevArgs: [`stream,id=n0,server=off,addr.type=unix,addr.path=${sock}`],
      deviceArgs: ['virtio-net-pci,netdev=n0,mac=52:54:00:fa:00:02'],
      cmdline: 'vsw.ip=10.250.0.2/24 vsw.hostname=vmb',
    }));
    const booted = await Promise.allSettled([bootA, bootB]);
    for (const r of booted) if (r.status === 'fulfilled') vms.push(r.value);
    for (const r of booted) if (r.status === 'rejected') throw r.reason;
    const [a, b] = vms;
    t.diagnostic(`boot (two VMs in parallel): a ${secs(a.bootMs)}, b ${secs(b.bootMs)}, both ready after ${secs(Date.now() - t0)}`);

    // Addresses and MACs as configured.
    const addrA = await a.run('ip -4 addr show eth0; cat /sys/class/net/eth0/address');
    assert.equal(addrA.code, 0, addrA.output);
    assert.match(addrA.output, /inet 10\.250\.0\.1\/24/);
    assert.match(addrA.output, /52:54:00:fa:00:01/);

    let t1 = Date.now();
    const pingAB = await a.run('ping -c 3 -W 5 10.250.0.2', 60_000);
    const pingMs = Date.now() - t1;
    assert.equal(pingAB.code, 0, pingAB.output);
    assert.match(pingAB.output, /3 packets transmitted, 3 packets received/);
    const pingBA = await b.run('ping -c 3 -W 5 10.250.0.1', 60_000);
    assert.equal(pingBA.code, 0, pingBA.output);
    assert.match(pingBA.output, /3 packets received/);
    const rtt = /min\/avg\/max = ([\d./]+) ms/.exec(pingAB.output)?.[1] ?? '?';
    t.diagnostic(`ping a -> b: 3 replies in ${secs(pingMs)}, rtt min/avg/max ${rtt} ms`);

    // 10 MB over TCP, a -> b. The receiver's nc hands the connection to `cat`, which exits at
    // the sender's EOF and so closes it: when the sender's nc returns, the file is complete.
    t1 = Date.now();
    const mk = await a.run('dd if=/dev/urandom of=/tmp/data bs=1M count=10 2>/dev/null && sha256sum /tmp/data && wc -c < /tmp/data', 120_000);
    assert.equal(mk.code, 0, mk.output);
    const [sumA, sizeA] = [mk.output.split(/\s+/)[0], mk.output.trim().split(/\s+/).pop()];
    assert.match(sumA, /^[0-9a-f]{64}$/);
    assert.equal(sizeA, String(10 << 20));
    const makeMs = Date.now() - t1;

    const listen = await b.run([
      "printf '#!/bin/sh\\ncat > /tmp/recv\\n' > /tmp/rx.sh && chmod +x /tmp/rx.sh",
      'nc -l -p 5001 -e /tmp/rx.sh </dev/null >/dev/null 2>&1 &',
      'for i in $(seq 100); do netstat -ltn | grep -q ":5001 " && exit 0; usleep 100000; done; exit 1',
    ].join('\n'));
    assert.equal(listen.code, 0, `receiver not listening: ${listen.output}`);

    t1 = Date.now();
    const send = await a.run('nc 10.250.0.2 5001 < /tmp/data', 180_000);
    const sendMs = Date.now() - t1;
    assert.equal(send.code, 0, send.output);

    const got = await b.run('sha256sum /tmp/recv && wc -c < /tmp/recv', 60_000);
    assert.equal(got.code, 0, got.output);
    const [sumB, sizeB] = [got.output.split(/\s+/)[0], got.output.trim().split(/\s+/).pop()];
    assert.equal(sizeB, String(10 << 20), 'received size');
    assert.equal(sumB, sumA, 'sha256 of the received file');
    const mbit = ((10 << 20) * 8) / (sendMs / 1000) / 1e6;
    t.diagnostic(`10 MB: made in the VM ${secs(makeMs)}, sent a -> b in ${secs(sendMs)} (${mbit.toFixed(0)} Mbit/s), sha256 ${sumA.slice(0, 16)}... matches`);
  } finally {
    await Promise.all(vms.map((vm) => vm.shutdown()));
    rmSync(dir, { recursive: true, force: true });
  }
});
