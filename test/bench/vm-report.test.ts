/**
 * The VM section of the benchmark report (bench/vm.ts vmText): per transport a line of figures
 * and a line of the worker's cost, the DGRAM / stream and TAP / stream ratios when both ran,
 * n/a rows with their reason, and "not selected".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vmText, type VmRow, type VmTransport } from '../../bench/vm.js';

const m = (v: number) => ({ values: [v], median: v });
const none = { values: [], median: null };

function row(transport: VmTransport, tcp: number, p50: number, ns: number): VmRow {
  return {
    transport, status: 'ok', bootSeconds: 9.5, tcpMbps: m(tcp), pingP50Ms: m(p50), pingP99Ms: m(p50 * 3), rxBytesPerFrame: transport === 'TAP' ? 6000 : 1400,
    tcpNsPerFrame: m(ns), tcpCpuShare: m(0.25), tcpCpuMsPerMiB: m(ns / 1000), pingNsPerFrame: m(ns * 10),
  };
}

test('three transports: figures, the worker\'s cost, and the ratios to stream', () => {
  assert.equal(vmText({ status: 'ok', rows: [row('STREAM', 100, 1, 2000), row('DGRAM', 80, 1.2, 3000), row('TAP', 250, 0.5, 8000)] }), [
    'VM to namespace guest (QEMU TCG, test image; TCP VM -> guest, ping from the VM; worker = the data-plane thread, per frame the switch received):',
    '  stream socket (-netdev stream)  TCP 100 Mbit/s  ping p50 1.000 / p99 3.000 ms  (1400 bytes a frame from the VM; boot 9.5 s)',
    '                                  worker: TCP 2000 ns/frame, 25% CPU, 2.00 ms CPU per MiB; ping 20000 ns/frame',
    '  dgram socket (-netdev dgram)    TCP 80 Mbit/s  ping p50 1.200 / p99 3.600 ms  (1400 bytes a frame from the VM; boot 9.5 s)',
    '                                  worker: TCP 3000 ns/frame, 25% CPU, 3.00 ms CPU per MiB; ping 30000 ns/frame',
    '  host TAP (-netdev tap)          TCP 250 Mbit/s  ping p50 0.500 / p99 1.500 ms  (6000 bytes a frame from the VM; boot 9.5 s)',
    '                                  worker: TCP 8000 ns/frame, 25% CPU, 8.00 ms CPU per MiB; ping 80000 ns/frame',
    '  dgram / stream: TCP x0.80, ping p50 x1.20, worker TCP ns/frame x1.50, CPU per MiB x1.50',
    '  TAP / stream: TCP x2.50, ping p50 x0.50, worker TCP ns/frame x4.00, CPU per MiB x4.00',
  ].join('\n'));
});

test('no worker figures (probe failed): n/a in the cost line, no cost ratios', () => {
  const a = { ...row('STREAM', 100, 1, 2000), tcpNsPerFrame: none, tcpCpuShare: none, tcpCpuMsPerMiB: none, pingNsPerFrame: none };
  const text = vmText({ status: 'ok', rows: [a, row('TAP', 250, 0.5, 8000)] });
  assert.match(text, /^ +worker: TCP n\/a ns\/frame, n\/a CPU, n\/a ms CPU per MiB; ping n\/a ns\/frame$/m);
  assert.match(text, /^ {2}TAP \/ stream: TCP x2\.50, ping p50 x0\.50$/m);
});

test('a transport that could not run says why, and there is no ratio; not selected; nothing at all', () => {
  const bad: VmRow = { ...row('TAP', 0, 0, 0), status: 'n/a', reason: 'no ping from the VM' };
  const text = vmText({ status: 'partial', reason: 'TAP: no ping from the VM', rows: [row('STREAM', 100, 1, 2000), bad] });
  assert.match(text, /^ {2}partial: TAP: no ping from the VM$/m);
  assert.match(text, /^ {2}host TAP \(-netdev tap\) +n\/a: no ping from the VM$/m);
  assert.doesNotMatch(text, /TAP \/ stream/);
  assert.match(vmText(null), /not selected \(--only\)$/);
  assert.match(vmText({ status: 'n/a', reason: 'no QEMU', rows: [] }), /\n {2}n\/a: no QEMU$/);
});
