/**
 * sd_notify(3) for vswitchd under systemd (Type=notify; contrib/systemd/vswitchd.service),
 * without a native addon: one AF_UNIX datagram per message to $NOTIFY_SOCKET (a path, or
 * `@name` in the abstract namespace) through koffi (src/sys/libc.ts).
 *
 * Contract:
 * - `SdNotify.fromEnv()` reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. Without
 *   NOTIFY_SOCKET every call does nothing (not started by systemd).
 * - `status(text)` sends STATUS=text; `ready(text)` sends READY=1 and STATUS=text, then, if
 *   WATCHDOG_USEC is set (and WATCHDOG_PID is absent or this process), sends WATCHDOG=1 from
 *   the main thread's event loop every half period: a main loop that stalls stops the pings
 *   and systemd restarts the daemon. `stopping(text)` sends STOPPING=1 and stops the pings.
 * - Sending never blocks (MSG_DONTWAIT) and never throws: a lost message returns false (the
 *   first failure is logged through `onError`). Newlines in a status text become spaces.
 */
import {
  AF_UNIX, MSG_DONTWAIT, MSG_NOSIGNAL, SOCK_DGRAM, SOCK_NONBLOCK, close, connect, raw, socket, sockaddrUn, sockaddrUnAbstract,
} from '../sys/libc.js';

export class SdNotify {
  private watchdog: NodeJS.Timeout | null = null;
  private failed = false;
  onError: (err: string) => void = () => {};

  private constructor(private readonly socketName: string | null, private readonly watchdogUs: number) {}

  static fromEnv(env: NodeJS.ProcessEnv = process.env, pid = process.pid): SdNotify {
    const name = env.NOTIFY_SOCKET;
    const usec = Number(env.WATCHDOG_USEC ?? '');
    const forUs = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === '' || Number(env.WATCHDOG_PID) === pid;
    return new SdNotify(name !== undefined && name !== '' ? name : null, Number.isInteger(usec) && usec > 0 && forUs ? usec : 0);
  }

  get enabled(): boolean {
    return this.socketName !== null;
  }

  /** The watchdog period in ms systemd asked for (0: none). */
  get watchdogMs(): number {
    return this.watchdogUs / 1000;
  }

  status(text: string): boolean {
    return this.send(`STATUS=${oneLine(text)}`);
  }

  ready(text: string): boolean {
    const ok = this.send(`READY=1\nSTATUS=${oneLine(text)}`);
    if (this.enabled && this.watchdogUs > 0 && this.watchdog === null) {
      this.send('WATCHDOG=1');
      this.watchdog = setInterval(() => this.send('WATCHDOG=1'), Math.max(1, Math.floor(this.watchdogUs / 2000)));
      this.watchdog.unref();
    }
    return ok;
  }

  stopping(text: string): boolean {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
    return this.send(`STOPPING=1\nSTATUS=${oneLine(text)}`);
  }

  /** One datagram with `state` (newline-separated KEY=VALUE lines). */
  send(state: string): boolean {
    if (this.socketName === null) return false;
    let fd = -1;
    try {
      const sa = this.socketName.startsWith('@') ? sockaddrUnAbstract(this.socketName.slice(1)) : sockaddrUn(this.socketName);
      fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      connect(fd, sa.addr, sa.len, this.socketName);
      const msg = Buffer.from(state, 'utf8');
      if (raw.send(fd, msg, msg.length, MSG_DONTWAIT | MSG_NOSIGNAL) !== msg.length) throw new Error(`send to ${this.socketName} failed`);
      return true;
    } catch (e) {
      if (!this.failed) this.onError(String(e));
      this.failed = true;
      return false;
    } finally {
      close(fd);
    }
  }
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
