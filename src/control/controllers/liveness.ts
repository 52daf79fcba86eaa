/**
 * Is a controller connection alive and answering (issue 9, item 8)? A controller that
 * registered and then says nothing must not hold a switch, or a name, for ever.
 *
 * Contract (one ControllerLiveness per ControllerManager; time and timers from its Clock):
 * - Pings: every tracked controller (`track(name, send)`, from its Registered until `forget`)
 *   gets Ping{seq} every PING_INTERVAL_MS while none is outstanding; `pong(name, seq)` answers
 *   it. One that leaves a Ping unanswered PING_DEADLINE_MS or more (checked every
 *   PING_INTERVAL_MS, so it is found within PING_DEADLINE_MS + PING_INTERVAL_MS) is reported
 *   dead (`onDead(name, reason)`, the constructor's): the manager closes it and its name is free.
 *   `probe(name)` pings at once (a Register for the name came from another connection: a dead
 *   holder is found within PING_DEADLINE_MS + PING_INTERVAL_MS of it).
 * - Not responding: `markSlow(name, why)` (the manager's ControlSwitch deadline passed)
 *   marks a controller that is connected, and perhaps answers pings, but does not do its work;
 *   `slow(name)` is why, or null; `clearSlow(name)` (it answered after all). A Pong does not
 *   clear it. The manager chooses no slow controller and lets another connection take its name.
 * - One timer runs while anything is tracked; none otherwise.
 */
import type { Logger } from 'pino';
import { MAX_SEQ, type ToController } from '../../protocol/controller.js';
import type { Clock } from '../clock.js';

/** How often each controller is pinged (ms), and how long it has to answer. */
export const PING_INTERVAL_MS = 2000;
export const PING_DEADLINE_MS = 5000;

interface Tracked {
  send(m: ToController): void;
  seq: number;
  /** When the outstanding Ping was sent, or null. */
  sentAt: number | null;
  slow: string | null;
}

export class ControllerLiveness {
  private readonly tracked = new Map<string, Tracked>();
  private cancelTick: (() => void) | null = null;

  constructor(private readonly clock: Clock, private readonly log: Logger, private readonly onDead: (name: string, reason: string) => void) {}

  track(name: string, send: (m: ToController) => void): void {
    this.tracked.set(name, { send, seq: 0, sentAt: null, slow: null });
    this.cancelTick ??= this.clock.after(PING_INTERVAL_MS, () => this.tick());
  }

  forget(name: string): void {
    this.tracked.delete(name);
    if (this.tracked.size === 0) {
      this.cancelTick?.();
      this.cancelTick = null;
    }
  }

  pong(name: string, seq: number): void {
    const t = this.tracked.get(name);
    if (t && t.sentAt !== null && t.seq === seq) t.sentAt = null;
  }

  probe(name: string): void {
    const t = this.tracked.get(name);
    if (t && t.sentAt === null) this.ping(t);
  }

  markSlow(name: string, why: string): void {
    const t = this.tracked.get(name);
    if (!t || t.slow !== null) return;
    t.slow = why;
    this.log.warn({ controller: name, why }, 'controller not responding');
  }

  slow(name: string): string | null {
    return this.tracked.get(name)?.slow ?? null;
  }

  clearSlow(name: string): void {
    const t = this.tracked.get(name);
    if (!t || t.slow === null) return;
    t.slow = null;
    this.log.info({ controller: name }, 'controller answering again');
  }

  private ping(t: Tracked): void {
    t.seq = t.seq >= MAX_SEQ ? 0 : t.seq + 1;
    t.sentAt = this.clock.now();
    t.send({ t: 'ping', seq: t.seq });
  }

  private tick(): void {
    this.cancelTick = null;
    const now = this.clock.now();
    for (const [name, t] of [...this.tracked]) {
      if (t.sentAt === null) this.ping(t);
      else if (now - t.sentAt >= PING_DEADLINE_MS) this.onDead(name, `did not answer a ping within ${PING_DEADLINE_MS / 1000} s`);
    }
    if (this.tracked.size > 0) this.cancelTick = this.clock.after(PING_INTERVAL_MS, () => this.tick());
  }
}
