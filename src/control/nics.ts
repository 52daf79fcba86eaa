/**
 * NIC backends: how a guest's NIC becomes a data-plane port depends on the kind of guest. Each
 * kind is one NicBackend, a step of the reconciler's pass: TAP NICs of namespace guests
 * (tap-nics.ts, also a container's NICs made through the CNI plugin), QEMU stream / datagram
 * sockets (qemu-nics.ts), host-side TAPs of QEMU TAP guests (host-tap-nics.ts, libvirt's too). `NicBackends`
 * is the reconciler's list of them, for what is the same whatever the kind: a NIC by key, a
 * NIC by data-plane port, the pre-commit work of a change.
 *
 * Contract of a backend:
 * - It serves the NICs of the guests of its kind (it picks them from the state in `sync`), each
 *   under `nicKey(userid, vdev)`; no two backends serve one NIC.
 * - `sync(now)`: for the NICs its Marks name (from `ctx.touch.nicMarks()`: a command changed
 *   the NIC, its retry is due, an event of its own), a coupled NIC gets a port (through the
 *   PortAllocator, so the backend is its PortHolder and hears of its 'port-down'), an uncoupled
 *   or moved one loses it, a detached one is taken down; whatever cannot be done now gets a
 *   retry time in the Marks.
 * - `get(key)`: the NIC's identity and current port, if this backend serves it.
 * - `acceptsSeenAddress(key, port, ip)`: whether a 'saw-address' (ip: uint32) or a
 *   'saw-address6' (ip: canonical IPv6 text) on the NIC's port is an
 *   address the NIC may register (the guest announced it); false where the backend takes a
 *   NIC's addresses from elsewhere (the address watcher).
 * - `prepare(change)`: the host work a command's change needs before it is journaled (throws
 *   with a reason); returns its undo, or null when there is nothing to do.
 */
import type { Change, Guest, Nic, State } from './state.js';
import { hex4 } from './grammar.js';
import type { Syncer } from './reconcile/part.js';
import type { PortAllocator, PortHolder } from './reconcile/ports.js';

/** A NIC as every backend knows it. */
export interface NicRuntime {
  readonly key: string;
  readonly userid: string;
  readonly vdev: number;
  readonly port: number | null;
}

export interface NicBackend extends Syncer, PortHolder {
  get(key: string): NicRuntime | undefined;
  acceptsSeenAddress(key: string, port: number, ip: number | string): boolean;
  prepare(change: Change): (() => void) | null;
}

/** A NIC's key in the run-time tables (and in logs): `USERID/VDEV`. */
export function nicKey(userid: string, vdev: number): string {
  return `${userid}/${hex4(vdev)}`;
}

/** The user id and vdev of a nicKey (user ids hold no '/'). */
export function parseNicKey(key: string): [userid: string, vdev: number] {
  const i = key.lastIndexOf('/');
  return [key.slice(0, i), parseInt(key.slice(i + 1), 16)];
}

/** Which NICs a backend serves (its kind of guest). */
export type Serves = (guest: Guest, nic: Nic) => boolean;

/** The guest and NIC of `key` if the backend `serves` it, else null. */
export function servedNic(state: State, key: string, serves: Serves): { guest: Guest; nic: Nic } | null {
  const [userid, vdev] = parseNicKey(key);
  const guest = state.guests.get(userid);
  const nic = guest?.nics.get(vdev);
  return guest && nic && serves(guest, nic) ? { guest, nic } : null;
}

/** A full pass of a backend: the keys of every NIC of the state it serves, then those it holds. */
export function* servedKeys(state: State, serves: Serves, held: Iterable<string>): Iterable<string> {
  for (const g of state.guests.values()) for (const n of g.nics.values()) if (serves(g, n)) yield nicKey(n.userid, n.vdev);
  yield* held;
}

export class NicBackends {
  constructor(readonly backends: readonly NicBackend[], private readonly ports: PortAllocator) {}

  get(key: string): NicRuntime | undefined {
    for (const b of this.backends) {
      const n = b.get(key);
      if (n) return n;
    }
    return undefined;
  }

  /** The data-plane port of a coupled NIC, or null while it has none. */
  port(userid: string, vdev: number): number | null {
    return this.get(nicKey(userid, vdev))?.port ?? null;
  }

  /** The NIC that holds data-plane port `port`, and its backend; null for an uplink's or a free port. */
  atPort(port: number): { nic: NicRuntime; backend: NicBackend } | null {
    const o = this.ports.owner(port);
    const backend = this.backends.find((b) => b === o?.holder);
    const nic = backend?.get(o!.key);
    return backend && nic ? { nic, backend } : null;
  }

  /** Every backend's pre-commit work for `changes`; all undone if one throws. Returns the undo of all. */
  prepare(changes: readonly Change[]): () => void {
    const undo: (() => void)[] = [];
    const undoAll = (): void => { for (const u of undo.reverse()) u(); };
    try {
      for (const c of changes) {
        for (const b of this.backends) {
          const u = b.prepare(c);
          if (u) undo.push(u);
        }
      }
    } catch (e) {
      undoAll();
      throw e;
    }
    return undoAll;
  }
}
