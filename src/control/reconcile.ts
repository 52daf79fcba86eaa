/**
 * The reconciler: brings the data plane and the host's devices to the control plane's state,
 * after every change, on data-plane events and on a retry timer.
 *
 * Contract:
 * - `sync()` is idempotent and never throws: it diffs the state against what it has set up and
 *   does only the difference, so unchanged ports keep running. Whatever fails (a missing RDEV, a
 *   TAP that cannot be opened) is logged, shown in QUERY, and retried every `retryMs`.
 * - Switches get a data-plane number (its counter slots zeroed first) and a `switch-add`.
 * - Uplinks (seed Figs. 3 and 4): the ControllerManager (controllers.ts) decides which RDEV's
 *   data device is held open (`wantedRdev`): none before a controller's InitializationComplete
 *   (`WAITING FOR CONTROLLER`), the active one after, another one on failover or SWITCHOVER,
 *   none on UPLINK DISCONNECT. The reconciler opens it (openUplink), adds it as the uplink port
 *   and tells the manager (`uplinkOpened`); a changed choice removes the old port first. A lost
 *   controller changes nothing here: the data device stays open. On 'port-down' of the uplink
 *   the manager is told (`uplinkFailed`) and the open is retried every `retryMs`.
 * - NICs of namespace guests: a persistent TAP (created or re-attached) in the guest's namespace
 *   for every NIC; a coupled NIC's TAP fd goes to the worker as a port; an uncoupled NIC's fd is
 *   closed (the guest sees NO-CARRIER) but the TAP stays; a detached NIC's TAP is destroyed.
 * - Addresses: every NIC's interface is watched (AddressWatcher); the state recomputes each IP
 *   switch's LAN IP table (one address, one NIC; conflicts are logged and counted at
 *   DropReason.AddressConflict); an entry is local only until the controller has registered it
 *   with the adapter (the manager's `registration`), then ip-set localOnly false; once it is
 *   confirmed on the RDEV whose data device is open it is announced there (gratuitous ARP
 *   `announce`, once per address and uplink port, so a failover re-announces every address).
 *   Removed entries get `ip-clear`.
 * - NICs of QEMU guests (src/control/qemu-nics.ts): a coupled NIC's port is a connection to
 *   QEMU's stream socket or the daemon's datagram socket, retried every `retryMs` while QEMU is
 *   not there and after 'port-down'. Their addresses come from the data plane's 'saw-address'
 *   (the guest announced or first used it) and take the same path as a watched address.
 * - Multicast groups (IP mode): the data plane's 'group-join' / 'group-leave' (the forwarder's
 *   IGMP snooping) keep, per switch, which NIC ports are members of which group; the groups
 *   with a member are what the manager registers of kind ipv4-group (through the controller), and
 *   `groups()` shows them with their members and registration in QUERY VSWITCH DETAILS.
 *   Membership itself lives in the data plane (it forwards group traffic to members without
 *   waiting for the controller); a removed switch forgets its groups.
 * - Port numbers are handed out round-robin (so a late 'port-down' for a removed port cannot
 *   be taken for its successor), and a port's counter slots are zeroed before the number is used.
 * Also the RuntimeView the queries read, and the Effects (prepare) of the command engine.
 */
import { closeSync } from 'node:fs';
import type { Logger } from 'pino';
import { DropReason } from '../forward/api.js';
import { MAX_PORTS, MAX_SWITCHES, PORT_SLOTS, SWITCH_SLOTS, dropSlot, portSlot } from '../forward/counters.js';
import type { FromWorker, ToWorker } from '../protocol/dataplane.js';
import { formatIpv4 } from '../wire/addr.js';
import type { Operation, RuntimeView } from './commands/types.js';
import type { Effects } from './controlplane.js';
import { hex4 } from './grammar.js';
import type { Change, Nic, State } from './state.js';
import { systemClock } from './clock.js';
import { ControllerManager } from './controllers.js';
import { QemuNics, type QemuDevicesLike, type QemuNicView } from './qemu-nics.js';

/** What the reconciler needs of the data plane (src/host/dataplane.ts DataPlane). */
export interface DataPlaneLike {
  readonly counters: Float64Array;
  post(msg: ToWorker): void;
  on(ev: 'port-down', fn: (m: Extract<FromWorker, { ev: 'port-down' }>) => void): unknown;
  on(ev: 'saw-address', fn: (m: Extract<FromWorker, { ev: 'saw-address' }>) => void): unknown;
  on(ev: 'group-join' | 'group-leave', fn: (m: Extract<FromWorker, { ev: 'group-join' | 'group-leave' }>) => void): unknown;
}

/** What it needs of the host's devices (src/host/devices.ts). The QEMU calls are optional (fakes). */
export interface DevicesLike extends Partial<QemuDevicesLike> {
  ensureNetns(name: string): void;
  openTap(o: { netns: string | null; name: string; mac: number; persist: boolean }): { fd: number; ifindex: number };
  destroyTap(netns: string | null, name: string): void;
  openUplink(ifname: string, opts?: { promisc?: boolean }): { fd: number; ifindex: number; mac: number; mtu: number };
  interfaceExists(ifname: string): boolean;
}

/** What it needs of the address watcher (src/host/address-watcher.ts). */
export interface WatcherLike {
  watch(key: string, netns: string, ifname: string): void;
  unwatch(key: string): void;
  on(ev: 'address', fn: (key: string, ip: number, prefixLen: number, added: boolean) => void): unknown;
}

interface UplinkRt {
  active: string | null;
  port: number | null;
  mac: number | null;
  mtu: number | null;
  /** Why it is not READY (shown in QUERY), null when READY. */
  down: string | null;
  nextTry: number;
}

interface SwitchRt {
  sw: number;
  uplink: UplinkRt;
  /** What the data plane's LAN IP table holds: ip -> port and flag, and the uplink port it was announced on. */
  posted: Map<number, { port: number; localOnly: boolean; announcedOn: number | null }>;
}

interface NicRt {
  userid: string;
  vdev: number;
  netns: string;
  tap: string;
  mac: number;
  tapReady: boolean;
  watched: boolean;
  port: number | null;
  sw: string | null;
  nextTry: number;
}

export function nicKey(userid: string, vdev: number): string {
  return `${userid}/${hex4(vdev)}`;
}

export class Reconciler implements RuntimeView, Effects {
  private readonly switches = new Map<string, SwitchRt>();
  private readonly nics = new Map<string, NicRt>();
  private readonly netnsReady = new Set<string>();
  private readonly usedSwitches = new Set<number>();
  private readonly usedPorts = new Set<number>();
  private readonly portOwner = new Map<number, { kind: 'uplink'; name: string } | { kind: 'nic'; key: string }>();
  private nextPort = 0;
  private readonly conflicts = new Set<string>();
  /** Switch name -> multicast group (uint32) -> member NIC ports (from 'group-join' / 'group-leave'). */
  private readonly groupMembers = new Map<string, Map<number, Set<number>>>();
  /** QEMU guests' NICs (src/control/qemu-nics.ts). */
  readonly qemu: QemuNics;
  /** The controllers (src/control/controllers.ts), built here: a pass is what their changes ask for. */
  readonly controllers: ControllerManager;
  private timer: NodeJS.Timeout | null = null;
  private syncQueued = false;
  private stopped = false;

  constructor(
    private readonly state: State,
    private readonly dp: DataPlaneLike,
    private readonly dev: DevicesLike,
    private readonly watcher: WatcherLike,
    private readonly log: Logger,
    private readonly retryMs = 1000,
  ) {
    this.controllers = new ControllerManager({
      state, clock: systemClock, log,
      requestPass: () => this.syncSoon(),
      wanted: { ipv4: (sw) => state.switches.get(sw)?.lanIp.keys() ?? [], 'ipv4-group': (sw) => this.groupMembers.get(sw)?.keys() ?? [] },
    });
    this.qemu = new QemuNics(state, dev, {
      allocPort: (key) => { const p = this.allocPort(); this.portOwner.set(p, { kind: 'nic', key }); return p; },
      removePort: (p) => this.removePort(p),
      post: (m) => this.dp.post(m),
      switchNumber: (name) => this.switchNumber(name),
    }, log, retryMs);
    dp.on('port-down', (m) => this.portDown(m.port, m.errno, m.reason));
    dp.on('saw-address', (m) => this.sawAddress(m.sw, m.port, m.ip));
    dp.on('group-join', (m) => this.groupEvent(m.sw, m.port, m.group, true));
    dp.on('group-leave', (m) => this.groupEvent(m.sw, m.port, m.group, false));
    watcher.on('address', (key, ip, prefixLen, added) => this.addressEvent(key, ip, prefixLen, added));
  }

  // ---- RuntimeView ----

  uplink(name: string): { state: string; active: string | null; mac: number | null; mtu: number | null; port: number | null } {
    const sw = this.state.switches.get(name);
    const rt = this.switches.get(name);
    if (!sw || sw.rdevs.length === 0) return { state: 'NOT DEFINED', active: null, mac: null, mtu: null, port: null };
    if (!rt) return { state: 'NOT STARTED', active: null, mac: null, mtu: null, port: null };
    const u = rt.uplink;
    const note = this.controllers.readyNote(name);
    const ready = note === null ? 'READY' : `READY, ${note}`;
    return { state: u.port !== null ? ready : (u.down ?? 'NOT STARTED'), active: u.active, mac: u.mac, mtu: u.mtu, port: u.port };
  }

  nicPort(userid: string, vdev: number): number | null {
    const key = nicKey(userid, vdev);
    return this.nics.get(key)?.port ?? this.qemu.get(key)?.port ?? null;
  }

  qemuNic(userid: string, vdev: number): QemuNicView | null {
    return this.qemu.view(userid, vdev);
  }

  switchNumber(name: string): number | null {
    return this.switches.get(name)?.sw ?? null;
  }

  counters(): Float64Array {
    return this.dp.counters;
  }

  hasController(name: string): boolean {
    return this.controllers.hasController(name);
  }

  controllerList() {
    return this.controllers.controllerList();
  }

  switchControl(name: string) {
    return this.controllers.view(name);
  }

  groups(sw: string): Array<{ group: number; members: Array<{ userid: string; vdev: number }>; registered: boolean; reason: string | null }> {
    const gm = this.groupMembers.get(sw);
    if (!gm) return [];
    return [...gm].sort((a, b) => (a[0] >>> 0) - (b[0] >>> 0)).map(([group, ports]) => {
      const members: Array<{ userid: string; vdev: number }> = [];
      for (const p of ports) {
        const o = this.portOwner.get(p);
        const rt = o?.kind === 'nic' ? (this.nics.get(o.key) ?? this.qemu.get(o.key)) : undefined;
        if (rt) members.push({ userid: rt.userid, vdev: rt.vdev });
      }
      members.sort((a, b) => (a.userid < b.userid ? -1 : a.userid > b.userid ? 1 : a.vdev - b.vdev));
      const r = this.controllers.registration(sw, 'ipv4-group', group);
      return { group, members, registered: r?.registered ?? false, reason: r === null ? 'no uplink' : r.reason };
    });
  }

  addressReason(sw: string, ip: number): string | null {
    return this.controllers.registration(sw, 'ipv4', ip)?.reason ?? null;
  }

  operate(op: Operation): string | null {
    const err = op.t === 'switchover' ? this.controllers.switchover(op.sw) : this.controllers.setConnected(op.sw, op.connect);
    if (err === null) this.sync();
    return err;
  }

  // ---- Effects ----

  prepare(changes: Change[]): () => void {
    const undo: (() => void)[] = [];
    try {
      for (const c of changes) {
        if (c.t === 'guest-add' && c.netns !== null) {
          this.dev.ensureNetns(c.netns);
          this.netnsReady.add(c.netns);
        } else if (c.t === 'nic-add' && c.tap !== null) {
          const netns = this.state.guests.get(c.userid)?.netns ?? null;
          if (netns === null) continue;
          if (!this.netnsReady.has(netns)) {
            this.dev.ensureNetns(netns);
            this.netnsReady.add(netns);
          }
          const { fd } = this.dev.openTap({ netns, name: c.tap, mac: c.alloc.mac, persist: true });
          closeSync(fd);
          const tap = c.tap;
          undo.push(() => this.dev.destroyTap(netns, tap));
        }
      }
    } catch (e) {
      for (const u of undo.reverse()) u();
      throw e;
    }
    return () => { for (const u of undo.reverse()) u(); };
  }

  sync(): void {
    if (this.stopped) return;
    let retry = false;
    try {
      this.syncSwitches();
      this.controllers.sync();
      retry = this.syncNics() || retry;
      retry = this.qemu.sync(Date.now()) || retry;
      retry = this.syncUplinks() || retry;
      this.syncAddresses();
      this.controllers.sync();
    } catch (e) {
      this.log.error({ err: String(e), stack: (e as Error).stack }, 'reconcile failed; retrying');
      retry = true;
    }
    if (retry && this.timer === null && !this.stopped) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.sync();
      }, this.retryMs);
      this.timer.unref?.();
    }
  }

  /**
   * One sync for a burst of events: address and group events arrive by the thousand (a guest
   * configuring many addresses, a daemon restart re-reading them all), and each full sync walks
   * every switch's LAN IP table, so they are coalesced into one sync per event-loop turn.
   */
  private syncSoon(): void {
    if (this.syncQueued) return;
    this.syncQueued = true;
    setImmediate(() => {
      this.syncQueued = false;
      this.sync();
    });
  }

  /** Stop timers and watches (the daemon stops the data plane itself; persistent TAPs stay). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  // ---- internals ----

  private allocPort(): number {
    for (let i = 0; i < MAX_PORTS; i++) {
      const p = (this.nextPort + i) % MAX_PORTS;
      if (!this.usedPorts.has(p)) {
        this.usedPorts.add(p);
        this.nextPort = (p + 1) % MAX_PORTS;
        this.dp.counters.fill(0, portSlot(p, 0), portSlot(p, 0) + PORT_SLOTS);
        return p;
      }
    }
    throw new Error(`no free data-plane port (limit ${MAX_PORTS})`);
  }

  private freePort(p: number): void {
    this.usedPorts.delete(p);
    this.portOwner.delete(p);
  }

  private removePort(p: number): void {
    this.dp.post({ op: 'port-remove', port: p });
    this.freePort(p);
  }

  private syncSwitches(): void {
    for (const [name, sw] of this.state.switches) {
      if (this.switches.has(name)) continue;
      let n = 0;
      while (n < MAX_SWITCHES && this.usedSwitches.has(n)) n++;
      if (n >= MAX_SWITCHES) throw new Error('no free switch number');
      this.usedSwitches.add(n);
      this.dp.counters.fill(0, dropSlot(n, 0), dropSlot(n, 0) + SWITCH_SLOTS);
      this.dp.post({ op: 'switch-add', sw: n, mode: sw.mode, queueBytes: sw.queueBytes });
      this.switches.set(name, {
        sw: n,
        uplink: { active: null, port: null, mac: null, mtu: null, down: null, nextTry: 0 },
        posted: new Map(),
      });
      this.log.info({ vswitch: name, sw: n, mode: sw.mode }, 'switch added to the data plane');
    }
    for (const [name, rt] of this.switches) {
      if (this.state.switches.has(name)) continue;
      // NIC ports were moved off it before (DETACH VSWITCH needs no NIC coupled).
      if (rt.uplink.port !== null) this.removePort(rt.uplink.port);
      this.dp.post({ op: 'switch-remove', sw: rt.sw });
      this.usedSwitches.delete(rt.sw);
      this.switches.delete(name);
      this.groupMembers.delete(name);
      this.log.info({ vswitch: name, sw: rt.sw }, 'switch removed from the data plane');
    }
  }

  /** Returns true if something must be retried. */
  private syncNics(): boolean {
    let retry = false;
    const now = Date.now();
    const desired = new Map<string, { nic: Nic; netns: string }>();
    for (const g of this.state.guests.values()) {
      if (g.netns === null) continue;
      for (const n of g.nics.values()) if (n.tap !== null) desired.set(nicKey(n.userid, n.vdev), { nic: n, netns: g.netns });
    }
    // Gone NICs: port off, watch off, TAP destroyed (DETACH NIC).
    for (const [key, rt] of this.nics) {
      if (desired.has(key)) continue;
      if (rt.port !== null) this.removePort(rt.port);
      if (rt.watched) this.watcher.unwatch(key);
      try {
        this.dev.destroyTap(rt.netns, rt.tap);
      } catch (e) {
        this.log.warn({ nic: key, tap: rt.tap, netns: rt.netns, err: String(e) }, 'could not destroy the TAP');
      }
      this.nics.delete(key);
      this.log.info({ nic: key, tap: rt.tap, netns: rt.netns }, 'NIC removed; TAP destroyed');
    }
    for (const [key, { nic, netns }] of desired) {
      let rt = this.nics.get(key);
      if (!rt) {
        rt = { userid: nic.userid, vdev: nic.vdev, netns, tap: nic.tap!, mac: nic.mac, tapReady: false, watched: false, port: null, sw: null, nextTry: 0 };
        this.nics.set(key, rt);
      }
      const want = nic.coupled;
      if (rt.port !== null && rt.sw !== want) {
        this.removePort(rt.port);
        this.log.info({ nic: key, vswitch: rt.sw }, 'NIC port removed (uncoupled)');
        rt.port = null;
        rt.sw = null;
      }
      const needFd = !rt.tapReady || (want !== null && rt.port === null);
      if (!needFd) continue;
      if (now < rt.nextTry) {
        retry = true;
        continue;
      }
      let fd = -1;
      try {
        if (!this.netnsReady.has(netns)) {
          this.dev.ensureNetns(netns);
          this.netnsReady.add(netns);
        }
        fd = this.dev.openTap({ netns, name: rt.tap, mac: rt.mac, persist: true }).fd;
        rt.tapReady = true;
        if (!rt.watched) {
          this.watcher.watch(key, netns, rt.tap);
          rt.watched = true;
        }
        if (want !== null) {
          const swRt = this.switches.get(want)!;
          const port = this.allocPort();
          this.portOwner.set(port, { kind: 'nic', key });
          this.dp.post({ op: 'port-add', port, sw: swRt.sw, role: 'nic', kind: 'tap', fd, mac: rt.mac, vnet: true, name: `${rt.tap}@${netns}` });
          fd = -1; // the worker owns it now
          rt.port = port;
          rt.sw = want;
          this.log.info({ nic: key, vswitch: want, port, tap: rt.tap, netns }, 'NIC port added');
        }
      } catch (e) {
        rt.nextTry = now + this.retryMs;
        retry = true;
        this.log.warn({ nic: key, tap: rt.tap, netns, err: String(e) }, 'NIC TAP not ready; retrying');
      } finally {
        if (fd >= 0) closeSync(fd);
      }
    }
    return retry;
  }

  /** Returns true if an uplink is waiting (retry). */
  private syncUplinks(): boolean {
    let retry = false;
    const now = Date.now();
    for (const [name, sw] of this.state.switches) {
      const rt = this.switches.get(name)!;
      const u = rt.uplink;
      if (sw.rdevs.length === 0) continue;
      const want = this.controllers.wantedRdev(name);
      if (u.port !== null && u.active !== want) {
        this.log.info({ vswitch: name, rdev: u.active, next: want }, 'uplink data device closed');
        this.removePort(u.port);
        Object.assign(u, { port: null, active: null, nextTry: 0 });
        this.controllers.uplinkOpened(name, null);
      }
      if (want === null) {
        const wait = this.controllers.waitingText(name);
        if (u.down !== wait) this.log.info({ vswitch: name, state: wait }, 'uplink not open');
        u.down = wait;
        continue;
      }
      if (u.port !== null) continue;
      if (now < u.nextTry) {
        retry = true;
        continue;
      }
      u.nextTry = now + this.retryMs;
      try {
        const up = this.dev.openUplink(want, { promisc: sw.mode === 'ETHERNET' });
        const port = this.allocPort();
        this.portOwner.set(port, { kind: 'uplink', name });
        this.dp.post({ op: 'port-add', port, sw: rt.sw, role: 'uplink', kind: 'afpacket', fd: up.fd, mac: up.mac, vnet: true, name: want });
        Object.assign(u, { active: want, port, mac: up.mac, mtu: up.mtu, down: null });
        this.log.info({ vswitch: name, rdev: want, port, mtu: up.mtu }, 'uplink READY: data device open');
        this.controllers.uplinkOpened(name, want);
      } catch (e) {
        this.log.warn({ vswitch: name, rdev: want, err: String(e) }, 'uplink device could not be opened');
        u.down = `ERROR ON DEVICE ${want}: ${String((e as Error).message ?? e).split('\n')[0]}; retrying`;
        retry = true;
      }
    }
    return retry;
  }

  private syncAddresses(): void {
    const c = this.dp.counters;
    const seen = new Set<string>();
    for (const [name, rt] of this.switches) {
      for (const k of this.state.recomputeLanIp(name, (ip) => this.controllers.registration(name, 'ipv4', ip)?.registered ?? false)) {
        const id = `${name}/${k.ip}/${k.userid}/${k.vdev}`;
        seen.add(id);
        if (this.conflicts.has(id)) continue;
        this.conflicts.add(id);
        c[dropSlot(rt.sw, DropReason.AddressConflict)]++;
        this.log.warn({ vswitch: name, ip: formatIpv4(k.ip), nic: nicKey(k.userid, k.vdev), holder: nicKey(k.holder.userid, k.holder.vdev) },
          'address claim refused: another NIC holds it');
      }
      const table = this.state.switches.get(name)!.lanIp;
      for (const [ip, p] of rt.posted) {
        const e = table.get(ip);
        const port = e ? this.nicPort(e.userid, e.vdev) : null;
        if (!e || port !== p.port) {
          this.dp.post({ op: 'ip-clear', sw: rt.sw, ip });
          rt.posted.delete(ip);
          this.log.info({ vswitch: name, ip: formatIpv4(ip) }, 'address deregistered');
        }
      }
      const up = rt.uplink;
      for (const [ip, e] of table) {
        const port = this.nicPort(e.userid, e.vdev);
        if (port === null) continue;
        let p = rt.posted.get(ip);
        if (!p || p.port !== port || p.localOnly !== e.localOnly) {
          this.dp.post({ op: 'ip-set', sw: rt.sw, ip, port, localOnly: e.localOnly });
          p = { port, localOnly: e.localOnly, announcedOn: p && p.port === port && !e.localOnly ? p.announcedOn : null };
          rt.posted.set(ip, p);
          this.log.info({ vswitch: name, ip: formatIpv4(ip), nic: nicKey(e.userid, e.vdev), localOnly: e.localOnly },
            e.localOnly ? 'address in the LAN IP table (local only)' : 'address in the LAN IP table (registered with the adapter)');
        }
        if (!e.localOnly && up.port !== null && p.announcedOn !== up.port && this.controllers.registration(name, 'ipv4', ip)?.confirmedOn === up.active) {
          this.dp.post({ op: 'announce', sw: rt.sw, ip });
          p.announcedOn = up.port;
        }
      }
    }
    for (const id of this.conflicts) if (!seen.has(id)) this.conflicts.delete(id);
  }

  private addressEvent(key: string, ip: number, prefixLen: number, added: boolean, how = 'configured'): void {
    const rt = this.nics.get(key) ?? this.qemu.get(key);
    if (!rt) return;
    if (!this.state.addressEvent(rt.userid, rt.vdev, ip, added)) return;
    this.log.info({ nic: key, ip: `${formatIpv4(ip)}/${prefixLen}`, added }, added ? `guest ${how} an address` : 'guest removed an address');
    this.syncSoon();
  }

  /**
   * IP mode: a NIC used a source address it does not hold (ARP sender or IPv4 source). A QEMU
   * guest's NIC registers it through the same path as a namespace guest's configured address
   * (addressEvent: one address one NIC, conflicts refused and counted, local only until the
   * controller registers it); namespace NICs take their addresses from the address watcher only.
   */
  private sawAddress(sw: number, port: number, ip: number): void {
    const owner = this.portOwner.get(port);
    if (owner?.kind === 'nic' && this.qemu.accepts(owner.key, port, ip)) {
      this.addressEvent(owner.key, ip, 32, true, 'announced');
      return;
    }
    this.log.debug({ sw, port, ip: formatIpv4(ip) }, 'NIC used an address it does not hold');
  }

  /** IP mode: NIC `port` of data-plane switch `sw` joined or left `group` (IGMP snooping). */
  private groupEvent(sw: number, port: number, group: number, joined: boolean): void {
    const name = [...this.switches].find(([, rt]) => rt.sw === sw)?.[0];
    if (name === undefined) return;
    let gm = this.groupMembers.get(name);
    if (!gm) this.groupMembers.set(name, (gm = new Map()));
    let ports = gm.get(group);
    const owner = this.portOwner.get(port);
    const nic = owner?.kind === 'nic' ? owner.key : `port ${port}`;
    if (joined) {
      if (!ports) gm.set(group, (ports = new Set()));
      if (ports.has(port)) return;
      ports.add(port);
      this.log.info({ vswitch: name, group: formatIpv4(group), nic, members: ports.size }, 'guest joined a multicast group');
    } else {
      if (!ports?.delete(port)) return;
      if (ports.size === 0) gm.delete(group);
      this.log.info({ vswitch: name, group: formatIpv4(group), nic, members: ports.size }, 'guest left a multicast group');
    }
    this.syncSoon();
  }

  private portDown(port: number, errno: number, reason: string): void {
    const owner = this.portOwner.get(port);
    if (!owner) return;
    this.freePort(port);
    if (owner.kind === 'uplink') {
      const rt = this.switches.get(owner.name);
      if (rt && rt.uplink.port === port) {
        const rdev = rt.uplink.active;
        this.log.warn({ vswitch: owner.name, rdev, errno, reason }, 'uplink data device down; retrying');
        Object.assign(rt.uplink, { port: null, active: null, down: `DOWN (${reason}); retrying`, nextTry: Date.now() + this.retryMs });
        if (rdev !== null) this.controllers.uplinkFailed(owner.name, rdev, reason);
      }
    } else if (!this.qemu.portDown(owner.key, port, errno, reason)) {
      const rt = this.nics.get(owner.key);
      if (rt && rt.port === port) {
        this.log.warn({ nic: owner.key, tap: rt.tap, errno, reason }, 'NIC port down; retrying');
        rt.port = null;
        rt.sw = null;
        rt.tapReady = false;
        rt.nextTry = Date.now() + this.retryMs;
      }
    }
    this.sync();
  }
}
