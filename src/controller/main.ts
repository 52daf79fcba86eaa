/**
 * vswitch-controller: `vswitch-controller --name NAME [--socket PATH]` (default socket
 * $VSWITCH_SOCKET or /run/vswitch/vswitchd.sock).
 *
 * Connects to vswitchd's socket, registers as an eligible controller under NAME, and serves the
 * daemon's ControlSwitch / RegisterAddress / DeregisterAddress (of every address kind: guest
 * addresses, multicast groups) / ReleaseSwitch messages (controller.ts) through rtnetlink
 * (rtnl.ts). It must run in the daemon's network namespace
 * (it manages the same interfaces). When the connection is lost (the daemon stopped or
 * restarted) it forgets its switches and reconnects every 500 ms. It answers the daemon's Ping
 * at once (a connection that does not loses its name). A registration refused for now (the
 * name is held by another connection: Refused with retryMs) is tried again after retryMs, so
 * the controller gets its name once a squatter or a dead holder is dropped; a final refusal
 * (a bad name, another protocol version) ends it with status 1. It reads its RDEVs every
 * CARRIER_POLL_MS for a carrier loss besides following rtnetlink's link notifications (controller.ts).
 * SIGTERM/SIGINT end it cleanly. Logs: pino JSON on stderr. The controller is never in the
 * data path: killing it loses no frame.
 */
import { parseArgs as parseArgv } from 'node:util';
import { createConnection, type Socket } from 'node:net';
import { pino } from 'pino';
import { CARRIER_POLL_MS, ControllerLogic } from './controller.js';
import { LineSplitter, PROTOCOL_VERSION, decodeToController, encode, type ToDaemon } from '../protocol/controller.js';
import { LinkMonitor, Rtnl } from './rtnl.js';

const USAGE = 'usage: vswitch-controller --name NAME [--socket PATH]';
/** How soon a lost or failed connection to the daemon is tried again (ms). */
const RECONNECT_MS = 500;

function die(msg: string, code = 1): never {
  process.stderr.write(`vswitch-controller: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv: string[]): { name: string; socket: string } {
  let v: { name?: string; socket?: string; help?: boolean };
  try {
    v = parseArgv({ args: argv, strict: true, allowPositionals: false, options: {
      name: { type: 'string' }, socket: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    } }).values;
  } catch (e) {
    die(`${(e as Error).message}\n${USAGE}`, 2);
  }
  if (v.help) { process.stdout.write(`${USAGE}\n`); process.exit(0); }
  if (v.socket === '') die(`--socket needs a value\n${USAGE}`, 2);
  if (v.name === undefined || v.name === '') die(`--name is required\n${USAGE}`, 2);
  // Checked before folding: only ASCII letters fold ('dtcvſw1'.toUpperCase() would be 'DTCVSW1').
  if (!/^[A-Za-z0-9@#$_]{1,8}$/.test(v.name)) die(`bad controller name '${v.name}': 1-8 characters of A-Z 0-9 @ # $ _`, 2);
  const name = v.name.toUpperCase();
  return { name, socket: v.socket ?? process.env.VSWITCH_SOCKET ?? '/run/vswitch/vswitchd.sock' };
}

function main(): void {
  const { name, socket } = parseArgs(process.argv.slice(2));
  const log = pino({ name: 'vswitch-controller', base: { pid: process.pid, controller: name } }, pino.destination({ fd: 2, sync: true }));
  const rtnl = new Rtnl();
  const monitor = new LinkMonitor();
  let conn: Socket | null = null;
  let registered = false;
  const send = (m: ToDaemon): void => {
    if (conn && registered && conn.writable) conn.write(encode(m));
  };
  const logic = new ControllerLogic(rtnl, send, log);
  monitor.on('link', (m) => logic.linkChanged(m));
  monitor.on('resync', (reason: string) => { log.warn({ reason }, 'link monitor resync'); logic.linkChanged(null); });
  // The kernel's link notifications can come up to a second late (linkwatch batches them); a
  // read of each ready RDEV sees a carrier loss at once (one RTM_GETLINK per RDEV).
  setInterval(() => logic.pollLosses(), CARRIER_POLL_MS).unref();

  let announcedWait = false;
  let announcedRefusal = false;
  /** When the next connection is tried after this one closes (ms). */
  let retryInMs = RECONNECT_MS;
  const connect = (): void => {
    const c = createConnection(socket);
    const lines = new LineSplitter();
    conn = c;
    registered = false;
    c.setEncoding('utf8');
    c.on('connect', () => {
      announcedWait = false;
      c.write(encode({ t: 'register', name, pid: process.pid, version: PROTOCOL_VERSION }));
    });
    c.on('data', (chunk: string) => {
      for (const line of lines.push(chunk)) {
        const d = decodeToController(line);
        if (!d.ok) {
          log.error({ err: d.error }, 'bad message from the daemon; reconnecting');
          c.destroy();
          return;
        }
        const m = d.msg;
        if (m.t === 'refused') {
          if (m.retryMs === undefined) {
            log.fatal({ reason: m.reason }, 'registration refused');
            die(`registration refused: ${m.reason}`);
          }
          // The name is held by another connection, which loses it if it stops answering.
          if (!announcedRefusal) log.warn({ reason: m.reason, retryMs: m.retryMs }, 'registration refused for now; trying again');
          announcedRefusal = true;
          retryInMs = m.retryMs;
          c.destroy();
          return;
        }
        if (m.t === 'ping') {
          if (registered) send({ t: 'pong', seq: m.seq });
          continue;
        }
        if (m.t === 'registered') {
          registered = true;
          announcedRefusal = false;
          log.info({ socket }, 'registered with vswitchd');
          continue;
        }
        if (!registered) {
          log.error({ t: m.t }, 'message before registration; reconnecting');
          c.destroy();
          return;
        }
        logic.handle(m);
      }
      if (lines.overflow) {
        log.error('over-long message from the daemon; reconnecting');
        c.destroy();
      }
    });
    c.on('error', (e) => {
      if (!announcedWait) log.warn({ socket, err: String(e) }, 'cannot reach vswitchd; retrying every 500 ms');
      announcedWait = true;
    });
    c.on('close', () => {
      if (conn !== c) return;
      if (registered) log.warn('connection to vswitchd lost; reconnecting');
      registered = false;
      logic.reset();
      setTimeout(connect, retryInMs);
      retryInMs = RECONNECT_MS;
    });
  };
  connect();

  const stop = (sig: string): void => {
    log.info({ signal: sig }, 'stopping');
    monitor.close();
    rtnl.close();
    conn?.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
