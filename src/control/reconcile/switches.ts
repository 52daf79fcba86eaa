/**
 * Switches in the data plane: each switch of the state gets a data-plane number (the lowest
 * free one, below MAX_SWITCHES; its counter slots zeroed first) and a switch-add; a switch gone
 * from the state gets switch-remove and its number is free again.
 *
 * switch-add carries the switch's SwitchPolicy (src/control/policy.ts); `setPolicy(name)` posts
 * switch-policy when the state's policy is not what the data plane has (reconcile/policies.ts).
 *
 * Contract: two steps of a pass, `adding` first (every other part may then look a switch's
 * number up) and `removing` last (after the parts have taken the removed switch's ports
 * away: DETACH VSWITCH needs no NIC coupled, the uplink part removes the uplink's port).
 * `adding` throws when all MAX_SWITCHES numbers are in use. Each step looks at the switches its
 * Marks name (a switch-add or switch-remove marks them).
 */
import type { Logger } from 'pino';
import { MAX_SWITCHES, SWITCH_SLOTS, dropSlot } from '../../forward/counters.js';
import type { SwitchPolicy } from '../../protocol/dataplane.js';
import { sameSwitchPolicy, switchPolicy } from '../policy.js';
import type { State } from '../state.js';
import type { Marks, Touch } from './marks.js';
import type { DataPlanePort, Syncer } from './part.js';

export class DataPlaneSwitches {
  /** Switch name -> data-plane number, in the order they were added. */
  private readonly numbers = new Map<string, number>();
  /** Switch name -> the policy the data plane has. */
  private readonly policies = new Map<string, SwitchPolicy>();
  readonly adding: Syncer;
  readonly removing: Syncer;

  constructor(private readonly state: State, private readonly dp: DataPlanePort, private readonly log: Logger, touch: Touch) {
    const toAdd = touch.switchMarks();
    const toRemove = touch.switchMarks();
    this.adding = { sync: (now) => this.add(this.visit(toAdd, now)) };
    this.removing = { sync: (now) => this.remove(this.visit(toRemove, now)) };
  }

  /** A switch's data-plane number, or null while it has none. */
  number(name: string): number | null {
    return this.numbers.get(name) ?? null;
  }

  /** The switch with data-plane number `sw`. */
  nameOf(sw: number): string | undefined {
    for (const [name, n] of this.numbers) if (n === sw) return name;
    return undefined;
  }

  /** Post switch-policy for switch `name` if the state's policy is not what the data plane has. Returns true when posted. */
  setPolicy(name: string): boolean {
    const sw = this.state.switches.get(name);
    const n = this.numbers.get(name);
    if (!sw || n === undefined) return false;
    const policy = switchPolicy(sw);
    const had = this.policies.get(name);
    if (had !== undefined && sameSwitchPolicy(had, policy)) return false;
    this.policies.set(name, policy);
    this.dp.post({ op: 'switch-policy', sw: n, policy });
    this.log.info({ vswitch: name, policy }, 'switch policy changed');
    return true;
  }

  private visit(marks: Marks<string>, now: number): Set<string> {
    return marks.take(now, () => [...this.state.switches.keys(), ...this.numbers.keys()]);
  }

  private add(names: Set<string>): void {
    let used: Set<number> | null = null;
    for (const name of names) {
      const sw = this.state.switches.get(name);
      if (!sw || this.numbers.has(name)) continue;
      used ??= new Set(this.numbers.values());
      let n = 0;
      while (n < MAX_SWITCHES && used.has(n)) n++;
      if (n >= MAX_SWITCHES) throw new Error('no free switch number');
      used.add(n);
      this.dp.counters.fill(0, dropSlot(n, 0), dropSlot(n, 0) + SWITCH_SLOTS);
      const policy = switchPolicy(sw);
      this.dp.post({ op: 'switch-add', sw: n, mode: sw.mode, queueBytes: sw.queueBytes, policy });
      this.numbers.set(name, n);
      this.policies.set(name, policy);
      this.log.info({ vswitch: name, sw: n, mode: sw.mode }, 'switch added to the data plane');
    }
  }

  private remove(names: Set<string>): void {
    for (const name of names) {
      const sw = this.numbers.get(name);
      if (sw === undefined || this.state.switches.has(name)) continue;
      this.dp.post({ op: 'switch-remove', sw });
      this.numbers.delete(name);
      this.policies.delete(name);
      this.log.info({ vswitch: name, sw }, 'switch removed from the data plane');
    }
  }
}
