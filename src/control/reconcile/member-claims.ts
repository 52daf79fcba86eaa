/**
 * The cluster's part in a LAN IP table, one for IPv4 (lan-ip.ts) and IPv6 (lan-ip6.ts): in a
 * cluster (vswitchd --cluster: AddressClaims, src/daemon/cluster/cluster.ts) an address is one
 * member's, under its lease, as it is one NIC's on a switch.
 *
 * Contract: `claimAll(name, sw, entries, freed)` claims each of the switch's entries that has a
 * port (`entries`: address -> its NIC) for this member, tells the claims which are still wanted
 * (the family's `inUse`: the others are released), and returns those another member holds, by
 * address, with the holder. A new holder is counted once at DropReason.AddressConflict and
 * logged; an address another member held at the last call and holds no more is passed to
 * `freed` (the caller probes it afresh). `elsewhere(name, addr)` is the holder of the last call,
 * or undefined; `forget(name)` drops a switch (it went). Without a cluster (claims null)
 * nothing is ever held elsewhere and `mine` is always true.
 */
import type { Logger } from 'pino';
import { DropReason } from '../../forward/api.js';
import { dropSlot } from '../../forward/counters.js';
import { nicKey } from '../nics.js';
import type { AddressClaims } from './lan-ip.js';
import type { DataPlanePort } from './part.js';

export class MemberClaims<K extends number | string> {
  /** Switch name -> address -> the member holding it (refused here). */
  private readonly held = new Map<string, Map<K, string>>();

  /**
   * field: the log record's name for the address; text: its text; inUse: the family's
   * AddressClaims.inUse (IPv4's or IPv6's keys are released separately).
   */
  constructor(
    private readonly claims: AddressClaims | null,
    private readonly dp: DataPlanePort,
    private readonly log: Logger,
    private readonly field: string,
    private readonly text: (k: K) => string,
    private readonly inUse: (claims: AddressClaims, sw: string, keys: K[]) => void,
  ) {}

  /** Is the address this member's (always, outside a cluster)? */
  mine(name: string, k: K): boolean {
    return this.claims === null || this.claims.claim(name, k) === 'mine';
  }

  /** Is there a cluster? */
  get clustered(): boolean {
    return this.claims !== null;
  }

  elsewhere(name: string, k: K): string | undefined {
    return this.held.get(name)?.get(k);
  }

  claimAll(name: string, sw: number, entries: Iterable<[K, { userid: string; vdev: number }]>, freed: (k: K) => void): Map<K, string> {
    const out = new Map<K, string>();
    if (this.claims === null) return out;
    const before = this.held.get(name);
    const wanted: K[] = [];
    for (const [k, e] of entries) {
      wanted.push(k);
      const c = this.claims.claim(name, k);
      if (typeof c === 'string') {
        // Another member held it (and answered for it on the LAN): afresh now that it is free.
        if (before?.has(k)) freed(k);
        continue;
      }
      out.set(k, c.member);
      if (before?.get(k) !== c.member) {
        this.dp.counters[dropSlot(sw, DropReason.AddressConflict)]++;
        this.log.warn({ vswitch: name, [this.field]: this.text(k), nic: nicKey(e.userid, e.vdev), member: c.member }, 'address refused: another member of the cluster holds it');
      }
    }
    this.inUse(this.claims, name, wanted);
    if (out.size > 0) this.held.set(name, out);
    else this.held.delete(name);
    return out;
  }

  forget(name: string): void {
    this.held.delete(name);
  }
}
