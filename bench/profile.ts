/**
 * `npm run bench -- --profile DIR` (issue 14): where the data-plane worker's time goes. While
 * the first repetition of a vswitch row's TCP, 64-byte and ping tests runs, `perf record -g`
 * samples the worker thread alone (at `hz`: the ping test's worker runs ~1% of the time, so it
 * is sampled more often) (its tid, found by name: bench/cost.ts); the daemon runs with
 * NODE_OPTIONS=--perf-basic-prof, so V8 writes /tmp/perf-PID.map and perf names the JIT-compiled
 * JavaScript functions too. For each (row, test) DIR gets <row>-<test>.perf.data (open it with
 * `perf report -i`; the map file is copied next to it as perf-PID.map) and <row>-<test>.txt:
 * the worker's samples split by where they ran (kernel, V8/Node, JIT-compiled JavaScript,
 * koffi, libc), the kernel's share split by the stage it served (stageOf: the receiving side's
 * network stack, which the kernel runs inside the switch's TAP or AF_PACKET write; TAP reads and
 * writes; AF_PACKET; epoll; sleep and wake-up; syscall entry), and the top symbols by self time.
 * `summary()` gives the lines for the report.
 * Needs `perf` (Debian linux-perf); without it the profile says so and the benchmark goes on.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, sleep, type Scope, type Proc } from './lib.js';

export interface ProfileResult {
  row: string; test: string; data: string; text: string; samples: string;
  split: Record<string, number>; stages: Record<string, number>; top: Array<[string, number]>;
}

/**
 * The stage a kernel sample served, named by the first frame of its call chain (leaf first)
 * that belongs to one: a sample in fib_table_lookup under ip_rcv under tun_get_user is the
 * receiving side's stack, not the TAP write. Order of the chain: leaf first, as perf prints it.
 */
const KERNEL_STAGES: Array<[string, RegExp]> = [
  // The kernel delivers a written frame to its receiver at once, in the writer's thread (TAP:
  // netif_receive_skb in tun_get_user; veth: the peer's backlog in the sender's softirq).
  ["receiver's stack", /^(__netif_receive_skb\w*|netif_receive_skb\w*|process_backlog|net_rx_action|__napi_poll|veth_poll|napi_gro_receive|gro_receive_skb|ip_rcv|ip_list_rcv|ipv6_rcv|ipv6_list_rcv|arp_rcv)$/],
  ['TAP read', /^(tun_do_read|tun_chr_read_iter|tun_ring_recv|tun_put_user)$/],
  ['TAP write', /^(tun_get_user|tun_chr_write_iter)$/],
  ['AF_PACKET send', /^(packet_sendmsg|packet_snd|tpacket_snd|packet_direct_xmit|__dev_queue_xmit|dev_queue_xmit|__sys_sendmmsg)$/],
  ['AF_PACKET receive', /^(packet_recvmsg|do_recvmmsg|__sys_recvmmsg)$/],
  ['sleep and wake-up', /^(__schedule|schedule|finish_task_switch|schedule_hrtimeout_range_clock|do_nanosleep|__x64_sys_sched_yield|do_sched_yield)$/],
  ['epoll', /^(do_epoll_wait|do_epoll_pwait|ep_poll|ep_send_events|__x64_sys_epoll_wait|__x64_sys_epoll_pwait2)$/],
  ['io_uring', /^(io_submit_sqes|io_issue_sqe|__do_sys_io_uring_enter|__x64_sys_io_uring_enter)$/],
  ['syscall entry and exit', /^(do_syscall_64|entry_SYSCALL_64\w*|syscall_exit_to_user_mode\w*|exit_to_user_mode\w*|syscall_return_via_sysret)$/],
];

/**
 * The stage of one sample from its call chain, leaf first: [symbol, dso] per frame. A sample
 * that ran in user space is named by its dso (JIT JavaScript, V8/Node, koffi, libc); one in the
 * kernel by KERNEL_STAGES, else "other kernel". Symbols lose their compiler suffix (".isra.0").
 */
export function stageOf(chain: Array<[string, string]>): string {
  const leaf = chain[0];
  if (leaf === undefined) return 'unknown';
  if (!leaf[1].startsWith('[kernel')) return dsoClass(leaf[1]);
  for (const [sym, dso] of chain) {
    if (!dso.startsWith('[kernel')) break; // the chain left the kernel: the syscall's caller
    const name = sym.split('.')[0]!;
    for (const [stage, re] of KERNEL_STAGES) if (re.test(name)) return stage;
  }
  return 'other kernel';
}

/** A user-space dso's class, as the split names it. */
function dsoClass(dso: string): string {
  // perf script names V8's code by the map file it read (/tmp/perf-PID.map), perf report by "[JIT] tid N".
  if (dso.startsWith('[JIT]') || /perf-\d+\.map$/.test(dso) || dso === '[unknown]') return 'JIT JavaScript';
  if (dso === '[vdso]') return 'vDSO (clock)';
  if (dso === 'node' || dso.endsWith('/node')) return 'V8/Node';
  if (dso.includes('koffi')) return 'koffi';
  if (dso.includes('libc.so')) return 'libc';
  return dso.split('/').at(-1)!;
}

/** Shares (%) of the samples in `perf script -F ip,sym,dso` output, by stageOf. */
export function stageSplit(script: string): Record<string, number> {
  const counts = new Map<string, number>();
  let total = 0;
  for (const block of script.split(/\n\s*\n/)) {
    const chain: Array<[string, string]> = [];
    for (const m of block.matchAll(/^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$/gm)) chain.push([m[1]!, m[2]!]);
    if (chain.length === 0) continue;
    const stage = stageOf(chain);
    counts.set(stage, (counts.get(stage) ?? 0) + 1);
    total++;
  }
  const out: Record<string, number> = {};
  for (const [k, v] of counts) out[k] = (100 * v) / total;
  return out;
}

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
    const script = await run('perf', ['script', '-i', data, '-F', 'ip,sym,dso'], { timeoutMs: 120_000 });
    const stages = stageSplit(script.stdout);
    const samples = /# Samples: (\S+)/.exec(r.stdout)?.[1] ?? '?';
    const text = `${base}.txt`;
    writeFileSync(text, r.stdout);
    return { row, test, data, text, samples, split, stages, top };
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
    const stages = Object.entries(p.stages).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}%`).join(', ');
    if (stages !== '') lines.push(`    by stage: ${stages}`);
    for (const [sym, pct] of p.top.slice(0, 10)) lines.push(`      ${pct.toFixed(1).padStart(5)}%  ${sym}`);
  }
  return lines.join('\n');
}

/** Remove the map file V8 wrote for a profiled daemon (it grows with every compiled function). */
export function removePerfMap(pid: number): void {
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
}
