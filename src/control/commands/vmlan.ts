/**
 * VMLAN MACPREFIX xxxxxx / VMLAN USERPREFIX xxxxxx (SYSTEM CONFIG statements): the upper 24
 * bits of the MACs given to NICs defined afterwards: system-assigned ones (MACPREFIX) and those
 * defined with MACID (USERPREFIX). NICs keep the MAC they were given.
 */
import { hex6Text, type Command } from '../grammar.js';
import type { Outcome } from './types.js';

export function checkVmlan(cmd: Extract<Command, { kind: 'vmlan-macprefix' | 'vmlan-userprefix' }>): Outcome {
  const p = hex6Text(cmd.prefix);
  if (cmd.kind === 'vmlan-userprefix') return { ok: true, changes: [{ t: 'userprefix', prefix: cmd.prefix }], lines: [`VMLAN USERPREFIX set to ${p}`] };
  return { ok: true, changes: [{ t: 'macprefix', prefix: cmd.prefix }], lines: [`VMLAN MACPREFIX set to ${p}`] };
}
