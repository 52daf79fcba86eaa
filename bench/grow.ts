/**
 * Cost as work grows (issue 14), `--only grow`: one IP-mode switch with 2, 8, 32 and 128
 * namespace guests; G1 sends 64-byte frames (trafgen) to every other guest in turn, so the
 * flows spread over all of them. For each size: the delivered rate (frames the switch sent out
 * of its ports per second, from its /metrics) and the worker's CPU ns per frame it received
 * (bench/cost.ts), the median of the repetitions. The per-frame cost should stay flat (issue
 * 14: at most 1.3x from the smallest to the largest). Each size is set up, measured and torn
 * down in turn, inside the given scope.
 */
import { median, type Scope } from './lib.js';
import { framesOnce, writeTrafgenConfigTo } from './measure.js';
import { vswitchGuests } from './paths.js';
import { costOf } from './cost.js';

export const GROW_GUESTS = [2, 8, 32, 128];

export interface GrowRow { guests: number; framesPerSec: number | null; nsPerFrame: number | null; error?: string }

export async function measureGrow(o: { scope: Scope; prefix: string; repoRoot: string; reps: number; seconds: number; log: (m: string) => void }): Promise<GrowRow[]> {
  const rows: GrowRow[] = [];
  for (const [k, n] of GROW_GUESTS.entries()) {
    const scope = o.scope.child(`grow${n}`);
    const row: GrowRow = { guests: n, framesPerSec: null, nsPerFrame: null };
    try {
      o.log(`grow: ${n} guests: setting up`);
      const s = await vswitchGuests({ scope, prefix: `${o.prefix}${k}`, net: 90 + k, repoRoot: o.repoRoot, log: o.log }, n);
      const probe = s.probe!;
      const [src, ...dsts] = s.guests!;
      const cfg = await writeTrafgenConfigTo(scope.tempDir('tg'), src!, dsts);
      const rates: number[] = [], ns: number[] = [];
      for (let r = 0; r < o.reps; r++) {
        const a = await probe();
        rates.push(await framesOnce(scope, s.topology, cfg, o.seconds, 1, async () => (await probe()).txFrames));
        const c = costOf(a, await probe());
        if (c.nsPerFrame !== null) ns.push(c.nsPerFrame);
        o.log(`grow: ${n} guests: ${(rates.at(-1)! / 1e3).toFixed(1)} k/s delivered, worker ${c.nsPerFrame?.toFixed(0) ?? 'n/a'} ns/frame`);
      }
      row.framesPerSec = median(rates);
      row.nsPerFrame = ns.length ? median(ns) : null;
    } catch (e) {
      row.error = (e as Error).message.replace(/\s+/g, ' ').slice(0, 300);
      o.log(`grow: ${n} guests: n/a: ${row.error}`);
    } finally {
      scope.close();
    }
    rows.push(row);
  }
  return rows;
}

export function growText(rows: GrowRow[] | null): string {
  if (rows === null) return 'cost as guests grow: not selected (--only grow)';
  const lines = ['cost as guests grow (one IP-mode switch, G1 -> every other guest in turn, 64-byte frames):',
    '  guests | delivered kfr/s | worker ns/frame | x smallest'];
  const base = rows.find((r) => r.nsPerFrame !== null)?.nsPerFrame ?? null;
  for (const r of rows) {
    const x = base !== null && r.nsPerFrame !== null ? `${(r.nsPerFrame / base).toFixed(2)}x` : '-';
    lines.push(`  ${String(r.guests).padStart(6)} | ${(r.framesPerSec === null ? 'n/a' : (r.framesPerSec / 1e3).toFixed(1)).padStart(15)} | ${(r.nsPerFrame === null ? 'n/a' : r.nsPerFrame.toFixed(0)).padStart(15)} | ${x.padStart(10)}${r.error ? `  (${r.error})` : ''}`);
  }
  return lines.join('\n');
}
