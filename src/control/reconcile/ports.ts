/**
 * Data-plane port numbers: which are in use, who holds each, and the port-add / port-remove
 * that start and end them in the worker.
 *
 * Contract:
 * - `add(holder, key, spec)`: the next free number after the last one handed out, wrapping at
 *   MAX_PORTS (round-robin, so a late 'port-down' for a removed port cannot be taken for its
 *   successor); its counter slots are zeroed, then port-add is posted (the worker owns
 *   spec.fd from then on). Throws when all MAX_PORTS numbers are in use (nothing posted).
 * - `remove(port)`: port-remove is posted and the number is free.
 * - `down(port, errno, reason)`: the worker reported the port down (it removed and closed it):
 *   the number is free and its holder is told (`holder.portDown(key, ...)`). Returns false
 *   when nobody holds the number (a late report for a port already removed).
 * - `owner(port)`: the holder and key a number was added for.
 * - Every add, remove and down tells `changed(sw)` (the constructor's) which data-plane switch
 *   the port was on: what that switch's LAN IP table posts depends on its ports.
 * - Layer-2 policy (issue 10): a NIC port's port-add carries its PortPolicy, from `policyFor`
 *   (the constructor's: src/control/policy.ts portPolicy of the NIC of `key` on its switch);
 *   `setPolicy(port, policy)` posts port-policy when it differs from what the port has;
 *   `nicPortsOf(sw)` the NIC ports of a data-plane switch with the policy each has.
 */
import { MAX_PORTS, PORT_SLOTS, portSlot } from '../../forward/counters.js';
import type { PortPolicy, ToWorker } from '../../protocol/dataplane.js';
import { samePortPolicy } from '../policy.js';
import type { DataPlanePort } from './part.js';

/** A part that holds data-plane ports (an uplink, a NIC backend), each under a key of its own. */
export interface PortHolder {
  /** The worker removed port `port` of `key` after a failure; its number is already free. */
  portDown(key: string, port: number, errno: number, reason: string): void;
}

export interface PortOwner {
  readonly holder: PortHolder;
  readonly key: string;
  /** The data-plane switch the port is on. */
  readonly sw: number;
  /** A NIC port's policy as the worker has it (undefined: an uplink). */
  policy?: PortPolicy;
}

/** A port-add without its number: what the holder asks for. */
export type PortSpec = Omit<Extract<ToWorker, { op: 'port-add' }>, 'op' | 'port'>;

export class PortAllocator {
  private readonly owners = new Map<number, PortOwner>();
  /** Data-plane switch -> its NIC ports. */
  private readonly nicPorts = new Map<number, Set<number>>();
  private next = 0;

  constructor(
    private readonly dp: DataPlanePort,
    private readonly changed: (sw: number) => void,
    private readonly policyFor: (key: string) => PortPolicy | undefined = () => undefined,
  ) {}

  add(holder: PortHolder, key: string, spec: PortSpec): number {
    for (let i = 0; i < MAX_PORTS; i++) {
      const port = (this.next + i) % MAX_PORTS;
      if (this.owners.has(port)) continue;
      const policy = spec.role === 'nic' ? (spec.policy ?? this.policyFor(key)) : undefined;
      this.owners.set(port, { holder, key, sw: spec.sw, ...(policy ? { policy } : {}) });
      if (spec.role === 'nic') {
        let set = this.nicPorts.get(spec.sw);
        if (!set) this.nicPorts.set(spec.sw, (set = new Set()));
        set.add(port);
      }
      this.next = (port + 1) % MAX_PORTS;
      this.dp.counters.fill(0, portSlot(port, 0), portSlot(port, 0) + PORT_SLOTS);
      this.dp.post({ op: 'port-add', port, ...spec, ...(policy ? { policy } : {}) });
      this.changed(spec.sw);
      return port;
    }
    throw new Error(`no free data-plane port (limit ${MAX_PORTS})`);
  }

  remove(port: number): void {
    this.dp.post({ op: 'port-remove', port });
    const o = this.owners.get(port);
    this.forget(port);
    if (o) this.changed(o.sw);
  }

  down(port: number, errno: number, reason: string): boolean {
    const o = this.owners.get(port);
    if (!o) return false;
    this.forget(port);
    o.holder.portDown(o.key, port, errno, reason);
    this.changed(o.sw);
    return true;
  }

  private forget(port: number): void {
    const o = this.owners.get(port);
    if (!o) return;
    this.owners.delete(port);
    this.nicPorts.get(o.sw)?.delete(port);
  }

  /** The NIC ports of data-plane switch `sw`: number, key and the policy each has. */
  *nicPortsOf(sw: number): Iterable<{ port: number; key: string; policy: PortPolicy | undefined }> {
    for (const port of this.nicPorts.get(sw) ?? []) {
      const o = this.owners.get(port)!;
      yield { port, key: o.key, policy: o.policy };
    }
  }

  /** Post port-policy for NIC port `port` if `policy` is not what it has. Returns true when posted. */
  setPolicy(port: number, policy: PortPolicy): boolean {
    const o = this.owners.get(port);
    if (!o || (o.policy !== undefined && samePortPolicy(o.policy, policy))) return false;
    o.policy = policy;
    this.dp.post({ op: 'port-policy', port, policy });
    return true;
  }

  owner(port: number): PortOwner | undefined {
    return this.owners.get(port);
  }
}
