/**
 * The NIC backend of QEMU TAP guests (`DEFINE GUEST u QEMU TAP [OWNER uid] [GROUP gid]`; a
 * NicBackend, nics.ts): each NIC is a persistent TAP on the daemon's host (its namespace), named
 * by the NIC (Nic.tap: DEFINE NIC's NAME, default `userid-vdev`), which QEMU opens itself
 * (`-netdev tap,ifname=...`, or libvirt's `<interface type='ethernet'>` with the TAP as target).
 * The daemon carries the TAP's kernel side through an AF_PACKET socket with virtio-net headers
 * (src/host/host-tap.ts; a 'host-tap' port), so the guest's TSO super-frames and partial
 * checksums cross the switch whole; it never holds the TAP's fd, so its restart touches neither
 * the TAP nor the VM (it opens its side again).
 *
 * Contract:
 * - `prepare`: DEFINE NIC makes the TAP (owner and group from the guest) before the command is
 *   journaled; a name that is taken refuses the command; the undo destroys the TAP.
 * - `sync(now)`: for the NICs its Marks name (a change of the NIC, its retry due, the TAP found
 *   deleted), every NIC has its TAP (made again if it went away; one QEMU holds is left as it
 *   is). A coupled NIC's TAP side is a data-plane port (vnet on); an uncoupled NIC has none
 *   (the TAP stays); a detached NIC's port goes and its TAP is destroyed. What fails is shown in
 *   `view`, logged once and retried, backing off (retryMs, doubled up to retryMaxMs).
 * - QEMU's presence is the TAP's carrier, polled every POLL_MS while NICs exist: `view` says
 *   CONNECTED or DISCONNECTED (no QEMU has the TAP open), each change is logged, and when QEMU
 *   goes the addresses it announced are forgotten (which marks the NIC's switch for the LAN IP
 *   part); a VM opening the TAP again is connected as it sends (the port never went away).
 * - The TAP deleted by someone else: the port reports it ('port-down', reason 'TAP deleted')
 *   when it notices first (a write, or a read once the socket is unbound; the socket's first
 *   error can come while the interface is only going down), else the carrier poll finds the
 *   interface gone and removes the port itself. Either way: logged, counted (`tapDowns` in
 *   `view`), the addresses forgotten, and the TAP made again after retryMs; a VM started on
 *   it afterwards reconnects. Any other 'port-down' is handled the same way.
 * - `acceptsSeenAddress`: the QEMU rule (qemu-nics.ts acceptAnnounced): the guest's addresses are
 *   what it announces on the NIC.
 * - `stop()`: no further carrier poll.
 */
import { closeSync } from 'node:fs';
import type { TapOwner } from './grammar.js';
import { nicKey, servedKeys, servedNic, type NicBackend, type NicRuntime, type Serves } from './nics.js';
import { acceptAnnounced, forgetAnnounced, qemuNetdevId, type AnnouncingNic } from './qemu-nics.js';
import { backOff, type PartContext } from './reconcile/context.js';
import type { Marks } from './reconcile/marks.js';
import type { Change } from './state.js';
import { libvirtInterfaceXml, qemuTapArgs, type HostTapOptions, type HostTapOutcome } from '../host/host-tap.js';

/** How often the TAPs' carrier (QEMU there or not) is read, in ms. */
export const POLL_MS = 1000;

/** What it needs of the host's devices (src/host/devices.ts, host-tap.ts). */
export interface HostTapDevices {
  ensureHostTap(o: HostTapOptions): HostTapOutcome;
  hostTapLink(name: string): { exists: boolean; up: boolean; carrier: boolean };
  destroyTap(netns: null, name: string): void;
  /** An AF_PACKET socket on the interface, with PACKET_VNET_HDR (its default). */
  openUplink(ifname: string): { fd: number; ifindex: number; mac: number; mtu: number };
}

/** QUERY NIC DETAILS of a QEMU TAP guest's NIC. */
export interface HostTapNicView {
  transport: 'TAP';
  netdevId: string;
  tap: string;
  /** vhost=on in the arguments (the host has /dev/vhost-net). */
  vhost: boolean;
  args: string[];
  argsText: string;
  /** The libvirt domain XML <interface> element for the NIC. */
  libvirt: string;
  state: string;
  /** How often the NIC's port went down (the TAP deleted under it, ...), and the last reason. */
  tapDowns: number;
  lastDown: string | null;
}

interface HostTapNicRt extends AnnouncingNic {
  tap: string;
  mac: number;
  owner: TapOwner | null;
  tapReady: boolean;
  port: number | null;
  sw: string | null;
  carrier: boolean;
  nextTry: number;
  /** The last wait of its back-off (0: none). */
  waitedMs: number;
  /** What is wrong now (shown in view), null when nothing. */
  problem: string | null;
  tapDowns: number;
  lastDown: string | null;
}

export class HostTapNics implements NicBackend {
  private readonly nics = new Map<string, HostTapNicRt>();
  private readonly marks: Marks<string>;
  private cancelPoll: (() => void) | null = null;
  private stopped = false;

  /** `dev` is partial for hosts (fakes) without TAPs; `vhost`: whether the host has vhost-net. */
  constructor(private readonly ctx: PartContext, private readonly dev: Partial<HostTapDevices>, private readonly vhost: boolean) {
    this.marks = ctx.touch.nicMarks();
  }

  get(key: string): NicRuntime | undefined {
    return this.nics.get(key);
  }

  acceptsSeenAddress(key: string, port: number, ip: number | string): boolean {
    const rt = this.nics.get(key);
    return rt !== undefined && acceptAnnounced(this.ctx, rt, port, ip);
  }

  prepare(c: Change): (() => void) | null {
    if (c.t !== 'nic-add' || c.tap === null) return null;
    const g = this.ctx.state.guests.get(c.userid);
    if (!g || g.qemu !== 'TAP') return null;
    const dev = this.devices();
    const tap = c.tap;
    dev.ensureHostTap({ name: tap, uid: g.tapOwner?.uid ?? null, gid: g.tapOwner?.gid ?? null, exclusive: true });
    return () => dev.destroyTap(null, tap);
  }

  view(userid: string, vdev: number): HostTapNicView | null {
    const g = this.ctx.state.guests.get(userid);
    const n = g?.nics.get(vdev);
    if (!g || !n || g.qemu !== 'TAP' || n.tap === null) return null;
    const rt = this.nics.get(nicKey(userid, vdev));
    const id = qemuNetdevId(vdev);
    const args = qemuTapArgs(n.tap, n.mac, id, this.vhost);
    return {
      transport: 'TAP', netdevId: id, tap: n.tap, vhost: this.vhost,
      args, argsText: args.join(' '), libvirt: libvirtInterfaceXml(n.tap, n.mac, this.vhost),
      state: rt ? stateText(rt, n.coupled !== null) : n.coupled === null ? 'NOT COUPLED' : 'NOT STARTED',
      tapDowns: rt?.tapDowns ?? 0, lastDown: rt?.lastDown ?? null,
    };
  }

  sync(now: number): void {
    for (const key of this.marks.take(now, () => servedKeys(this.ctx.state, HostTapNics.serves, this.nics.keys()))) this.syncNic(key, now);
    this.armPoll();
  }

  /** The NICs of this kind: a QEMU TAP guest's. */
  private static readonly serves: Serves = (g, n) => g.qemu === 'TAP' && n.tap !== null;

  private syncNic(key: string, now: number): void {
    const d = servedNic(this.ctx.state, key, HostTapNics.serves);
    let rt = this.nics.get(key);
    if (!d) {
      if (rt) this.remove(rt);
      return;
    }
    const { nic, guest } = d;
    if (!rt) {
      rt = {
        key, userid: nic.userid, vdev: nic.vdev, tap: nic.tap!, mac: nic.mac, owner: guest.tapOwner ?? null,
        tapReady: false, port: null, sw: null, carrier: false, nextTry: 0, waitedMs: 0, problem: null, tapDowns: 0, lastDown: null, logged: null,
      };
      this.nics.set(key, rt);
    }
    const want = nic.coupled;
    if (rt.port !== null && rt.sw !== want) {
      this.dropPort(rt, want === null ? 'uncoupled' : `moved to VSWITCH ${want}`);
      forgetAnnounced(this.ctx, rt);
    }
    if (rt.tapReady && (want === null || rt.port !== null)) return;
    if (now < rt.nextTry) {
      this.marks.retryAt(key, rt.nextTry);
      return;
    }
    this.open(rt, want, now);
  }

  /** A NIC gone (DETACH NIC): port off, TAP destroyed. */
  private remove(rt: HostTapNicRt): void {
    this.dropPort(rt, 'NIC detached');
    try {
      this.devices().destroyTap(null, rt.tap);
      this.ctx.log.info({ nic: rt.key, tap: rt.tap }, 'host TAP NIC removed; TAP destroyed');
    } catch (e) {
      this.ctx.log.warn({ nic: rt.key, tap: rt.tap, err: String(e) }, 'could not destroy the host TAP');
    }
    this.nics.delete(rt.key);
  }

  portDown(key: string, port: number, errno: number, reason: string): void {
    const rt = this.nics.get(key);
    if (!rt || rt.port !== port) return;
    rt.port = null;
    rt.sw = null;
    this.lost(rt, reason, errno);
  }

  /** The NIC's port is gone (or never was) because of `reason`: count, log, forget, make the TAP again later. */
  private lost(rt: HostTapNicRt, reason: string, errno: number): void {
    rt.tapReady = false;
    rt.carrier = false;
    rt.tapDowns++;
    rt.lastDown = reason;
    rt.nextTry = this.ctx.clock.now() + this.ctx.retryMs;
    this.marks.retryAt(rt.key, rt.nextTry);
    this.ctx.log.warn({ nic: rt.key, tap: rt.tap, errno, reason, downs: rt.tapDowns }, 'host TAP NIC port down; making the TAP again');
    forgetAnnounced(this.ctx, rt);
  }

  stop(): void {
    this.stopped = true;
    this.cancelPoll?.();
    this.cancelPoll = null;
  }

  private devices(): HostTapDevices {
    const d = this.dev;
    if (!d.ensureHostTap || !d.hostTapLink || !d.destroyTap || !d.openUplink) throw new Error('this host cannot make host TAPs');
    return d as HostTapDevices;
  }

  /** Make (or find) the TAP and, when coupled, open its side as a port; on failure set its retry (backing off). */
  private open(rt: HostTapNicRt, want: string | null, now: number): void {
    let fd = -1;
    try {
      const dev = this.devices();
      if (!rt.tapReady) {
        const outcome = dev.ensureHostTap({ name: rt.tap, uid: rt.owner?.uid ?? null, gid: rt.owner?.gid ?? null, exclusive: false });
        rt.tapReady = true;
        // Just attached to (and let go of) unless QEMU holds it; the flags lag behind by up to a second.
        rt.carrier = outcome === 'in-use';
        this.ctx.log.info({ nic: rt.key, tap: rt.tap, outcome, qemu: rt.carrier }, 'host TAP ready');
      }
      if (want !== null && rt.port === null) {
        const swNum = this.ctx.switches.number(want);
        if (swNum === null) {
          this.waitAgain(rt, now);
          return;
        }
        fd = dev.openUplink(rt.tap).fd;
        const port = this.ctx.ports.add(this, rt.key, { sw: swNum, role: 'nic', kind: 'host-tap', fd, mac: rt.mac, vnet: true, name: `${rt.tap}@host` });
        fd = -1; // the worker owns it now
        rt.port = port;
        rt.sw = want;
        this.ctx.log.info({ nic: rt.key, vswitch: want, port, tap: rt.tap }, 'host TAP NIC port added');
      }
      rt.problem = null;
      rt.logged = null;
      rt.waitedMs = 0;
    } catch (e) {
      this.waitAgain(rt, now);
      const why = `ERROR: ${String((e as Error).message ?? e).split('\n')[0]}; retrying`;
      if (rt.problem !== why) this.ctx.log.warn({ nic: rt.key, tap: rt.tap, err: String(e), retryMs: rt.waitedMs }, 'host TAP NIC not ready; retrying');
      rt.problem = why;
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }

  /** Try `rt` again later, backing off. */
  private waitAgain(rt: HostTapNicRt, now: number): void {
    rt.waitedMs = backOff(this.ctx, rt.waitedMs);
    rt.nextTry = now + rt.waitedMs;
    this.marks.retryAt(rt.key, rt.nextTry);
  }

  private dropPort(rt: HostTapNicRt, why: string): void {
    if (rt.port !== null) {
      this.ctx.ports.remove(rt.port);
      this.ctx.log.info({ nic: rt.key, vswitch: rt.sw, port: rt.port, why }, 'host TAP NIC port removed');
    }
    rt.port = null;
    rt.sw = null;
  }

  private armPoll(): void {
    if (this.stopped || this.cancelPoll !== null || this.nics.size === 0) return;
    this.cancelPoll = this.ctx.clock.after(POLL_MS, () => {
      this.cancelPoll = null;
      this.poll();
      this.armPoll();
    });
  }

  /** Read each TAP's carrier; log what changed; forget a departed QEMU's addresses. */
  private poll(): void {
    for (const rt of this.nics.values()) {
      if (!rt.tapReady || !this.dev.hostTapLink) continue;
      let link: { exists: boolean; carrier: boolean };
      try {
        link = this.dev.hostTapLink(rt.tap);
      } catch (e) {
        this.ctx.log.warn({ nic: rt.key, tap: rt.tap, err: String(e) }, 'cannot read the host TAP link');
        continue;
      }
      if (!link.exists) {
        this.dropPort(rt, 'TAP deleted');
        this.lost(rt, 'TAP deleted', 0);
        this.ctx.touch.nic(rt.key); // a pass, which sets the timer for the TAP's retry
        continue;
      }
      if (link.carrier === rt.carrier) continue;
      rt.carrier = link.carrier;
      if (link.carrier) {
        this.ctx.log.info({ nic: rt.key, tap: rt.tap }, 'QEMU opened the host TAP: NIC connected');
      } else {
        this.ctx.log.info({ nic: rt.key, tap: rt.tap }, 'QEMU closed the host TAP: NIC disconnected');
        forgetAnnounced(this.ctx, rt);
      }
    }
  }
}

function stateText(rt: HostTapNicRt, coupled: boolean): string {
  if (rt.problem !== null) return rt.problem;
  if (!rt.tapReady) return rt.lastDown !== null ? `TAP ${rt.tap} lost (${rt.lastDown}); making it again` : `TAP ${rt.tap} NOT READY`;
  const qemu = rt.carrier ? `CONNECTED: QEMU has TAP ${rt.tap} open` : `DISCONNECTED: no QEMU has TAP ${rt.tap} open`;
  if (!coupled) return `NOT COUPLED; ${qemu}`;
  return rt.port === null ? `NO PORT YET; ${qemu}` : qemu;
}
