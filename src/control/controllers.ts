/**
 * The switch manager's side of the controllers (seed Figs. 3 and 4): which controller serves
 * which switch, which RDEV is active, and which guest addresses the adapter has registered.
 *
 * Contract:
 * - Controllers attach as `ControllerLink`s (src/daemon/controller-link.ts turns a socket into
 *   one) after a valid Register; a second controller with a name already connected is refused.
 *   `closed(link)` (socket closed, kill -9, garbage) takes it away at once.
 * - `reconcile()` is idempotent and called by the reconciler after each pass. Selection
 *   (Fig. 3): a switch with RDEVs and CONTROLLER name gets that controller when connected;
 *   CONTROLLER * keeps its controller while connected, else gets the eligible one controlling
 *   the fewest switches (ties: by name). The chosen controller gets ControlSwitch; until its
 *   InitializationComplete the switch has no active RDEV to open (WAITING FOR CONTROLLER).
 * - Active RDEV: after InitializationComplete, the current active one if still ok, else the
 *   first ok one in RDEV order. `wantedRdev()` tells the reconciler which data device to hold
 *   open; it does not change when a controller is lost (the data path is untouched: frames
 *   keep flowing), only on failover, SWITCHOVER or UPLINK DISCONNECT/CONNECT.
 * - Failover: a LinkEvent (or a data-plane port-down) that makes the active RDEV not ok moves
 *   the switch to the next ok RDEV in order (after the active one, wrapping); with none the data
 *   device stays where it is and the state says no backup is ready; the first RDEV that becomes
 *   ok later takes over.
 * - Addresses (Fig. 4): once the data device is open on the active RDEV (`uplinkOpened`), every
 *   LAN IP table entry is sent to the controller (RegisterAddress on that RDEV); an
 *   AddressRegistered ok clears its local-only flag (`isRegistered`), a refusal sets it and
 *   keeps the reason (`addressReason`). After a failover or a new controller the addresses are
 *   sent again; their flag stays as it was meanwhile, so the data path is not interrupted.
 *   Removed entries are deregistered. UPLINK DISCONNECT deregisters everything (local only).
 * - Multicast groups (seed part 5: "registered the same way"): the groups the switch's guests
 *   joined (`groupSource`, fed by the reconciler from the data plane's IGMP snooping) are sent
 *   as RegisterGroup on the active RDEV under the same conditions as addresses; GroupRegistered
 *   sets `groupState`. A group nobody is a member of any more is deregistered on the RDEV that
 *   confirmed it; with no controller to tell, it is remembered and deregistered when one comes.
 *   A failover or a new controller registers every group again (on a new RDEV the old one's
 *   entry is deregistered first); UPLINK DISCONNECT deregisters them; a switch being removed
 *   deregisters them before its ReleaseSwitch. Groups do not gate the data path (member NICs
 *   receive group traffic from each other either way): registration makes the adapter accept
 *   the group's frames from the LAN.
 * - Events (controller assigned / lost / recovered, failover, failover impossible, uplink
 *   recovered, disconnect, connect) are logged with reason and duration and kept per switch
 *   (last MAX_EVENTS) for QUERY VSWITCH DETAILS.
 * - `onChange` is called (coalesced with setImmediate) when the reconciler must run again.
 * - `onRefused` is called for every refusal (a controller's Register, an address or group
 *   registration the adapter refused), when it happens; the live page lists them
 *   (src/daemon/http/events.ts). They are not switch events: a refusal per address would push
 *   the failovers out of the last MAX_EVENTS.
 * No I/O here beyond the links' send().
 */
import type { Logger } from 'pino';
import { formatIpv4, parseIpv4 } from '../wire/addr.js';
import type { RdevStatus, ToController, ToDaemon } from '../protocol/controller.js';
import type { State } from './state.js';

export const MAX_EVENTS = 32;

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

export interface SwitchEvent {
  at: number;
  kind: string;
  reason: string;
  durationMs: number | null;
  from?: string | null;
  to?: string | null;
}

interface Reg {
  registered: boolean;
  reason: string | null;
  /** Last RegisterAddress: to which controller, on which RDEV, answered yet. */
  sentTo: string | null;
  sentRdev: string | null;
  pending: boolean;
  /** RDEV the adapter confirmed it on (null: none yet). */
  confirmedOn: string | null;
}

/** A controller's answer (AddressRegistered / GroupRegistered) to the registration `r` it was sent. */
function answered(r: Reg, m: { rdev: string; ok: boolean; reason?: string }): void {
  r.pending = false;
  r.registered = m.ok;
  r.reason = m.ok ? null : (m.reason ?? 'refused by the controller');
  r.confirmedOn = m.ok ? m.rdev : null;
}

interface Pending {
  kind: 'failover' | 'controller-recovered' | 'uplink-recovered' | 'switchover' | 'connect';
  start: number;
  reason: string;
  from: string | null;
}

interface SwitchCtl {
  name: string;
  controller: string | null;
  phase: 'waiting' | 'initializing' | 'ready';
  statuses: Map<string, RdevStatus>;
  active: string | null;
  /** RDEV the data device is open on (the reconciler says so), or null. */
  openOn: string | null;
  disconnected: boolean;
  /** Set when the active RDEV is not ok and no other is. */
  noBackup: string | null;
  regs: Map<number, Reg>;
  /** Multicast groups (uint32) and their registration, as regs. */
  gregs: Map<number, Reg>;
  /** Groups no longer wanted that an RDEV's filter still holds (group -> RDEV): deregistered when a controller can be told. */
  gstale: Map<number, string>;
  events: SwitchEvent[];
  pending: Pending | null;
  lostController: { name: string; at: number } | null;
}

export interface SwitchControlView {
  controller: string | null;
  controllerState: string;
  active: string | null;
  rdevs: RdevStatus[];
  events: SwitchEvent[];
  disconnected: boolean;
}

/** A refusal `onRefused` reports: `vswitch` null for a controller's Register. */
export interface Refusal {
  at: number;
  kind: 'controller' | 'address' | 'group';
  vswitch: string | null;
  /** The controller's name, the address or the group (dotted). */
  subject: string;
  rdev: string | null;
  reason: string;
}

export interface ControllerListEntry {
  name: string;
  pid: number;
  since: number;
  state: string;
  switches: Array<{ name: string; rdevs: string[]; active: string | null }>;
}

export class ControllerManager {
  private readonly controllers = new Map<string, ControllerRecord>();
  private readonly switches = new Map<string, SwitchCtl>();
  private changeQueued = false;
  onChange: () => void = () => {};
  /** The multicast groups (uint32) some NIC of switch `sw` is a member of (the reconciler sets it). */
  groupSource: (sw: string) => Iterable<number> = () => [];
  /** Told of every refusal (see the file comment). */
  onRefused: (r: Refusal) => void = () => {};

  constructor(private readonly state: State, private readonly log: Logger, private readonly now: () => number = Date.now) {}

  // ---- controller links ----

  /** A Register arrived. Returns null when accepted (Registered was sent), else the refusal. */
  register(link: ControllerLink, name: string, pid: number): string | null {
    if (this.controllers.has(name)) {
      const reason = `a controller named ${name} is already connected (pid ${this.controllers.get(name)!.pid})`;
      this.log.warn({ controller: name, pid, reason }, 'controller registration refused');
      this.onRefused({ at: this.now(), kind: 'controller', vswitch: null, subject: name, rdev: null, reason });
      return reason;
    }
    this.controllers.set(name, { name, pid, since: this.now(), link });
    link.send({ t: 'registered', name });
    this.log.info({ controller: name, pid }, 'controller registered');
    this.changed();
    return null;
  }

  /** The link is gone (closed, killed, refused after a protocol error). */
  closed(link: ControllerLink, reason: string): void {
    const rec = [...this.controllers.values()].find((c) => c.link === link);
    if (!rec) return;
    this.controllers.delete(rec.name);
    const at = this.now();
    this.log.warn({ controller: rec.name, pid: rec.pid, reason }, 'controller lost');
    for (const s of this.switches.values()) {
      if (s.controller !== rec.name) continue;
      s.controller = null;
      s.phase = 'waiting';
      s.lostController = { name: rec.name, at };
      for (const r of s.regs.values()) { r.sentTo = null; r.pending = false; }
      for (const r of s.gregs.values()) { r.sentTo = null; r.pending = false; }
      this.event(s, { kind: 'controller-lost', reason: `controller ${rec.name} (pid ${rec.pid}) ${reason}; the data path is untouched`, durationMs: null });
    }
    this.changed();
  }

  /** A validated message from a registered controller. */
  received(link: ControllerLink, m: ToDaemon): void {
    const rec = [...this.controllers.values()].find((c) => c.link === link);
    if (!rec) return;
    if (m.t === 'register') {
      link.close('Register sent twice');
      return;
    }
    const s = this.switches.get(m.switch);
    if (!s || s.controller !== rec.name) {
      this.log.warn({ controller: rec.name, msg: m }, 'message about a switch this controller does not control; ignored');
      return;
    }
    if (m.t === 'initialization-complete') {
      if (s.phase !== 'initializing') {
        this.log.warn({ controller: rec.name, vswitch: s.name }, 'InitializationComplete not expected; ignored');
        return;
      }
      for (const st of m.rdevs) s.statuses.set(st.rdev, st);
      s.phase = 'ready';
      this.log.info({ vswitch: s.name, controller: rec.name, rdevs: m.rdevs }, 'InitializationComplete');
      if (s.active !== null && !this.ok(s, s.active)) this.failover(s, this.whyNot(s, s.active));
      else if (s.active === null && !s.disconnected) this.pickFirst(s);
      this.maybeComplete(s);
    } else if (m.t === 'link-event') {
      const before = s.statuses.get(m.status.rdev);
      s.statuses.set(m.status.rdev, m.status);
      this.log.info({ vswitch: s.name, status: m.status }, 'RDEV link event');
      if (s.phase === 'ready' && !s.disconnected) {
        if (m.status.rdev === s.active && !m.status.ok) this.failover(s, this.whyNot(s, s.active));
        else if (m.status.ok && (s.active === null || !this.ok(s, s.active)) && !before?.ok) this.recover(s, m.status.rdev);
      }
    } else if (m.t === 'address-registered') {
      const ip = parseIpv4(m.ip);
      const r = ip < 0 ? undefined : s.regs.get(ip);
      if (!r || r.sentRdev !== m.rdev || !r.pending) {
        this.log.debug({ vswitch: s.name, msg: m }, 'stale AddressRegistered ignored');
        return;
      }
      answered(r, m);
      this.log.info({ vswitch: s.name, rdev: m.rdev, ip: m.ip, ok: m.ok, reason: m.reason }, m.ok ? 'address registered with the adapter' : 'address registration refused; local only');
      if (!m.ok) this.onRefused({ at: this.now(), kind: 'address', vswitch: s.name, subject: m.ip, rdev: m.rdev, reason: r.reason! });
      this.maybeComplete(s);
    } else if (m.t === 'group-registered') {
      const g = parseIpv4(m.group);
      const r = g < 0 ? undefined : s.gregs.get(g);
      if (!r || r.sentRdev !== m.rdev || !r.pending) {
        this.log.debug({ vswitch: s.name, msg: m }, 'stale GroupRegistered ignored');
        return;
      }
      answered(r, m);
      this.log.info({ vswitch: s.name, rdev: m.rdev, group: m.group, ok: m.ok, reason: m.reason },
        m.ok ? 'multicast group registered with the adapter' : 'multicast group registration refused');
      if (!m.ok) this.onRefused({ at: this.now(), kind: 'group', vswitch: s.name, subject: m.group, rdev: m.rdev, reason: r.reason! });
    }
    this.changed();
  }

  // ---- for the reconciler ----

  /** The RDEV whose data device should be open, or null. */
  wantedRdev(sw: string): string | null {
    const s = this.switches.get(sw);
    if (!s || s.disconnected) return null;
    return s.active;
  }

  /** Why no data device is wanted (QUERY's uplink state), when wantedRdev is null. */
  waitingText(sw: string): string {
    const s = this.switches.get(sw);
    if (!s) return 'NOT STARTED';
    if (s.disconnected) return 'DISCONNECTED';
    if (s.phase === 'waiting') return 'WAITING FOR CONTROLLER';
    if (s.phase === 'initializing') return `INITIALIZING (CONTROLLER ${s.controller})`;
    const def = this.state.switches.get(sw);
    const rdevs = def?.rdevs ?? [];
    if (rdevs.every((r) => s.statuses.get(r)?.exists === false)) return `WAITING FOR DEVICE ${rdevs.join(' OR ')}`;
    return `NO RDEV READY (${rdevs.map((r) => `${r}: ${s.statuses.get(r)?.reason ?? 'unknown'}`).join('; ')})`;
  }

  /** Text to add to READY (no backup after a carrier loss, no controller). */
  readyNote(sw: string): string | null {
    const s = this.switches.get(sw);
    if (!s) return null;
    if (s.noBackup) return s.noBackup;
    return null;
  }

  /** The reconciler opened (rdev) or closed (null) the data device. */
  uplinkOpened(sw: string, rdev: string | null): void {
    const s = this.switches.get(sw);
    if (!s || s.openOn === rdev) return;
    s.openOn = rdev;
    if (rdev !== null) this.maybeComplete(s);
    this.changed();
  }

  /** The data device failed in the data plane (port-down). */
  uplinkFailed(sw: string, rdev: string, reason: string): void {
    const s = this.switches.get(sw);
    if (!s) return;
    if (s.openOn === rdev) s.openOn = null;
    const st = s.statuses.get(rdev);
    if (st) s.statuses.set(rdev, { ...st, ok: false, reason: `data device failed: ${reason}` });
    if (s.active === rdev && s.phase === 'ready') this.failover(s, `data device on ${rdev} failed: ${reason}`);
    this.changed();
  }

  isRegistered(sw: string, ip: number): boolean {
    return this.switches.get(sw)?.regs.get(ip)?.registered ?? false;
  }

  /** RDEV on which the adapter confirmed the address, or null. */
  confirmedOn(sw: string, ip: number): string | null {
    return this.switches.get(sw)?.regs.get(ip)?.confirmedOn ?? null;
  }

  /** A multicast group's registration on the adapter: registered, or why not. */
  groupState(sw: string, group: number): { registered: boolean; reason: string | null } {
    const s = this.switches.get(sw);
    if (!s) return { registered: false, reason: 'no uplink' };
    const r = s.gregs.get(group);
    if (r?.registered) return { registered: true, reason: null };
    if (r?.reason) return { registered: false, reason: r.reason };
    if (s.disconnected) return { registered: false, reason: 'uplink disconnected' };
    if (s.controller === null) return { registered: false, reason: 'no controller' };
    if (r?.pending) return { registered: false, reason: 'registration pending' };
    return { registered: false, reason: 'uplink not ready' };
  }

  /** Why an address is local only (null: registered, or no reason known). */
  addressReason(sw: string, ip: number): string | null {
    const s = this.switches.get(sw);
    const r = s?.regs.get(ip);
    if (!s || !r || r.registered) return null;
    if (r.reason) return r.reason;
    if (s.disconnected) return 'uplink disconnected';
    if (s.controller === null) return 'no controller';
    if (r.pending) return 'registration pending';
    return 'uplink not ready';
  }

  view(sw: string): SwitchControlView | null {
    const s = this.switches.get(sw);
    if (!s) return null;
    const def = this.state.switches.get(sw);
    let cs: string;
    if (s.controller !== null) cs = s.phase === 'ready' ? 'READY' : 'INITIALIZING';
    else if (s.lostController) cs = `NONE (controller ${s.lostController.name} lost; traffic keeps flowing, no control path)`;
    else cs = 'NONE (waiting for a controller)';
    return {
      controller: s.controller,
      controllerState: cs,
      active: s.active,
      rdevs: (def?.rdevs ?? []).map((r) => s.statuses.get(r) ?? { rdev: r, ok: false, reason: 'not initialised', exists: false, up: false, carrier: false, mtu: 0, mac: '' }),
      events: [...s.events],
      disconnected: s.disconnected,
    };
  }

  controllerList(): ControllerListEntry[] {
    return [...this.controllers.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => ({
      name: c.name,
      pid: c.pid,
      since: c.since,
      state: 'AVAILABLE',
      switches: [...this.switches.values()].filter((s) => s.controller === c.name).sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => ({
        name: s.name,
        rdevs: [...(this.state.switches.get(s.name)?.rdevs ?? [])],
        active: s.active,
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
    if (s.disconnected) return 'the uplink is disconnected; CONNECT it first';
    if (s.phase !== 'ready') return 'no controller has initialised the uplink';
    const next = this.nextOk(s, s.active);
    if (next === null) return `no backup RDEV is ready (${this.backupText(s)})`;
    this.switchTo(s, next, 'switchover', `SET VSWITCH SWITCHOVER from ${s.active ?? 'none'}`);
    this.changed();
    return null;
  }

  /** UPLINK DISCONNECT / CONNECT. Returns an error text or null. */
  setConnected(sw: string, connected: boolean): string | null {
    const s = this.switches.get(sw);
    if (!s) return `VSWITCH SYSTEM ${sw} has no uplink`;
    if (s.disconnected === !connected) return connected ? 'the uplink is already connected' : 'the uplink is already disconnected';
    if (!connected) {
      s.disconnected = true;
      const ctl = s.controller !== null ? this.controllers.get(s.controller) : undefined;
      for (const [ip, r] of s.regs) {
        if (ctl && r.confirmedOn) ctl.link.send({ t: 'deregister-address', switch: s.name, rdev: r.confirmedOn, ip: formatIpv4(ip) });
        Object.assign(r, { registered: false, reason: null, sentTo: null, sentRdev: null, pending: false, confirmedOn: null });
      }
      for (const [g, r] of s.gregs) {
        if (r.confirmedOn) this.dropGroup(s, g, r.confirmedOn);
        Object.assign(r, { registered: false, reason: null, sentTo: null, sentRdev: null, pending: false, confirmedOn: null });
      }
      s.pending = null;
      this.event(s, { kind: 'disconnect', reason: `SET VSWITCH UPLINK DISCONNECT (was ${s.active ?? 'none'})`, durationMs: null, from: s.active });
    } else {
      s.disconnected = false;
      s.pending = { kind: 'connect', start: this.now(), reason: 'SET VSWITCH UPLINK CONNECT', from: null };
      if (s.phase === 'ready' && (s.active === null || !this.ok(s, s.active))) {
        const first = this.nextOk(s, null);
        s.active = first ?? s.active;
      }
    }
    this.changed();
    return null;
  }

  // ---- the pass ----

  reconcile(): void {
    for (const [name, s] of this.switches) {
      const def = this.state.switches.get(name);
      if (def && def.rdevs.length > 0) continue;
      for (const [g, r] of s.gregs) if (r.confirmedOn) this.dropGroup(s, g, r.confirmedOn);
      for (const [g, rdev] of s.gstale) this.dropGroup(s, g, rdev);
      if (s.controller !== null) this.controllers.get(s.controller)?.link.send({ t: 'release-switch', switch: name });
      this.switches.delete(name);
    }
    for (const [name, def] of this.state.switches) {
      if (def.rdevs.length === 0) continue;
      let s = this.switches.get(name);
      if (!s) {
        s = {
          name, controller: null, phase: 'waiting', statuses: new Map(), active: null, openOn: null, disconnected: false,
          noBackup: null, regs: new Map(), gregs: new Map(), gstale: new Map(), events: [], pending: null, lostController: null,
        };
        this.switches.set(name, s);
      }
      this.select(s, def.controller);
      this.syncRegistrations(s);
    }
  }

  private select(s: SwitchCtl, wanted: string): void {
    let want: string | null;
    if (wanted !== '*') {
      want = this.controllers.has(wanted) ? wanted : null;
    } else if (s.controller !== null && this.controllers.has(s.controller)) {
      want = s.controller;
    } else {
      want = null;
      let best = Infinity;
      for (const c of [...this.controllers.keys()].sort()) {
        const n = [...this.switches.values()].filter((x) => x.controller === c).length;
        if (n < best) { best = n; want = c; }
      }
    }
    if (want === s.controller) return;
    if (s.controller !== null) {
      this.controllers.get(s.controller)?.link.send({ t: 'release-switch', switch: s.name });
      this.event(s, { kind: 'controller-released', reason: `controller ${s.controller} released (CONTROLLER ${wanted})`, durationMs: null });
      for (const r of s.regs.values()) { r.sentTo = null; r.pending = false; }
      for (const r of s.gregs.values()) { r.sentTo = null; r.pending = false; }
    }
    s.controller = want;
    if (want === null) {
      s.phase = 'waiting';
      return;
    }
    s.phase = 'initializing';
    const def = this.state.switches.get(s.name)!;
    this.controllers.get(want)!.link.send({ t: 'control-switch', switch: s.name, rdevs: [...def.rdevs] });
    this.log.info({ vswitch: s.name, controller: want }, 'ControlSwitch sent');
    if (s.lostController && !s.pending) {
      s.pending = { kind: 'controller-recovered', start: s.lostController.at, reason: `controller ${s.lostController.name} was lost; ${want} took over`, from: s.lostController.name };
    }
    this.event(s, { kind: 'controller-assigned', reason: `controller ${want} selected (${wanted === '*' ? 'fewest switches' : 'named'})`, durationMs: null, to: want });
  }

  private syncRegistrations(s: SwitchCtl): void {
    const table = this.state.switches.get(s.name)?.lanIp ?? new Map();
    const ctl = s.controller !== null ? this.controllers.get(s.controller) : undefined;
    this.syncGroups(s, ctl);
    for (const [ip, r] of s.regs) {
      if (table.has(ip)) continue;
      if (ctl && r.confirmedOn) ctl.link.send({ t: 'deregister-address', switch: s.name, rdev: r.confirmedOn, ip: formatIpv4(ip) });
      s.regs.delete(ip);
    }
    for (const ip of table.keys()) {
      if (!s.regs.has(ip)) s.regs.set(ip, { registered: false, reason: null, sentTo: null, sentRdev: null, pending: false, confirmedOn: null });
    }
    if (!ctl || s.phase !== 'ready' || s.disconnected || s.active === null || s.openOn !== s.active) return;
    for (const [ip, r] of s.regs) {
      if (r.sentTo === ctl.name && r.sentRdev === s.active) continue;
      r.sentTo = ctl.name;
      r.sentRdev = s.active;
      r.pending = true;
      ctl.link.send({ t: 'register-address', switch: s.name, rdev: s.active, ip: formatIpv4(ip) });
    }
    this.maybeComplete(s);
  }

  /** Multicast groups: the same path as addresses (see the file comment). */
  private syncGroups(s: SwitchCtl, ctl: ControllerRecord | undefined): void {
    const wanted = new Set(this.groupSource(s.name));
    for (const [g, r] of s.gregs) {
      if (wanted.has(g)) continue;
      if (r.confirmedOn) this.dropGroup(s, g, r.confirmedOn);
      s.gregs.delete(g);
    }
    for (const g of wanted) {
      if (s.gregs.has(g)) continue;
      const held = s.gstale.get(g) ?? null;
      s.gstale.delete(g);
      s.gregs.set(g, { registered: false, reason: null, sentTo: null, sentRdev: null, pending: false, confirmedOn: held });
    }
    if (!ctl) return;
    for (const [g, rdev] of [...s.gstale]) {
      s.gstale.delete(g);
      this.dropGroup(s, g, rdev);
    }
    if (s.phase !== 'ready' || s.disconnected || s.active === null || s.openOn !== s.active) return;
    for (const [g, r] of s.gregs) {
      if (r.sentTo === ctl.name && r.sentRdev === s.active) continue;
      if (r.confirmedOn !== null && r.confirmedOn !== s.active) {
        this.dropGroup(s, g, r.confirmedOn);
        r.confirmedOn = null;
        r.registered = false;
      }
      r.sentTo = ctl.name;
      r.sentRdev = s.active;
      r.pending = true;
      r.reason = null;
      ctl.link.send({ t: 'register-group', switch: s.name, rdev: s.active, group: formatIpv4(g) });
    }
  }

  /** Take `group` out of `rdev`'s filter now, or when a controller can be told. */
  private dropGroup(s: SwitchCtl, group: number, rdev: string): void {
    const ctl = s.controller !== null ? this.controllers.get(s.controller) : undefined;
    if (ctl) ctl.link.send({ t: 'deregister-group', switch: s.name, rdev, group: formatIpv4(group) });
    else s.gstale.set(group, rdev);
  }

  // ---- internals ----

  private ok(s: SwitchCtl, rdev: string): boolean {
    return s.statuses.get(rdev)?.ok === true;
  }

  private whyNot(s: SwitchCtl, rdev: string): string {
    const st = s.statuses.get(rdev);
    return `${rdev}: ${st?.reason ?? 'not ready'}`;
  }

  private nextOk(s: SwitchCtl, after: string | null): string | null {
    const rdevs = this.state.switches.get(s.name)?.rdevs ?? [];
    const i = after === null ? -1 : rdevs.indexOf(after);
    for (let k = 1; k <= rdevs.length; k++) {
      const r = rdevs[(i + k + rdevs.length) % rdevs.length];
      if (r !== after && this.ok(s, r)) return r;
    }
    return null;
  }

  private backupText(s: SwitchCtl): string {
    const rdevs = (this.state.switches.get(s.name)?.rdevs ?? []).filter((r) => r !== s.active);
    return rdevs.length === 0 ? 'only one RDEV is defined' : rdevs.map((r) => this.whyNot(s, r)).join('; ');
  }

  private pickFirst(s: SwitchCtl): void {
    const first = this.nextOk(s, null);
    if (first !== null) {
      s.active = first;
      s.noBackup = null;
    }
  }

  private failover(s: SwitchCtl, reason: string): void {
    const next = this.nextOk(s, s.active);
    if (next === null) {
      const text = `NO CARRIER ON ACTIVE RDEV, NO BACKUP READY (${reason})`;
      if (s.noBackup !== text) {
        s.noBackup = text;
        this.event(s, { kind: 'failover-impossible', reason: `${reason}; no backup RDEV is ready (${this.backupText(s)}); the data device stays on ${s.active}`, durationMs: null, from: s.active });
      }
      return;
    }
    this.switchTo(s, next, 'failover', reason);
  }

  private recover(s: SwitchCtl, rdev: string): void {
    if (s.active !== null && s.active !== rdev && this.ok(s, s.active)) return;
    this.switchTo(s, rdev, 'uplink-recovered', s.active === null ? `${rdev} became ready` : `${rdev} became ready while ${this.whyNot(s, s.active)}`);
  }

  private switchTo(s: SwitchCtl, next: string, kind: Pending['kind'], reason: string): void {
    this.log.warn({ vswitch: s.name, from: s.active, to: next, reason }, kind === 'switchover' ? 'uplink switchover' : 'uplink failover');
    s.pending = { kind, start: this.now(), reason, from: s.active };
    s.active = next;
    s.noBackup = null;
  }

  /** Finish a pending failover/recovery once the data device is open and every address is answered. */
  private maybeComplete(s: SwitchCtl): void {
    const p = s.pending;
    if (!p) return;
    if (p.kind === 'controller-recovered') {
      if (s.phase !== 'ready') return;
      if (s.active !== null && s.openOn === s.active && [...s.regs.values()].some((r) => r.pending || r.sentTo !== s.controller)) return;
    } else {
      if (s.active === null || s.openOn !== s.active) return;
      if ([...s.regs.values()].some((r) => r.pending || r.sentRdev !== s.active)) return;
    }
    s.pending = null;
    const durationMs = this.now() - p.start;
    if (p.kind === 'controller-recovered') s.lostController = null;
    this.event(s, { kind: p.kind, reason: p.reason, durationMs, from: p.from, to: p.kind === 'controller-recovered' ? s.controller : s.active });
  }

  private event(s: SwitchCtl, e: Omit<SwitchEvent, 'at'>): void {
    const ev: SwitchEvent = { at: this.now(), ...e };
    s.events.push(ev);
    if (s.events.length > MAX_EVENTS) s.events.splice(0, s.events.length - MAX_EVENTS);
    const level = e.kind === 'controller-lost' || e.kind === 'failover-impossible' || e.kind === 'failover' ? 'warn' : 'info';
    this.log[level]({ vswitch: s.name, event: e.kind, reason: e.reason, durationMs: e.durationMs, from: e.from, to: e.to }, `event: ${e.kind}`);
  }

  private changed(): void {
    if (this.changeQueued) return;
    this.changeQueued = true;
    setImmediate(() => {
      this.changeQueued = false;
      this.onChange();
    });
  }
}
