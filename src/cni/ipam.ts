/**
 * The delegated IPAM plugin (the configuration's ipam.type: host-local, static, ... from the
 * runtime's CNI_PATH, /usr/lib/cni on Debian): run as CNI says a delegated plugin is run, with
 * the same network configuration on stdin and the same environment (CNI_COMMAND as asked).
 *
 * Versions: a plugin that does not speak the configuration's version (Debian's 1.1.1 plugins
 * speak up to 1.0.0) gets the configuration with cniVersion 1.0.0 for ADD, DEL and CHECK (1.0.0
 * and 1.1.0 results have the same form); STATUS and GC, which are new in 1.1.0, go only to a
 * plugin that speaks 1.1.0 (`speaks`).
 *
 * Contract: `exec` resolves with the plugin's parsed stdout (null when it printed nothing) or
 * throws CniError IPAM_FAILED carrying the plugin's own error (msg and details); a plugin that
 * is not found is IPAM_FAILED too, naming the directories searched.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CNI_CODE, CniError } from './errors.js';
import type { CniEnv, NetConf } from './config.js';

const TIMEOUT_MS = 30_000;

export interface IpamResult {
  ips?: Array<{ address: string; gateway?: string; interface?: number }>;
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: Record<string, unknown>;
}

function find(type: string, path: string[]): string {
  for (const dir of path) {
    const p = join(dir, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // Not here.
    }
  }
  throw new CniError(CNI_CODE.IPAM_FAILED, `IPAM plugin ${type} not found`, `searched ${path.join(':')}`);
}

function runPlugin(file: string, command: string, stdin: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env: { ...env, CNI_COMMAND: command }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.on('error', () => { /* the plugin did not read it all: its exit says why */ });
    child.stdin.end(stdin);
  });
}

export class Ipam {
  private readonly file: string;
  private versions: string[] | null = null;

  constructor(private readonly conf: NetConf & { ipam: NonNullable<NetConf['ipam']> }, private readonly env: CniEnv,
    private readonly processEnv: NodeJS.ProcessEnv) {
    this.file = find(conf.ipam.type, env.path);
  }

  /** Does the plugin speak this version (its VERSION answer)? */
  async speaks(version: string): Promise<boolean> {
    if (this.versions === null) {
      const r = await runPlugin(this.file, 'VERSION', JSON.stringify({ cniVersion: this.conf.cniVersion }), this.processEnv);
      try {
        const v = JSON.parse(r.stdout) as { supportedVersions?: unknown };
        this.versions = Array.isArray(v.supportedVersions) ? v.supportedVersions.filter((x): x is string => typeof x === 'string') : [];
      } catch {
        this.versions = [];
      }
    }
    return this.versions.includes(version);
  }

  async exec(command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC'): Promise<IpamResult | null> {
    let version = this.conf.cniVersion;
    if (!(await this.speaks(version)) && command !== 'STATUS' && command !== 'GC' && (await this.speaks('1.0.0'))) version = '1.0.0';
    const stdin = JSON.stringify({ ...this.conf.raw, cniVersion: version });
    let r: { code: number | null; stdout: string; stderr: string };
    try {
      r = await runPlugin(this.file, command, stdin, this.processEnv);
    } catch (e) {
      throw new CniError(CNI_CODE.IPAM_FAILED, `IPAM plugin ${this.conf.ipam.type} could not be run`, (e as Error).message);
    }
    let out: unknown = null;
    if (r.stdout.trim() !== '') {
      try {
        out = JSON.parse(r.stdout);
      } catch {
        throw new CniError(CNI_CODE.IPAM_FAILED, `IPAM plugin ${this.conf.ipam.type} printed something that is not JSON on ${command}`, `${r.stdout}${r.stderr}`.slice(0, 2000));
      }
    }
    if (r.code !== 0) {
      const e = (out ?? {}) as { code?: number; msg?: string; details?: string };
      const what = e.msg ?? (r.stderr.trim() || `exit ${r.code}`);
      throw new CniError(CNI_CODE.IPAM_FAILED, `IPAM plugin ${this.conf.ipam.type} failed on ${command}: ${what}`, [e.code !== undefined ? `code ${e.code}` : '', e.details ?? '', r.stderr.trim()].filter((x) => x !== '').join('; '));
    }
    return out as IpamResult | null;
  }
}
