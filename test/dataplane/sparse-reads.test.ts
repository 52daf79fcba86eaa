/**
 * Sparse reads (issue 14; loop.ts "Sparse reads", VSWITCH_SPARSE_READS): a TAP port whose
 * traffic is sparse is read one frame per wake-up, with no second read() that finds EAGAIN;
 * a burst makes it read to EAGAIN again, and nothing is lost either way. Counted by the kernel:
 * the data-plane thread's read syscalls (/proc/self/task/TID/io, `syscr`) against the frames
 * its ports received, with the lever on (the default) and off (VSWITCH_SPARSE_READS=0), on two
 * real TAPs in namespaces made here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DataPlane } from '../../src/host/dataplane.js';
import { openTap } from '../../src/host/devices.js';
import { LoopCounter, PortCounter, loopSlot, portSlot } from '../../src/forward/counters.js';
import { parseIpv4 } from '../../src/wire/addr.js';
import { addNs, delNs, inNs, ip, uniq } from '../helpers/netns.js';
import { workerSyscalls } from './worker-io.js';

const nsA = uniq('vssa'), nsB = uniq('vssb');
const SW = 3, PA = 31, PB = 32;

before(() => { addNs(nsA); addNs(nsB); });
after(() => { delNs(nsA); delNs(nsB); });

/** The data-plane thread's read syscalls so far. */
function workerReads(): number {
  return workerSyscalls().reads;
}

/** A data plane with guests A and B on TAPs (sparse reads as `env` says), run through `fn`, then stopped. */
async function withSwitch(env: string | undefined, fn: (dp: DataPlane) => Promise<void>): Promise<void> {
  if (env === undefined) delete process.env.VSWITCH_SPARSE_READS;
  else process.env.VSWITCH_SPARSE_READS = env;
  const dp = await DataPlane.start();
  try {
    dp.post({ op: 'switch-add', sw: SW, mode: 'IP', queueBytes: 0 });
    for (const [ns, port, addr] of [[nsA, PA, '10.79.7.11'], [nsB, PB, '10.79.7.12']] as const) {
      const mac = 0x020000000700 + port;
      const t = openTap({ netns: ns, name: 'enc600', mac, persist: false });
      dp.post({ op: 'port-add', port, sw: SW, role: 'nic', kind: 'tap', fd: t.fd, mac, vnet: true, name: ns });
      ip('-n', ns, 'addr', 'replace', `${addr}/24`, 'dev', 'enc600');
      ip('-n', ns, 'link', 'set', 'enc600', 'up');
      dp.post({ op: 'ip-set', sw: SW, ip: parseIpv4(addr), port, localOnly: true });
    }
    inNs(nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '10.79.7.12'); // neighbours resolved, code warm
    await fn(dp);
  } finally {
    await dp.stop();
  }
}

function rxFrames(dp: DataPlane): number {
  return dp.counters[portSlot(PA, PortCounter.RxFrames)]! + dp.counters[portSlot(PB, PortCounter.RxFrames)]!;
}

/** Read syscalls per received frame over 40 pings 50 ms apart (each wake-up: one frame). */
async function readsPerFrameSparse(dp: DataPlane): Promise<number> {
  const r0 = workerReads(), f0 = rxFrames(dp);
  inNs(nsA, 'ping', '-q', '-c', '40', '-i', '0.05', '-W', '2', '10.79.7.12');
  const reads = workerReads() - r0, frames = rxFrames(dp) - f0;
  assert.ok(frames >= 80, `80 frames or more crossed (${frames})`);
  console.log(`# ${reads} reads for ${frames} frames`);
  return reads / frames;
}

test('sparse traffic: one read per frame with the lever on, two with it off', async () => {
  let on = 0, off = 0;
  await withSwitch(undefined, async (dp) => { on = await readsPerFrameSparse(dp); });
  await withSwitch('0', async (dp) => { off = await readsPerFrameSparse(dp); });
  assert.ok(on < 1.3, `lever on: ${on.toFixed(2)} reads per frame (no read that finds EAGAIN)`);
  assert.ok(off > 1.7, `lever off: ${off.toFixed(2)} reads per frame (each frame and an EAGAIN)`);
});

test('a burst goes greedy (fewer reads than two per frame) and loses nothing', async () => {
  await withSwitch(undefined, async (dp) => {
    const r0 = workerReads(), f0 = rxFrames(dp), b0 = dp.counters[loopSlot(LoopCounter.Batches)]!;
    const out = inNs(nsA, 'ping', '-q', '-f', '-l', '32', '-c', '3000', '-W', '2', '10.79.7.12');
    const reads = workerReads() - r0, frames = rxFrames(dp) - f0, batches = dp.counters[loopSlot(LoopCounter.Batches)]! - b0;
    assert.match(out, / 3000 received, 0% packet loss/, out);
    assert.ok(frames >= 6000, `${frames} frames`);
    console.log(`# burst: ${reads} reads for ${frames} frames in ${batches} batches`);
    // Read one frame at a time, each would be a batch of its own: greedy reads take several per batch.
    assert.ok(frames / batches > 1.5, `${(frames / batches).toFixed(2)} frames per batch`);
    assert.ok(reads < 2 * frames, `${reads} reads for ${frames} frames`);
  });
});
