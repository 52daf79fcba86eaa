/**
 * The kernel's own VXLAN devices of the switches' overlays (DEFINE VSWITCH ... VXLAN vni), on
 * the daemon's main thread, in the daemon's network namespace (the process that owns the
 * host's devices: it makes the NICs' TAPs too). The data plane carries each device's frames
 * through an AF_PACKET socket (devices.ts openUplink) as the switch's overlay port.
 *
 * Contract:
 * - `ensure(spec)`: the device `spec.name` exists as `ip link add NAME mtu 1500 type vxlan id
 *   VNI dstport 4789 nolearning local LOCAL` (made, or made again when the VXLAN device there has
 *   another VNI, local address, port or learning on; an interface of that name that is not a
 *   VXLAN device, or not this daemon's (below), is left alone and refused), up, with the host's own stack kept off it
 *   (NOARP, IPv6 off, no address) and the kernel's offloads as the driver sets them. Synchronous
 *   (`ip`, a few milliseconds, on a definition or a retry, never per frame); throws a
 *   sentence when it cannot. A device that was there (a daemon restart) keeps its forwarding
 *   entries until the first `program` says what they must be.
 * - `program(name, want)`: the device's forwarding database (`bridge fdb`) made to hold
 *   exactly `want`: MAC text (lower case, `00:00:00:00:00:00` for the flood entries of static
 *   VTEPs) -> set of destination VTEP addresses. Asynchronous and serialised per daemon (one
 *   `bridge` at a time): entries removed first, then added (`replace` for a guest MAC, `append`
 *   for the all-zero MAC). A guest MAC given several VTEPs (two members publishing one MAC)
 *   is programmed to the first only, logged. A failed step is logged and counted; the next `program` retries it.
 *   The entries are permanent (no learning, no ageing): the control plane removes them.
 * - `entries(name)`: what is programmed now, for QUERY.
 * - `remove(name)`: the device deleted (its entries with it), if it is this daemon's (below);
 *   one that is not is left, logged. Answers whether it removed one.
 * - `sweep(keep)`: every VXLAN device of this daemon's in its namespace that `keep(name)` does
 *   not keep is removed (the start-up sweep, src/daemon/orphan-taps.ts: a switch detached or
 *   dropped from SYSTEM CONFIG while the daemon was down). Answers the names removed.
 * - Whose a device is: each device `ensure` makes carries this daemon's mark
 *   (devices.ts markLink: the interface alias `overlayMark(stateDir)`, naming its state
 *   directory), set right after `ip link add` (a device made without it is deleted again). A
 *   device of the name without this mark (made by hand, by another daemon's state directory,
 *   or whose alias was changed) is never changed nor removed: `ensure` refuses it with a
 *   sentence, `remove` and `sweep` leave it. One exception: a device with no alias at all that
 *   is exactly what `ensure` would make (VXLAN, the switch's VNI, this VTEP, port 4789, no
 *   learning) is adopted: marked, logged, and from then on this daemon's. That is what a daemon
 *   killed between the add and the mark leaves, and what a version before the marks made;
 *   a hand-made device that differs in any of those, or carries an alias, stays refused.
 * Nothing here is in the data path.
 */
import { execFileSync, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { LINK_MARK_MAX, linkMarks, markLink } from './devices.js';

export const VXLAN_PORT = 4789;
export const ZERO_MAC = '00:00:00:00:00:00';
/** The overlay device's MTU: the guests' own, so their frames cross whole (the underlay carries 50 bytes more, or fragments). */
export const OVERLAY_MTU = 1500;

export interface VxlanSpec { name: string; vni: number; local: string }

/** The device name of switch `sw`'s overlay (at most 11 characters). */
export function overlayDevName(sw: string): string {
  return `vx-${sw.toLowerCase()}`;
}

/**
 * The mark of the overlay devices of the daemon whose state directory is `stateDir`:
 * `vswitchd: overlay of /var/lib/vswitch` (the absolute path), or of the path's SHA-256 when
 * that is longer than an alias holds. One state directory is one daemon, so two daemons in
 * one namespace never take each other's devices.
 */
export function overlayMark(stateDir: string): string {
  const dir = resolve(stateDir);
  const mark = `vswitchd: overlay of ${dir}`;
  return Buffer.byteLength(mark) <= LINK_MARK_MAX ? mark : `vswitchd: overlay of sha256:${createHash('sha256').update(dir).digest('hex')}`;
}

interface LinkInfo { info_kind?: string; info_data?: { id?: number; local?: string; port?: number; learning?: boolean } }

export class VxlanDevices {
  /** Device -> MAC -> VTEPs programmed. */
  private readonly programmed = new Map<string, Map<string, Set<string>>>();
  private readonly wanted = new Map<string, Map<string, Set<string>>>();
  private running = false;
  /** bridge commands that failed (for QUERY and the log). */
  failures = 0;

  /** `mark`: this daemon's (overlayMark of its state directory). */
  constructor(private readonly log: Logger, private readonly mark: string) {}

  /** Is the interface `name` this daemon's (carries its mark)? undefined: there is none. */
  private ours(name: string): boolean | undefined {
    const m = linkMarks(null, { dev: name }).get(name);
    return m === undefined ? undefined : m === this.mark;
  }

  ensure(spec: VxlanSpec): void {
    const cur = this.linkInfo(spec.name);
    const d = cur?.info_data;
    const same = cur !== null && cur.info_kind === 'vxlan' && d?.id === spec.vni && d?.local === spec.local
      && d?.port === VXLAN_PORT && d?.learning === false;
    if (cur !== null && cur.info_kind !== 'vxlan') throw new Error(`an interface ${spec.name} exists and is not a VXLAN device: not touched`);
    let m = cur === null ? this.mark : linkMarks(null, { dev: spec.name }).get(spec.name) ?? '';
    if (m === '' && same) { // what ensure would make, unmarked: a crash between add and mark, or an older version's (the file comment)
      markLink(null, spec.name, this.mark);
      m = this.mark;
      this.log.warn({ dev: spec.name, vni: spec.vni, local: spec.local }, 'overlay: an unmarked VXLAN device exactly as the overlay makes it: adopted (marked as this daemon\'s)');
    }
    if (m !== this.mark) {
      throw new Error(`a VXLAN device ${spec.name} exists that this daemon did not make (${m ? `alias ${JSON.stringify(m)}` : 'no mark'}): not touched; remove it (ip link del ${spec.name}) for the overlay to make its own`);
    }
    if (cur !== null && !same) {
      this.ip(['link', 'del', spec.name]);
      this.programmed.delete(spec.name);
    }
    if (!same) {
      this.ip(['link', 'add', spec.name, 'mtu', String(OVERLAY_MTU), 'type', 'vxlan', 'id', String(spec.vni), 'dstport', String(VXLAN_PORT),
        'nolearning', 'local', spec.local]);
      try {
        markLink(null, spec.name, this.mark);
      } catch (e) {
        try { this.ip(['link', 'del', spec.name]); } catch { /* the error below says what happened */ }
        throw e;
      }
      this.programmed.set(spec.name, new Map());
      this.log.info({ dev: spec.name, vni: spec.vni, local: spec.local }, 'overlay: VXLAN device made');
    } else if (!this.programmed.has(spec.name)) {
      this.programmed.set(spec.name, this.readFdb(spec.name));
    }
    try {
      writeFileSync(`/proc/sys/net/ipv6/conf/${spec.name}/disable_ipv6`, '1');
    } catch { /* a kernel without IPv6 */ }
    this.ip(['link', 'set', 'dev', spec.name, 'arp', 'off', 'up']);
  }

  remove(name: string): boolean {
    this.programmed.delete(name);
    this.wanted.delete(name);
    const ours = this.ours(name);
    if (ours === undefined) return false;
    if (!ours) {
      this.log.warn({ dev: name }, 'overlay: an interface of the overlay\'s name that this daemon did not make; left alone');
      return false;
    }
    try {
      this.ip(['link', 'del', name]);
      this.log.info({ dev: name }, 'overlay: VXLAN device removed');
      return true;
    } catch (e) {
      this.log.warn({ dev: name, err: (e as Error).message }, 'overlay: VXLAN device could not be removed');
      return false;
    }
  }

  sweep(keep: (name: string) => boolean): string[] {
    const removed: string[] = [];
    for (const [name, mark] of linkMarks(null, { kind: 'vxlan' })) {
      if (mark !== this.mark || keep(name)) continue;
      if (this.remove(name)) removed.push(name);
    }
    return removed;
  }

  entries(name: string): Array<{ mac: string; dst: string }> {
    const out: Array<{ mac: string; dst: string }> = [];
    for (const [mac, dsts] of this.programmed.get(name) ?? []) for (const dst of dsts) out.push({ mac, dst });
    return out.sort((a, b) => (a.mac + a.dst < b.mac + b.dst ? -1 : 1));
  }

  program(name: string, want: Map<string, Set<string>>): void {
    // A guest MAC lives behind one VTEP (replace moves it): of several (two members publishing one
    // MAC) the first is kept, or the programming would move it back and forth for ever.
    for (const [mac, dsts] of want) {
      if (mac === ZERO_MAC || dsts.size <= 1) continue;
      const first = dsts.values().next().value as string;
      this.log.warn({ dev: name, mac, vteps: [...dsts], kept: first }, 'overlay: a guest MAC with several VTEPs; programmed to the first only');
      want.set(mac, new Set([first]));
    }
    this.wanted.set(name, want);
    void this.run();
  }

  /** One bridge command at a time until every device holds what is wanted. */
  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let step = this.nextStep(); step !== null; step = this.nextStep()) {
        const { dev, mac, dst, add } = step;
        const has = this.programmed.get(dev)!;
        const args = add
          ? ['fdb', mac === ZERO_MAC ? 'append' : 'replace', mac, 'dev', dev, 'dst', dst, 'self', 'permanent']
          : ['fdb', 'del', mac, 'dev', dev, 'dst', dst, 'self'];
        try {
          await bridge(args);
        } catch (e) {
          this.failures++;
          this.log.warn({ dev, mac, dst, add, err: (e as Error).message }, 'overlay: forwarding entry not programmed; retried at the next change');
          // A removal that failed counts as done (the entry was gone); an addition waits for the next program.
          if (add) { this.wanted.delete(dev); continue; }
        }
        if (!this.programmed.has(dev)) continue; // removed meanwhile
        if (add) {
          // replace moves the MAC: its other destinations are gone.
          if (mac !== ZERO_MAC) has.set(mac, new Set([dst]));
          else (has.get(mac) ?? has.set(mac, new Set()).get(mac)!).add(dst);
        } else {
          has.get(mac)?.delete(dst);
          if (has.get(mac)?.size === 0) has.delete(mac);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** The next difference to remove (first) or add, or null. */
  private nextStep(): { dev: string; mac: string; dst: string; add: boolean } | null {
    for (const [dev, want] of this.wanted) {
      const has = this.programmed.get(dev);
      if (!has) { this.wanted.delete(dev); continue; }
      for (const [mac, dsts] of has) for (const dst of dsts) if (!want.get(mac)?.has(dst)) return { dev, mac, dst, add: false };
      for (const [mac, dsts] of want) for (const dst of dsts) if (!has.get(mac)?.has(dst)) return { dev, mac, dst, add: true };
      this.wanted.delete(dev);
    }
    return null;
  }

  private readFdb(name: string): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    try {
      const rows = JSON.parse(execFileSync('bridge', ['-j', 'fdb', 'show', 'dev', name], { encoding: 'utf8' })) as Array<{ mac?: string; dst?: string }>;
      for (const r of rows) {
        if (typeof r.mac !== 'string' || typeof r.dst !== 'string') continue;
        (out.get(r.mac) ?? out.set(r.mac, new Set()).get(r.mac)!).add(r.dst);
      }
    } catch { /* read as empty: the next program adds what is wanted */ }
    return out;
  }

  private linkInfo(name: string): LinkInfo | null {
    try {
      const rows = JSON.parse(execFileSync('ip', ['-d', '-j', 'link', 'show', 'dev', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{ linkinfo?: LinkInfo }>;
      return rows[0]?.linkinfo ?? {};
    } catch {
      return null;
    }
  }

  private ip(args: string[]): void {
    try {
      execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim().split('\n')[0]}`);
    }
  }
}

function bridge(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('bridge', args, { encoding: 'utf8' }, (err, _out, stderr) => {
      if (err) reject(new Error(`bridge ${args.join(' ')}: ${(stderr || err.message).trim().split('\n')[0]}`));
      else resolve();
    });
  });
}
