/**
 * Uplinks (seed Figs. 3 and 4): the data device of each switch's RDEV, held open as the
 * switch's uplink port.
 *
 * Contract:
 * - The ControllerManager (controllers.ts) decides which RDEV's data device is held open
 *   (`wantedRdev`): none before a controller's InitializationComplete (`WAITING FOR
 *   CONTROLLER`), the active one after, another one on failover or SWITCHOVER, none on UPLINK
 *   DISCONNECT, none while the active RDEV does not exist. `sync` opens it (devices.openUplink;
 *   not promiscuous: in ETHERNET mode the data plane registers the NICs' MACs with it as unicast
 *   filters, and the kernel makes a device that cannot filter promiscuous by itself), adds it
 *   as the uplink port and tells the manager
 *   (`uplinkOpened`); a changed choice removes the old port first (and tells the manager it is
 *   closed). So does an RDEV made again (issue 9, item 14): when the interface index the
 *   controller reports for the open RDEV (`rdevIfindex`) is not the one the data device is
 *   bound to, the old socket (bound to a dead index) is closed and the RDEV opened again. A
 *   lost controller changes nothing here: the data device stays open.
 * - `sync` looks at the switches its Marks name (a change of the switch, of its controller's
 *   state, of its ports) and those whose retry is due. A failed open is logged, shown in QUERY
 *   (`ERROR ON DEVICE x: ...; retrying`) and retried every retryMs (no back-off: at most
 *   MAX_SWITCHES of them, and an uplink must come back within a second); so is a 'port-down'
 *   of the uplink, which the manager is told of (`uplinkFailed`) so it can fail over.
 * - A switch gone from the state has its uplink port removed (before the switch itself).
 * - `view(name)` is QUERY's uplink state; `open(name)` the port and RDEV that are open now.
 */
import type { ControllerManager } from '../controllers.js';
import type { PartContext } from './context.js';
import type { Marks } from './marks.js';
import type { Syncer } from './part.js';
import type { PortHolder } from './ports.js';

/** What it needs of the host's devices (src/host/devices.ts). */
export interface UplinkDevices {
  openUplink(ifname: string, opts?: { promisc?: boolean }): { fd: number; ifindex: number; mac: number; mtu: number };
}

export interface UplinkView {
  state: string;
  active: string | null;
  mac: number | null;
  mtu: number | null;
  port: number | null;
}

interface UplinkRt {
  active: string | null;
  port: number | null;
  /** The interface index the data device is bound to. */
  ifindex: number;
  mac: number | null;
  mtu: number | null;
  /** Why it is not READY (shown in QUERY), null when READY. */
  down: string | null;
  nextTry: number;
}

export class Uplinks implements Syncer, PortHolder {
  private readonly uplinks = new Map<string, UplinkRt>();
  private readonly marks: Marks<string>;

  constructor(private readonly ctx: PartContext, private readonly controllers: ControllerManager, private readonly dev: UplinkDevices) {
    this.marks = ctx.touch.switchMarks();
  }

  view(name: string): UplinkView {
    const sw = this.ctx.state.switches.get(name);
    const u = this.uplinks.get(name);
    if (!sw || sw.rdevs.length === 0) return { state: 'NOT DEFINED', active: null, mac: null, mtu: null, port: null };
    if (!u) return { state: 'NOT STARTED', active: null, mac: null, mtu: null, port: null };
    const note = this.controllers.readyNote(name);
    const ready = note === null ? 'READY' : `READY, ${note}`;
    return { state: u.port !== null ? ready : (u.down ?? 'NOT STARTED'), active: u.active, mac: u.mac, mtu: u.mtu, port: u.port };
  }

  /** The uplink port of switch `name` and the RDEV it is open on, or null. */
  open(name: string): { port: number; rdev: string | null } | null {
    const u = this.uplinks.get(name);
    return u && u.port !== null ? { port: u.port, rdev: u.active } : null;
  }

  sync(now: number): void {
    for (const name of this.marks.take(now, () => [...this.ctx.state.switches.keys(), ...this.uplinks.keys()])) this.syncSwitch(name, now);
  }

  private syncSwitch(name: string, now: number): void {
    const sw = this.ctx.state.switches.get(name);
    let u = this.uplinks.get(name);
    if (!sw) {
      if (u?.port != null) this.ctx.ports.remove(u.port);
      this.uplinks.delete(name);
      return;
    }
    const swNum = this.ctx.switches.number(name);
    if (swNum === null) return;
    if (!u) this.uplinks.set(name, (u = { active: null, port: null, ifindex: 0, mac: null, mtu: null, down: null, nextTry: 0 }));
    if (sw.rdevs.length === 0) return;
    const want = this.controllers.wantedRdev(name);
    const seen = want === null ? 0 : this.controllers.rdevIfindex(name, want);
    const remade = u.port !== null && u.active === want && seen !== 0 && seen !== u.ifindex;
    if (u.port !== null && (u.active !== want || remade)) {
      this.ctx.log.info({ vswitch: name, rdev: u.active, next: want, ifindex: u.ifindex, now: seen },
        remade ? 'uplink data device closed: the RDEV was made again under a new interface index' : 'uplink data device closed');
      this.ctx.ports.remove(u.port);
      Object.assign(u, { port: null, active: null, ifindex: 0, nextTry: 0 });
      this.controllers.uplinkOpened(name, null);
    }
    if (want === null) {
      const wait = this.controllers.waitingText(name);
      if (u.down !== wait) this.ctx.log.info({ vswitch: name, state: wait }, 'uplink not open');
      u.down = wait;
      return;
    }
    if (u.port !== null) return;
    if (now < u.nextTry) {
      this.marks.retryAt(name, u.nextTry);
      return;
    }
    u.nextTry = now + this.ctx.retryMs;
    try {
      const up = this.dev.openUplink(want);
      const port = this.ctx.ports.add(this, name, { sw: swNum, role: 'uplink', kind: 'afpacket', fd: up.fd, mac: up.mac, vnet: true, name: want });
      Object.assign(u, { active: want, port, ifindex: up.ifindex, mac: up.mac, mtu: up.mtu, down: null });
      this.ctx.log.info({ vswitch: name, rdev: want, port, mtu: up.mtu, ifindex: up.ifindex }, 'uplink READY: data device open');
      this.controllers.uplinkOpened(name, want);
    } catch (e) {
      this.ctx.log.warn({ vswitch: name, rdev: want, err: String(e) }, 'uplink device could not be opened');
      u.down = `ERROR ON DEVICE ${want}: ${String((e as Error).message ?? e).split('\n')[0]}; retrying`;
      this.marks.retryAt(name, u.nextTry);
    }
  }

  portDown(name: string, port: number, errno: number, reason: string): void {
    const u = this.uplinks.get(name);
    if (!u || u.port !== port) return;
    const rdev = u.active;
    this.ctx.log.warn({ vswitch: name, rdev, errno, reason }, 'uplink data device down; retrying');
    Object.assign(u, { port: null, active: null, ifindex: 0, down: `DOWN (${reason}); retrying`, nextTry: this.ctx.clock.now() + this.ctx.retryMs });
    this.marks.retryAt(name, u.nextTry);
    if (rdev !== null) this.controllers.uplinkFailed(name, rdev, reason);
  }
}
