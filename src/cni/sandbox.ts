/**
 * The interface inside the container's network namespace (the "sandbox", CNI_NETNS, a path):
 * configured from the IPAM result (MTU, addresses, up, routes) and read back for CHECK. The
 * switch made the interface (a TAP moved there under CNI_IFNAME); this is what the guest itself
 * would configure, so the switch learns the addresses as from any guest (its address watcher).
 *
 * `ip` (iproute2) does the work, forked while this thread is inside the namespace
 * (src/sys/netns.ts withNetns takes the path), so nothing here depends on named namespaces.
 * Routes without a gateway use the gateway the IPAM result gave the address of their family,
 * else the interface alone (on-link). Errors: CniError SANDBOX_FAILED with ip's message.
 */
import { execFileSync } from 'node:child_process';
import { withNetns } from '../sys/netns.js';
import { CNI_CODE, CniError } from './errors.js';
import type { IpamResult } from './ipam.js';

export interface Route { dst: string; gw?: string }

export interface InterfaceFacts {
  mac: string;
  up: boolean;
  mtu: number;
  /** "address/prefix", every family. */
  addresses: string[];
  routes: Route[];
}

function ip(netns: string, args: string[], input?: string): string {
  try {
    return withNetns(netns, () => execFileSync('ip', args, { input, encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] }));
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? '').trim();
    throw new CniError(CNI_CODE.SANDBOX_FAILED, `cannot configure the interface in ${netns}: ${stderr.split('\n')[0] || (e as Error).message}`, stderr);
  }
}

function isV6(address: string): boolean {
  return address.includes(':');
}

/** The routes to install: the IPAM result's, with the address family's gateway filled in. */
export function resolvedRoutes(r: IpamResult): Route[] {
  const gw4 = r.ips?.find((i) => i.gateway && !isV6(i.address))?.gateway;
  const gw6 = r.ips?.find((i) => i.gateway && isV6(i.address))?.gateway;
  return (r.routes ?? []).map((rt) => {
    const gw = rt.gw ?? (isV6(rt.dst) ? gw6 : gw4);
    return gw !== undefined ? { dst: rt.dst, gw } : { dst: rt.dst };
  });
}

/** MTU (when given), the result's addresses, up, its routes. */
export function configure(netns: string, ifname: string, mtu: number | null, r: IpamResult): void {
  const lines: string[] = [];
  if (mtu !== null) lines.push(`link set dev ${ifname} mtu ${mtu}`);
  for (const a of r.ips ?? []) lines.push(`addr add ${a.address} dev ${ifname}${isV6(a.address) ? ' nodad' : ''}`);
  lines.push(`link set dev ${ifname} up`);
  for (const rt of resolvedRoutes(r)) lines.push(`${isV6(rt.dst) ? '-6 ' : ''}route add ${rt.dst}${rt.gw !== undefined ? ` via ${rt.gw}` : ''} dev ${ifname}`);
  ip(netns, ['-batch', '-'], `${lines.join('\n')}\n`);
}

/** What the interface looks like now; null when the namespace has no such interface. */
export function inspect(netns: string, ifname: string): InterfaceFacts | null {
  let link: Array<{ address: string; flags: string[]; mtu: number; addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>;
  try {
    link = JSON.parse(ip(netns, ['-j', 'addr', 'show', 'dev', ifname]));
  } catch (e) {
    if (e instanceof CniError && /does not exist|Cannot find device/i.test(e.details)) return null;
    throw e;
  }
  if (link.length === 0) return null;
  const l = link[0];
  const routes: Route[] = [];
  for (const fam of ['-4', '-6']) {
    for (const r of JSON.parse(ip(netns, ['-j', fam, 'route', 'show', 'dev', ifname])) as Array<{ dst: string; gateway?: string }>) {
      routes.push(r.gateway !== undefined ? { dst: r.dst, gw: r.gateway } : { dst: r.dst });
    }
  }
  return {
    mac: l.address,
    up: l.flags.includes('UP'),
    mtu: l.mtu,
    addresses: l.addr_info.filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`),
    routes,
  };
}

/** Is `dst` (as the IPAM result says it, e.g. 0.0.0.0/0) the route `ip` shows as `shown`? */
export function sameDestination(dst: string, shown: string): boolean {
  if (shown === 'default') return dst === '0.0.0.0/0' || dst === '::/0';
  return dst === shown || dst === `${shown}/32` || dst === `${shown}/128`;
}
