/**
 * Cost as work grows (issue 14).
 *
 * `--only grow`: one IP-mode switch with 2, 8, 32 and 128
 * namespace guests; G1 sends 64-byte frames (trafgen) to every other guest in turn, so the
 * flows spread over all of them. For each size: the delivered rate (frames the switch sent out
 * of its ports per second, from its /metrics) and the worker's CPU ns per frame it received
 * (bench/cost.ts), the median of the repetitions. The per-frame cost should stay flat (issue
 * 14: at most 1.3x from the smallest to the largest). Each size is set up, measured and torn
 * down in turn, inside the given scope.
 *
 * `--only table`: one IP-mode switch (the data plane alone, bench/lan-table.ts: no daemon can be
 * given 100,000 addresses in reasonable time) with two guests and a LAN IP table of 10, 1,000
 * and 100,000 entries; G1 sends 64-byte frames to the hot set 10.200.1.0 .. 10.200.1.(H-1),
 * H = min(entries, 256), one address after the other (trafgen dinc), every one an entry that
 * delivers to G2. For each size: the delivered rate and the worker's CPU ns per frame, and the
 * ratio of the largest table's ns/frame to the smallest's (the goal: flat, at most 1.3x).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median, sh, sleep, waitFor, type Scope } from './lib.js';
import { framesOnce, linkMac, macBytes, nextHopMac, pingOnce, udpFrame4, writeTrafgenConfigTo, type Topology } from './measure.js';
import { vswitchGuests } from './paths.js';
import { costOf, type Sample } from './cost.js';

export const GROW_GUESTS = [2, 8, 32, 128];

export interface GrowRow { guests: number; framesPerSec: number | null; nsPerFrame: number | null; error?: string }

/** One size measured: its delivered rate and the worker's ns per frame (medians), or why not. */
interface SizeFigures { framesPerSec: number | null; nsPerFrame: number | null; error?: string }

/** What a size's set-up hands back to be measured. */
interface SizeSetup { topology: Topology; cfg: string; probe: () => Promise<Sample>; settleMs?: number }

/**
 * Set up, measure (reps x 64-byte frames, delivered = frames the switch sent) and tear down one
 * size inside its own child scope; `what` names it in the log ("grow: 8 guests").
 */
async function measureSize(o: { scope: Scope; reps: number; seconds: number; log: (m: string) => void }, what: string,
  setup: (scope: Scope) => Promise<SizeSetup>): Promise<SizeFigures> {
  const scope = o.scope.child(what.replace(/\W+/g, ''));
  const row: SizeFigures = { framesPerSec: null, nsPerFrame: null };
  try {
    o.log(`${what}: setting up`);
    const s = await setup(scope);
    const rates: number[] = [], ns: number[] = [];
    for (let r = 0; r < o.reps; r++) {
      const a = await s.probe();
      rates.push(await framesOnce(scope, s.topology, s.cfg, o.seconds, 1, async () => (await s.probe()).txFrames));
      if (s.settleMs) await sleep(s.settleMs);
      const c = costOf(a, await s.probe());
      if (c.nsPerFrame !== null) ns.push(c.nsPerFrame);
      o.log(`${what}: ${(rates.at(-1)! / 1e3).toFixed(1)} k/s delivered, worker ${c.nsPerFrame?.toFixed(0) ?? 'n/a'} ns/frame`);
    }
    row.framesPerSec = median(rates);
    row.nsPerFrame = ns.length ? median(ns) : null;
  } catch (e) {
    row.error = (e as Error).message.replace(/\s+/g, ' ').slice(0, 300);
    o.log(`${what}: n/a: ${row.error}`);
  } finally {
    scope.close();
  }
  return row;
}

export async function measureGrow(o: { scope: Scope; prefix: string; repoRoot: string; reps: number; seconds: number; log: (m: string) => void }): Promise<GrowRow[]> {
  const rows: GrowRow[] = [];
  for (const [k, n] of GROW_GUESTS.entries()) {
    rows.push({ guests: n, ...await measureSize(o, `grow: ${n} guests`, async (scope) => {
      const s = await vswitchGuests({ scope, prefix: `${o.prefix}${k}`, net: 90 + k, repoRoot: o.repoRoot, log: o.log }, n);
      const [src, ...dsts] = s.guests!;
      return { topology: s.topology, cfg: await writeTrafgenConfigTo(scope.tempDir('tg'), src!, dsts), probe: s.probe! };
    }) });
  }
  return rows;
}

/** A table of sizes: the size, delivered kfr/s, worker ns/frame, x the smallest size's, and largest / smallest. */
function sizesText(title: string, column: string, rows: Array<SizeFigures & { size: number }>): string {
  const w = Math.max(column.length, 6);
  const lines = [title, `  ${column.padStart(w)} | delivered kfr/s | worker ns/frame | x smallest`];
  const base = rows.find((r) => r.nsPerFrame !== null)?.nsPerFrame ?? null;
  for (const r of rows) {
    const x = base !== null && r.nsPerFrame !== null ? `${(r.nsPerFrame / base).toFixed(2)}x` : '-';
    lines.push(`  ${String(r.size).padStart(w)} | ${(r.framesPerSec === null ? 'n/a' : (r.framesPerSec / 1e3).toFixed(1)).padStart(15)} | ${(r.nsPerFrame === null ? 'n/a' : r.nsPerFrame.toFixed(0)).padStart(15)} | ${x.padStart(10)}${r.error ? `  (${r.error})` : ''}`);
  }
  const last = rows.at(-1);
  if (base !== null && last?.nsPerFrame != null) lines.push(`  largest / smallest: ${(last.nsPerFrame / base).toFixed(2)}x (goal: at most 1.3x)`);
  return lines.join('\n');
}

export function growText(rows: GrowRow[] | null): string {
  if (rows === null) return 'cost as guests grow: not selected (--only grow)';
  return sizesText('cost as guests grow (one IP-mode switch, G1 -> every other guest in turn, 64-byte frames):', 'guests',
    rows.map((r) => ({ ...r, size: r.guests })));
}

export const TABLE_ENTRIES = [10, 1_000, 100_000];

export interface TableRow { entries: number; framesPerSec: number | null; nsPerFrame: number | null; error?: string }

export async function measureTable(o: { scope: Scope; prefix: string; repoRoot: string; reps: number; seconds: number; net: number; log: (m: string) => void }): Promise<TableRow[]> {
  const rows: TableRow[] = [];
  for (const [k, n] of TABLE_ENTRIES.entries()) {
    rows.push({ entries: n, ...await measureSize(o, `table: ${n} entries`, async (scope) => {
      const g1 = await scope.netns(`${o.prefix}${k}a`), g2 = await scope.netns(`${o.prefix}${k}b`);
      const ip1 = `10.77.${o.net}.11`, ip2 = `10.77.${o.net}.12`;
      const file = join(scope.tempDir('lt'), 'sample.json');
      const p = scope.spawn(null, process.execPath, [join(o.repoRoot, 'dist/bench/lan-table.js'), String(n), g1, g2, ip1, ip2, file]);
      await waitFor('the data plane', 30_000, () => p.stdout.includes('ready') || !p.running);
      if (!p.running) throw new Error(`lan-table exited: ${p.stderr.trim()}`);
      for (const [ns, ip] of [[g1, ip1], [g2, ip2]] as const) {
        await sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'enc600']);
        await sh('ip', ['-n', ns, 'link', 'set', 'enc600', 'up']);
      }
      await sh('ip', ['-n', g1, 'route', 'add', '10.200.0.0/16', 'dev', 'enc600']);
      const src = { ns: g1, dev: 'enc600', ip: ip1 };
      // The guests' addresses are set last (lan-table.ts): G1 reaching G2 means the table is whole.
      await waitFor(`G1 to reach G2 (a table of ${n})`, 120_000, () => pingOnce(src, ip2), 500);
      await waitFor('G1 to reach the hot set', 20_000, () => pingOnce(src, '10.200.1.0').then(() => true), 500);
      const hot = Math.min(n, 256);
      const dstMac = await nextHopMac(src, '10.200.1.0');
      const srcMac = await linkMac(src);
      const cfg = join(scope.tempDir('tg'), 'table.cfg');
      writeFileSync(cfg, `/* 64-byte UDP frames ${ip1} -> 10.200.1.0 .. 10.200.1.${hot - 1}, one address after the other */
{
  ${macBytes(dstMac)},
  ${macBytes(srcMac)},
${udpFrame4(ip1, `10, 200, 1, dinc(0, ${hot - 1})`)}
}
`);
      const probe = async (): Promise<Sample> => JSON.parse(readFileSync(file, 'utf8')) as Sample;
      // lan-table.ts writes a sample every 50 ms: wait for one taken after trafgen stopped.
      return { topology: { src, dst: { ns: g2, dev: 'enc600', ip: ip2 } }, cfg, probe, settleMs: 100 };
    }) });
  }
  return rows;
}

export function tableText(rows: TableRow[] | null): string {
  if (rows === null) return 'cost as the LAN IP table grows: not selected (--only table)';
  return sizesText('cost as the LAN IP table grows (one IP-mode switch, data plane alone, G1 -> up to 256 table entries in turn, 64-byte frames):',
    'entries', rows.map((r) => ({ ...r, size: r.entries })));
}
