/**
 * SYSTEM CONFIG reading: the start-up file holds the same statements as the commands.
 *
 * Rules (as in z/VM's SYSTEM CONFIG): one statement per line; a line whose first non-blank
 * character is `*` is a comment; `/* ... *\/` comments may appear anywhere (and span lines); a
 * statement whose last non-blank character is a comma continues on the next line (the comma
 * is dropped). Accepted statements: those the table of verbs (src/control/commands/index.ts)
 * accepts from SYSTEM CONFIG: DEFINE VSWITCH, DEFINE GUEST, DEFINE NIC, COUPLE, VMLAN MACPREFIX,
 * VMLAN USERPREFIX and MODIFY VSWITCH (GRANT, ISOLATION, MACPROTECT). `readConfig` parses the whole file first and returns the first bad
 * statement with its line number, so nothing is applied from a file that does not parse.
 * A statement may start with z/VM's record qualifier, a system (member) name and a colon
 * (`MEMBER1: DEFINE VSWITCH ...`): it is for that member only. `readConfig(text, member)`
 * keeps it when `member` (vswitchd --member) is that name, ASCII case blind, and otherwise
 * parses it too but lists it in `skipped` (the daemon logs a note for each).
 */
import { CONFIG_STATEMENTS, isConfigStatement } from './commands/index.js';
import { leadingWords, parse, trimAscii, type Command } from './grammar.js';

export interface ConfigStatement {
  /** Line number (1-based) where the statement starts. */
  line: number;
  cmd: Command;
}

/** A statement qualified for another member: parsed, not applied here. */
export interface SkippedStatement {
  line: number;
  member: string;
}

export type ConfigResult = { ok: true; statements: ConfigStatement[]; skipped: SkippedStatement[] } | { ok: false; line: number; message: string };

/** z/VM's record qualifier: a system name of 1 to 8 characters and a colon before the statement. */
const QUALIFIER = /^([A-Za-z0-9@#$]{1,8}):(.*)$/s;

/** Blank out comments (keeping newlines so line numbers stay). */
function stripComments(text: string): { text: string; unterminated: number } {
  let out = '';
  let i = 0;
  let line = 1;
  let openedAt = 0;
  while (i < text.length) {
    if (text.startsWith('/*', i)) {
      openedAt = line;
      const end = text.indexOf('*/', i + 2);
      const body = end < 0 ? text.slice(i) : text.slice(i, end + 2);
      const nls = body.split('\n').length - 1;
      line += nls;
      out += ' ' + '\n'.repeat(nls);
      if (end < 0) return { text: out, unterminated: openedAt };
      i = end + 2;
      continue;
    }
    const ch = text[i];
    if (ch === '\n') line++;
    out += ch;
    i++;
  }
  return { text: out, unterminated: 0 };
}

/** "A, B or C" */
const STATEMENT_LIST = `${CONFIG_STATEMENTS.slice(0, -1).join(', ')} or ${CONFIG_STATEMENTS[CONFIG_STATEMENTS.length - 1]}`;

export function readConfig(text: string, member: string | null = null): ConfigResult {
  const { text: stripped, unterminated } = stripComments(text.replace(/\r\n/g, '\n'));
  if (unterminated) return { ok: false, line: unterminated, message: "comment '/*' is not closed" };
  const lines = stripped.split('\n');
  const statements: ConfigStatement[] = [];
  const skipped: SkippedStatement[] = [];
  let pending: { line: number; text: string } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const t = trimAscii(raw);
    if (t.startsWith('*')) continue;
    if (t === '') continue;
    const cur: { line: number; text: string } = pending ?? { line: i + 1, text: '' };
    if (t.endsWith(',')) {
      cur.text += ` ${t.slice(0, -1)}`;
      pending = cur;
      continue;
    }
    cur.text += ` ${t}`;
    pending = null;
    const q = QUALIFIER.exec(trimAscii(cur.text));
    const r = parse(q ? q[2] : cur.text);
    if (!r.ok) return { ok: false, line: cur.line, message: r.error.message };
    if (!isConfigStatement(r.cmd)) {
      return { ok: false, line: cur.line, message: `${leadingWords(r.cmd)} is not a SYSTEM CONFIG statement (use ${STATEMENT_LIST})` };
    }
    if (q && q[1].toUpperCase() !== member?.toUpperCase()) skipped.push({ line: cur.line, member: q[1].toUpperCase() });
    else statements.push({ line: cur.line, cmd: r.cmd });
  }
  if (pending !== null) return { ok: false, line: pending.line, message: 'the statement continues (trailing comma) past the end of the file' };
  return { ok: true, statements, skipped };
}
