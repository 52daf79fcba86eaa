/**
 * Benchmark (not a test: `node dist/test/control/replay-bench.js [records...]`): how long start-up
 * takes to read and replay a history, for journals of the given sizes (default 10k, 40k, 100k),
 * of two shapes: churn (a long-running daemon's history: few live definitions, many made and
 * removed; src test/helpers/history.ts churnHistory) and live (every record still defines
 * something: container guests with a NIC each, coupled), each as a bare journal and after
 * compaction (snapshot + empty journal). Prints one line per case; the goal is a restart
 * with 100,000 definitions in the history under 2 s.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { StartUp } from '../../src/control/controlplane.js';
import { History } from '../../src/control/history.js';
import { JOURNAL_FILE } from '../../src/control/journal.js';
import { State } from '../../src/control/state.js';
import { churnHistory, journalOf } from '../helpers/history.js';

function* liveHistory(n: number): Generator<string> {
  let made = 0;
  for (let s = 0; s < 20 && made < n; s++, made++) yield `DEFINE VSWITCH SW${s} RDEV NONE`;
  for (let g = 0; made < n; g++) {
    for (const c of [`DEFINE GUEST L${g} NETNS ns${g}`, `DEFINE NIC 0600 FOR L${g}`, `SET VSWITCH SW${g % 20} GRANT L${g}`, `COUPLE 0600 TO SYSTEM SW${g % 20} FOR L${g}`]) {
      if (made++ < n) yield c;
    }
  }
}

const quiet = pino({ level: 'silent' });
const env = { interfaceExists: () => true };

function replay(dir: string): { ms: number; guests: number } {
  const startUp = new StartUp(new State(), env, quiet);
  const t = performance.now();
  const { history } = History.open(dir, startUp, quiet, { compactAfter: 100_000_000 });
  const ms = performance.now() - t;
  history.close();
  return { ms, guests: startUp.state.guests.size };
}

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  for (const n of sizes.length > 0 ? sizes : [10_000, 40_000, 100_000]) {
    for (const [shape, gen] of [['churn', churnHistory], ['live', liveHistory]] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'vswbench-'));
      try {
        const { data } = journalOf(gen(n));
        writeFileSync(join(dir, JOURNAL_FILE), data);
        const bare = replay(dir);
        // Compact it, then replay snapshot + empty journal.
        const startUp = new StartUp(new State(), env, quiet);
        const { history } = History.open(dir, startUp, quiet, { compactAfter: 100_000_000 });
        const t = performance.now();
        await history.compact();
        const compactMs = performance.now() - t;
        history.close();
        const compacted = replay(dir);
        console.log(`${shape.padEnd(5)} ${String(n).padStart(7)} records (${(data.length / 1e6).toFixed(1)} MB): replay ${bare.ms.toFixed(0)} ms`
          + ` (${(bare.ms * 1000 / n).toFixed(1)} us/record); compaction ${compactMs.toFixed(0)} ms; after it ${compacted.ms.toFixed(0)} ms; ${bare.guests} guests`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

void main();
