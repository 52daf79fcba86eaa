/**
 * Dispatch a parsed command to its verb module. Pure: reads the state, returns an Outcome.
 */
import type { Command } from '../grammar.js';
import type { NicAlloc, State } from '../state.js';
import { checkCouple } from './couple.js';
import { checkDefine } from './define.js';
import { checkDetach } from './detach.js';
import { checkQuery } from './query.js';
import { checkUncouple } from './uncouple.js';
import { checkVmlan } from './vmlan.js';
import { checkSet } from './set.js';
import { checkQueryController } from './query-controller.js';
import type { Env, Outcome, RuntimeView } from './types.js';

export function check(state: State, cmd: Command, env: Env, rt: RuntimeView, journaled?: NicAlloc): Outcome {
  switch (cmd.kind) {
    case 'define-vswitch':
    case 'define-guest':
    case 'define-nic':
      return checkDefine(state, cmd, env, journaled);
    case 'detach-vswitch':
    case 'detach-guest':
    case 'detach-nic':
      return checkDetach(state, cmd);
    case 'couple':
      return checkCouple(state, cmd);
    case 'uncouple':
      return checkUncouple(state, cmd);
    case 'vmlan-macprefix':
      return checkVmlan(cmd);
    case 'query-vswitch':
    case 'query-nic':
    case 'query-guest':
    case 'query-vmlan':
      return checkQuery(state, cmd, rt);
    case 'set-vswitch':
      return checkSet(state, cmd, rt);
    case 'query-controller':
      return checkQueryController(cmd, rt);
  }
}
