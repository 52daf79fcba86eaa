/**
 * Switches in the data plane: each switch of the state gets a data-plane number (the lowest
 * free one, below MAX_SWITCHES; its counter slots zeroed first) and a switch-add; a switch gone
 * from the state gets switch-remove and its number is free again.
 *
 * Contract: two steps of a pass, `adding` first (every other part may then look a switch's
 * number up) and `removing` last (after the parts have taken the removed switch's ports
 * away: DETACH VSWITCH needs no NIC coupled, the uplink part removes the uplink's port).
 * `adding` throws when all MAX_SWITCHES numbers are in use.
 */
import type { Logger } from 'pino';
import { MAX_SWITCHES, SWITCH_SLOTS, dropSlot } from '../../forward/counters.js';
import type { State } from '../state.js';
import type { DataPlanePort, Syncer } from './part.js';

export class DataPlaneSwitches {
  /** Switch name -> data-plane number, in the order they were added. */
  private readonly numbers = new Map<string, number>();
  readonly adding: Syncer = { sync: () => this.add() };
  readonly removing: Syncer = { sync: () => this.remove() };

  constructor(private readonly state: State, private readonly dp: DataPlanePort, private readonly log: Logger) {}

  /** A switch's data-plane number, or null while it has none. */
  number(name: string): number | null {
    return this.numbers.get(name) ?? null;
  }

  /** The switch with data-plane number `sw`. */
  nameOf(sw: number): string | undefined {
    for (const [name, n] of this.numbers) if (n === sw) return name;
    return undefined;
  }

  private add(): boolean {
    const used = new Set(this.numbers.values());
    for (const [name, sw] of this.state.switches) {
      if (this.numbers.has(name)) continue;
      let n = 0;
      while (n < MAX_SWITCHES && used.has(n)) n++;
      if (n >= MAX_SWITCHES) throw new Error('no free switch number');
      used.add(n);
      this.dp.counters.fill(0, dropSlot(n, 0), dropSlot(n, 0) + SWITCH_SLOTS);
      this.dp.post({ op: 'switch-add', sw: n, mode: sw.mode, queueBytes: sw.queueBytes });
      this.numbers.set(name, n);
      this.log.info({ vswitch: name, sw: n, mode: sw.mode }, 'switch added to the data plane');
    }
    return false;
  }

  private remove(): boolean {
    for (const [name, sw] of this.numbers) {
      if (this.state.switches.has(name)) continue;
      this.dp.post({ op: 'switch-remove', sw });
      this.numbers.delete(name);
      this.log.info({ vswitch: name, sw }, 'switch removed from the data plane');
    }
    return false;
  }
}
