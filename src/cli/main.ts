/**
 * vswitch: the CLI. `vswitch [--socket PATH] [--json] <CP command words>`
 *
 * Sends the words as one command to vswitchd's control socket and prints the reply lines on
 * stdout (or, with --json, the QUERY's JSON document; for other commands the whole response).
 * Exit status: 0 success; 1 the command was refused (the reason, one line, on stderr);
 * 2 usage error; 3 the daemon is not running or did not answer.
 * Output to a reader that went away (`vswitch q vsw det | head -1`): the rest is dropped and the
 * CLI exits quietly with the command's status, no message and no stack trace (EPIPE on stdout
 * or stderr is the reader's choice, not an error of the command).
 * `vswitch trace ...` streams a trace instead (src/cli/trace.ts).
 */
import { request, type Response } from './request.js';

const DEFAULT_SOCKET = process.env.VSWITCH_SOCKET ?? '/run/vswitch/vswitchd.sock';
const USAGE = 'usage: vswitch [--socket PATH] [--json] <command words>   e.g. vswitch q vswitch sw1 details';
const TIMEOUT_MS = 30_000;

/** A closed pipe on stdout or stderr ends the CLI quietly; any other output error is reported (if stderr still can). */
function onOutputError(e: NodeJS.ErrnoException): void {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  try { process.stderr.write(`vswitch: cannot write the output: ${e.message}\n`); } catch { /* stderr is gone too */ }
  process.exit(3);
}
process.stdout.on('error', onOutputError);
process.stderr.on('error', onOutputError);

function fail(msg: string, code: number): never {
  process.stderr.write(`vswitch: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv: string[]): { socket: string; json: boolean; words: string[] } {
  let socket = DEFAULT_SOCKET;
  let json = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--socket') {
      socket = argv[++i];
      if (socket === undefined || socket === '') fail(`--socket needs a path\n${USAGE}`, 2);
    } else if (a.startsWith('--socket=')) socket = a.slice('--socket='.length);
    else if (a === '--help' || a === '-h') { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    else if (a === '--') { i++; break; }
    else break;
  }
  const words = argv.slice(i);
  if (words.length === 0) fail(`no command given\n${USAGE}`, 2);
  return { socket, json, words };
}

async function main(): Promise<void> {
  const { socket, json, words } = parseArgs(process.argv.slice(2));
  if (/^trace$/i.test(words[0])) {
    process.exitCode = await (await import('./trace.js')).runTrace(socket, words.slice(1));
    return;
  }
  let r: Response;
  try {
    r = await request(socket, words.join(' '), TIMEOUT_MS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') fail(`daemon not running at ${socket}`, 3);
    if (code === 'EACCES') fail(`permission denied on ${socket}`, 3);
    fail((e as Error).message, 3);
  }
  if (!r.ok) {
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, lines: r.lines }, null, 2)}\n`);
    fail((r.lines ?? []).join(' ') || 'command refused', 1);
  }
  if (json) process.stdout.write(`${JSON.stringify(r.data !== undefined ? r.data : { ok: true, lines: r.lines }, null, 2)}\n`);
  else for (const l of r.lines) process.stdout.write(`${l}\n`);
}

void main();
