/**
 * The NIC backend of namespace (container) guests: each NIC is a persistent TAP device in the
 * guest's network namespace, named like Linux on Z names it (`enc600`).
 *
 * Contract (a NicBackend, nics.ts):
 * - `prepare`: DEFINE GUEST ... NETNS makes the namespace if absent (a namespace given by path
 *   must exist); DEFINE NIC creates the persistent TAP before the command is journaled (a
 *   failure refuses the command; the undo destroys the TAP). In a namespace given by path (a
 *   container's) the name must be free: an existing interface refuses the command.
 * - `sync(now)`: every NIC has its TAP (created or re-attached: TUNSETPERSIST keeps it and the
 *   guest's addresses across a daemon restart) and its interface watched (the address watcher
 *   reports the guest's configured addresses); a coupled NIC's TAP fd goes to the worker as a
 *   port (vnet header on); an uncoupled NIC's fd is closed (the guest sees NO-CARRIER) but the
 *   TAP stays; a detached NIC's watch ends and its TAP is destroyed. A TAP that cannot be
 *   opened is logged and retried every retryMs; so is a NIC whose port went down.
 * - `acceptsSeenAddress` is always false: these NICs' addresses come from the watcher only.
 */
import { closeSync } from 'node:fs';
import { isNetnsPath } from '../protocol/names.js';
import { nicKey, type NicBackend, type NicRuntime } from './nics.js';
import type { PartContext } from './reconcile/context.js';
import type { Change, Nic } from './state.js';

/** What it needs of the host's devices (src/host/devices.ts). */
export interface TapDevices {
  ensureNetns(name: string): void;
  openTap(o: { netns: string | null; name: string; mac: number; persist: boolean; exclusive?: boolean }): { fd: number; ifindex: number };
  destroyTap(netns: string | null, name: string): void;
}

/** What it needs of the address watcher (src/host/address-watcher.ts). */
export interface TapWatcher {
  watch(key: string, netns: string, ifname: string): void;
  unwatch(key: string): void;
}

interface TapNicRt extends NicRuntime {
  netns: string;
  tap: string;
  mac: number;
  tapReady: boolean;
  watched: boolean;
  port: number | null;
  sw: string | null;
  nextTry: number;
}

export class TapNics implements NicBackend {
  private readonly nics = new Map<string, TapNicRt>();
  private readonly netnsReady = new Set<string>();

  constructor(private readonly ctx: PartContext, private readonly dev: TapDevices, private readonly watcher: TapWatcher) {}

  get(key: string): NicRuntime | undefined {
    return this.nics.get(key);
  }

  acceptsSeenAddress(): boolean {
    return false;
  }

  prepare(c: Change): (() => void) | null {
    if (c.t === 'guest-add' && c.netns !== null) {
      this.dev.ensureNetns(c.netns); // made again if it went away since
      this.netnsReady.add(c.netns);
      return null;
    }
    if (c.t !== 'nic-add' || c.tap === null) return null;
    const netns = this.ctx.state.guests.get(c.userid)?.netns ?? null;
    if (netns === null) return null;
    this.ensureNetns(netns);
    const { fd } = this.dev.openTap({ netns, name: c.tap, mac: c.alloc.mac, persist: true, exclusive: isNetnsPath(netns) });
    closeSync(fd);
    const tap = c.tap;
    return () => this.dev.destroyTap(netns, tap);
  }

  sync(now: number): boolean {
    let retry = false;
    const desired = new Map<string, { nic: Nic; netns: string }>();
    for (const g of this.ctx.state.guests.values()) {
      if (g.netns === null) continue;
      for (const n of g.nics.values()) if (n.tap !== null) desired.set(nicKey(n.userid, n.vdev), { nic: n, netns: g.netns });
    }
    // Gone NICs: port off, watch off, TAP destroyed (DETACH NIC).
    for (const [key, rt] of this.nics) {
      if (desired.has(key)) continue;
      if (rt.port !== null) this.ctx.ports.remove(rt.port);
      if (rt.watched) this.watcher.unwatch(key);
      try {
        this.dev.destroyTap(rt.netns, rt.tap);
      } catch (e) {
        this.ctx.log.warn({ nic: key, tap: rt.tap, netns: rt.netns, err: String(e) }, 'could not destroy the TAP');
      }
      this.nics.delete(key);
      this.ctx.log.info({ nic: key, tap: rt.tap, netns: rt.netns }, 'NIC removed; TAP destroyed');
    }
    for (const [key, { nic, netns }] of desired) {
      let rt = this.nics.get(key);
      if (!rt) {
        rt = { key, userid: nic.userid, vdev: nic.vdev, netns, tap: nic.tap!, mac: nic.mac, tapReady: false, watched: false, port: null, sw: null, nextTry: 0 };
        this.nics.set(key, rt);
      }
      const want = nic.coupled;
      if (rt.port !== null && rt.sw !== want) {
        this.ctx.ports.remove(rt.port);
        this.ctx.log.info({ nic: key, vswitch: rt.sw }, 'NIC port removed (uncoupled)');
        rt.port = null;
        rt.sw = null;
      }
      const needFd = !rt.tapReady || (want !== null && rt.port === null);
      if (!needFd) continue;
      if (now < rt.nextTry) {
        retry = true;
        continue;
      }
      retry = this.open(rt, want, now) || retry;
    }
    return retry;
  }

  portDown(key: string, port: number, errno: number, reason: string): void {
    const rt = this.nics.get(key);
    if (!rt || rt.port !== port) return;
    this.ctx.log.warn({ nic: key, tap: rt.tap, errno, reason }, 'NIC port down; retrying');
    rt.port = null;
    rt.sw = null;
    rt.tapReady = false;
    rt.nextTry = this.ctx.clock.now() + this.ctx.retryMs;
  }

  /** Open (create or re-attach) the TAP, watch it, and add it as a port of `want`. Returns true if it must be retried. */
  private open(rt: TapNicRt, want: string | null, now: number): boolean {
    let fd = -1;
    try {
      this.ensureNetns(rt.netns);
      fd = this.dev.openTap({ netns: rt.netns, name: rt.tap, mac: rt.mac, persist: true }).fd;
      rt.tapReady = true;
      if (!rt.watched) {
        this.watcher.watch(rt.key, rt.netns, rt.tap);
        rt.watched = true;
      }
      if (want !== null) {
        const port = this.ctx.ports.add(this, rt.key, {
          sw: this.ctx.switches.number(want)!, role: 'nic', kind: 'tap', fd, mac: rt.mac, vnet: true, name: `${rt.tap}@${rt.netns}`,
        });
        fd = -1; // the worker owns it now
        rt.port = port;
        rt.sw = want;
        this.ctx.log.info({ nic: rt.key, vswitch: want, port, tap: rt.tap, netns: rt.netns }, 'NIC port added');
      }
      return false;
    } catch (e) {
      rt.nextTry = now + this.ctx.retryMs;
      this.ctx.log.warn({ nic: rt.key, tap: rt.tap, netns: rt.netns, err: String(e) }, 'NIC TAP not ready; retrying');
      return true;
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  private ensureNetns(netns: string): void {
    if (this.netnsReady.has(netns)) return;
    this.dev.ensureNetns(netns);
    this.netnsReady.add(netns);
  }
}
