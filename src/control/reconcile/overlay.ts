/**
 * The VXLAN overlays (DEFINE VSWITCH ... VXLAN vni [VTEP addr ...]): each such switch's kernel
 * vxlan device held open as its overlay port, and what the device and the forwarder know of
 * the remote guests.
 *
 * Contract:
 * - A switch with `vxlan`, on a daemon with a local VTEP (vswitchd --vtep ADDR): its device
 *   (src/host/vxlan.ts, named overlayDevName) is made with that VNI and local address and
 *   opened (devices.openUplink, with virtio-net headers: offloads kept) as the switch's port of
 *   role 'overlay'. Without a local VTEP the overlay shows `NO LOCAL VTEP (vswitchd --vtep)`
 *   and nothing is made. A failure (the device cannot be made or opened, a 'port-down') is
 *   logged, shown in QUERY and retried every retryMs.
 * - Remote guests come from the OverlaySource (the cluster's store: src/daemon/cluster/
 *   overlay.ts): each (ip or IPv6 text, mac, member, vtep) is posted to the data plane
 *   (overlay-set with ip or ip6, its removal overlay-clear) and programmed in the device as `mac -> vtep`; each static VTEP of
 *   the definition gets the all-zero (flood) entry, so ARP reaches the hand-made endpoints
 *   behind them and nobody else. The device thus holds exactly those entries (nolearning: the
 *   kernel learns nothing by flooding); an entry goes when its guest's address leaves the
 *   store (uncoupled, or its member's lease expired).
 * - A switch that goes: its port removed, its device deleted (its entries with it; only a
 *   device this daemon made: vxlan.ts's mark). A daemon that stops leaves the devices (as it
 *   leaves persistent TAPs); at the next start `ensure` takes a matching device of its own
 *   over, and those of switches gone meanwhile are removed (src/daemon/orphan-taps.ts).
 * - `view(name)` is QUERY's overlay, null for a switch without one.
 */
import type { Logger } from 'pino';
import type { PartContext } from './context.js';
import type { Marks } from './marks.js';
import type { DataPlanePort, Syncer } from './part.js';
import type { PortHolder } from './ports.js';
import type { UplinkDevices } from './uplinks.js';
import { formatMac } from '../../wire/addr.js';
import { overlayDevName, ZERO_MAC } from '../../host/vxlan.js';
import { ip6Hex, parseIpv6 } from '../../wire/ipv6.js';

/** A remote address as the data-plane messages carry it ({ip} or {ip6}: 32 hex digits); null for IPv6 text that does not parse. */
function addressOf(ip: number | string): { ip: number } | { ip6: string } | null {
  if (typeof ip === 'number') return { ip };
  const a = parseIpv6(ip);
  return a === null ? null : { ip6: ip6Hex(a) };
}

/** One remote guest address on a switch's overlay: IPv4 (uint32) or IPv6 (canonical text, global or ULA). */
export interface OverlayRemote { ip: number | string; mac: number; member: string; vtep: string }

/** Where the remote guests come from (the cluster); absent: only static VTEPs. */
export interface OverlaySource {
  remotes(sw: string): OverlayRemote[];
  /** The other members' VTEPs (whether or not they have guests on a switch). */
  memberVteps(): Array<{ member: string; vtep: string }>;
  /** `fn(sw)` when a switch's remotes changed ('' : every switch). */
  listen(fn: (sw: string) => void): void;
}

/** What it needs of the host (src/host/vxlan.ts VxlanDevices, devices.ts openUplink). */
export interface OverlayDevices extends UplinkDevices {
  ensure(spec: { name: string; vni: number; local: string }): void;
  remove(name: string): void;
  program(name: string, want: Map<string, Set<string>>): void;
  entries(name: string): Array<{ mac: string; dst: string }>;
}

export interface OverlayView {
  vni: number;
  state: string;
  device: string;
  localVtep: string | null;
  port: number | null;
  mac: number | null;
  staticVteps: string[];
  /** The other members' VTEPs, as the store says. */
  memberVteps: Array<{ member: string; vtep: string }>;
  remotes: OverlayRemote[];
  entries: Array<{ mac: string; dst: string }>;
}

interface OverlayRt {
  dev: string;
  vni: number;
  port: number | null;
  mac: number | null;
  down: string | null;
  nextTry: number;
  /** ip (uint32, or IPv6 text) -> mac posted to the data plane. */
  posted: Map<number | string, number>;
}

export class OverlaySync implements Syncer, PortHolder {
  private readonly rt = new Map<string, OverlayRt>();
  private readonly marks: Marks<string>;
  private readonly log: Logger;

  constructor(private readonly ctx: PartContext, private readonly dp: DataPlanePort, private readonly dev: OverlayDevices | null,
    private readonly localVtep: string | null, private readonly source: OverlaySource | null) {
    this.marks = ctx.touch.switchMarks();
    this.log = ctx.log;
    source?.listen((sw) => (sw === '' ? ctx.touch.allSwitches() : ctx.touch.switch(sw)));
  }

  view(name: string): OverlayView | null {
    const sw = this.ctx.state.switches.get(name);
    if (!sw?.vxlan) return null;
    const r = this.rt.get(name);
    const dev = r?.dev ?? overlayDevName(name);
    const state = this.localVtep === null ? 'NO LOCAL VTEP (vswitchd --vtep)' : this.dev === null ? 'NOT SUPPORTED HERE'
      : r?.port != null ? 'READY' : (r?.down ?? 'NOT STARTED');
    return {
      vni: sw.vxlan.vni, state, device: dev, localVtep: this.localVtep, port: r?.port ?? null, mac: r?.mac ?? null,
      staticVteps: [...sw.vxlan.vteps], memberVteps: (this.source?.memberVteps() ?? []).filter((m) => m.vtep !== this.localVtep),
      remotes: this.remotesOf(name), entries: this.dev?.entries(dev) ?? [],
    };
  }

  sync(now: number): void {
    for (const name of this.marks.take(now, () => [...this.ctx.state.switches.keys(), ...this.rt.keys()])) this.syncSwitch(name, now);
  }

  private remotesOf(name: string): OverlayRemote[] {
    return (this.source?.remotes(name) ?? []).filter((r) => r.vtep !== this.localVtep);
  }

  private syncSwitch(name: string, now: number): void {
    const sw = this.ctx.state.switches.get(name);
    let r = this.rt.get(name);
    const swNum = this.ctx.switches.number(name);
    if (!sw?.vxlan || sw.mode !== 'IP' || this.localVtep === null || this.dev === null || swNum === null
      || (r !== undefined && r.vni !== sw.vxlan.vni)) {
      if (r) this.teardown(name, r);
      else if (sw === undefined) this.dev?.remove(overlayDevName(name)); // one an earlier run made (only if it carries this daemon's mark)
      if (!sw?.vxlan || sw.mode !== 'IP' || swNum === null || this.localVtep === null || this.dev === null) return;
      r = undefined;
    }
    if (!r) this.rt.set(name, (r = { dev: overlayDevName(name), vni: sw.vxlan.vni, port: null, mac: null, down: null, nextTry: 0, posted: new Map() }));
    if (r.port === null) {
      if (now < r.nextTry) { this.marks.retryAt(name, r.nextTry); return; }
      r.nextTry = now + this.ctx.retryMs;
      try {
        this.dev.ensure({ name: r.dev, vni: sw.vxlan.vni, local: this.localVtep });
        const up = this.dev.openUplink(r.dev);
        r.port = this.ctx.ports.add(this, name, { sw: swNum, role: 'overlay', kind: 'afpacket', fd: up.fd, mac: up.mac, vnet: true, name: r.dev });
        r.mac = up.mac;
        r.down = null;
        r.posted.clear(); // a new port: the forwarder's overlay knows what is posted from here on
        this.log.info({ vswitch: name, dev: r.dev, vni: sw.vxlan.vni, local: this.localVtep, port: r.port }, 'overlay READY: VXLAN device open');
      } catch (e) {
        r.down = `ERROR ON DEVICE ${r.dev}: ${String((e as Error).message ?? e).split('\n')[0]}; retrying`;
        this.log.warn({ vswitch: name, dev: r.dev, err: String(e) }, 'overlay device could not be made or opened');
        this.marks.retryAt(name, r.nextTry);
        return;
      }
    }
    // The remote guests: the forwarder's table and the device's entries.
    const want = new Map<string, Set<string>>();
    const seen = new Set<number | string>();
    for (const x of this.remotesOf(name)) {
      const at = addressOf(x.ip);
      if (at === null) continue;
      seen.add(x.ip);
      if (r.posted.get(x.ip) !== x.mac) {
        this.dp.post({ op: 'overlay-set', sw: swNum, ...at, mac: x.mac });
        r.posted.set(x.ip, x.mac);
      }
      const mac = formatMac(x.mac);
      (want.get(mac) ?? want.set(mac, new Set()).get(mac)!).add(x.vtep);
    }
    for (const ip of [...r.posted.keys()]) {
      if (seen.has(ip)) continue;
      this.dp.post({ op: 'overlay-clear', sw: swNum, ...addressOf(ip)! });
      r.posted.delete(ip);
    }
    if (sw.vxlan.vteps.length > 0) want.set(ZERO_MAC, new Set(sw.vxlan.vteps));
    this.dev.program(r.dev, want);
  }

  private teardown(name: string, r: OverlayRt): void {
    if (r.port !== null) this.ctx.ports.remove(r.port);
    this.dev?.remove(r.dev);
    this.rt.delete(name);
    this.log.info({ vswitch: name, dev: r.dev }, 'overlay removed');
  }

  portDown(name: string, port: number, errno: number, reason: string): void {
    const r = this.rt.get(name);
    if (!r || r.port !== port) return;
    this.log.warn({ vswitch: name, dev: r.dev, errno, reason }, 'overlay device down; retrying');
    Object.assign(r, { port: null, down: `DOWN (${reason}); retrying`, nextTry: this.ctx.clock.now() + this.ctx.retryMs });
    this.marks.retryAt(name, r.nextTry);
  }
}
