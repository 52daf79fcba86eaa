/**
 * Layer-2 policies in the data plane (issue 10): for each switch its Marks name (a GRANT,
 * REVOKE, SET VSWITCH ISOLATION / MACPROTECT, SET NIC of one of its NICs, a port added or
 * removed), the switch's SwitchPolicy and each of its NIC ports' PortPolicy are computed from
 * the state (src/control/policy.ts) and posted as switch-policy / port-policy where they differ
 * from what the data plane has. New switches and ports get theirs with switch-add / port-add
 * (reconcile/switches.ts, reconcile/ports.ts), so this step runs after the NIC backends and
 * posts only changes. A NIC port whose NIC is gone or uncoupled is left alone: its backend
 * removes it in the same pass.
 */
import type { Logger } from 'pino';
import { parseNicKey } from '../nics.js';
import { portPolicy } from '../policy.js';
import type { State } from '../state.js';
import type { Marks, Touch } from './marks.js';
import type { Syncer } from './part.js';
import type { PortAllocator } from './ports.js';
import type { DataPlaneSwitches } from './switches.js';

export class Policies implements Syncer {
  private readonly marks: Marks<string>;

  constructor(private readonly state: State, private readonly switches: DataPlaneSwitches, private readonly ports: PortAllocator, private readonly log: Logger, touch: Touch) {
    this.marks = touch.switchMarks();
  }

  sync(now: number): void {
    for (const name of this.marks.take(now, () => this.state.switches.keys())) {
      const sw = this.state.switches.get(name);
      const num = this.switches.number(name);
      if (!sw || num === null) continue;
      this.switches.setPolicy(name);
      for (const p of this.ports.nicPortsOf(num)) {
        const [userid, vdev] = parseNicKey(p.key);
        const nic = this.state.nic(userid, vdev);
        if (!nic || nic.coupled !== name) continue;
        const policy = portPolicy(sw, nic);
        if (this.ports.setPolicy(p.port, policy)) this.log.info({ vswitch: name, nic: p.key, port: p.port, policy }, 'port policy changed');
      }
    }
  }
}
