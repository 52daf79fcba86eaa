/**
 * Test-only child process of history.test.ts: `node compaction-child.js DIR STEP`. Opens the
 * history in DIR, runs FIRST through the command engine, starts a compaction, runs DURING while
 * the snapshot is being written (they are journaled after the snapshot's last record), and
 * kills itself with SIGKILL when the compaction reaches STEP (a crash forced at that point:
 * the kernel keeps what was written, as after a kill -9 of the daemon). Exits 0 if STEP was
 * never reached.
 */
import { pino } from 'pino';
import { ControlPlane, StartUp } from '../../src/control/controlplane.js';
import { NO_RUNTIME } from '../../src/control/commands/types.js';
import { History } from '../../src/control/history.js';
import { State } from '../../src/control/state.js';
import { NO_EFFECTS } from '../helpers/control.js';

export const FIRST = [
  'DEFINE VSWITCH SW1 RDEV eth1', 'DEFINE VSWITCH SW2 RDEV NONE', 'DEFINE GUEST A NETNS na', 'DEFINE GUEST B QEMU',
  'SET VSWITCH SW1 GRANT A', 'SET VSWITCH SW1 GRANT B PROMISCUOUS', 'SET VSWITCH SW2 GRANT A',
  'DEFINE NIC 600 FOR A', 'DEFINE NIC 700 FOR A', 'DETACH NIC 600 FOR A', 'DEFINE NIC 600 FOR B', 'COUPLE 600 TO SYSTEM SW1 FOR B',
  'COUPLE 700 TO SYSTEM SW2 FOR A', 'UNCOUPLE 700 FOR A', 'DETACH VSWITCH SW2', 'COUPLE 700 TO SYSTEM SW1 FOR A',
  'DEFINE VSWITCH SW3 RDEV eth3 ETHERNET VLAN 10', 'SET VSWITCH SW3 GRANT C PORTTYPE TRUNK VLAN 10 20', 'SET NIC 600 PROMISCUOUS FOR B',
];
export const DURING = ['DEFINE GUEST C QEMU', 'DEFINE NIC 900 FOR C', 'COUPLE 900 TO SYSTEM SW3 FOR C', 'UNCOUPLE 600 FOR B', 'SET VSWITCH SW3 ISOLATION ON'];

export const ENV = { interfaceExists: () => true };

async function main(): Promise<void> {
  const [dir, crashAt] = process.argv.slice(2);
  const quiet = pino({ level: 'silent' });
  const startUp = new StartUp(new State(), ENV, quiet);
  const { history } = History.open(dir, startUp, quiet, {
    compactAfter: 1_000_000,
    step: (name) => { if (name === crashAt) process.kill(process.pid, 'SIGKILL'); },
  });
  const cp = new ControlPlane(startUp.state, ENV, quiet, { journal: history, effects: NO_EFFECTS, runtime: NO_RUNTIME });
  for (const c of FIRST) if (!cp.execute(c).ok) throw new Error(c);
  const done = history.compact();
  for (const c of DURING) if (!cp.execute(c).ok) throw new Error(c);
  if (!(await done)) throw new Error('compaction failed');
  history.close();
}

if (process.argv[1]?.endsWith('compaction-child.js')) void main();
