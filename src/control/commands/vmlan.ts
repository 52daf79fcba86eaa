/**
 * VMLAN MACPREFIX xxxxxx (a SYSTEM CONFIG statement): the upper 24 bits of the MACs given to
 * NICs defined afterwards. NICs keep the MAC they were given.
 */
import type { Command } from '../grammar.js';
import type { Outcome } from './types.js';

export function checkVmlan(cmd: Extract<Command, { kind: 'vmlan-macprefix' }>): Outcome {
  const p = cmd.prefix.toString(16).toUpperCase().padStart(6, '0');
  return { ok: true, changes: [{ t: 'macprefix', prefix: cmd.prefix }], lines: [`VMLAN MACPREFIX set to ${p}`] };
}
