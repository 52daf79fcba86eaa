/**
 * The VXLAN overlays' directory in the cluster's store (src/control/reconcile/overlay.ts is
 * its reader): each member publishes its own VTEP and its own guests' addresses on overlay
 * switches; every member reads the others'. On the daemon's main thread; never in the data path.
 *
 * Keys (next to keys.ts's; all under the member's lease, so a dead member's go with it):
 * - /vswitch/vteps/<member>               the member's local VTEP (vswitchd --vtep ADDR), dotted IPv4
 *                                         (unicast, as --vtep takes it: a multicast, broadcast,
 *                                         loopback or 0.0.0.0 one is skipped and logged).
 * - /vswitch/overlay/<switch>/<member>/<a.b.c.d>  one of the member's guest addresses on a
 *                                         switch defined with VXLAN: the NIC's MAC, 12 hex digits.
 * - /vswitch/overlay6/<switch>/<member>/<ipv6>    the same for an IPv6 address (canonical text,
 *                                         RFC 5952), global or ULA only (forward/overlay.ts
 *                                         overlayable6: link-local stays each member's own).
 *                                         A prefix of its own, so a reader of /vswitch/overlay/
 *                                         that knows only IPv4 never sees it.
 *
 * Contract:
 * - Every PROBE_MS (and at once after a new lease) the member puts the keys of what it has now
 *   and deletes the ones it no longer has: its VTEP, and each LAN IP table address of an
 *   overlay switch whose cluster claim (/vswitch/<switch>/ip/<addr>, keys.ts) this member
 *   holds, with its NIC's MAC; each IPv6 one (overlayable6) likewise once it holds
 *   /vswitch/<switch>/ip6/<addr>. A guest uncoupled (its address gone from the table) or a member
 *   stopped cleanly (its lease revoked) takes its keys away at once; a dead member's go when
 *   its lease runs out (LEASE_TTL_S).
 * - It then reads the three prefixes: `remotes(sw)` is every other member's address (IPv4 ones
 *   first, by number, then IPv6 ones, by text) on that switch whose member has a VTEP; `memberVteps()` the other members' VTEPs; `listen(fn)` hears fn(sw) when a switch's remotes changed ('' on
 *   the first read). A value that is not a MAC, a VTEP that is not a unicast address or a member
 *   name that is not a system name (keys.ts memberName, canonical) is skipped (and logged once per key).
 * - One VTEP address is one member's: when several members publish the same one (a wrong
 *   --vtep, a copied configuration), the member whose key etcd created first keeps it (its
 *   key's create revision: every member reads the same order, so all agree) and the later
 *   ones' VTEP is refused: it is no member VTEP, its guests are no remotes (their frames would
 *   reach the first member). Each refusal is logged once per member, address and holder
 *   (an error on the refused member itself: its guests are not reached through the overlay). A
 *   holder whose lease runs out leaves the address to the next one.
 * - A store that does not answer changes nothing (the remotes known stay; the next round retries).
 */
import type { Logger } from 'pino';
import type { State } from '../../control/state.js';
import type { OverlayRemote, OverlaySource } from '../../control/reconcile/overlay.js';
import { formatIpv4, parseIpv4 } from '../../wire/addr.js';
import { formatIpv6, ip6Words, parseIpv6 } from '../../wire/ipv6.js';
import { overlayable6 } from '../../forward/overlay.js';
import { address6Key, addressKey, memberName, ROOT } from './keys.js';
import { PROBE_MS, type Store } from './store.js';
import { unicastVtep } from '../../control/grammar.js';

export const VTEPS = `${ROOT}vteps/`;
export const OVERLAY = `${ROOT}overlay/`;
export const OVERLAY6 = `${ROOT}overlay6/`;

export function overlayKey(sw: string, member: string, ip: string): string {
  return `${OVERLAY}${sw}/${member}/${ip}`;
}

export function overlay6Key(sw: string, member: string, ip6: string): string {
  return `${OVERLAY6}${sw}/${member}/${ip6}`;
}

/** The canonical text of an IPv6 address that may cross the overlay, or null (malformed, not canonical, or not overlayable6). */
export function overlayIpv6(text: string): string | null {
  const a = parseIpv6(text);
  if (a === null || formatIpv6(a) !== text || !overlayable6(...ip6Words(a))) return null;
  return text;
}

export class OverlayDirectory implements OverlaySource {
  /** key -> value this member has put (under `lease`). */
  private published = new Map<string, string>();
  private lease: string | null = null;
  private remote = new Map<string, OverlayRemote[]>();
  private vteps: Array<{ member: string; vtep: string }> = [];
  private listener: ((sw: string) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly badKeys = new Set<string>();
  /** VTEP refusals logged: "member vtep holder". */
  private readonly conflictsLogged = new Set<string>();
  private first = true;
  private stopped = false;

  constructor(private readonly store: Store, private readonly member: string, private readonly vtep: string | null,
    private readonly state: State, private readonly held: () => string[], private readonly log: Logger) {
    store.onLease(() => { this.published.clear(); });
  }

  listen(fn: (sw: string) => void): void {
    this.listener = fn;
  }

  remotes(sw: string): OverlayRemote[] {
    return this.remote.get(sw) ?? [];
  }

  memberVteps(): Array<{ member: string; vtep: string }> {
    return this.vteps;
  }

  start(): void {
    const round = async (): Promise<void> => {
      try {
        await this.publish();
        await this.read();
      } catch { /* the store's probe says why; the next round retries */ }
      if (this.stopped) return;
      this.timer = setTimeout(() => void round(), PROBE_MS);
      this.timer.unref();
    };
    void round();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** What this member must have in the store now. */
  private wanted(): Map<string, string> {
    const out = new Map<string, string>();
    if (this.vtep === null) return out;
    out.set(`${VTEPS}${this.member}`, this.vtep);
    const held = new Set(this.held());
    const macOf = (userid: string, vdev: number): string | null => {
      const nic = this.state.nic(userid, vdev);
      return nic ? nic.mac.toString(16).padStart(12, '0') : null;
    };
    for (const sw of this.state.switches.values()) {
      if (!sw.vxlan || sw.mode !== 'IP') continue;
      for (const e of sw.lanIp.values()) {
        const ip = formatIpv4(e.ip);
        const mac = macOf(e.userid, e.vdev);
        if (mac !== null && held.has(addressKey(sw.name, ip))) out.set(overlayKey(sw.name, this.member, ip), mac);
      }
      for (const e of sw.lanIp6.values()) {
        const mac = macOf(e.userid, e.vdev);
        if (mac !== null && overlayIpv6(e.ip6) !== null && held.has(address6Key(sw.name, e.ip6))) out.set(overlay6Key(sw.name, this.member, e.ip6), mac);
      }
    }
    return out;
  }

  private async publish(): Promise<void> {
    const want = this.wanted();
    const c = this.store.client;
    if ([...want].some(([k, v]) => this.published.get(k) !== v)) {
      const lease = await this.store.lease();
      if (lease !== this.lease) { this.published.clear(); this.lease = lease; }
      for (const [k, v] of want) {
        if (this.published.get(k) === v) continue;
        await c.put(k).value(v).lease(lease);
        this.published.set(k, v);
      }
    }
    for (const k of [...this.published.keys()]) {
      if (want.has(k)) continue;
      await c.delete().key(k);
      this.published.delete(k);
    }
  }

  private async read(): Promise<void> {
    const c = this.store.client;
    const [vteps, entries, entries6] = await Promise.all([c.getAll().prefix(VTEPS).exec(), c.getAll().prefix(OVERLAY).strings(),
      c.getAll().prefix(OVERLAY6).strings()]);
    // Each VTEP address is the member's whose key was created first (see the file comment).
    const first = new Map<string, { member: string; rev: bigint }>();
    const published: Array<{ member: string; vtep: string; rev: bigint }> = [];
    for (const kv of vteps.kvs) {
      const k = kv.key.toString(), v = kv.value.toString();
      const ip = parseIpv4(v);
      const member = k.slice(VTEPS.length);
      if (!unicastVtep(ip) || memberName(member) !== member) { this.bad(k, v); continue; }
      const vtep = formatIpv4(ip), rev = BigInt(kv.create_revision);
      published.push({ member, vtep, rev });
      const f = first.get(vtep);
      if (f === undefined || rev < f.rev || (rev === f.rev && member < f.member)) first.set(vtep, { member, rev });
    }
    const vtepOf = new Map<string, string>();
    for (const p of published) {
      const heldBy = first.get(p.vtep)!.member;
      if (heldBy === p.member) vtepOf.set(p.member, p.vtep);
      else this.conflict({ member: p.member, vtep: p.vtep, heldBy });
    }
    const next = new Map<string, OverlayRemote[]>();
    const take = (prefix: string, all: Record<string, string>, parse: (t: string) => number | string | null): void => {
      for (const [k, v] of Object.entries(all)) {
        const [sw, member, ipText, ...rest] = k.slice(prefix.length).split('/');
        const ip = parse(ipText ?? '');
        if (sw === undefined || member === undefined || memberName(member) !== member || rest.length > 0 || ip === null || !/^[0-9a-f]{12}$/.test(v)) {
          this.bad(k, v);
          continue;
        }
        if (member === this.member) continue;
        const vtep = vtepOf.get(member);
        if (vtep === undefined) continue;
        const list = next.get(sw) ?? next.set(sw, []).get(sw)!;
        list.push({ ip, mac: parseInt(v, 16), member, vtep });
      }
    };
    take(OVERLAY, entries, (t) => { const ip = parseIpv4(t); return ip < 0 ? null : ip; });
    take(OVERLAY6, entries6, overlayIpv6);
    const order = (a: OverlayRemote, b: OverlayRemote): number => typeof a.ip === 'number'
      ? (typeof b.ip === 'number' ? a.ip - b.ip : -1)
      : (typeof b.ip === 'number' ? 1 : a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
    for (const l of next.values()) l.sort(order);
    this.vteps = [...vtepOf].filter(([m]) => m !== this.member).map(([member, vtep]) => ({ member, vtep })).sort((a, b) => (a.member < b.member ? -1 : 1));
    const changed = new Set<string>();
    for (const sw of new Set([...next.keys(), ...this.remote.keys()])) {
      if (JSON.stringify(next.get(sw) ?? []) !== JSON.stringify(this.remote.get(sw) ?? [])) changed.add(sw);
    }
    this.remote = next;
    if (this.first) { this.first = false; this.listener?.(''); return; }
    for (const sw of changed) this.listener?.(sw);
  }

  private conflict(x: { member: string; vtep: string; heldBy: string }): void {
    const id = `${x.member} ${x.vtep} ${x.heldBy}`;
    if (this.conflictsLogged.has(id)) return;
    this.conflictsLogged.add(id);
    if (x.member === this.member) {
      this.log.error({ vtep: x.vtep, heldBy: x.heldBy }, 'overlay: this member\'s VTEP (--vtep) is published by another member first; the other members refuse it, so this member\'s guests are not reached through the overlay');
    } else {
      this.log.warn({ member: x.member, vtep: x.vtep, heldBy: x.heldBy }, 'overlay: a member publishes a VTEP another member published first; refused (its guests are not remotes)');
    }
  }

  private bad(key: string, value: string): void {
    if (this.badKeys.has(key)) return;
    this.badKeys.add(key);
    this.log.warn({ key, value }, 'overlay: a key in the store that is not an overlay entry; skipped');
  }
}
