/**
 * The reconciler: brings the data plane and the host's devices to the control plane's state,
 * after every change, on data-plane, address and controller events, and on a retry timer.
 *
 * It is an ordered list of parts, each built here with what it needs (constructor injection)
 * and each a step of a pass (reconcile/part.ts Syncer):
 *   1. switches.adding   data-plane switch numbers and switch-add        reconcile/switches.ts
 *   2. groups            multicast membership of removed switches forgotten  reconcile/groups.ts
 *   3. controllers       controller selection, ControlSwitch, registrations  controllers.ts
 *   4. NIC backends      TAP NICs of namespace guests, QEMU socket NICs,  tap-nics.ts, qemu-nics.ts,
 *                        QEMU host-TAP NICs                              host-tap-nics.ts
 *   5. policies          switch-policy / port-policy of what changed     reconcile/policies.ts
 *   6. uplinks           the active RDEV's data device as uplink port    reconcile/uplinks.ts
 *   7. lanIp             LAN IP tables (each address in its VLAN),       reconcile/lan-ip.ts
 *                        conflicts, announcements
 *   8. controllers       again: registrations of what step 7 changed
 *   9. switches.removing switch-remove, once their ports are gone
 *  10. macTables         while there are ETHERNET switches, their learned   reconcile/mac-tables.ts
 *                        MAC tables asked of the worker every second (QUERY)
 * Every data-plane port number comes from one PortAllocator (reconcile/ports.ts), which tells
 * the port's holder (an uplink, a NIC backend) of its 'port-down'. NIC kinds are NicBackends
 * (nics.ts); a new kind is one more backend in step 4.
 *
 * Contract:
 * - A pass costs what changed, not what exists (issue 9, item 15). Each part has Marks
 *   (reconcile/marks.ts): the NICs or switches it must look at. What marks them: a change of
 *   the state (`State.beforeChange`: a command's Change marks the NIC and its switches, a
 *   switch change the switch, an address the NIC's switch, a GRANT / REVOKE / SET VSWITCH the
 *   switch, a SET NIC the NIC's switch), a port added, removed or down (its
 *   switch), the controller manager (a switch whose controller said something; every switch
 *   when a controller comes or goes), the QEMU socket directory's watch (the NIC whose socket
 *   appeared), the host TAPs' carrier poll (the NIC whose TAP was deleted), and retry times
 *   the parts set. The first pass, and the one after a pass that
 *   threw, looks at everything.
 * - `sync()` runs a pass now. It is idempotent and never throws: each part does only the
 *   difference between the state and what it set up for what it looks at, so unchanged ports
 *   keep running. Whatever fails (a missing RDEV, a TAP that cannot be opened) is logged,
 *   shown in QUERY and retried at the time its part set (QEMU, TAP and host-TAP NICs back off from
 *   retryMs to retryMaxMs); one timer wakes the reconciler for the earliest retry. A part that
 *   throws ends the pass (logged); a full pass follows retryMs later, and passes asked for
 *   meanwhile wait for it (a command's own `sync()` still runs at once).
 * - Events: a 'port-down' of a port someone holds runs a pass at once. Address events (the
 *   address watcher's, a 'saw-address' a QEMU NIC accepts), group joins and leaves and the
 *   controllers' messages mark what they concern and request a pass soon: they arrive by the
 *   thousand (a guest configuring many addresses, a daemon restart re-reading them all), so
 *   the requests of one event-loop turn make one pass.
 * - Time: one Clock (the constructor's, the system clock by default) gives each pass its
 *   `now`, the timer, the coalescing, and the controller manager's event times; nothing
 *   here reads the time or sets a timer otherwise.
 * - `stop()`: no further pass, the QEMU directory watch, the host TAPs' carrier poll and the controller pings end (the
 *   daemon stops the data plane itself; persistent TAPs stay).
 * Also the RuntimeView the queries read, and the Effects (prepare, sync, operate) of the command
 * engine.
 */
import type { Logger } from 'pino';
import { formatIpv4 } from '../wire/addr.js';
import { systemClock, type Clock } from './clock.js';
import type { Operation, RuntimeView } from './commands/types.js';
import type { Effects } from './controlplane.js';
import { ControllerManager, type ControllerListEntry, type SwitchControlView } from './controllers.js';
import { NicBackends } from './nics.js';
import { QemuNics, type QemuDevicesLike, type QemuNicView } from './qemu-nics.js';
import type { PartContext } from './reconcile/context.js';
import { GroupMembership } from './reconcile/groups.js';
import { LanIpSync, type AddressClaims } from './reconcile/lan-ip.js';
import { LanIp6Sync, canonicalIpv6 } from './reconcile/lan-ip6.js';
import { Touch } from './reconcile/marks.js';
import type { DataPlaneLike, Syncer } from './reconcile/part.js';
import { PortAllocator } from './reconcile/ports.js';
import { Policies } from './reconcile/policies.js';
import { MacTables } from './reconcile/mac-tables.js';
import { portPolicy } from './policy.js';
import { VLAN_NONE } from '../protocol/dataplane.js';
import type { MacTableView } from './commands/types.js';
import { DataPlaneSwitches } from './reconcile/switches.js';
import { HostTapNics, type HostTapDevices, type HostTapNicView } from './host-tap-nics.js';
import { Uplinks, type UplinkDevices, type UplinkView } from './reconcile/uplinks.js';
import { OverlaySync, type OverlayDevices, type OverlaySource, type OverlayView } from './reconcile/overlay.js';
import { nicKey, parseNicKey } from './nics.js';
import { cmp, type Change, type State, type StateChange } from './state.js';
import { TapNics, type TapDevices, type TapWatcher } from './tap-nics.js';

/** What the reconciler needs of the host's devices (src/host/devices.ts). The QEMU calls are optional (fakes). */
export interface DevicesLike extends TapDevices, UplinkDevices, Partial<QemuDevicesLike>, Partial<Omit<HostTapDevices, 'destroyTap' | 'openUplink'>> {}

/** What it needs of the address watcher (src/host/address-watcher.ts). */
export interface WatcherLike extends TapWatcher {
  /** vid: 0 for the NIC's own interface, N for its VLAN sub-device of VLAN id N (src/host/address-watcher.ts). */
  on(ev: 'address', fn: (key: string, ip: number, prefixLen: number, added: boolean, vid?: number) => void): unknown;
  on(ev: 'address6', fn: (key: string, ip6: string, prefixLen: number, added: boolean, vid?: number) => void): unknown;
}

export interface ReconcilerDeps {
  state: State;
  dataPlane: DataPlaneLike;
  devices: DevicesLike;
  watcher: WatcherLike;
  log: Logger;
  /** Time, the retry timer and the coalescing of event bursts (default: the system clock). */
  clock?: Clock;
  /** How long a failed step waits before it is tried again, in ms (default 1000). */
  retryMs?: number;
  /** The longest wait of a backed-off retry (QEMU and TAP NICs), in ms (default 30000). */
  retryMaxMs?: number;
  /** The QEMU guests' socket directory (qemu-nics.ts); null or absent: QEMU NICs cannot run. */
  qemuDir?: string | null;
  /** Does the host have /dev/vhost-net (host-TAP NICs' QEMU arguments say vhost=on)? Default false. */
  vhostNet?: boolean;
  /** A cluster member's address claims (src/daemon/cluster; reconcile/lan-ip.ts); absent: a host of its own. */
  addressClaims?: AddressClaims;
  /** The VXLAN overlays (reconcile/overlay.ts): the host's VXLAN devices, this member's VTEP (vswitchd --vtep), the remote guests (the cluster). */
  overlay?: { devices: OverlayDevices; localVtep: string | null; source: OverlaySource | null };
}

export class Reconciler implements RuntimeView, Effects {
  readonly controllers: ControllerManager;
  private readonly dp: DataPlaneLike;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly retryMs: number;
  private readonly switches: DataPlaneSwitches;
  private readonly ports: PortAllocator;
  private readonly nics: NicBackends;
  private readonly qemu: QemuNics;
  private readonly hostTap: HostTapNics;
  private readonly groupMembers: GroupMembership;
  private readonly groupMembers6: GroupMembership<string>;
  private readonly uplinks: Uplinks;
  private readonly overlays: OverlaySync;
  private readonly lanIp: LanIpSync;
  private readonly policies: Policies;
  private readonly macTables: MacTables;
  private readonly lanIp6: LanIp6Sync;
  /** The steps of a pass, in order (see the file comment). */
  private readonly pass: readonly Syncer[];
  private readonly touch: Touch;
  private readonly state: State;
  /** The one timer: when it fires, and its cancel. */
  private timerAt: number | null = null;
  private cancelTimer: (() => void) | null = null;
  /** After a pass that threw: passes asked for before this time wait for the timer. */
  private failedUntil = 0;
  private passQueued = false;
  private stopped = false;

  constructor(deps: ReconcilerDeps) {
    const { state, dataPlane: dp, devices, watcher, log } = deps;
    const clock = deps.clock ?? systemClock;
    const retryMs = deps.retryMs ?? 1000;
    this.dp = dp;
    this.log = log;
    this.clock = clock;
    this.retryMs = retryMs;
    this.state = state;
    const touch = (this.touch = new Touch(() => this.soon()));
    this.switches = new DataPlaneSwitches(state, dp, log, touch);
    this.ports = new PortAllocator(dp, (sw) => {
      const name = this.switches.nameOf(sw);
      if (name !== undefined) touch.switch(name);
    }, (key) => {
      // A NIC port's policy at port-add: the NIC's on the switch it is coupled to.
      const [userid, vdev] = parseNicKey(key);
      const nic = state.nic(userid, vdev);
      const sw = nic?.coupled != null ? state.switches.get(nic.coupled) : undefined;
      return nic && sw ? portPolicy(sw, nic) : undefined;
    });
    const ctx: PartContext = { state, switches: this.switches, ports: this.ports, clock, log, retryMs, retryMaxMs: deps.retryMaxMs ?? 30_000, touch };
    this.qemu = new QemuNics(ctx, devices, deps.qemuDir ?? null);
    const tap = new TapNics(ctx, devices, watcher);
    this.hostTap = new HostTapNics(ctx, devices, deps.vhostNet ?? false);
    this.nics = new NicBackends([tap, this.qemu, this.hostTap], this.ports);
    this.groupMembers = new GroupMembership(state, this.switches, this.nics, log, touch);
    this.groupMembers6 = new GroupMembership<string>(state, this.switches, this.nics, log, touch, (g) => g, cmp);
    this.controllers = new ControllerManager({
      state, clock, log,
      changed: (sw) => (sw === null ? touch.allSwitches() : touch.switch(sw)),
      marks: touch.switchMarks(),
      wanted: {
        // An address is registered with the adapter only once its LAN probe passed (lan-ip.ts).
        ipv4: (sw) => this.lanIp.registrable(sw),
        'ipv4-group': (sw) => this.groupMembers.of(sw),
        ipv6: (sw) => [...this.lanIp6.wanted(sw)].filter((ip6) => this.lanIp6.mayRegister(sw, ip6)),
        'ipv6-group': (sw) => this.groupMembers6.of(sw),
      },
    });
    this.uplinks = new Uplinks(ctx, this.controllers, devices);
    const ov = deps.overlay;
    this.overlays = new OverlaySync(ctx, dp, ov?.devices ?? null, ov?.localVtep ?? null, ov?.source ?? null);
    this.lanIp = new LanIpSync(state, dp, this.switches, this.nics, this.uplinks, this.controllers, log, touch, clock, deps.addressClaims ?? null);
    this.lanIp6 = new LanIp6Sync(state, dp, this.switches, this.nics, this.uplinks, this.controllers, log, touch, deps.addressClaims ?? null);
    this.policies = new Policies(state, this.switches, this.ports, log, touch);
    this.macTables = new MacTables(state, dp, this.switches, clock);
    this.pass = [
      this.switches.adding, this.groupMembers, this.groupMembers6, this.controllers, ...this.nics.backends, this.policies,
      this.uplinks, this.overlays, this.lanIp, this.lanIp6, this.controllers, this.switches.removing, this.macTables,
    ];
    state.beforeChange((c) => this.stateChanged(c));
    dp.on('port-down', (m) => { if (this.ports.down(m.port, m.errno, m.reason)) this.sync(); });
    dp.on('saw-address', (m) => this.sawAddress(m.sw, m.port, m.ip, m.vid));
    dp.on('group-join', (m) => this.groupEvent(m.sw, m.port, m.group, true));
    dp.on('group-leave', (m) => this.groupEvent(m.sw, m.port, m.group, false));
    dp.on('fdb', (m) => this.macTables.answer(m));
    watcher.on('address', (key, ip, prefixLen, added, vid) => this.lanIp.addressEvent(key, ip, prefixLen, added, 'configured', vid ?? 0));
    dp.on('lan-holder', (m) => this.lanIp.lanHolder(m.sw, m.ip, m.mac, m.vid));
    watcher.on('address6', (key, ip6, prefixLen, added, vid) => this.lanIp6.addressEvent6(key, ip6, prefixLen, added, 'configured', vid ?? 0));
    dp.on('saw-address6', (m) => this.sawAddress6(m.port, m.ip6, m.vid));
    dp.on('group6-join', (m) => this.groupEvent(m.sw, m.port, m.group6, true));
    dp.on('group6-leave', (m) => this.groupEvent(m.sw, m.port, m.group6, false));
  }

  // ---- RuntimeView ----

  uplink(name: string): UplinkView {
    return this.uplinks.view(name);
  }

  overlay(name: string): OverlayView | null {
    return this.overlays.view(name);
  }

  nicPort(userid: string, vdev: number): number | null {
    return this.nics.port(userid, vdev);
  }

  qemuNic(userid: string, vdev: number): QemuNicView | HostTapNicView | null {
    return this.qemu.view(userid, vdev) ?? this.hostTap.view(userid, vdev);
  }

  switchNumber(name: string): number | null {
    return this.switches.number(name);
  }

  counters(): Float64Array {
    return this.dp.counters;
  }

  hasController(name: string): boolean {
    return this.controllers.hasController(name);
  }

  controllerList(): ControllerListEntry[] {
    return this.controllers.controllerList();
  }

  switchControl(name: string): SwitchControlView | null {
    return this.controllers.view(name);
  }

  groups(sw: string): Array<{ group: number; members: Array<{ userid: string; vdev: number }>; registered: boolean; reason: string | null }> {
    return this.groupMembers.members(sw).map(({ group, members }) => {
      const r = this.controllers.registration(sw, 'ipv4-group', group);
      return { group, members, registered: r?.registered ?? false, reason: r === null ? 'no uplink' : r.reason };
    });
  }

  macTable(sw: string): MacTableView | null {
    return this.macTables.view(sw);
  }

  addressReason(sw: string, ip: number | string, vid: number = VLAN_NONE): string | null {
    if (typeof ip === 'string') return this.lanIp6.reason(sw, ip) ?? this.controllers.registration(sw, 'ipv6', ip)?.reason ?? null;
    return this.lanIp.reason(sw, ip, vid) ?? this.controllers.registration(sw, 'ipv4', ip)?.reason ?? null;
  }

  operate(op: Operation): string | null {
    const err = op.t === 'switchover' ? this.controllers.switchover(op.sw) : this.controllers.setConnected(op.sw, op.connect);
    if (err === null) this.sync();
    return err;
  }

  // ---- Effects ----

  prepare(changes: Change[]): () => void {
    return this.nics.prepare(changes);
  }

  sync(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    try {
      for (const part of this.pass) part.sync(now);
    } catch (e) {
      this.log.error({ err: String(e), stack: (e as Error).stack }, 'reconcile failed; retrying');
      this.touch.markEverything();
      this.failedUntil = now + this.retryMs;
    }
    const retry = this.touch.nextRetry();
    this.wakeAt(this.failedUntil > now && (retry === null || retry > this.failedUntil) ? this.failedUntil : retry);
  }

  /** Stop the timer, the QEMU directory watch and the host TAPs' carrier poll; no pass runs after this. */
  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.qemu.close();
    this.hostTap.stop();
    this.macTables.stop();
    this.controllers.stop();
  }

  // ---- internals ----

  /** One pass soon for the requests of this event-loop turn (after a failed pass: the timer's). */
  private soon(): void {
    if (this.passQueued) return;
    this.passQueued = true;
    this.clock.soon(() => {
      this.passQueued = false;
      if (this.clock.now() >= this.failedUntil) this.sync();
    });
  }

  /** The timer runs a pass at `at` (an earlier timer stays; null: nothing to wake for). */
  private wakeAt(at: number | null): void {
    if (at === null || this.stopped || (this.timerAt !== null && this.timerAt <= at)) return;
    this.cancelTimer?.();
    this.timerAt = at;
    this.cancelTimer = this.clock.after(Math.max(0, at - this.clock.now()), () => {
      this.timerAt = null;
      this.cancelTimer = null;
      this.sync();
    });
  }

  /** A change is about to be made to the state: mark what the parts must look at. */
  private stateChanged(c: StateChange): void {
    const t = this.touch;
    switch (c.t) {
      case 'switch-add':
        return t.switch(c.sw.name);
      case 'switch-remove':
      case 'switch-controller':
      case 'switch-set':
        return t.switch(c.name);
      case 'grant':
      case 'revoke':
        return t.switch(c.sw);
      case 'nic-set': {
        const sw = this.state.nic(c.userid, c.vdev)?.coupled ?? null;
        if (sw !== null) t.switch(sw);
        return;
      }
      case 'nic-add':
      case 'nic-remove':
        return t.nic(nicKey(c.userid, c.vdev));
      case 'couple':
      case 'uncouple':
      case 'address':
      case 'address6': {
        const was = this.state.nic(c.userid, c.vdev)?.coupled ?? null;
        if (was !== null) t.switch(was);
        if (c.t === 'couple') t.switch(c.sw);
        if (c.t !== 'address' && c.t !== 'address6') t.nic(nicKey(c.userid, c.vdev));
        return;
      }
      case 'guest-add':
      case 'guest-remove':
        return t.guest(c.userid);
      case 'macprefix':
      case 'userprefix':
        return;
    }
  }

  /** IGMP snooping saw a guest join or leave a group: the switch's registrations follow. */
  private groupEvent(sw: number, port: number, group: number | string, joined: boolean): void {
    const changed = typeof group === 'string'
      ? (() => { const g = canonicalIpv6(group); return g !== null && this.groupMembers6.event(sw, port, g, joined); })()
      : this.groupMembers.event(sw, port, group, joined);
    if (!changed) return;
    const name = this.switches.nameOf(sw);
    if (name === undefined) return;
    this.controllers.wantedChanged(name);
    this.soon();
  }

  /**
   * IP mode: a NIC used a source address it does not hold (ARP sender or IPv4 source). A NIC
   * whose backend accepts it (a QEMU guest's) registers it through the same path as a
   * namespace guest's configured address (one address in one VLAN, one NIC; conflicts refused and counted,
   * local only until the controller registers it).
   */
  private sawAddress6(port: number, ip6hex: string, vid: number): void {
    const at = this.nics.atPort(port);
    const ip6 = canonicalIpv6(ip6hex);
    if (ip6 !== null && at && at.backend.acceptsSeenAddress(at.nic.key, port, ip6)) {
      this.lanIp6.addressEvent6(at.nic.key, ip6, 128, true, 'announced', this.interfaceOf(at.nic.userid, at.nic.vdev, vid));
    }
  }

  /**
   * Where a QEMU guest's address used in VLAN `vid` (the frame's, as the data plane classified
   * it) is, in the terms of AddressClaims.on: 0 for the port's untagged VLAN (its pvid, or
   * VLAN_NONE), else the tag (a trunk guest's frames tagged `vid`, as a sub-device's would be).
   */
  private interfaceOf(userid: string, vdev: number, vid: number): number {
    const n = this.state.nic(userid, vdev);
    const sw = n?.coupled ? this.state.switches.get(n.coupled) : undefined;
    if (!n || !sw || sw.vlan === null) return 0;
    return vid === portPolicy(sw, n).pvid ? 0 : vid;
  }

  /**
   * VMRELOCATE (src/daemon/cluster/relocation.ts): a guest relocated to this member holds `ip`
   * (uint32 IPv4, or canonical IPv6 text) already; taken as if it had just used it on its NIC (sawAddress: only a backend whose guest
   * announces its addresses, a QEMU guest's, accepts it; a namespace guest's are seen in its
   * namespace). False while the NIC has no port yet, or when its backend does not take it.
   */
  relocatedAddress(userid: string, vdev: number, ip: number | string): boolean {
    const port = this.nics.port(userid, vdev);
    const at = port === null ? null : this.nics.atPort(port);
    if (port === null || !at || !at.backend.acceptsSeenAddress(at.nic.key, port, ip)) return false;
    if (typeof ip === 'string') this.lanIp6.addressEvent6(at.nic.key, ip, 128, true, 'announced');
    else this.lanIp.addressEvent(at.nic.key, ip, 32, true, 'announced');
    return true;
  }

  private sawAddress(sw: number, port: number, ip: number, vid: number): void {
    const at = this.nics.atPort(port);
    if (at && at.backend.acceptsSeenAddress(at.nic.key, port, ip)) {
      this.lanIp.addressEvent(at.nic.key, ip, 32, true, 'announced', this.interfaceOf(at.nic.userid, at.nic.vdev, vid));
      return;
    }
    this.log.debug({ sw, port, ip: formatIpv4(ip) }, 'NIC used an address it does not hold');
  }
}
