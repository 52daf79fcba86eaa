/**
 * `npm run bench -- --profile DIR` (issue 14): where the data-plane worker's time goes. While
 * the first repetition of a vswitch row's TCP, 64-byte and ping tests runs, `perf record -g`
 * samples the worker thread alone (at `hz`: the ping test's worker runs ~1% of the time, so it
 * is sampled more often) (its tid, found by name: bench/cost.ts); the daemon runs with
 * NODE_OPTIONS=--perf-basic-prof, so V8 writes /tmp/perf-PID.map and perf names the JIT-compiled
 * JavaScript functions too. For each (row, test) DIR gets <row>-<test>.perf.data (open it with
 * `perf report -i`; the map file is copied next to it as perf-PID.map) and <row>-<test>.txt:
 * the worker's samples split by where they ran (kernel, V8/Node, JIT-compiled JavaScript,
 * koffi, libc) and the top symbols by self time. `summary()` gives the lines for the report.
 * Needs `perf` (Debian linux-perf); without it the profile says so and the benchmark goes on.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sleep, type Scope, type Proc } from './lib.js';

export interface ProfileResult { row: string; test: string; data: string; text: string; samples: string; split: Record<string, number>; top: Array<[string, number]> }

/** Start sampling thread `tid`; the returned function stops it and writes the report. */
export async function startProfile(scope: Scope, dir: string, row: string, test: string, pid: number, tid: number,
  hz = 999): Promise<() => Promise<ProfileResult | string>> {
  if ((await run('which', ['perf'])).code !== 0) return async () => 'perf is not installed (Debian package linux-perf)';
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${row.replace(/[^A-Za-z0-9_.=-]+/g, '_')}-${test}`);
  const data = `${base}.perf.data`;
  const p: Proc = scope.spawn(null, 'perf', ['record', '-q', '-g', '-F', String(hz), '-t', String(tid), '-o', data]);
  await sleep(300);
  return async () => {
    await p.stop('SIGINT', 10_000);
    if (!existsSync(data)) return `perf record wrote nothing: ${p.stderr.trim().slice(-300)}`;
    const map = `/tmp/perf-${pid}.map`;
    if (existsSync(map)) copyFileSync(map, join(dir, `perf-${pid}.map`));
    const r = await run('perf', ['report', '-i', data, '--no-children', '--sort', 'dso,sym', '--stdio', '-g', 'none', '--percent-limit', '0.5'], { timeoutMs: 120_000 });
    const dso = await run('perf', ['report', '-i', data, '--no-children', '--sort', 'dso', '--stdio', '-g', 'none'], { timeoutMs: 120_000 });
    const split: Record<string, number> = {};
    for (const m of dso.stdout.matchAll(/^\s+([\d.]+)%\s+(\S.*)$/gm)) {
      const name = m[2]!.trim();
      const key = name.startsWith('[kernel') ? 'kernel' : name.startsWith('[JIT]') ? 'JIT JavaScript' : name === 'node' ? 'V8/Node' : name;
      split[key] = (split[key] ?? 0) + Number(m[1]);
    }
    const top: Array<[string, number]> = [];
    for (const m of r.stdout.matchAll(/^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)$/gm)) {
      if (top.length < 15) top.push([`${m[3]!.trim()} (${m[2]})`, Number(m[1])]);
    }
    const samples = /# Samples: (\S+)/.exec(r.stdout)?.[1] ?? '?';
    const text = `${base}.txt`;
    writeFileSync(text, r.stdout);
    return { row, test, data, text, samples, split, top };
  };
}

/** The report's lines for the profiles taken. */
export function summary(ps: Array<ProfileResult | string>): string {
  if (ps.length === 0) return '';
  const lines = ['worker profiles (perf record of the worker thread, first repetition; self time):'];
  for (const p of ps) {
    if (typeof p === 'string') { lines.push(`  n/a: ${p}`); continue; }
    const split = Object.entries(p.split).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}%`).join(', ');
    lines.push(`  ${p.row} ${p.test} (${p.samples} samples): ${split}  (${p.data})`);
    for (const [sym, pct] of p.top.slice(0, 10)) lines.push(`      ${pct.toFixed(1).padStart(5)}%  ${sym}`);
  }
  return lines.join('\n');
}

/** Remove the map file V8 wrote for a profiled daemon (it grows with every compiled function). */
export function removePerfMap(pid: number): void {
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
}
