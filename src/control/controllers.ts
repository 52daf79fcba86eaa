/**
 * The switch manager's side of the controllers (seed Figs. 3 and 4): which controller serves
 * which switch, which RDEV is active (controllers/failover.ts), and which guest addresses and
 * multicast groups the adapter has registered (controllers/registrations.ts, one mechanism
 * per kind).
 *
 * Contract:
 * - Controllers attach as `ControllerLink`s (src/daemon/controller-link.ts turns a socket into
 *   one) after a valid Register. `closed(link)` (socket closed, kill -9, garbage) takes it
 *   away at once.
 * - Liveness (issue 9, item 8; controllers/liveness.ts): every controller is pinged every
 *   PING_INTERVAL_MS; one leaving a Ping unanswered PING_DEADLINE_MS is closed and its name
 *   freed. A chosen controller has CONTROL_SWITCH_DEADLINE_MS to answer ControlSwitch; after
 *   that it is marked NOT RESPONDING (QUERY CONTROLLER's state, a `controller-not-responding`
 *   switch event), released, and the switch goes to the next eligible controller (none for a
 *   named one: the switch waits, and says for whom). A controller marked so is chosen for
 *   nothing until it sends the InitializationComplete after all. A Register for a name held by
 *   a controller marked not responding takes the name (the holder is closed); for one held by
 *   another connection it is refused with NAME_RETRY_MS to try again, and the holder is
 *   pinged at once. Who may register at all is not decided here.
 * - `sync(now)` is a step of the reconciler's pass (run after the NICs and again after the LAN IP
 *   tables), idempotent, never needing a retry; it looks at the switches its Marks name (the
 *   switch changed, its controller said something, `wantedChanged(sw)`: what it registers
 *   changed). Selection (Fig. 3): a switch with RDEVs and
 *   CONTROLLER name gets that controller when connected; CONTROLLER * keeps its controller
 *   while connected, else gets the eligible one controlling the fewest switches (ties: by
 *   name). The chosen controller gets ControlSwitch; until its InitializationComplete the
 *   switch has no active RDEV to open (WAITING FOR CONTROLLER). A switch without RDEVs any more
 *   (removed) gets its held registrations taken out, then ReleaseSwitch.
 * - Active RDEV and failover: controllers/failover.ts. `wantedRdev()` tells the uplinks which
 *   data device to hold open; `uplinkOpened` / `uplinkFailed` are their answers.
 * - Registrations (Fig. 4): once the data device is open on the active RDEV, every entry of each
 *   kind is registered through the controller on that RDEV: `wanted.ipv4` (the LAN IP table:
 *   a registered address is no longer local only) and `wanted['ipv4-group']` (the groups the
 *   switch's guests joined: the adapter accepts their frames from the LAN; groups never gate
 *   the data path). After a failover or a new controller they are sent again; UPLINK
 *   DISCONNECT deregisters everything. `registration(sw, kind, key)` shows where each stands.
 *   A pending failover, switchover, recovery or connect is complete (an event with its
 *   duration) once the data device is open on the new RDEV and every address is answered
 *   there; a controller's recovery once the new controller has answered every address.
 * - `changed(sw)` (the constructor's) is called whenever the reconciler must look at a switch
 *   (its controller said something, an operation changed the active RDEV; null: every switch,
 *   a controller came or went).
 * - `onRefusal(listener)` subscribes to every refusal (a controller's Register, an address or
 *   group registration the adapter refused), told when it happens; the live page lists them
 *   (src/daemon/http/events.ts). They are not switch events: a refusal per address would push
 *   the failovers out of the last MAX_EVENTS.
 * No I/O here beyond the links' send().
 */
import type { Logger } from 'pino';
import type { AddressKind, RdevStatus, ToController, ToDaemon } from '../protocol/controller.js';
import type { Clock } from './clock.js';
import type { Marks } from './reconcile/marks.js';
import { RdevFailover, type SwitchEvent } from './controllers/failover.js';
import { ControllerLiveness } from './controllers/liveness.js';
import { KINDS, Registrations, type RegistrationTarget } from './controllers/registrations.js';
import type { State } from './state.js';
import { MSG } from './messages.js';
import type { Principal } from './privilege.js';

export { MAX_EVENTS, type SwitchEvent } from './controllers/failover.js';
export { PING_DEADLINE_MS, PING_INTERVAL_MS } from './controllers/liveness.js';

/** How long a chosen controller has to answer ControlSwitch (InitializationComplete) before the switch moves on (ms). */
export const CONTROL_SWITCH_DEADLINE_MS = 5000;
/** After how long a controller refused because its name is taken may try again (ms). */
export const NAME_RETRY_MS = 1000;

/** A refused Register: why, and when it may come again (absent: never). */
export interface RegisterRefusal {
  reason: string;
  retryMs?: number;
}

/** A registered controller connection. */
export interface ControllerLink {
  send(m: ToController): void;
  /** Close the connection (after a protocol error). `closed()` is still called by the owner. */
  close(reason: string): void;
}

export interface ControllerRecord {
  name: string;
  pid: number;
  since: number;
  link: ControllerLink;
}

export interface SwitchControlView {
  controller: string | null;
  controllerState: string;
  active: string | null;
  rdevs: RdevStatus[];
  events: SwitchEvent[];
  disconnected: boolean;
}

export interface ControllerListEntry {
  name: string;
  pid: number;
  since: number;
  state: string;
  switches: Array<{ name: string; rdevs: string[]; active: string | null }>;
}

/** Where one address of one kind stands on the adapter. */
export interface RegistrationView {
  registered: boolean;
  /** The RDEV the adapter confirmed it on, or null. */
  confirmedOn: string | null;
  /** Why it is not registered (null: it is). */
  reason: string | null;
}

/** A refusal `onRefusal` listeners hear of: `vswitch` null for a controller's Register. */
export interface Refusal {
  at: number;
  kind: 'controller' | 'address' | 'group';
  vswitch: string | null;
  /** The controller's name, the address or the group (dotted). */
  subject: string;
  rdev: string | null;
  reason: string;
}

export interface ControllerManagerDeps {
  state: State;
  clock: Clock;
  log: Logger;
  /**
   * Switch `sw`'s control side changed (null: every switch's, a controller came or went): the
   * reconciler's parts look at it in a pass soon (the reconciler coalesces the requests).
   */
  changed(sw: string | null): void;
  /** The switches this manager's `sync` looks at (reconcile/marks.ts). */
  marks: Marks<string>;
  /** What switch `sw` wants registered, per kind (uint32 addresses and groups). */
  wanted: Record<AddressKind, (sw: string) => Iterable<number>>;
}

interface SwitchCtl {
  name: string;
  controller: string | null;
  /** The current controller's InitializationComplete has come. */
  initialized: boolean;
  uplink: RdevFailover;
  registrations: Record<AddressKind, Registrations<number>>;
  lostController: { name: string; at: number } | null;
  /** Cancels the ControlSwitch deadline of the current controller, while it runs. */
  cancelDeadline: (() => void) | null;
}

const KIND_NAMES = Object.keys(KINDS) as AddressKind[];

export class ControllerManager {
  private readonly controllers = new Map<string, ControllerRecord>();
  private readonly switches = new Map<string, SwitchCtl>();
  private readonly state: State;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly changed: (sw: string | null) => void;
  private readonly marks: Marks<string>;
  private readonly wanted: ControllerManagerDeps['wanted'];
  private readonly refusalListeners: Array<(r: Refusal) => void> = [];
  private readonly liveness: ControllerLiveness;

  constructor(deps: ControllerManagerDeps) {
    this.liveness = new ControllerLiveness(deps.clock, deps.log, (name, reason) => this.drop(name, reason));
    this.state = deps.state;
    this.clock = deps.clock;
    this.log = deps.log;
    this.changed = deps.changed;
    this.marks = deps.marks;
    this.wanted = deps.wanted;
  }

  /** Be told of every refusal from now on (see the file comment). */
  onRefusal(listener: (r: Refusal) => void): void {
    this.refusalListeners.push(listener);
  }

  private refused(r: Omit<Refusal, 'at'>): void {
    const at = this.clock.now();
    for (const l of this.refusalListeners) l({ at, ...r });
  }

  // ---- controller links ----

  /**
   * A Register arrived. Returns null when accepted (Registered was sent), else the refusal. A
   * name held by a connection marked not responding is taken from it (it is closed); one held
   * by another connection is refused with a retry (and the holder is pinged at once, so a dead
   * one loses the name within the ping deadline). `peer`: who connected (SO_PEERCRED; absent:
   * an in-process caller, the system); a peer that is not the system is refused, finally (no
   * retry), logged and listed with the refused registrations.
   */
  register(link: ControllerLink, name: string, pid: number, peer?: { who: Principal; pid: number }): RegisterRefusal | null {
    // Registering as a controller is class B: a controller is told which RDEVs to own and every guest's addresses.
    if (peer !== undefined && !peer.who.system) {
      const reason = `${MSG.NOT_AUTHORIZED} not authorized: registering as a controller is for the system (root or the administrators' group); uid ${peer.who.uid}${peer.who.user !== null ? ` (${peer.who.user})` : ''} is neither`;
      this.log.warn({ controller: name, pid, peerPid: peer.pid, uid: peer.who.uid, user: peer.who.user }, 'controller registration refused: not authorized');
      this.refused({ kind: 'controller', vswitch: null, subject: name, rdev: null, reason });
      return { reason };
    }
    const holder = this.controllers.get(name);
    if (holder) {
      const slow = this.liveness.slow(name);
      if (slow === null) {
        this.liveness.probe(name);
        const reason = `a controller named ${name} is already connected (pid ${holder.pid}); try again in ${NAME_RETRY_MS} ms (a connection that stops answering loses its name)`;
        this.log.warn({ controller: name, pid, reason }, 'controller registration refused');
        this.refused({ kind: 'controller', vswitch: null, subject: name, rdev: null, reason });
        return { reason, retryMs: NAME_RETRY_MS };
      }
      this.drop(name, `pid ${pid} registered under its name while it was not responding (${slow})`);
    }
    this.controllers.set(name, { name, pid, since: this.clock.now(), link });
    this.liveness.track(name, (m) => link.send(m));
    link.send({ t: 'registered', name });
    this.log.info({ controller: name, pid }, 'controller registered');
    this.changed(null);
    return null;
  }

  /** Close a controller's connection and forget it (not answering, or its name taken over). */
  private drop(name: string, reason: string): void {
    const rec = this.controllers.get(name);
    if (!rec) return;
    rec.link.close(reason);
    this.closed(rec.link, `disconnected: ${reason}`);
  }

  /** No timer runs after this (the reconciler's stop). */
  stop(): void {
    for (const name of [...this.controllers.keys()]) this.liveness.forget(name);
    for (const s of this.switches.values()) this.cancelDeadline(s);
  }

  /** The link is gone (closed, killed, refused after a protocol error). */
  closed(link: ControllerLink, reason: string): void {
    const rec = [...this.controllers.values()].find((c) => c.link === link);
    if (!rec) return;
    this.controllers.delete(rec.name);
    this.liveness.forget(rec.name);
    const at = this.clock.now();
    this.log.warn({ controller: rec.name, pid: rec.pid, reason }, 'controller lost');
    for (const s of this.switches.values()) {
      if (s.controller !== rec.name) continue;
      s.controller = null;
      s.initialized = false;
      this.cancelDeadline(s);
      s.lostController = { name: rec.name, at };
      for (const k of KIND_NAMES) s.registrations[k].resend();
      s.uplink.event({ kind: 'controller-lost', reason: `controller ${rec.name} (pid ${rec.pid}) ${reason}; the data path is untouched`, durationMs: null });
    }
    this.changed(null);
  }

  /** A validated message from a registered controller. */
  received(link: ControllerLink, m: ToDaemon): void {
    const rec = [...this.controllers.values()].find((c) => c.link === link);
    if (!rec) return;
    if (m.t === 'register') {
      link.close('Register sent twice');
      return;
    }
    if (m.t === 'pong') {
      this.liveness.pong(rec.name, m.seq);
      return;
    }
    const s = this.switches.get(m.switch);
    if (!s || s.controller !== rec.name) {
      if (m.t === 'initialization-complete' && this.liveness.slow(rec.name) !== null) {
        this.log.warn({ controller: rec.name, vswitch: m.switch }, 'late InitializationComplete from a controller marked not responding: it may be chosen again');
        this.liveness.clearSlow(rec.name);
        this.changed(null);
        return;
      }
      this.log.warn({ controller: rec.name, msg: m }, 'message about a switch this controller does not control; ignored');
      return;
    }
    if (m.t === 'initialization-complete') {
      if (s.initialized) {
        this.log.warn({ controller: rec.name, vswitch: s.name }, 'InitializationComplete not expected; ignored');
        return;
      }
      s.initialized = true;
      this.cancelDeadline(s);
      this.log.info({ vswitch: s.name, controller: rec.name, rdevs: m.rdevs }, 'InitializationComplete');
      s.uplink.initialized(m.rdevs);
      this.maybeComplete(s);
    } else if (m.t === 'link-event') {
      this.log.info({ vswitch: s.name, status: m.status }, 'RDEV link event');
      if (s.uplink.linkEvent(m.status, s.initialized)) {
        this.log.warn({ vswitch: s.name, rdev: m.status.rdev, ifindex: m.status.ifindex }, 'RDEV made again: its data device is reopened and its registrations sent again');
        for (const k of KIND_NAMES) s.registrations[k].adapterReplaced(m.status.rdev);
      }
      if (m.status.ok) for (const k of KIND_NAMES) s.registrations[k].retryRefused(m.status.rdev);
    } else {
      if (!s.registrations[m.kind].answer(m)) {
        this.log.debug({ vswitch: s.name, msg: m }, 'stale AddressRegistered ignored');
        return;
      }
      if (!m.ok) {
        const reason = m.reason ?? 'refused by the controller';
        this.refused({ kind: m.kind === 'ipv4' ? 'address' : 'group', vswitch: s.name, subject: m.address, rdev: m.rdev, reason });
      }
      this.maybeComplete(s);
    }
    this.changed(s.name);
  }

  // ---- for the reconciler ----

  /** The RDEV whose data device should be open, or null. */
  wantedRdev(sw: string): string | null {
    return this.switches.get(sw)?.uplink.wanted() ?? null;
  }

  /** Switch `sw`'s data path to the LAN is usable: a number that changes each time it becomes so (RdevFailover.usable); null: not usable. */
  uplinkUsable(sw: string): number | null {
    return this.switches.get(sw)?.uplink.usable() ?? null;
  }

  /** The interface index the controller last saw for `rdev` of switch `sw` (0: none or unknown). */
  rdevIfindex(sw: string, rdev: string): number {
    return this.switches.get(sw)?.uplink.ifindex(rdev) ?? 0;
  }

  /** Why no data device is wanted (QUERY's uplink state), when wantedRdev is null. */
  waitingText(sw: string): string {
    const s = this.switches.get(sw);
    if (!s) return 'NOT STARTED';
    if (s.uplink.disconnected) return 'DISCONNECTED';
    if (s.controller === null) return `WAITING FOR CONTROLLER${this.slowNote(s, (n) => ` (${n})`)}`;
    if (!s.initialized) return `INITIALIZING (CONTROLLER ${s.controller})`;
    return s.uplink.notReadyText();
  }

  /** Text to add to READY (no backup after a carrier loss), or null. */
  readyNote(sw: string): string | null {
    return this.switches.get(sw)?.uplink.readyNote() ?? null;
  }

  /** The reconciler opened (rdev) or closed (null) the data device. */
  uplinkOpened(sw: string, rdev: string | null): void {
    const s = this.switches.get(sw);
    if (!s || !s.uplink.opened(rdev)) return;
    if (rdev !== null) this.maybeComplete(s);
    this.changed(sw);
  }

  /** The data device failed in the data plane (port-down). */
  uplinkFailed(sw: string, rdev: string, reason: string): void {
    const s = this.switches.get(sw);
    if (!s) return;
    s.uplink.dataDeviceFailed(rdev, reason, s.initialized);
    this.changed(sw);
  }

  /** Where `key` of `kind` stands on switch `sw`'s adapter; null when the switch has no uplink. */
  registration(sw: string, kind: AddressKind, key: number): RegistrationView | null {
    const s = this.switches.get(sw);
    if (!s) return null;
    const regs = s.registrations[kind];
    const r = regs.get(key);
    return {
      registered: r?.registered ?? false,
      confirmedOn: r?.confirmedOn ?? null,
      reason: regs.reason(key, this.whyNotSent(s)),
    };
  }

  view(sw: string): SwitchControlView | null {
    const s = this.switches.get(sw);
    if (!s) return null;
    let cs: string;
    if (s.controller !== null) cs = s.initialized ? 'READY' : 'INITIALIZING';
    else if (s.lostController) cs = `NONE (controller ${s.lostController.name} lost; traffic keeps flowing, no control path${this.slowNote(s, (n) => `; ${n}`)})`;
    else cs = `NONE (waiting for a controller${this.slowNote(s, (n) => `; ${n}`)})`;
    return {
      controller: s.controller,
      controllerState: cs,
      active: s.uplink.active,
      rdevs: s.uplink.statusList(),
      events: [...s.uplink.events],
      disconnected: s.uplink.disconnected,
    };
  }

  controllerList(): ControllerListEntry[] {
    return [...this.controllers.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => ({
      name: c.name,
      pid: c.pid,
      since: c.since,
      state: this.liveness.slow(c.name) === null ? 'AVAILABLE' : `NOT RESPONDING (${this.liveness.slow(c.name)})`,
      switches: [...this.switches.values()].filter((s) => s.controller === c.name).sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => ({
        name: s.name,
        rdevs: [...(this.state.switches.get(s.name)?.rdevs ?? [])],
        active: s.uplink.active,
      })),
    }));
  }

  hasController(name: string): boolean {
    return this.controllers.has(name);
  }

  // ---- operations (SET VSWITCH) ----

  /** SWITCHOVER: to the next ok RDEV. Returns an error text or null. */
  switchover(sw: string): string | null {
    const s = this.switches.get(sw);
    if (!s) return `VSWITCH SYSTEM ${sw} has no uplink`;
    const err = s.uplink.switchover(s.initialized);
    if (err !== null) return err;
    this.changed(sw);
    return null;
  }

  /** UPLINK DISCONNECT / CONNECT. Returns an error text or null. */
  setConnected(sw: string, connected: boolean): string | null {
    const s = this.switches.get(sw);
    if (!s) return `VSWITCH SYSTEM ${sw} has no uplink`;
    if (s.uplink.disconnected === !connected) return connected ? 'the uplink is already connected' : 'the uplink is already disconnected';
    if (!connected) {
      const to = this.target(s);
      for (const k of KIND_NAMES) s.registrations[k].withdraw(to);
      s.uplink.disconnect();
    } else {
      s.uplink.connect(s.initialized);
    }
    this.changed(sw);
    return null;
  }

  // ---- the pass ----

  /** What switch `sw` wants registered changed (its LAN IP table, its groups): the next `sync` looks at it. */
  wantedChanged(sw: string): void {
    this.marks.mark(sw);
  }

  sync(now: number): void {
    for (const name of this.marks.take(now, () => [...this.state.switches.keys(), ...this.switches.keys()])) this.syncSwitch(name);
  }

  private syncSwitch(name: string): void {
    const def = this.state.switches.get(name);
    let s = this.switches.get(name);
    if (!def || def.rdevs.length === 0) {
      if (!s) return;
      const to = this.target(s);
      for (const k of KIND_NAMES) s.registrations[k].release(to);
      to.controller?.link.send({ t: 'release-switch', switch: name });
      this.cancelDeadline(s);
      this.switches.delete(name);
      return;
    }
    if (!s) this.switches.set(name, (s = this.newSwitch(name)));
    this.select(s, def.controller);
    const to = this.target(s);
    for (const k of KIND_NAMES) s.registrations[k].sync(this.wanted[k](name), to);
    if (to.rdev !== null) this.maybeComplete(s);
  }

  private newSwitch(name: string): SwitchCtl {
    const rdevs = (): readonly string[] => this.state.switches.get(name)?.rdevs ?? [];
    const registrations = {} as Record<AddressKind, Registrations<number>>;
    for (const k of KIND_NAMES) registrations[k] = new Registrations(KINDS[k], name, this.log);
    return { name, controller: null, initialized: false, uplink: new RdevFailover(name, rdevs, this.clock, this.log), registrations, lostController: null, cancelDeadline: null };
  }

  /** Where registrations of switch `s` go now: its controller, and the RDEV when they can be sent. */
  private target(s: SwitchCtl): RegistrationTarget {
    const controller = s.controller !== null ? this.controllers.get(s.controller) ?? null : null;
    return { controller, rdev: this.whyNotSent(s) === null ? s.uplink.active : null };
  }

  /**
   * Why registrations of switch `s` cannot be sent now (null: they can: a controller
   * initialised the switch, the uplink is connected, the data device is open on the active
   * RDEV and the controller last said that RDEV is ready). QUERY's reason for a local-only entry.
   */
  private whyNotSent(s: SwitchCtl): string | null {
    const u = s.uplink;
    if (u.disconnected) return 'uplink disconnected';
    if (s.controller === null || !this.controllers.has(s.controller)) return `no controller${this.slowNote(s, (n) => ` (${n})`)}`;
    if (!s.initialized) return `controller ${s.controller} has not initialised the uplink yet`;
    if (u.active === null) return u.notReadyText().toLowerCase().replace(/^no rdev ready/, 'no RDEV ready');
    if (!u.ready(u.active)) return u.whyNot(u.active);
    if (u.openOn !== u.active) return `the data device on ${u.active} is not open`;
    return null;
  }

  /** May `name` be chosen: connected and not marked not responding? */
  private eligible(name: string): boolean {
    return this.controllers.has(name) && this.liveness.slow(name) === null;
  }

  /**
   * The connected controllers switch `s` could have but does not, because they are not
   * responding (its named one, or any for CONTROLLER *), put in words by `wrap`; '' when none.
   */
  private slowNote(s: SwitchCtl, wrap: (note: string) => string): string {
    const named = this.state.switches.get(s.name)?.controller ?? '*';
    const slow = [...this.controllers.keys()].sort()
      .filter((n) => (named === '*' || n === named) && this.liveness.slow(n) !== null)
      .map((n) => `${n} NOT RESPONDING: ${this.liveness.slow(n)}`);
    return slow.length === 0 ? '' : wrap(slow.join('; '));
  }

  private cancelDeadline(s: SwitchCtl): void {
    s.cancelDeadline?.();
    s.cancelDeadline = null;
  }

  /** The ControlSwitch deadline of `name` for switch `sw` passed: if still unanswered, the controller is marked and the switch moves on. */
  private controlSwitchMissed(sw: string, name: string): void {
    const s = this.switches.get(sw);
    if (!s) return;
    s.cancelDeadline = null;
    if (s.controller !== name || s.initialized) return;
    const why = `no InitializationComplete for VSWITCH ${sw} within ${CONTROL_SWITCH_DEADLINE_MS / 1000} s`;
    this.liveness.markSlow(name, why);
    s.uplink.event({ kind: 'controller-not-responding', reason: `controller ${name}: ${why}; another eligible controller is chosen`, durationMs: null, from: name });
    this.changed(null);
  }

  private select(s: SwitchCtl, wanted: string): void {
    let want: string | null;
    if (wanted !== '*') {
      want = this.eligible(wanted) ? wanted : null;
    } else if (s.controller !== null && this.eligible(s.controller)) {
      want = s.controller;
    } else {
      want = null;
      let best = Infinity;
      for (const c of [...this.controllers.keys()].sort()) {
        if (!this.eligible(c)) continue;
        const n = [...this.switches.values()].filter((x) => x.controller === c).length;
        if (n < best) { best = n; want = c; }
      }
    }
    if (want === s.controller) return;
    this.cancelDeadline(s);
    if (s.controller !== null) {
      const slow = this.liveness.slow(s.controller);
      this.controllers.get(s.controller)?.link.send({ t: 'release-switch', switch: s.name });
      s.uplink.event({ kind: 'controller-released', reason: `controller ${s.controller} released (${slow !== null ? `not responding: ${slow}` : `CONTROLLER ${wanted}`})`, durationMs: null });
      for (const k of KIND_NAMES) s.registrations[k].resend();
    }
    s.controller = want;
    s.initialized = false;
    if (want === null) return;
    const def = this.state.switches.get(s.name)!;
    this.controllers.get(want)!.link.send({ t: 'control-switch', switch: s.name, rdevs: [...def.rdevs] });
    s.cancelDeadline = this.clock.after(CONTROL_SWITCH_DEADLINE_MS, () => this.controlSwitchMissed(s.name, want));
    this.log.info({ vswitch: s.name, controller: want }, 'ControlSwitch sent');
    if (s.lostController) {
      s.uplink.pending ??= { kind: 'controller-recovered', start: s.lostController.at, reason: `controller ${s.lostController.name} was lost; ${want} took over`, from: s.lostController.name };
    }
    s.uplink.event({ kind: 'controller-assigned', reason: `controller ${want} selected (${wanted === '*' ? 'fewest switches' : 'named'})`, durationMs: null, to: want });
  }

  /** Finish a pending failover / recovery once the data device is open and every address that gates it is answered. */
  private maybeComplete(s: SwitchCtl): void {
    const u = s.uplink;
    const p = u.pending;
    if (!p) return;
    const gating = KIND_NAMES.filter((k) => KINDS[k].gatesFailover).map((k) => s.registrations[k]);
    if (p.kind === 'controller-recovered') {
      if (!s.initialized) return;
      if (this.target(s).rdev !== null && !gating.every((g) => g.settled((r) => r.sentTo === s.controller))) return;
    } else {
      if (u.active === null || u.openOn !== u.active) return;
      if (!gating.every((g) => g.settled((r) => r.sentRdev === u.active))) return;
    }
    u.finish(p.kind === 'controller-recovered' ? s.controller : u.active);
    if (p.kind === 'controller-recovered') s.lostController = null;
  }
}
