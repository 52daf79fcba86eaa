/**
 * The control socket's bounds, in-process on a real unix socket with small limits (the daemon
 * test, test/daemon/local-peers.test.ts, runs the same attack on the real daemon with the
 * defaults): a client that pipelines commands and never reads its replies is no longer read
 * once its unread replies pass the bound, and is closed when they do not drain; other clients
 * are served meanwhile; a client streaming commands that cost time does not starve other
 * clients or the daemon's own I/O; idle connections are closed; connections beyond the limit
 * are refused; a client that reads slowly gets every reply, in order.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { listen, type ConnectionLimits } from '../../src/daemon/server.js';
import type { Reply } from '../../src/control/controlplane.js';
import { sleep, waitFor } from '../helpers/netlab.js';
import { onJsonLines } from '../helpers/json-lines.js';

const dir = mkdtempSync(join(tmpdir(), 'vswserver-'));
const servers: Server[] = [];
const sockets: Socket[] = [];
after(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const LIMITS: ConnectionLimits = { replyQueueBytes: 64 * 1024, stallMs: 1500, idleMs: 1200, maxConnections: 4, turnMs: 20, perUserConnections: 4 };
/** A reply the size of a QUERY VSWITCH DETAILS of a busy switch. */
const BIG: Reply = { ok: true, lines: Array.from({ length: 100 }, (_, i) => `line ${i} ${'x'.repeat(100)}`) };
const REPLY_BYTES = Buffer.byteLength(JSON.stringify({ id: 1, ...BIG })) + 1;

let serial = 0;
/** A server whose every command answers BIG after `costMs` of work (a journaled command's fsync, say). */
async function server(limits = LIMITS, costMs = 0): Promise<{ path: string; handled: () => number }> {
  const path = join(dir, `s${serial++}.sock`);
  let n = 0;
  const handle = (): Reply => {
    const end = performance.now() + costMs;
    while (performance.now() < end) { /* busy, as a command on the main thread is */ }
    n++;
    return BIG;
  };
  const s = await listen(path, handle, pino({ level: 'silent' }), () => assert.fail('no controller here'), limits);
  servers.push(s);
  return { path, handled: () => n };
}

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    sockets.push(c);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

/** One request, its reply read at once (what the CLI does). */
async function ask(path: string, command = 'Q VSW'): Promise<{ ok: boolean }> {
  const c = await connect(path);
  return new Promise((resolve, reject) => {
    onJsonLines(c, (v) => { c.destroy(); resolve(v as { ok: boolean }); });
    c.on('error', reject);
    c.on('close', () => reject(new Error('closed without a reply')));
    c.write(`${JSON.stringify({ id: 1, command })}\n`);
  });
}

/** A client that writes requests as fast as the daemon takes them and never reads a reply. */
function pipelineWithoutReading(c: Socket): { stop: () => void; closed: () => boolean } {
  c.pause();
  let stopped = false;
  let isClosed = false;
  c.on('close', () => { isClosed = true; });
  c.on('error', () => { isClosed = true; });
  const req = `${JSON.stringify({ id: 1, command: 'Q VSWITCH DETAILS' })}\n`.repeat(200);
  const write = (): void => {
    while (!stopped && !isClosed && c.write(req)) { /* until the socket pushes back */ }
  };
  c.on('drain', write);
  write();
  return { stop: () => { stopped = true; }, closed: () => isClosed };
}

test('a client that never reads its replies stops being read past the bound, is closed when they do not drain, and others are served', async () => {
  const s = await server();
  const attacker = pipelineWithoutReading(await connect(s.path));
  await sleep(500);
  const handledWhileStalled = s.handled();
  // Unread replies: the bound plus what the kernel's socket buffers hold (a few hundred KB).
  assert.ok(handledWhileStalled * REPLY_BYTES < LIMITS.replyQueueBytes + 2 * 1024 * 1024,
    `commands answered for a client that reads nothing: ${handledWhileStalled} (${handledWhileStalled * REPLY_BYTES} bytes of replies)`);
  assert.ok(handledWhileStalled > 0);
  await sleep(300);
  assert.equal(s.handled(), handledWhileStalled, 'no command of the stalled client is read any more');
  // Another client is served at once.
  assert.deepEqual(await ask(s.path), { id: 1, ...BIG });
  assert.equal(s.handled(), handledWhileStalled + 1);
  // Its replies never drain: closed after stallMs.
  assert.ok(await waitFor(() => attacker.closed(), LIMITS.stallMs + 2000), 'the stalled connection is closed');
  attacker.stop();
});

/** A separate process that streams `command` to the socket as fast as it is taken, reading (and dropping) the replies. */
const STREAMER = `
const c = require('node:net').createConnection(process.argv[1]);
const chunk = (JSON.stringify({ command: 'DEFINE GUEST X QEMU' }) + '\\n').repeat(30);
c.on('connect', () => { const w = () => { while (c.write(chunk)) {} }; c.on('drain', w); w(); });
c.on('data', () => {});
c.on('error', () => process.exit(0));
`;

test('a client streaming costly commands does not starve other clients or the event loop', async () => {
  const s = await server(LIMITS, 2);
  const streamer = spawn(process.execPath, ['-e', STREAMER, s.path], { stdio: 'ignore' });
  try {
    assert.ok(await waitFor(() => s.handled() > 50, 5000), 'the stream is being worked through');
    // A timer and another client, while commands of 2 ms each keep coming. Counted in commands,
    // not milliseconds (a loaded machine stretches every wait): the streamer's commands answered
    // while the timer or the other client waits stay within a few turns' worth (turnMs / 2 ms, plus
    // the one that crosses the limit, per turn), however slow the machine.
    const perTurn = Math.ceil(LIMITS.turnMs / 2) + 1;
    const delays: number[] = [];
    const handledWhileWaiting: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now(), h0 = s.handled();
      await new Promise<void>((r) => setTimeout(r, 0));
      delays.push(performance.now() - t0);
      handledWhileWaiting.push(s.handled() - h0);
    }
    const t1 = performance.now(), h1 = s.handled();
    assert.equal((await ask(s.path)).ok, true);
    const askMs = performance.now() - t1, askHandled = s.handled() - h1;
    console.log(`# timers waited ${delays.map((d) => d.toFixed(0)).join(', ')} ms (${handledWhileWaiting.join(', ')} streamed commands each), another client ${askMs.toFixed(0)} ms (${askHandled})`);
    assert.ok(Math.max(...handledWhileWaiting) <= 3 * perTurn, `a timer waited while ${handledWhileWaiting.join(', ')} streamed commands ran (at most ${3 * perTurn})`);
    assert.ok(askHandled <= 8 * perTurn, `another client waited while ${askHandled} streamed commands ran (at most ${8 * perTurn})`);
  } finally {
    streamer.kill('SIGKILL');
  }
});

test('a client that reads slowly (and has ended its side) gets every reply in order', async () => {
  const s = await server();
  const c = await connect(s.path);
  c.pause();
  const n = 300; // ~3.5 MB of replies: far past the bound, read a bit at a time
  let req = '';
  for (let i = 0; i < n; i++) req += `${JSON.stringify({ id: i, command: 'Q VSWITCH DETAILS' })}\n`;
  c.end(req); // and ends its side at once: the waiting requests are still answered
  const ids: number[] = [];
  const done = new Promise<void>((resolve) => {
    onJsonLines(c, (v) => {
      ids.push((v as { id: number }).id);
      if (ids.length === n) resolve();
    });
    // Read a bit at a time.
    c.on('data', () => { c.pause(); setTimeout(() => c.resume(), 2); });
  });
  c.resume();
  await done;
  assert.deepEqual(ids, Array.from({ length: n }, (_, i) => i));
  c.destroy();
});

test('an idle connection is closed; connections beyond the limit are refused', async () => {
  const s = await server();
  const idle = await connect(s.path);
  let idleClosedAt = 0;
  const t0 = Date.now();
  idle.on('close', () => { idleClosedAt = Date.now(); });
  assert.ok(await waitFor(() => idleClosedAt > 0, LIMITS.idleMs + 2000), 'idle connection closed');
  assert.ok(idleClosedAt - t0 >= LIMITS.idleMs - 100, `not before idleMs: ${idleClosedAt - t0} ms`);

  const held = await Promise.all(Array.from({ length: LIMITS.maxConnections }, () => connect(s.path)));
  const extra = await connect(s.path);
  const extraClosed = await new Promise<boolean>((resolve) => {
    extra.on('close', () => resolve(true));
    extra.on('error', () => resolve(true));
    setTimeout(() => resolve(false), 1000);
  });
  assert.ok(extraClosed, 'the connection past maxConnections is closed at once');
  for (const h of held) h.destroy();
  await sleep(100);
  assert.equal((await ask(s.path)).ok, true, 'served again once connections are free');
});

test("a reply that is a promise (a cluster's shared definition) keeps the order, also when the client ends its side first", async () => {
  const path = join(dir, `s${serial++}.sock`);
  const handle = (command: string): Reply | Promise<Reply> =>
    command.startsWith('SLOW') ? new Promise((r) => setTimeout(() => r({ ok: true, lines: [command] }), 100)) : { ok: true, lines: [command] };
  servers.push(await listen(path, handle, pino({ level: 'silent' }), () => assert.fail('no controller here'), LIMITS));
  const c = await connect(path);
  const got: string[] = [];
  onJsonLines(c, (v) => got.push((v as Reply).lines[0]));
  const closed = new Promise<void>((r) => c.once('close', () => r()));
  c.end(['SLOW 1', 'FAST 2', 'SLOW 3', 'FAST 4'].map((command) => `${JSON.stringify({ command })}\n`).join(''));
  await closed;
  assert.deepEqual(got, ['SLOW 1', 'FAST 2', 'SLOW 3', 'FAST 4']);
});
