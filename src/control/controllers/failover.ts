/**
 * The RDEV failover state machine of one switch: which of its RDEVs (up to three) is active,
 * what the controller last said of each, whether the data device is open on it, and the
 * switch's event log.
 *
 * Contract:
 * - Active RDEV: after InitializationComplete (`initialized`), the current active one if still
 *   ok, else the first ok one in RDEV order. `wanted()` is the RDEV whose data device should be
 *   open: the active one, none while disconnected. It does not change when a controller is lost
 *   (the data path is untouched), only on failover, SWITCHOVER or UPLINK DISCONNECT / CONNECT.
 * - Failover: a LinkEvent (`linkEvent`) or a data-plane port-down (`dataDeviceFailed`) that
 *   makes the active RDEV not ok moves to the next ok RDEV in order (after the active one,
 *   wrapping); with none the data device stays where it is (closed while the interface does not
 *   exist: `wanted()` null) and `readyNote()` says what is wrong with the active RDEV and that no
 *   backup is ready (an event, once); the first RDEV that becomes ok later takes over
 *   (uplink-recovered), the active one too when it comes back itself. A failed data device
 *   (port-down) counts as not ok until the data device is open on that RDEV again.
 * - Re-created interfaces (issue 9, item 14): a LinkEvent for an RDEV that exists again after
 *   it did not, or under another interface index (`ifindex`), returns true: the caller
 *   re-registers what was programmed on it and the reconciler reopens the data device there.
 *   `readyNote()` and `statusList()` are computed from the last facts, never left from an
 *   earlier event.
 *   The transitions that need the switch initialised by its controller take `ready`.
 * - A failover, switchover, recovery or connect is pending until the caller, which knows when
 *   the LAN reaches the guests again (every address answered on the new RDEV), calls `finish`:
 *   an event with its duration.
 * - Events are logged with reason and duration and kept (the last MAX_EVENTS) for QUERY
 *   VSWITCH DETAILS; the controller manager records its controller events here too.
 * No I/O; time from the clock.
 */
import type { Logger } from 'pino';
import type { RdevStatus } from '../../protocol/controller.js';
import type { Clock } from '../clock.js';

export const MAX_EVENTS = 32;

export interface SwitchEvent {
  at: number;
  kind: string;
  reason: string;
  durationMs: number | null;
  from?: string | null;
  to?: string | null;
}

export interface Pending {
  kind: 'failover' | 'controller-recovered' | 'uplink-recovered' | 'switchover' | 'connect';
  start: number;
  reason: string;
  from: string | null;
}

const WARN_EVENTS = new Set(['controller-lost', 'controller-not-responding', 'failover-impossible', 'failover']);

export class RdevFailover {
  /** What the controller last said of each RDEV. */
  private readonly statuses = new Map<string, RdevStatus>();
  /** RDEVs whose data device failed in the data plane (port-down) since it was last open: why. */
  private readonly deviceFailed = new Map<string, string>();
  active: string | null = null;
  /** RDEV the data device is open on (the reconciler says so), or null. */
  openOn: string | null = null;
  disconnected = false;
  /** When the active RDEV stopped being ready with no backup to take over (the failover-impossible event), or null. */
  private stuckSince: number | null = null;
  /** Counts the times the data path through an RDEV became usable (`usable()`). */
  private usableSerial = 0;
  pending: Pending | null = null;
  readonly events: SwitchEvent[] = [];

  /** `rdevs()`: the switch's RDEVs in order, as defined now. */
  constructor(private readonly sw: string, private readonly rdevs: () => readonly string[], private readonly clock: Clock, private readonly log: Logger) {}

  /**
   * The RDEV whose data device should be open: the active one; none while disconnected or while
   * the active one does not exist (it was removed: there is nothing to hold open).
   */
  wanted(): string | null {
    if (this.disconnected || this.active === null) return null;
    return this.statuses.get(this.active)?.exists === false ? null : this.active;
  }

  /**
   * Can the LAN reach the guests through the data device now (connected, open on the active
   * RDEV, which is ready)? Then a number that changes each time that starts again (another
   * RDEV, the data device reopened, the active RDEV ready again): what is announced to the
   * LAN is announced again under a new number. Null: not usable.
   */
  usable(): number | null {
    const a = this.active;
    return !this.disconnected && a !== null && this.openOn === a && this.ready(a) ? this.usableSerial : null;
  }

  /** The interface index the controller last saw for `rdev` (0: none or unknown). */
  ifindex(rdev: string): number {
    return this.statuses.get(rdev)?.ifindex ?? 0;
  }

  initialized(statuses: readonly RdevStatus[]): void {
    for (const st of statuses) this.statuses.set(st.rdev, st);
    if (this.active !== null && !this.ready(this.active)) this.failover(this.whyNot(this.active));
    else if (this.active === null && !this.disconnected) this.pickFirst();
  }

  /**
   * A LinkEvent. Returns true when the RDEV is a new interface under the same name (it was
   * removed and made again, or its index changed): what was programmed on the old one is gone.
   */
  linkEvent(status: RdevStatus, ready: boolean): boolean {
    const before = this.statuses.get(status.rdev);
    this.statuses.set(status.rdev, status);
    const wasOk = before !== undefined && before.ok && !this.deviceFailed.has(status.rdev);
    const remade = before !== undefined && status.exists && (!before.exists || (before.ifindex !== 0 && before.ifindex !== status.ifindex));
    if (remade) this.deviceFailed.delete(status.rdev);
    if (!ready || this.disconnected) return remade;
    if (status.rdev === this.active) {
      if (!status.ok) this.failover(this.whyNot(status.rdev));
      else if (!wasOk || remade) this.activeBack(status.rdev, remade ? `${status.rdev} was made again (interface index ${before!.ifindex} -> ${status.ifindex})` : `${status.rdev} ready again`);
    } else if (status.ok && !wasOk && (this.active === null || !this.ready(this.active))) {
      this.recover(status.rdev);
    }
    return remade;
  }

  dataDeviceFailed(rdev: string, reason: string, ready: boolean): void {
    if (this.openOn === rdev) this.openOn = null;
    this.deviceFailed.set(rdev, `data device failed: ${reason}`);
    if (this.active === rdev && ready) this.failover(`data device on ${rdev} failed: ${reason}`);
  }

  /** The data device is open on `rdev` now (null: closed). Returns false when nothing changed. */
  opened(rdev: string | null): boolean {
    if (this.openOn === rdev) return false;
    this.openOn = rdev;
    this.usableSerial++;
    if (rdev !== null && this.deviceFailed.delete(rdev) && rdev === this.active && this.ready(rdev)) this.activeBack(rdev, `data device on ${rdev} open again`);
    return true;
  }

  /**
   * Text to add to READY while the active RDEV is not ready and no backup is (computed from
   * what is true now, so it goes as soon as the RDEV is back), or null.
   */
  readyNote(): string | null {
    const a = this.active;
    if (a === null || this.disconnected || this.ready(a)) return null;
    const st = this.statuses.get(a);
    const what = !st || !st.exists ? 'ACTIVE RDEV REMOVED' : this.deviceFailed.has(a) ? 'DATA DEVICE FAILED ON ACTIVE RDEV'
      : !st.up ? 'ACTIVE RDEV DOWN' : !st.carrier ? 'NO CARRIER ON ACTIVE RDEV' : 'ACTIVE RDEV NOT READY';
    return `${what}, NO BACKUP READY (${this.whyNot(a)})`;
  }

  /** SWITCHOVER: to the next ok RDEV. Returns an error text or null. */
  switchover(ready: boolean): string | null {
    if (this.disconnected) return 'the uplink is disconnected; CONNECT it first';
    if (!ready) return 'no controller has initialised the uplink';
    const next = this.nextOk(this.active);
    if (next === null) return `no backup RDEV is ready (${this.backupText()})`;
    this.switchTo(next, 'switchover', `SET VSWITCH SWITCHOVER from ${this.active ?? 'none'}`);
    return null;
  }

  disconnect(): void {
    this.disconnected = true;
    this.pending = null;
    this.event({ kind: 'disconnect', reason: `SET VSWITCH UPLINK DISCONNECT (was ${this.active ?? 'none'})`, durationMs: null, from: this.active });
  }

  connect(ready: boolean): void {
    this.disconnected = false;
    this.pending = { kind: 'connect', start: this.clock.now(), reason: 'SET VSWITCH UPLINK CONNECT', from: null };
    if (ready && (this.active === null || !this.ready(this.active))) this.active = this.nextOk(null) ?? this.active;
  }

  /** Why no RDEV is active although the controller initialised the switch (QUERY's uplink state). */
  notReadyText(): string {
    const rdevs = this.rdevs();
    if (rdevs.every((r) => this.statuses.get(r)?.exists === false)) return `WAITING FOR DEVICE ${rdevs.join(' OR ')}`;
    return `NO RDEV READY (${rdevs.map((r) => `${r}: ${this.statuses.get(r)?.reason ?? 'unknown'}`).join('; ')})`;
  }

  /** Each RDEV's status in order (one not yet reported: not initialised; a failed data device says so). */
  statusList(): RdevStatus[] {
    return this.rdevs().map((r) => {
      const st = this.statuses.get(r) ?? { rdev: r, ok: false, reason: 'not initialised', exists: false, up: false, carrier: false, mtu: 0, mac: '', ifindex: 0 };
      const failed = this.deviceFailed.get(r);
      return failed === undefined ? st : { ...st, ok: false, reason: failed };
    });
  }

  /** The pending transition is complete: its event, with its duration. */
  finish(to: string | null): Pending | null {
    const p = this.pending;
    if (!p) return null;
    this.pending = null;
    this.event({ kind: p.kind, reason: p.reason, durationMs: this.clock.now() - p.start, from: p.from, to });
    return p;
  }

  event(e: Omit<SwitchEvent, 'at'>): void {
    const ev: SwitchEvent = { at: this.clock.now(), ...e };
    this.events.push(ev);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    const level = WARN_EVENTS.has(e.kind) ? 'warn' : 'info';
    this.log[level]({ vswitch: this.sw, event: e.kind, reason: e.reason, durationMs: e.durationMs, from: e.from, to: e.to }, `event: ${e.kind}`);
  }

  /** Is `rdev` ready: the controller said so last and its data device has not failed since. */
  ready(rdev: string): boolean {
    return this.statuses.get(rdev)?.ok === true && !this.deviceFailed.has(rdev);
  }

  /** Why `rdev` is not ready, as `rdev: reason`. */
  whyNot(rdev: string): string {
    return `${rdev}: ${this.deviceFailed.get(rdev) ?? this.statuses.get(rdev)?.reason ?? 'not ready'}`;
  }

  private nextOk(after: string | null): string | null {
    const rdevs = this.rdevs();
    const i = after === null ? -1 : rdevs.indexOf(after);
    for (let k = 1; k <= rdevs.length; k++) {
      const r = rdevs[(i + k + rdevs.length) % rdevs.length];
      if (r !== after && this.ready(r)) return r;
    }
    return null;
  }

  private backupText(): string {
    const rdevs = this.rdevs().filter((r) => r !== this.active);
    return rdevs.length === 0 ? 'only one RDEV is defined' : rdevs.map((r) => this.whyNot(r)).join('; ');
  }

  private pickFirst(): void {
    const first = this.nextOk(null);
    if (first === null) return;
    this.active = first;
    this.stuckSince = null;
  }

  private failover(reason: string): void {
    const next = this.nextOk(this.active);
    if (next === null) {
      if (this.stuckSince === null) {
        this.stuckSince = this.clock.now();
        const stays = this.wanted() === null ? `the data device on ${this.active} is closed until it is back` : `the data device stays on ${this.active}`;
        this.event({ kind: 'failover-impossible', reason: `${reason}; no backup RDEV is ready (${this.backupText()}); ${stays}`, durationMs: null, from: this.active });
      }
      return;
    }
    this.switchTo(next, 'failover', reason);
  }

  /** The active RDEV is ready again (or was made again): it stays active; recovered once the LAN reaches the guests through it. */
  private activeBack(rdev: string, reason: string): void {
    const since = this.stuckSince;
    this.stuckSince = null;
    this.usableSerial++;
    this.log.warn({ vswitch: this.sw, rdev, reason }, 'active uplink back');
    this.pending ??= { kind: 'uplink-recovered', start: since ?? this.clock.now(), reason, from: rdev };
  }

  private recover(rdev: string): void {
    if (this.active !== null && this.active !== rdev && this.ready(this.active)) return;
    this.switchTo(rdev, 'uplink-recovered', this.active === null ? `${rdev} became ready` : `${rdev} became ready while ${this.whyNot(this.active)}`);
  }

  private switchTo(next: string, kind: Pending['kind'], reason: string): void {
    this.log.warn({ vswitch: this.sw, from: this.active, to: next, reason }, kind === 'switchover' ? 'uplink switchover' : 'uplink failover');
    this.pending = { kind, start: this.clock.now(), reason, from: this.active };
    this.active = next;
    this.stuckSince = null;
  }
}
