/**
 * The VM section of the benchmark report (bench/vm.ts vmText): one line per transport with its
 * figures, the TAP / stream ratios when both ran, n/a rows with their reason, and "not selected".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vmText, type VmRow } from '../../bench/vm.js';

const m = (v: number) => ({ values: [v], median: v });

function row(transport: 'STREAM' | 'TAP', tcp: number, p50: number): VmRow {
  return { transport, status: 'ok', bootSeconds: 9.5, tcpMbps: m(tcp), pingP50Ms: m(p50), pingP99Ms: m(p50 * 3), rxBytesPerFrame: transport === 'TAP' ? 6000 : 1400 };
}

test('both transports: figures and the TAP / stream ratios', () => {
  assert.equal(vmText({ status: 'ok', rows: [row('STREAM', 100, 1), row('TAP', 250, 0.5)] }), [
    'VM to namespace guest (QEMU TCG, test image; TCP VM -> guest, ping from the VM):',
    '  stream socket (-netdev stream)  TCP 100 Mbit/s  ping p50 1.000 / p99 3.000 ms  (1400 bytes a frame from the VM; boot 9.5 s)',
    '  host TAP (-netdev tap)          TCP 250 Mbit/s  ping p50 0.500 / p99 1.500 ms  (6000 bytes a frame from the VM; boot 9.5 s)',
    '  TAP / stream: TCP x2.50, ping p50 x0.50',
  ].join('\n'));
});

test('a transport that could not run says why, and there is no ratio; not selected; nothing at all', () => {
  const bad: VmRow = { ...row('TAP', 0, 0), status: 'n/a', reason: 'no ping from the VM' };
  const text = vmText({ status: 'partial', reason: 'TAP: no ping from the VM', rows: [row('STREAM', 100, 1), bad] });
  assert.match(text, /^ {2}partial: TAP: no ping from the VM$/m);
  assert.match(text, /^ {2}host TAP \(-netdev tap\) +n\/a: no ping from the VM$/m);
  assert.doesNotMatch(text, /TAP \/ stream/);
  assert.match(vmText(null), /not selected \(--only\)$/);
  assert.match(vmText({ status: 'n/a', reason: 'no QEMU', rows: [] }), /\n {2}n\/a: no QEMU$/);
});
