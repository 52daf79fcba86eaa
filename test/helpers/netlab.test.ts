/**
 * The lab's ledger of namespaces: a test process killed before its cleanup leaves namespaces
 * behind, and the next process's first NetLab removes those (and only those whose owner is gone).
 * Real processes and real namespaces: a child creates a namespace and is SIGKILLed; another
 * child, still running, keeps its own; a third process's first NetLab sweeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from './netlab.js';

const NETLAB = fileURLToPath(new URL('./netlab.js', import.meta.url));

/** A node child that makes a lab namespace, prints its name, then waits to be killed. */
function holder(prefix: string) {
  const code = `import { NetLab } from ${JSON.stringify(NETLAB)};
    const ns = new NetLab(${JSON.stringify(prefix)}).netns('x');
    console.log(ns); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const name = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out.trim()); });
    child.once('exit', (c) => reject(new Error(`holder exited ${c} before naming its namespace`)));
  });
  return { child, name };
}

const exists = (ns: string) => run('ip', ['netns', 'list']).stdout.split('\n').some((l) => l.split(' ')[0] === ns);

test('a killed test process leaves namespaces the next lab removes; a live one keeps its own', async () => {
  const dead = holder('nlsd');
  const live = holder('nlsl');
  const deadNs = await dead.name;
  const liveNs = await live.name;
  try {
    assert.ok(exists(deadNs) && exists(liveNs), 'both holders made their namespace');
    dead.child.kill('SIGKILL');
    await new Promise((r) => dead.child.once('exit', r));
    assert.ok(exists(deadNs), 'SIGKILL leaves the namespace behind (nothing ran its cleanup)');
    const sweep = spawnSync(process.execPath, ['--input-type=module', '-e',
      `import { NetLab } from ${JSON.stringify(NETLAB)}; new NetLab('nlss');`], { encoding: 'utf8' });
    assert.equal(sweep.status, 0, sweep.stderr);
    assert.ok(!exists(deadNs), `the dead owner's namespace ${deadNs} was removed`);
    assert.ok(exists(liveNs), `the live owner's namespace ${liveNs} was left alone`);
  } finally {
    live.child.kill('SIGKILL');
    await new Promise((r) => live.child.once('exit', r));
    for (const ns of [deadNs, liveNs]) run('ip', ['netns', 'del', ns]);
    run('rm', ['-f', `/run/vswitch-tests/netns/${deadNs}`, `/run/vswitch-tests/netns/${liveNs}`]);
  }
});
