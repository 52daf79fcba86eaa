/**
 * A controller's connection on the daemon side: turns a socket whose first line was a Register
 * (server.ts hands it over) into a ControllerLink of the ControllerManager.
 *
 * Every line is validated (src/protocol/controller.ts). A bad Register (bad name, bad pid,
 * unknown version) or a refused one (name taken: with the manager's retryMs) gets
 * Refused{reason[, retryMs]} and the connection is closed. After registration, a line that is not a valid controller message, or an over-long
 * line, is logged and the connection closed: the manager treats it as a lost controller. The
 * socket closing (the controller ended or was killed) is reported to the manager at once.
 * The peer (SO_PEERCRED, resolved by the command server) goes with the Register to the manager,
 * which refuses a peer that is not the system (root or the administrators' group), finally.
 * Nothing a controller sends can throw into the daemon.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ControllerLink, ControllerManager } from '../control/controllers.js';
import type { Principal } from '../control/privilege.js';
import { LineSplitter, PROTOCOL_VERSION, decodeToDaemon, encode, type ToController } from '../protocol/controller.js';

export function serveController(sock: Socket, firstLine: string, rest: string, mgr: ControllerManager, log: Logger, peer: { who: Principal; pid: number }): void {
  let registered = false;
  let closing = false;
  let why = 'closed its connection';
  const link: ControllerLink = {
    send(m: ToController): void {
      if (!closing && sock.writable) sock.write(encode(m));
    },
    close(reason: string): void {
      if (closing) return;
      why = `disconnected: ${reason}`;
      log.error({ reason }, 'controller connection closed by the daemon');
      closing = true;
      sock.end();
      setTimeout(() => sock.destroy(), 1000).unref();
    },
  };
  const refuse = (reason: string, retryMs?: number): void => {
    log.warn({ reason, retryMs }, 'controller refused');
    if (sock.writable) sock.write(encode(retryMs === undefined ? { t: 'refused', reason } : { t: 'refused', reason, retryMs }));
    closing = true;
    sock.end();
    setTimeout(() => sock.destroy(), 1000).unref();
  };
  const onLine = (line: string): void => {
    if (closing) return;
    const d = decodeToDaemon(line);
    if (!registered) {
      if (!d.ok) return refuse(`bad Register: ${d.error}`);
      if (d.msg.t !== 'register') return refuse(`expected Register, got ${d.msg.t}`);
      if (d.msg.version !== PROTOCOL_VERSION) return refuse(`protocol version ${d.msg.version} is not supported (this daemon speaks ${PROTOCOL_VERSION})`);
      const refusal = mgr.register(link, d.msg.name, d.msg.pid, peer);
      if (refusal !== null) return refuse(refusal.reason, refusal.retryMs);
      registered = true;
      return;
    }
    if (!d.ok) return link.close(`bad message: ${d.error}`);
    try {
      mgr.received(link, d.msg);
    } catch (e) {
      log.error({ err: String(e), stack: (e as Error).stack }, 'controller message failed');
      link.close(`message could not be handled: ${String(e)}`);
    }
  };
  const lines = new LineSplitter();
  sock.on('data', (chunk: string | Buffer) => {
    for (const l of lines.push(chunk.toString())) onLine(l);
    if (lines.overflow) link.close('over-long message');
  });
  sock.on('error', (e) => { why = `connection error: ${String(e)}`; sock.destroy(); });
  sock.on('close', () => {
    closing = true;
    if (registered) mgr.closed(link, why);
  });
  onLine(firstLine);
  for (const l of lines.push(rest)) onLine(l);
}
