/**
 * The plugin's network configuration and environment, checked (CNI spec 1.0.0 / 1.1.0).
 *
 * Configuration (stdin), with the runtime's additions (prevResult, runtimeConfig, ...) kept:
 *   { "cniVersion": "1.0.0" | "1.1.0", "name": NETWORK, "type": "vswitch",
 *     "vswitch": "SW1",                   the switch the interfaces are coupled to (required)
 *     "socket": "/run/vswitch/vswitchd.sock",   the daemon's control socket (this is the default)
 *     "ipam": { "type": "host-local" | "static" | ..., ... },   delegated IPAM (optional)
 *     "mtu": N,                           68-65535 (optional; default: the TAP's, 1500)
 *     "vlan": N,                          1-4094 (optional: the container's access port is in VLAN N; refused on a VLAN-unaware switch)
 *     "dataDir": "/var/lib/cni/vswitch" } where the plugin keeps its attachments (default)
 * Environment: CNI_COMMAND; CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME as each command needs them
 * (ADD and CHECK all three; DEL the id and interface, the namespace when the runtime still has
 * it); CNI_PATH (where the IPAM plugin is looked for; default /usr/lib/cni:/opt/cni/bin).
 * The other commands ignore them (libcni validates a configuration with VERSION and
 * CNI_NETNS=dummy).
 *
 * Contract: `parseConfig` and `readEnvironment` return the checked values or throw a CniError
 * (decoding failure, incompatible version, invalid configuration, invalid environment) naming
 * the field; nothing else here does I/O.
 */
import { CNI_CODE, CniError } from './errors.js';
import { IFNAME_RE, NAME_RE, NETNS_PATH_RE } from '../protocol/names.js';

/** The spec versions this plugin speaks (what VERSION answers). */
export const SUPPORTED_VERSIONS = ['1.0.0', '1.1.0'] as const;
export const DEFAULT_SOCKET = '/run/vswitch/vswitchd.sock';
export const DEFAULT_DATA_DIR = '/var/lib/cni/vswitch';
export const DEFAULT_CNI_PATH = '/usr/lib/cni:/opt/cni/bin';

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const COMMANDS: readonly Command[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

export interface NetConf {
  cniVersion: string;
  name: string;
  vswitch: string;
  socket: string;
  ipam: { type: string; [k: string]: unknown } | null;
  mtu: number | null;
  vlan: number | null;
  dataDir: string;
  prevResult: unknown;
  /** The configuration exactly as it came (what the IPAM plugin gets). */
  raw: Record<string, unknown>;
}

export interface CniEnv {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  path: string[];
}

function invalid(msg: string): never {
  throw new CniError(CNI_CODE.INVALID_CONFIG, msg);
}

/** The version a reply must carry: the request's when it is one we speak, else our newest. */
export function replyVersion(requested: unknown): string {
  return typeof requested === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(requested) ? requested : SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.length - 1];
}

/** The stdin of any command, decoded to an object. */
export function decodeStdin(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CniError(CNI_CODE.DECODING_FAILURE, 'the network configuration on stdin is not JSON', (e as Error).message);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CniError(CNI_CODE.DECODING_FAILURE, 'the network configuration on stdin is not a JSON object');
  return v as Record<string, unknown>;
}

function integer(o: Record<string, unknown>, key: string, min: number, max: number): number | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) invalid(`"${key}" must be a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`);
  return v;
}

function absolutePath(o: Record<string, unknown>, key: string, dflt: string): string {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !v.startsWith('/') || v.includes('\0')) invalid(`"${key}" must be an absolute path, not ${JSON.stringify(v)}`);
  return v;
}

/** Check a decoded network configuration. */
export function parseConfig(raw: Record<string, unknown>): NetConf {
  const v = raw.cniVersion;
  if (typeof v !== 'string') invalid('"cniVersion" is missing');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw new CniError(CNI_CODE.INCOMPATIBLE_VERSION, `CNI version ${v} is not supported`, `this plugin speaks ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  if (typeof raw.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(raw.name)) invalid('"name" (the network name) is missing or not a network name');
  if (raw.type !== 'vswitch') invalid(`"type" must be "vswitch", not ${JSON.stringify(raw.type)}`);
  if (typeof raw.vswitch !== 'string' || !NAME_RE.test(raw.vswitch)) invalid(`"vswitch" must name a switch (1-8 characters of A-Z 0-9 @ # $ _), not ${JSON.stringify(raw.vswitch)}`);
  let ipam: NetConf['ipam'] = null;
  if (raw.ipam !== undefined && raw.ipam !== null) {
    const i = raw.ipam as Record<string, unknown>;
    if (typeof i !== 'object' || Array.isArray(i)) invalid('"ipam" must be an object');
    if (Object.keys(i).length > 0) {
      if (typeof i.type !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(i.type)) invalid('"ipam.type" must name an IPAM plugin (such as host-local or static)');
      ipam = i as NetConf['ipam'];
    }
  }
  return {
    cniVersion: v,
    name: raw.name,
    vswitch: raw.vswitch.toUpperCase(),
    socket: absolutePath(raw, 'socket', DEFAULT_SOCKET),
    ipam,
    mtu: integer(raw, 'mtu', 68, 65535),
    vlan: integer(raw, 'vlan', 1, 4094),
    dataDir: absolutePath(raw, 'dataDir', DEFAULT_DATA_DIR),
    prevResult: raw.prevResult,
    raw,
  };
}

function envError(msg: string): never {
  throw new CniError(CNI_CODE.INVALID_ENVIRONMENT, msg);
}

/** The environment of one invocation; the variables a command needs must be there and sound. */
export function readEnvironment(env: NodeJS.ProcessEnv): CniEnv {
  const command = env.CNI_COMMAND as Command;
  if (!COMMANDS.includes(command)) envError(`CNI_COMMAND must be one of ${COMMANDS.join(', ')}, not ${JSON.stringify(env.CNI_COMMAND ?? '')}`);
  const containerId = env.CNI_CONTAINERID ?? '';
  const netns = env.CNI_NETNS ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  const needs = command === 'ADD' || command === 'CHECK' ? ['id', 'netns', 'ifname'] : command === 'DEL' ? ['id', 'ifname'] : [];
  if (needs.includes('id') && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(containerId)) envError(`CNI_CONTAINERID is missing or not a container id: ${JSON.stringify(containerId)}`);
  if (needs.includes('netns') && !netns.startsWith('/')) envError(`CNI_NETNS must be the absolute path of the container's network namespace, not ${JSON.stringify(netns)}`);
  if (needs.length > 0 && netns !== '' && (!NETNS_PATH_RE.test(netns) || netns.split('/').includes('..'))) envError(`CNI_NETNS is not a usable path: ${JSON.stringify(netns)}`);
  if (needs.includes('ifname') && (!IFNAME_RE.test(ifname) || ifname === '.' || ifname === '..')) envError(`CNI_IFNAME must be an interface name (1-15 characters of A-Z a-z 0-9 _ . @ + -), not ${JSON.stringify(ifname)}`);
  const path = (env.CNI_PATH && env.CNI_PATH !== '' ? env.CNI_PATH : DEFAULT_CNI_PATH).split(':').filter((p) => p !== '');
  return { command, containerId, netns, ifname, path };
}
