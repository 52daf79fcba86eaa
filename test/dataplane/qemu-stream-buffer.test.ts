/**
 * The 'qemu-stream' port's reassembly buffer is sized by need (qemu-stream-port.ts): none while
 * the port is idle, allocated when a read leaves a partial frame or frames beyond the batch
 * limit, grown for a larger tail, freed by tick() after a tick interval with no tail - and the
 * frames come out whole and in order across all of that. The port is driven directly (no
 * worker) on a real unix stream connection to a Node server standing in for QEMU.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectQemuStream } from '../../src/host/devices.js';
import { FrameMemory } from '../../src/dataplane/port.js';
import { QemuStreamPort } from '../../src/dataplane/qemu-stream-port.js';

const dir = mkdtempSync(join(tmpdir(), 'vsqb-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A frame of `len` bytes (>= 16) carrying `seq` in bytes 14..15, behind QEMU's length prefix. */
function msg(seq: number, len: number): Buffer {
  const b = Buffer.alloc(4 + len, seq & 0xff);
  b.writeUInt32BE(len, 0);
  b.writeUIntBE(0x020000000001, 4, 6);
  b.writeUIntBE(0x020000000002, 10, 6);
  b.writeUInt16BE(seq, 4 + 14);
  return b;
}

async function pair(name: string): Promise<{ port: QemuStreamPort; peer: Socket; close: () => void }> {
  const path = join(dir, `${name}.sock`);
  let peer: Socket | null = null;
  const srv = createServer((s) => { peer = s; });
  await new Promise<void>((r) => srv.listen(path, () => r()));
  const fd = connectQemuStream(path);
  const port = new QemuStreamPort(1, 1, name, fd, 1 << 20);
  for (let i = 0; i < 200 && peer === null; i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(peer, 'the stand-in QEMU accepted the connection');
  return { port, peer: peer!, close: () => { port.close(); (peer as Socket | null)?.destroy(); srv.close(); } };
}

/** Receive until `want` frames came (or 2 s passed); returns their seq numbers and lengths. */
async function receiveAll(port: QemuStreamPort, mem: FrameMemory, want: number, max = 64): Promise<Array<[number, number]>> {
  const got: Array<[number, number]> = [];
  const end = Date.now() + 2000;
  while (got.length < want && Date.now() < end) {
    const n = port.receive(mem, max);
    assert.ok(n >= 0, `receive failed: ${n} ${port.downReason ?? ''}`);
    for (let i = 0; i < n; i++) {
      const eth = mem.rxEth[i]!;
      got.push([mem.bytes[eth + 14]! << 8 | mem.bytes[eth + 15]!, mem.rxEnd[i]! - eth]);
    }
    if (n === 0 && !port.rxPending) await new Promise((r) => setTimeout(r, 2));
  }
  return got;
}

test('an idle port holds no reassembly buffer; a partial frame gets a small one, freed by tick once idle', async () => {
  const mem = new FrameMemory();
  const { port, peer, close } = await pair('partial');
  try {
    assert.equal(port.reassemblyBytes, 0);
    const m = msg(7, 1000);
    peer.write(m.subarray(0, 500));
    for (let i = 0; i < 200 && port.reassemblyBytes === 0; i++) {
      assert.equal(port.receive(mem, 64), 0);
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(port.reassemblyBytes, 4096, 'a 500-byte tail takes the smallest buffer');
    port.tick(0); // the tail is still there: kept
    port.tick(0);
    assert.equal(port.reassemblyBytes, 4096);
    peer.write(m.subarray(500));
    assert.deepEqual(await receiveAll(port, mem, 1), [[7, 1000]]);
    port.tick(0);
    port.tick(0); // a whole interval without a tail: freed
    assert.equal(port.reassemblyBytes, 0);
    peer.write(msg(8, 60));
    assert.deepEqual(await receiveAll(port, mem, 1), [[8, 60]]);
    assert.equal(port.rxErrors, 0);
  } finally { close(); }
});

test('frames beyond the batch limit grow the buffer; all arrive whole and in order, before and after it is freed', async () => {
  const mem = new FrameMemory();
  const { port, peer, close } = await pair('batch');
  try {
    const N = 3000;
    peer.write(Buffer.concat(Array.from({ length: N }, (_, i) => msg(i, 60 + (i % 50)))));
    const got = await receiveAll(port, mem, N, 16);
    assert.equal(got.length, N);
    got.forEach(([seq, len], i) => { assert.equal(seq, i); assert.equal(len, 60 + (i % 50)); });
    assert.ok(port.reassemblyBytes > 4096, `grown for a tail of many frames (${port.reassemblyBytes})`);
    port.tick(0); port.tick(0);
    assert.equal(port.reassemblyBytes, 0);
    const big = msg(1, 65549); // the largest frame, split in three writes
    peer.write(big.subarray(0, 10)); await new Promise((r) => setTimeout(r, 20));
    peer.write(big.subarray(10, 40000)); await new Promise((r) => setTimeout(r, 20));
    peer.write(big.subarray(40000));
    assert.deepEqual(await receiveAll(port, mem, 1), [[1, 65549]]);
    assert.equal(port.rxErrors, 0);
  } finally { close(); }
});
