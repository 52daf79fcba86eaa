/**
 * vswitch-cni: the CNI plugin entry (bin/vswitch-cni). The runtime runs it with the CNI
 * environment (CNI_COMMAND, ...) and the network configuration on stdin (src/cni/config.ts);
 * it prints the command's result (ADD, VERSION) or nothing on stdout and exits 0, or prints a
 * CNI error object ({cniVersion, code, msg, details}) on stdout and exits 1. Diagnostics that
 * are not the answer go to stderr. The commands: src/cni/plugin.ts.
 */
import { readFileSync } from 'node:fs';
import { readEnvironment, replyVersion } from './config.js';
import { CNI_CODE, CniError } from './errors.js';
import { runCommand } from './plugin.js';

async function main(): Promise<number> {
  let stdin = '';
  let version = replyVersion(undefined);
  try {
    const env = readEnvironment(process.env);
    stdin = env.command === 'VERSION' && process.stdin.isTTY ? '{}' : readFileSync(0, 'utf8');
    try {
      version = replyVersion((JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion);
    } catch {
      // Not JSON: runCommand says so.
    }
    const out = await runCommand({ env, stdin, processEnv: process.env, warn: (m) => process.stderr.write(`${m}\n`) });
    if (out !== null) process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(CNI_CODE.IO_FAILURE, (e as Error).message ?? String(e), (e as Error).stack ?? '');
    process.stdout.write(`${JSON.stringify(err.toJSON(version))}\n`);
    return 1;
  }
}

main().then((code) => { process.exitCode = code; }, (e) => {
  process.stdout.write(`${JSON.stringify(new CniError(CNI_CODE.IO_FAILURE, String(e)).toJSON(replyVersion(undefined)))}\n`);
  process.exitCode = 1;
});
