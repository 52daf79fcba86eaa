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
 *   wrapping); with none the data device stays where it is and `noBackup` says no backup is
 *   ready (an event, once); the first RDEV that becomes ok later takes over (uplink-recovered).
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

const WARN_EVENTS = new Set(['controller-lost', 'failover-impossible', 'failover']);

export class RdevFailover {
  readonly statuses = new Map<string, RdevStatus>();
  active: string | null = null;
  /** RDEV the data device is open on (the reconciler says so), or null. */
  openOn: string | null = null;
  disconnected = false;
  /** Set when the active RDEV is not ok and no other is. */
  noBackup: string | null = null;
  pending: Pending | null = null;
  readonly events: SwitchEvent[] = [];

  /** `rdevs()`: the switch's RDEVs in order, as defined now. */
  constructor(private readonly sw: string, private readonly rdevs: () => readonly string[], private readonly clock: Clock, private readonly log: Logger) {}

  wanted(): string | null {
    return this.disconnected ? null : this.active;
  }

  initialized(statuses: readonly RdevStatus[]): void {
    for (const st of statuses) this.statuses.set(st.rdev, st);
    if (this.active !== null && !this.ok(this.active)) this.failover(this.whyNot(this.active));
    else if (this.active === null && !this.disconnected) this.pickFirst();
  }

  linkEvent(status: RdevStatus, ready: boolean): void {
    const before = this.statuses.get(status.rdev);
    this.statuses.set(status.rdev, status);
    if (!ready || this.disconnected) return;
    if (status.rdev === this.active && !status.ok) this.failover(this.whyNot(this.active));
    else if (status.ok && (this.active === null || !this.ok(this.active)) && !before?.ok) this.recover(status.rdev);
  }

  dataDeviceFailed(rdev: string, reason: string, ready: boolean): void {
    if (this.openOn === rdev) this.openOn = null;
    const st = this.statuses.get(rdev);
    if (st) this.statuses.set(rdev, { ...st, ok: false, reason: `data device failed: ${reason}` });
    if (this.active === rdev && ready) this.failover(`data device on ${rdev} failed: ${reason}`);
  }

  /** The data device is open on `rdev` now (null: closed). Returns false when nothing changed. */
  opened(rdev: string | null): boolean {
    if (this.openOn === rdev) return false;
    this.openOn = rdev;
    return true;
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
    if (ready && (this.active === null || !this.ok(this.active))) this.active = this.nextOk(null) ?? this.active;
  }

  /** Why no RDEV is active although the controller initialised the switch (QUERY's uplink state). */
  notReadyText(): string {
    const rdevs = this.rdevs();
    if (rdevs.every((r) => this.statuses.get(r)?.exists === false)) return `WAITING FOR DEVICE ${rdevs.join(' OR ')}`;
    return `NO RDEV READY (${rdevs.map((r) => `${r}: ${this.statuses.get(r)?.reason ?? 'unknown'}`).join('; ')})`;
  }

  /** Each RDEV's status in order (one not yet reported: not initialised). */
  statusList(): RdevStatus[] {
    return this.rdevs().map((r) => this.statuses.get(r) ?? { rdev: r, ok: false, reason: 'not initialised', exists: false, up: false, carrier: false, mtu: 0, mac: '' });
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

  private ok(rdev: string): boolean {
    return this.statuses.get(rdev)?.ok === true;
  }

  private whyNot(rdev: string): string {
    return `${rdev}: ${this.statuses.get(rdev)?.reason ?? 'not ready'}`;
  }

  private nextOk(after: string | null): string | null {
    const rdevs = this.rdevs();
    const i = after === null ? -1 : rdevs.indexOf(after);
    for (let k = 1; k <= rdevs.length; k++) {
      const r = rdevs[(i + k + rdevs.length) % rdevs.length];
      if (r !== after && this.ok(r)) return r;
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
    this.noBackup = null;
  }

  private failover(reason: string): void {
    const next = this.nextOk(this.active);
    if (next === null) {
      const text = `NO CARRIER ON ACTIVE RDEV, NO BACKUP READY (${reason})`;
      if (this.noBackup !== text) {
        this.noBackup = text;
        this.event({ kind: 'failover-impossible', reason: `${reason}; no backup RDEV is ready (${this.backupText()}); the data device stays on ${this.active}`, durationMs: null, from: this.active });
      }
      return;
    }
    this.switchTo(next, 'failover', reason);
  }

  private recover(rdev: string): void {
    if (this.active !== null && this.active !== rdev && this.ok(this.active)) return;
    this.switchTo(rdev, 'uplink-recovered', this.active === null ? `${rdev} became ready` : `${rdev} became ready while ${this.whyNot(this.active)}`);
  }

  private switchTo(next: string, kind: Pending['kind'], reason: string): void {
    this.log.warn({ vswitch: this.sw, from: this.active, to: next, reason }, kind === 'switchover' ? 'uplink switchover' : 'uplink failover');
    this.pending = { kind, start: this.clock.now(), reason, from: this.active };
    this.active = next;
    this.noBackup = null;
  }
}
