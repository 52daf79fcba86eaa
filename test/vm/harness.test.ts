/**
 * Self-test of the VM harness (test/helpers/vm.ts, scripts/vm-image.sh), without the switch:
 * a VM with no NIC answers commands with their exact output and exit status. The VM's
 * networking is proven through the switch by test/e2e/vm*.test.ts. (Two VMs joined directly
 * by QEMU 7.2's own `-netdev stream` were dropped from here: a 10 MB transfer between them
 * stalled once in a CI run with no switch involved, so it tested QEMU, not vswitch.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vm } from '../helpers/vm.js';

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
    const slow = await vm.run('sleep 30', 2000);
    assert.equal(slow.code, 137, 'killed at its limit (137: SIGKILL), not run for its 30 s');
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
