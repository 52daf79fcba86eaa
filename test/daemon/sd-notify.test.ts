/**
 * sd_notify (src/daemon/sd-notify.ts) against real unix datagram sockets the test binds
 * (through koffi, as Node has none): a path and an abstract name; nothing sent without
 * NOTIFY_SOCKET; a WATCHDOG_PID for another process turns the watchdog off. Then a real
 * vswitchd (in a test namespace) started with NOTIFY_SOCKET and WATCHDOG_USEC: STATUS= while
 * starting, READY=1 only once the switch from SYSTEM CONFIG is there and the control socket
 * answers, WATCHDOG=1 at half the period, STOPPING=1 on SIGTERM.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AF_UNIX, EAGAIN, MSG_DONTWAIT, SOCK_DGRAM, bind, close, errno, raw, socket, sockaddrUn, sockaddrUnAbstract,
} from '../../src/sys/libc.js';
import { SdNotify } from '../../src/daemon/sd-notify.js';
import { Daemon } from '../helpers/daemon.js';
import { NetLab, sleep } from '../helpers/netlab.js';

const dir = mkdtempSync(join(tmpdir(), 'vswnotify-'));
const lab = new NetLab('vn');
after(() => {
  lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A bound unix datagram socket, as systemd's notify socket is. */
class Receiver {
  readonly fd: number;
  private readonly buf = Buffer.alloc(4096);
  constructor(where: { path: string } | { abstract: string }) {
    this.fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    const sa = 'path' in where ? sockaddrUn(where.path) : sockaddrUnAbstract(where.abstract);
    bind(this.fd, sa.addr.subarray(0, sa.len));
  }

  /** Every datagram waiting now. */
  drain(): string[] {
    const out: string[] = [];
    for (;;) {
      const n = Number(raw.recv(this.fd, this.buf, this.buf.length, MSG_DONTWAIT));
      if (n < 0) {
        assert.equal(errno(), EAGAIN);
        return out;
      }
      out.push(this.buf.toString('utf8', 0, n));
    }
  }

  close(): void {
    close(this.fd);
  }
}

test('messages reach a socket at a path and one in the abstract namespace', () => {
  const path = join(dir, 'notify.sock');
  const r = new Receiver({ path });
  const n = SdNotify.fromEnv({ NOTIFY_SOCKET: path });
  assert.ok(n.enabled);
  assert.ok(n.status('replaying\nthe journal'));
  assert.deepEqual(r.drain(), ['STATUS=replaying the journal'], 'one line: newlines become spaces');
  r.close();
  const name = `vswitch-test-${process.pid}`;
  const a = new Receiver({ abstract: name });
  assert.ok(SdNotify.fromEnv({ NOTIFY_SOCKET: `@${name}` }).send('X=1'));
  assert.deepEqual(a.drain(), ['X=1']);
  a.close();
});

test('no NOTIFY_SOCKET: nothing is sent; a missing socket fails quietly once', () => {
  const off = SdNotify.fromEnv({});
  assert.equal(off.enabled, false);
  assert.equal(off.ready('x'), false);
  const gone = SdNotify.fromEnv({ NOTIFY_SOCKET: join(dir, 'nobody-here.sock') });
  const errors: string[] = [];
  gone.onError = (e) => errors.push(e);
  assert.equal(gone.status('a'), false);
  assert.equal(gone.status('b'), false);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /ENOENT|ECONNREFUSED/);
});

test('the watchdog: WATCHDOG_USEC for this process only', () => {
  assert.equal(SdNotify.fromEnv({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '2000000' }, 42).watchdogMs, 2000);
  assert.equal(SdNotify.fromEnv({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '42' }, 42).watchdogMs, 2000);
  assert.equal(SdNotify.fromEnv({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '43' }, 42).watchdogMs, 0);
  assert.equal(SdNotify.fromEnv({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: 'soon' }, 42).watchdogMs, 0);
});

test('vswitchd: STATUS while starting, READY=1 once up, WATCHDOG=1, STOPPING=1', async () => {
  const path = join(dir, 'daemon-notify.sock');
  const r = new Receiver({ path });
  const ns = lab.netns('h');
  const d = new Daemon({ netns: ns, config: 'DEFINE VSWITCH SW1 IP\n', env: { NOTIFY_SOCKET: path, WATCHDOG_USEC: '300000' } });
  const got: Array<{ msg: string; socketUp: boolean }> = [];
  let answeredAtReady = false;
  const poll = setInterval(() => {
    for (const msg of r.drain()) {
      const socketUp = existsSync(d.socket);
      got.push({ msg, socketUp });
      if (msg.startsWith('READY=1')) answeredAtReady = /VSWITCH SYSTEM SW1/.test(d.cli('QUERY', 'VSWITCH', 'SW1').stdout);
    }
  }, 5);
  try {
    await d.start();
    await sleep(700);
    const msgs = got.map((g) => g.msg);
    assert.match(msgs[0], /^STATUS=starting/);
    const ready = msgs.findIndex((m) => m.startsWith('READY=1'));
    assert.ok(ready > 0, `READY=1 after the start-up STATUS: ${JSON.stringify(msgs)}`);
    assert.match(msgs[ready], /^READY=1\nSTATUS=ready: switches 1, guests 0; no HTTP$/);
    assert.ok(got[ready].socketUp && answeredAtReady, 'at READY=1 the control socket answers with the configured switch');
    const pings = msgs.slice(ready + 1).filter((m) => m === 'WATCHDOG=1').length;
    assert.ok(pings >= 4, `WATCHDOG=1 every 150 ms: ${pings} in 700 ms`);
    assert.equal(msgs.slice(0, ready).filter((m) => m === 'WATCHDOG=1').length, 0, 'no watchdog ping before READY');
  } finally {
    await d.stop();
    await sleep(50);
    clearInterval(poll);
    for (const msg of r.drain()) got.push({ msg, socketUp: false });
    r.close();
  }
  assert.match(got.at(-1)!.msg, /^STOPPING=1\nSTATUS=stopping \(SIGTERM\)$/);
});
