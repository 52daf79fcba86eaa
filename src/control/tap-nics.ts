/**
 * The NIC backend of namespace (container) guests: each NIC is a persistent TAP device in the
 * guest's network namespace, named like Linux on Z names it (`enc600`).
 *
 * Contract (a NicBackend, nics.ts):
 * - `prepare`: DEFINE GUEST ... NETNS makes the namespace if absent (marked as made by the
 *   daemon: devices.ensureNetns; the undo deletes it again); a namespace given by path (a
 *   container's) must exist and is never made. DEFINE NIC creates the persistent TAP before the
 *   command is journaled (a failure refuses the command; the undo destroys the TAP). In a
 *   namespace given by path the name must be free: an existing interface refuses the command.
 * - Namespaces (issue 9, item 16): a guest removed (DETACH GUEST, journaled) has its namespace
 *   deleted in the next pass if it carries the daemon's mark and no other guest names it; a
 *   namespace that was there before DEFINE GUEST carries none and stays. The mark is on the
 *   namespace itself, so it holds across daemon restarts; a crash between the journal and
 *   the pass leaves the namespace (never the other way round). A namespace given by path is
 *   never deleted (its runtime owns it).
 * - `sync(now)`: every NIC has its TAP (created or re-attached: TUNSETPERSIST keeps it and the
 *   guest's addresses across a daemon restart) and its interface watched (the address watcher
 *   reports the guest's configured addresses); a coupled NIC's TAP fd goes to the worker as a
 *   port (vnet header on); an uncoupled NIC's fd is closed (the guest sees NO-CARRIER) but the
 *   TAP stays; a detached NIC's watch ends and its TAP is destroyed. It looks at the NICs its
 *   Marks name (a change of the NIC, its retry due). A TAP that cannot be opened is logged and
 *   retried, backing off (retryMs, doubled up to retryMaxMs); a NIC whose port went down is
 *   retried after retryMs.
 * - `acceptsSeenAddress` is always false: these NICs' addresses come from the watcher only.
 */
import { closeSync } from 'node:fs';
import { isNetnsPath } from '../protocol/names.js';
import { servedKeys, servedNic, type NicBackend, type NicRuntime, type Serves } from './nics.js';
import { backOff, type PartContext } from './reconcile/context.js';
import type { Marks } from './reconcile/marks.js';
import type { Change } from './state.js';

/** What it needs of the host's devices (src/host/devices.ts). */
export interface TapDevices {
  /** Make the namespace if absent (marked as made here); true when it made it (never for a path, which must exist). */
  ensureNetns(name: string): boolean;
  /** Does the namespace carry the mark of one made here? */
  netnsMadeHere(name: string): boolean;
  deleteNetns(name: string): void;
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
  /** The last wait of its back-off (0: none). */
  waitedMs: number;
}

export class TapNics implements NicBackend {
  private readonly nics = new Map<string, TapNicRt>();
  private readonly netnsReady = new Set<string>();
  /** Namespace guest -> its namespace (what a removed guest leaves to clean up). */
  private readonly guestNetns = new Map<string, string>();
  private readonly marks: Marks<string>;
  private readonly guestMarks: Marks<string>;

  constructor(private readonly ctx: PartContext, private readonly dev: TapDevices, private readonly watcher: TapWatcher) {
    this.marks = ctx.touch.nicMarks();
    this.guestMarks = ctx.touch.guestMarks();
  }

  get(key: string): NicRuntime | undefined {
    return this.nics.get(key);
  }

  acceptsSeenAddress(): boolean {
    return false;
  }

  prepare(c: Change): (() => void) | null {
    if (c.t === 'guest-add' && c.netns !== null) {
      const netns = c.netns;
      const made = this.dev.ensureNetns(netns); // made again if it went away since
      this.netnsReady.add(netns);
      if (made) this.ctx.log.info({ guest: c.userid, netns }, 'namespace made for the guest');
      return made ? () => { this.netnsReady.delete(netns); this.dev.deleteNetns(netns); } : null;
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

  sync(now: number): void {
    for (const key of this.marks.take(now, () => servedKeys(this.ctx.state, TapNics.serves, this.nics.keys()))) this.syncNic(key, now);
    for (const userid of this.guestMarks.take(now, () => this.guestKeys())) this.syncGuest(userid);
  }

  private *guestKeys(): Iterable<string> {
    for (const g of this.ctx.state.guests.values()) if (g.netns !== null) yield g.userid;
    yield* this.guestNetns.keys();
  }

  /**
   * A guest defined: its namespace is remembered. A guest removed (DETACH GUEST: its NICs, and
   * so their TAPs, are gone before it): its namespace is deleted if the daemon made it.
   */
  private syncGuest(userid: string): void {
    const g = this.ctx.state.guests.get(userid);
    if (g && g.netns !== null) {
      this.guestNetns.set(userid, g.netns);
      return;
    }
    const netns = this.guestNetns.get(userid);
    if (netns === undefined) return;
    this.guestNetns.delete(userid);
    if ([...this.ctx.state.guests.values()].some((o) => o.netns === netns)) return;
    this.netnsReady.delete(netns);
    if (isNetnsPath(netns)) return;
    try {
      if (!this.dev.netnsMadeHere(netns)) {
        this.ctx.log.info({ guest: userid, netns }, 'guest removed; its namespace stays (it was there before DEFINE GUEST)');
        return;
      }
      this.dev.deleteNetns(netns);
      this.ctx.log.info({ guest: userid, netns }, 'guest removed; the namespace made for it deleted');
    } catch (e) {
      this.ctx.log.warn({ guest: userid, netns, err: String(e) }, 'could not delete the namespace made for the guest');
    }
  }

  /** The NICs of this kind: a namespace guest's, with a TAP. */
  private static readonly serves: Serves = (g, n) => g.netns !== null && n.tap !== null;

  private syncNic(key: string, now: number): void {
    const d = servedNic(this.ctx.state, key, TapNics.serves);
    let rt = this.nics.get(key);
    if (!d) {
      if (rt) this.remove(rt);
      return;
    }
    const { nic } = d;
    const netns = d.guest.netns!;
    if (!rt) {
      rt = { key, userid: nic.userid, vdev: nic.vdev, netns, tap: nic.tap!, mac: nic.mac, tapReady: false, watched: false, port: null, sw: null, nextTry: 0, waitedMs: 0 };
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
    if (!needFd) return;
    if (now < rt.nextTry) {
      this.marks.retryAt(key, rt.nextTry);
      return;
    }
    this.open(rt, want, now);
  }

  /** A NIC gone (DETACH NIC): port off, watch off, TAP destroyed. */
  private remove(rt: TapNicRt): void {
    if (rt.port !== null) this.ctx.ports.remove(rt.port);
    if (rt.watched) this.watcher.unwatch(rt.key);
    try {
      this.dev.destroyTap(rt.netns, rt.tap);
    } catch (e) {
      this.ctx.log.warn({ nic: rt.key, tap: rt.tap, netns: rt.netns, err: String(e) }, 'could not destroy the TAP');
    }
    this.nics.delete(rt.key);
    this.ctx.log.info({ nic: rt.key, tap: rt.tap, netns: rt.netns }, 'NIC removed; TAP destroyed');
  }

  portDown(key: string, port: number, errno: number, reason: string): void {
    const rt = this.nics.get(key);
    if (!rt || rt.port !== port) return;
    this.ctx.log.warn({ nic: key, tap: rt.tap, errno, reason }, 'NIC port down; retrying');
    rt.port = null;
    rt.sw = null;
    rt.tapReady = false;
    rt.nextTry = this.ctx.clock.now() + this.ctx.retryMs;
    this.marks.retryAt(key, rt.nextTry);
  }

  /** Open (create or re-attach) the TAP, watch it, and add it as a port of `want`; on failure set its retry (backing off). */
  private open(rt: TapNicRt, want: string | null, now: number): void {
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
      rt.waitedMs = 0;
    } catch (e) {
      rt.waitedMs = backOff(this.ctx, rt.waitedMs);
      rt.nextTry = now + rt.waitedMs;
      this.marks.retryAt(rt.key, rt.nextTry);
      this.ctx.log.warn({ nic: rt.key, tap: rt.tap, netns: rt.netns, err: String(e), retryMs: rt.waitedMs }, 'NIC TAP not ready; retrying');
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  private ensureNetns(netns: string): void {
    if (this.netnsReady.has(netns)) return;
    if (this.dev.ensureNetns(netns)) this.ctx.log.info({ netns }, 'namespace made again for the guest (it had gone)');
    this.netnsReady.add(netns);
  }
}
