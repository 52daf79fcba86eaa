/**
 * The table of verbs: what each kind of Command is, in one entry per kind. The table's type
 * maps every `Command['kind']` to an entry, so a new kind does not build until its entry
 * answers every column:
 *
 * - name: the command as messages and the documentation name it (SYSTEM CONFIG's list of
 *   statements is made from these).
 * - check: its verb module's check (one module per verb in this directory): pure, reads the
 *   state, answers an Outcome.
 * - effect: 'definition' changes the state (Changes); 'operation' acts on the running uplink
 *   (an Operation); 'query' only reads.
 * - from: where it is accepted: 'socket' (the control socket, hence the CLI), 'config' (the
 *   SYSTEM CONFIG file only) or 'both'.
 *   Journaled (made durable before the reply) are the definitions accepted from the socket,
 *   and journal replay takes exactly those: `journaled` below derives it from these two columns.
 * - runtime: what it needs of the running daemon: 'none' (the state alone), 'reads' (run-time
 *   facts: uplinks, ports, counters, connected controllers; the null view NO_RUNTIME answers
 *   when there are none), 'requires' (only a running data plane and controller can carry it out).
 *   Start-up (SYSTEM CONFIG, journal replay) runs before the data plane exists.
 * - privilege: the z/VM CP privilege class that may issue it, as CP documents the command:
 *   'B' (system resource operator: switches, guests, controllers, system-wide settings) or 'G'
 *   (general user: the NICs of its own guest, the FOR user, and queries). `check` enforces it
 *   first, for the CheckContext's principal (src/control/privilege.ts says what class G may
 *   touch): a command its issuer may not give is refused, whatever its operands, and changes nothing.
 *
 * A column whose answer depends on the operands is a function of the command: SET VSWITCH
 * CONTROLLER is a definition, SET VSWITCH SWITCHOVER and UPLINK are operations.
 */
import type { Command, CommandKind, CommandOf } from '../grammar.js';
import type { State } from '../state.js';
import { SYSTEM, authorize } from '../privilege.js';
import { checkCouple } from './couple.js';
import { checkDefine } from './define.js';
import { checkDetach } from './detach.js';
import { checkQuery } from './query.js';
import { checkQueryController } from './query-controller.js';
import { checkQuerySsi } from './query-ssi.js';
import { checkSet } from './set.js';
import { checkSetNic } from './set-nic.js';
import type { Check, CheckContext, Outcome } from './types.js';
import { checkUncouple } from './uncouple.js';
import { checkVmlan } from './vmlan.js';
import { checkVmrelocate } from './vmrelocate.js';

export type Effect = 'definition' | 'operation' | 'query';
export type Accepted = 'socket' | 'config' | 'both';
export type RuntimeNeed = 'none' | 'reads' | 'requires';
export type PrivilegeClass = 'B' | 'G';

/** A column's answer: the same for every command of the kind, or depending on its operands. */
type PerCommand<K extends CommandKind, T extends string> = T | ((cmd: CommandOf<K>) => T);

export interface VerbEntry<K extends CommandKind> {
  name: string;
  check: Check<K>;
  effect: PerCommand<K, Effect>;
  from: Accepted;
  runtime: PerCommand<K, RuntimeNeed>;
  privilege: PrivilegeClass;
}

/** The table's entries answered for one command. */
export interface Verb {
  name: string;
  effect: Effect;
  from: Accepted;
  runtime: RuntimeNeed;
  privilege: PrivilegeClass;
  /** A definition accepted from the socket: journaled before it is acknowledged, and replayed at start. */
  journaled: boolean;
}

/** SET VSWITCH CONTROLLER, GRANT, REVOKE, ISOLATION and MACPROTECT change the definition; SWITCHOVER and UPLINK are operations. */
const setVswitchIsDefinition = (cmd: CommandOf<'set-vswitch'>): boolean => cmd.op.t !== 'switchover' && cmd.op.t !== 'uplink';

export const VERBS: { readonly [K in CommandKind]: VerbEntry<K> } = {
  'define-vswitch': { name: 'DEFINE VSWITCH', check: checkDefine, effect: 'definition', from: 'both', runtime: 'none', privilege: 'B' },
  'detach-vswitch': { name: 'DETACH VSWITCH', check: checkDetach, effect: 'definition', from: 'socket', runtime: 'none', privilege: 'B' },
  // A guest is a user directory entry in z/VM, which only the system's administrator defines.
  'define-guest': { name: 'DEFINE GUEST', check: checkDefine, effect: 'definition', from: 'both', runtime: 'none', privilege: 'B' },
  'detach-guest': { name: 'DETACH GUEST', check: checkDetach, effect: 'definition', from: 'socket', runtime: 'none', privilege: 'B' },
  'define-nic': { name: 'DEFINE NIC', check: checkDefine, effect: 'definition', from: 'both', runtime: 'none', privilege: 'G' },
  'detach-nic': { name: 'DETACH NIC', check: checkDetach, effect: 'definition', from: 'socket', runtime: 'none', privilege: 'G' },
  'couple': { name: 'COUPLE', check: checkCouple, effect: 'definition', from: 'both', runtime: 'none', privilege: 'G' },
  'uncouple': { name: 'UNCOUPLE', check: checkUncouple, effect: 'definition', from: 'socket', runtime: 'none', privilege: 'G' },
  // CP's QUERY VSWITCH is class B; here a guest's owner may also query a switch its guests are granted (privilege.ts).
  'query-vswitch': { name: 'QUERY VSWITCH', check: checkQuery, effect: 'query', from: 'socket', runtime: 'reads', privilege: 'G' },
  // CP's QUERY VIRTUAL NIC (the issuer's own NICs) is class G; its system-wide QUERY NIC is class B.
  'query-nic': { name: 'QUERY NIC', check: checkQuery, effect: 'query', from: 'socket', runtime: 'reads', privilege: 'G' },
  // No CP counterpart; like CP's QUERY NAMES it lists who is defined.
  'query-guest': { name: 'QUERY GUEST', check: checkQuery, effect: 'query', from: 'socket', runtime: 'reads', privilege: 'G' },
  'query-vmlan': { name: 'QUERY VMLAN', check: checkQuery, effect: 'query', from: 'socket', runtime: 'reads', privilege: 'G' },
  // z/VM's SYSTEM CONFIG statement is VMLAN; changing VMLAN settings at run time (CP's SET VMLAN) is class B.
  'vmlan-macprefix': { name: 'VMLAN', check: (_state, cmd) => checkVmlan(cmd), effect: 'definition', from: 'config', runtime: 'none', privilege: 'B' },
  'set-vswitch': {
    name: 'SET VSWITCH',
    check: checkSet,
    effect: (cmd) => (setVswitchIsDefinition(cmd) ? 'definition' : 'operation'),
    from: 'socket',
    // CONTROLLER name asks whether that controller is connected; SWITCHOVER and UPLINK act on the running uplink.
    runtime: (cmd) => (setVswitchIsDefinition(cmd) ? 'reads' : 'requires'),
    privilege: 'B',
  },
  // The access list and a NIC's layer-2 settings (issue 10).
  'modify-vswitch': { name: 'MODIFY VSWITCH', check: checkSet, effect: 'definition', from: 'config', runtime: 'none', privilege: 'B' },
  'set-nic': { name: 'SET NIC', check: checkSetNic, effect: 'definition', from: 'socket', runtime: 'none', privilege: 'G' },
  'vmlan-userprefix': { name: 'VMLAN', check: (_state, cmd) => checkVmlan(cmd), effect: 'definition', from: 'config', runtime: 'none', privilege: 'B' },
  // CP's QUERY LAN (class G) lists the guest LANs and virtual switches.
  'query-lan': { name: 'QUERY LAN', check: checkQuery, effect: 'query', from: 'socket', runtime: 'reads', privilege: 'G' },
  // CP's QUERY SSI (class B, E or G): the cluster's members and the store (src/daemon/cluster).
  'query-ssi': { name: 'QUERY SSI', check: (_state, _cmd, ctx) => checkQuerySsi(ctx.env), effect: 'query', from: 'socket', runtime: 'reads', privilege: 'G' },
  'query-controller': { name: 'QUERY CONTROLLER', check: (_state, cmd, ctx) => checkQueryController(cmd, ctx.runtime), effect: 'query', from: 'socket', runtime: 'reads', privilege: 'B' },
  // CP's VMRELOCATE is class A (the system operator's): here the system's class B. MOVE is an
  // operation the cluster carries out (src/daemon/cluster/relocation.ts): what it changes here
  // and on the target is journaled there as the commands it runs (UNCOUPLE, DETACH, DEFINE, COUPLE).
  'vmrelocate': { name: 'VMRELOCATE', check: checkVmrelocate, effect: (cmd) => (cmd.op === 'MOVE' ? 'operation' : 'query'), from: 'socket', runtime: (cmd) => (cmd.op === 'MOVE' ? 'requires' : 'reads'), privilege: 'B' },
};

function answer<K extends CommandKind, T extends string>(column: PerCommand<K, T>, cmd: CommandOf<K>): T {
  return typeof column === 'function' ? column(cmd) : column;
}

function verbOfKind<K extends CommandKind>(kind: K, cmd: CommandOf<K>): Verb {
  const e: VerbEntry<K> = VERBS[kind];
  const effect = answer(e.effect, cmd);
  return {
    name: e.name,
    effect,
    from: e.from,
    runtime: answer(e.runtime, cmd),
    privilege: e.privilege,
    journaled: effect === 'definition' && e.from !== 'config',
  };
}

function checkKind<K extends CommandKind>(kind: K, state: State, cmd: CommandOf<K>, ctx: CheckContext): Outcome {
  return VERBS[kind].check(state, cmd, ctx);
}

/** What this command is: its entry's columns answered for its operands. */
export function verbOf(cmd: Command): Verb {
  return verbOfKind(cmd.kind, cmd);
}

/**
 * Check a command against the state with its verb module, after its issuer's privilege
 * (ctx.who; absent: the system). Pure: the state is not changed.
 */
export function check(state: State, cmd: Command, ctx: CheckContext): Outcome {
  const e = VERBS[cmd.kind];
  const denied = authorize(state, cmd, e.privilege, e.name, ctx.who ?? SYSTEM);
  if (denied !== null) return { ok: false, error: denied };
  return checkKind(cmd.kind, state, cmd, ctx);
}

/** Commands that change the state when issued, and so are journaled (and replayed). */
export function isDynamic(cmd: Command): boolean {
  return verbOf(cmd).journaled;
}

/** Statements the SYSTEM CONFIG file accepts. */
export function isConfigStatement(cmd: Command): boolean {
  return VERBS[cmd.kind].from !== 'socket';
}

/** The names of the SYSTEM CONFIG statements, in the table's order. */
export const CONFIG_STATEMENTS: readonly string[] = [...new Set(Object.values(VERBS).filter((e) => e.from !== 'socket').map((e) => e.name))];

