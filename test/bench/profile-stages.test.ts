/**
 * The profile's split of the worker's samples by stage (bench/profile.ts stageOf, stageSplit):
 * call chains as `perf script -F ip,sym,dso` prints them, leaf first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stageOf, stageSplit } from '../../bench/profile.js';

const K = '[kernel.kallsyms]';
const k = (...syms: string[]): Array<[string, string]> => syms.map((s) => [s, K]);
const user: Array<[string, string]> = [['read', '/usr/lib/x86_64-linux-gnu/libc.so.6'], ['[unknown]', '/x/koffi.node']];

test('a kernel sample is named by the stage closest to its leaf', () => {
  // The receiving namespace's route lookup, run inside the switch's TAP write.
  assert.equal(stageOf([...k('fib_table_lookup', 'ip_route_input_slow', 'ip_rcv', '__netif_receive_skb_one_core',
    'netif_receive_skb', 'tun_get_user', 'tun_chr_write_iter', 'vfs_write', 'do_syscall_64'), ...user]), "receiver's stack");
  assert.equal(stageOf([...k('__check_object_size', 'tun_get_user', 'tun_chr_write_iter', 'do_syscall_64'), ...user]), 'TAP write');
  assert.equal(stageOf([...k('_copy_to_iter', 'skb_copy_datagram_iter', 'tun_do_read', 'tun_chr_read_iter', 'io_read',
    'io_issue_sqe', 'io_submit_sqes', '__do_sys_io_uring_enter', 'do_syscall_64'), ...user]), 'TAP read');
  assert.equal(stageOf([...k('io_submit_sqes', '__do_sys_io_uring_enter', 'do_syscall_64'), ...user]), 'io_uring');
  assert.equal(stageOf([...k('veth_xmit', 'dev_hard_start_xmit', 'packet_direct_xmit', 'packet_snd', 'packet_sendmsg',
    '____sys_sendmsg', '__sys_sendmmsg', 'do_syscall_64'), ...user]), 'AF_PACKET send');
  // The veth peer's backlog, run at local_bh_enable inside the AF_PACKET send: the LAN host's stack.
  assert.equal(stageOf([...k('ip_rcv_core', 'ip_rcv', '__netif_receive_skb_core.constprop.0', 'process_backlog', '__napi_poll',
    'net_rx_action', 'handle_softirqs', '__local_bh_enable_ip', '__dev_queue_xmit', 'packet_snd'), ...user]), "receiver's stack");
  assert.equal(stageOf([...k('finish_task_switch.isra.0', '__schedule', 'schedule', 'schedule_hrtimeout_range_clock',
    'do_epoll_wait', '__x64_sys_epoll_wait', 'do_syscall_64'), ...user]), 'sleep and wake-up');
  assert.equal(stageOf([...k('ep_send_events', 'ep_poll', 'do_epoll_wait', 'do_syscall_64'), ...user]), 'epoll');
  assert.equal(stageOf([...k('do_syscall_64', 'entry_SYSCALL_64_after_hwframe'), ...user]), 'syscall entry and exit');
  assert.equal(stageOf([...k('kmem_cache_free', 'rcu_core', 'handle_softirqs')]), 'other kernel');
});

test('a user-space sample is named by its dso; a marker above the kernel part does not count', () => {
  assert.equal(stageOf([['JS:*input file:///x/ip-switch.js:416:10', '[JIT] tid 17186'], ...user]), 'JIT JavaScript');
  assert.equal(stageOf([['LazyCompile:*loop', '/tmp/perf-17186.map'], ...user]), 'JIT JavaScript');
  assert.equal(stageOf([['__vdso_clock_gettime', '[vdso]']]), 'vDSO (clock)');
  assert.equal(stageOf([['Builtins_CallApiCallback', '/usr/bin/node']]), 'V8/Node');
  assert.equal(stageOf(user), 'libc');
  assert.equal(stageOf([['[unknown]', '/x/koffi.node']]), 'koffi');
  // A user frame named like a kernel stage is not one.
  assert.equal(stageOf([...k('kmem_cache_free'), ['tun_get_user', '/usr/lib/libfake.so']]), 'other kernel');
  assert.equal(stageOf([]), 'unknown');
});

test('stageSplit: shares of the samples in perf script output', () => {
  const script = [
    '',
    '\tffffffff8225a9d6 do_syscall_64 ([kernel.kallsyms])',
    '\tffffffff81000130 entry_SYSCALL_64_after_hwframe ([kernel.kallsyms])',
    '\t           f82ec read (/usr/lib/x86_64-linux-gnu/libc.so.6)',
    '',
    '\tffffffff816c95d7 __check_object_size ([kernel.kallsyms])',
    '\tffffffff81dff6f7 tun_do_read ([kernel.kallsyms])',
    '\tffffffff81e00098 tun_chr_read_iter ([kernel.kallsyms])',
    '',
    '\tffffffff816c95d7 _copy_to_iter ([kernel.kallsyms])',
    '\tffffffff81dff6f7 tun_do_read ([kernel.kallsyms])',
    '',
    '\t    7fb8f0167510 JS:*transmit file:///x/egress.js:359:13 ([JIT] tid 1)',
    '',
  ].join('\n');
  assert.deepEqual(stageSplit(script), { 'syscall entry and exit': 25, 'TAP read': 50, 'JIT JavaScript': 25 });
  assert.deepEqual(stageSplit(''), {});
});
