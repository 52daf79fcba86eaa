/**
 * The one way a refused address claim is reported, for IPv4 (lan-ip.ts) and IPv6 (lan-ip6.ts):
 * each conflict the state's claim rule returned (src/control/state.ts recomputeLanIp /
 * recomputeLanIp6) is logged once and counted once at DropReason.AddressConflict, for as long
 * as it stands; one that went away and comes back counts again.
 *
 * Contract: `report(name, sw, conflicts)` takes the switch's conflicts of this pass (each with
 * the address as text, the claimant and the holder, or null when the holder has gone since)
 * and returns nothing; `forget(name)` drops a switch's record (the switch went). No I/O but the
 * logger and the counter.
 */
import type { Logger } from 'pino';
import { DropReason } from '../../forward/api.js';
import { dropSlot } from '../../forward/counters.js';
import { nicKey } from '../nics.js';
import type { DataPlanePort } from './part.js';

export interface ClaimConflict {
  /** The address as text (the log's value), under `field` in the log record. */
  text: string;
  /** The VLAN of the claim (logged as `vlan`; the same address in two VLANs is two conflicts). */
  vid: number;
  userid: string;
  vdev: number;
  holder: { userid: string; vdev: number } | null;
}

export class ClaimConflicts {
  /** Switch name -> conflicts logged and counted (`vid/address/userid/vdev`), until they go away. */
  private readonly logged = new Map<string, Set<string>>();

  /** field: the log record's name for the address ('ip', 'ip6'); noun: 'address' or 'IPv6 address'. */
  constructor(private readonly dp: DataPlanePort, private readonly log: Logger, private readonly field: string, private readonly noun: string) {}

  report(name: string, sw: number, conflicts: Iterable<ClaimConflict>): void {
    const logged = this.logged.get(name);
    const seen = new Set<string>();
    for (const k of conflicts) {
      const id = `${k.vid}/${k.text}/${k.userid}/${k.vdev}`;
      seen.add(id);
      if (logged?.has(id)) continue;
      this.dp.counters[dropSlot(sw, DropReason.AddressConflict)]++;
      this.log.warn({ vswitch: name, [this.field]: k.text, vlan: k.vid, nic: nicKey(k.userid, k.vdev), holder: k.holder && nicKey(k.holder.userid, k.holder.vdev) },
        k.holder ? `${this.noun} claim refused: another NIC holds it` : `${this.noun} claim refused: another NIC held it when it was made`);
    }
    if (seen.size > 0) this.logged.set(name, seen);
    else this.logged.delete(name);
  }

  forget(name: string): void {
    this.logged.delete(name);
  }
}
