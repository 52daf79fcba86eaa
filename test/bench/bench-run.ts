/**
 * Helper of the benchmark smoke tests (not a test itself): run `node dist/bench/run.js --only
 * NAMES --quick` with its results in a fresh temporary directory, hand the directory to `check`
 * with the exit status asserted 0, then check that the run left no namespace of its tag and
 * remove the directory (also on failure).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../bench/lib.js';

const runJs = resolve(dirname(fileURLToPath(import.meta.url)), '../../bench/run.js');

export async function quickBench(only: string, timeoutMs: number, check: (out: string, tail: string) => void): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), `vsw-bench-${only}-`));
  try {
    const r = await run(process.execPath, [runJs, '--only', only, '--quick', '--out', out], { timeoutMs });
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-8).join('\n');
    assert.equal(r.code, 0, `bench exited ${r.code}:\n${tail}`);
    check(out, tail);
    const tag = /tag (vsbn[0-9a-z]+-)/.exec(r.stderr)?.[1];
    assert.ok(tag, 'the run printed its tag');
    const left = (await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(tag));
    assert.deepEqual(left, [], 'the run removed its namespaces');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
