/**
 * Guests whose namespace is given by path (`DEFINE GUEST u NETNS PATH p`: a container runtime's
 * namespace, such as /proc/PID/ns/net or /run/netns/cni-...) are removed when that namespace
 * disappears without the runtime telling the switch (a container stopped without CNI DEL, a
 * runtime that crashed): otherwise they would stay defined and coupled, their LAN IP entries
 * held, with TAPs retried in a namespace that is gone.
 *
 * How a disappearance is seen: the path's file identity (st_dev, st_ino of the nsfs inode, which
 * is the namespace's own number). It is read when the watch first sees the guest and every
 * intervalMs after; the path gone (ENOENT, ENOTDIR) or naming another file (a bind mount
 * removed, a PID reused by a process in another namespace) is a disappearance. The namespace's
 * own life is no sign: the daemon's TAP fd and the address watcher's socket in it keep it alive
 * until they are closed, which is what this cleanup does. Other stat errors are logged and the
 * guest is kept (looked at again next time).
 *
 * Cleanup goes through the command engine like an operator's commands (journaled, applied,
 * reconciled): DETACH NIC for each NIC (which uncouples first), then DETACH GUEST; the whole is
 * logged once with what was coupled where. A refused step is logged and the cleanup tried again
 * at the next check. Guests defined by name are never touched (their namespace is the daemon's).
 *
 * Time and timers come from the injected Clock; `check()` is also callable directly (tests).
 */
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { isNetnsPath } from '../protocol/names.js';
import type { Clock } from './clock.js';
import { hex4 } from './grammar.js';
import type { State } from './state.js';

/** A namespace file's identity, or null when the path does not exist. */
export type FileIdentity = { dev: number; ino: number } | null;

export interface NetnsWatchDeps {
  state: State;
  clock: Clock;
  log: Logger;
  /** Run a CP command as the control socket would (ControlPlane.execute). */
  execute(command: string): { ok: boolean; lines: string[] };
  /** How often the paths are looked at, in ms (default 1000). */
  intervalMs?: number;
  /** The file identity of a path (default: stat). Throws for errors other than "not there". */
  identify?(path: string): FileIdentity;
}

/** stat(path): its dev and inode, null for ENOENT / ENOTDIR. */
export function statIdentity(path: string): FileIdentity {
  try {
    const st = statSync(path);
    return { dev: st.dev, ino: st.ino };
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw e;
  }
}

export class NetnsWatch {
  /** userid -> the path and the identity first seen for it. */
  private readonly seen = new Map<string, { path: string; id: { dev: number; ino: number } }>();
  private cancel: (() => void) | null = null;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly identify: (path: string) => FileIdentity;

  constructor(private readonly deps: NetnsWatchDeps) {
    this.intervalMs = deps.intervalMs ?? 1000;
    this.identify = deps.identify ?? statIdentity;
  }

  /** Check now, then every intervalMs until stop(). */
  start(): void {
    this.stopped = false;
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = null;
  }

  /** Look at every path guest once; clean up those whose namespace is gone. Returns their user ids. */
  check(): string[] {
    const gone: string[] = [];
    const present = new Set<string>();
    for (const g of [...this.deps.state.guests.values()]) {
      if (g.netns === null || !isNetnsPath(g.netns)) continue;
      present.add(g.userid);
      let id: FileIdentity;
      try {
        id = this.identify(g.netns);
      } catch (e) {
        this.deps.log.warn({ guest: g.userid, netns: g.netns, err: String(e) }, 'cannot look at the guest\'s namespace; kept');
        continue;
      }
      const before = this.seen.get(g.userid);
      if (id !== null && (before === undefined || before.path !== g.netns)) {
        this.seen.set(g.userid, { path: g.netns, id });
        continue;
      }
      if (id !== null && before !== undefined && id.dev === before.id.dev && id.ino === before.id.ino) continue;
      if (this.cleanUp(g.userid, g.netns, id === null ? 'the path is gone' : 'the path names another namespace now')) gone.push(g.userid);
    }
    for (const u of this.seen.keys()) if (!present.has(u)) this.seen.delete(u);
    return gone;
  }

  private tick(): void {
    if (this.stopped) return;
    this.check();
    this.cancel = this.deps.clock.after(this.intervalMs, () => {
      this.cancel = null;
      this.tick();
    });
  }

  /** DETACH NIC for each NIC, then DETACH GUEST. Returns true when the guest is gone. */
  private cleanUp(userid: string, netns: string, why: string): boolean {
    const g = this.deps.state.guests.get(userid)!;
    const nics = [...g.nics.values()].sort((a, b) => a.vdev - b.vdev);
    const coupled = nics.map((n) => ({ vdev: hex4(n.vdev), vswitch: n.coupled, interface: n.tap }));
    for (const n of nics) {
      const r = this.deps.execute(`DETACH NIC ${hex4(n.vdev)} FOR ${userid}`);
      if (!r.ok) return this.refused(userid, netns, r.lines);
    }
    const r = this.deps.execute(`DETACH GUEST ${userid}`);
    if (!r.ok) return this.refused(userid, netns, r.lines);
    this.seen.delete(userid);
    this.deps.log.warn({ guest: userid, netns, why, nics: coupled }, 'guest namespace disappeared without its runtime removing the guest; guest and NICs removed');
    return true;
  }

  private refused(userid: string, netns: string, lines: string[]): false {
    this.deps.log.error({ guest: userid, netns, reply: lines }, 'guest namespace disappeared but its cleanup was refused; trying again');
    return false;
  }
}
