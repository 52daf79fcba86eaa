/**
 * The CNI commands of bin/vswitch-cni (CNI spec 1.0.0 and 1.1.0): ADD, DEL, CHECK, VERSION,
 * STATUS, GC. A container's interface is a NIC of a switch guest whose namespace is the
 * container's (`DEFINE GUEST u NETNS PATH CNI_NETNS`, `DEFINE NIC vdev NAME CNI_IFNAME`, then
 * `SET VSWITCH sw GRANT u [VLAN vlan]` and COUPLE to the configuration's switch); the addresses
 * come from the delegated IPAM plugin and are configured in the namespace (the switch learns
 * them as it learns any guest's).
 *
 * - ADD: refuses a configuration it cannot honour before it does anything (vlan on a VLAN-unaware
 *   switch: code 2; an unknown switch: 7; a CNI_NETNS that does not exist: 4; an IPAM
 *   plugin that is not there: 102). It then claims the container's user id (attachments.ts),
 *   records the attachment, defines guest and NIC, grants the user the switch (an access port,
 *   in `vlan` when given), couples, runs IPAM ADD, configures the interface, and prints the
 *   result (interfaces with mac and sandbox, ips, routes, dns). Any failure undoes, in reverse,
 *   exactly what this ADD did (IPAM DEL, REVOKE of a grant it made, DETACH NIC, the record,
 *   DETACH GUEST, the claim) and reports the first error: nothing is left behind. ADD of an
 *   interface this network already attached to the container is refused (101) and the
 *   existing attachment is left as it is.
 * - DEL: removes the NIC (only if it still is the one ADD made: its vdev and interface name),
 *   the user's grant on the switch once none of its NICs is coupled there (REVOKE), the record,
 *   the guest when it has no NIC left, the claim; then IPAM DEL. Whatever is
 *   already gone is skipped, so DEL twice, DEL after a daemon restart (the daemon replays its
 *   journal) and DEL of an unknown container all succeed. No daemon answering: 11, try again.
 * - CHECK (prevResult required): the record, the guest in CNI_NETNS, the NIC coupled to the
 *   configured switch under CNI_IFNAME with the result's MAC; in the namespace the interface
 *   up, with the MTU, every address and route of prevResult; then IPAM CHECK. A difference:
 *   104, naming it.
 * - STATUS: the daemon answers and the switch exists (else 50); IPAM STATUS where the IPAM
 *   plugin speaks 1.1.0. GC: removes this network's attachments missing from
 *   cni.dev/valid-attachments (as DEL does), then IPAM GC where it speaks 1.1.0.
 * - VERSION: the versions above.
 */
import { existsSync } from 'node:fs';
import { Attachments, type Attachment } from './attachments.js';
import { SUPPORTED_VERSIONS, decodeStdin, parseConfig, replyVersion, type CniEnv, type NetConf } from './config.js';
import { CNI_CODE, CniError } from './errors.js';
import { Ipam, type IpamResult } from './ipam.js';
import { configure, inspect, resolvedRoutes, sameDestination } from './sandbox.js';
import { SwitchClient, type GuestFacts } from './switch.js';

/** The first vdev tried for a container's NIC; further NICs take the next free triplet. */
export const FIRST_VDEV = 0x600;

export interface Invocation {
  env: CniEnv;
  stdin: string;
  /** The environment as the runtime gave it (what the IPAM plugin gets). */
  processEnv: NodeJS.ProcessEnv;
  /** Where undo problems are reported (stderr): they never replace the error being reported. */
  warn(msg: string): void;
}

/** What the plugin prints on success (null: nothing). */
export type Output = Record<string, unknown> | null;

export async function runCommand(inv: Invocation): Promise<Output> {
  const raw = decodeStdin(inv.stdin);
  if (inv.env.command === 'VERSION') return { cniVersion: replyVersion(raw.cniVersion), supportedVersions: [...SUPPORTED_VERSIONS] };
  const conf = parseConfig(raw);
  const ctx = new Context(conf, inv);
  switch (inv.env.command) {
    case 'ADD': return ctx.add();
    case 'DEL': await ctx.del(); return null;
    case 'CHECK': await ctx.check(); return null;
    case 'STATUS': await ctx.status(); return null;
    default: await ctx.gc(); return null;
  }
}

function hex4(v: number): string {
  return v.toString(16).toUpperCase().padStart(4, '0');
}

/** The lowest free triplet from FIRST_VDEV (every third number) among the guest's NICs. */
export function freeVdev(g: GuestFacts | null): string {
  const used = (g?.nics ?? []).map((n) => parseInt(n.vdev, 16));
  for (let v = FIRST_VDEV; v <= 0xfffd; v += 3) {
    if (used.every((u) => Math.abs(u - v) > 2)) return hex4(v);
  }
  throw new CniError(CNI_CODE.SWITCH_REFUSED, `GUEST ${g?.userid} has no free virtual device numbers left`);
}

class Context {
  private readonly sw: SwitchClient;
  private readonly att: Attachments;
  private readonly env: CniEnv;

  constructor(private readonly conf: NetConf, private readonly inv: Invocation) {
    this.sw = new SwitchClient(conf.socket);
    this.att = new Attachments(conf.dataDir, conf.socket);
    this.env = inv.env;
  }

  private ipam(): Ipam | null {
    const c = this.conf;
    return c.ipam === null ? null : new Ipam({ ...c, ipam: c.ipam }, this.env, this.inv.processEnv);
  }

  async add(): Promise<Output> {
    const { conf, env, sw } = this;
    const target = await sw.vswitch(conf.vswitch);
    if (target === null) throw new CniError(CNI_CODE.INVALID_CONFIG, `VSWITCH ${conf.vswitch} does not exist on the daemon at ${conf.socket}`);
    if (conf.vlan !== null && !target.vlan.aware) {
      throw new CniError(CNI_CODE.UNSUPPORTED_FIELD, `"vlan": ${conf.vlan}: VSWITCH ${conf.vswitch} is VLAN UNAWARE (DEFINE VSWITCH ... VLAN defvid makes one that carries VLANs); remove "vlan" from network ${conf.name}`);
    }
    if (!existsSync(env.netns)) throw new CniError(CNI_CODE.INVALID_ENVIRONMENT, `CNI_NETNS ${env.netns} does not exist`);
    const ipam = this.ipam();
    const { userid, claimed } = await this.att.claim(env.containerId, async (u) => {
      const g = await sw.guest(u);
      return g === null || g.netns === env.netns;
    });
    const undo: Array<[string, () => Promise<unknown> | void]> = [];
    try {
      if (this.att.get(userid, conf.name, env.ifname) !== null) {
        throw new CniError(CNI_CODE.ALREADY_ATTACHED, `container ${env.containerId} already has interface ${env.ifname} on network ${conf.name} (GUEST ${userid})`);
      }
      let g = await sw.guest(userid);
      if (g !== null && g.netns !== env.netns) {
        throw new CniError(CNI_CODE.SWITCH_REFUSED, `GUEST ${userid} of container ${env.containerId} is in namespace ${g.netns}, not ${env.netns}; DEL the old attachment first`);
      }
      if (g === null) {
        await sw.must(`DEFINE GUEST ${userid} NETNS PATH ${env.netns}`);
        undo.push(['DETACH GUEST', () => sw.run(`DETACH GUEST ${userid}`)]);
        g = { userid, netns: env.netns, nics: [] };
      }
      const vdev = freeVdev(g);
      if (!this.att.add(userid, { network: conf.name, ifname: env.ifname, vdev, netns: env.netns })) {
        throw new CniError(CNI_CODE.ALREADY_ATTACHED, `container ${env.containerId} already has interface ${env.ifname} on network ${conf.name} (GUEST ${userid})`);
      }
      undo.push(['the attachment record', () => this.att.remove(userid, conf.name, env.ifname)]);
      await sw.must(`DEFINE NIC ${vdev} NAME ${env.ifname} FOR ${userid}`);
      undo.push(['DETACH NIC', () => sw.run(`DETACH NIC ${vdev} FOR ${userid}`)]);
      // Coupling needs a grant. A grant the user already has (another interface of the container on this switch) stays.
      if (!target.accessList.some((a) => a.userid === userid)) {
        await sw.must(`SET VSWITCH ${conf.vswitch} GRANT ${userid}${conf.vlan !== null ? ` VLAN ${conf.vlan}` : ''}`);
        undo.push(['GRANT', () => sw.run(`SET VSWITCH ${conf.vswitch} REVOKE ${userid}`)]);
      }
      await sw.must(`COUPLE ${vdev} TO SYSTEM ${conf.vswitch} FOR ${userid}`);
      let r: IpamResult = {};
      if (ipam !== null) {
        undo.push(['IPAM DEL', () => ipam.exec('DEL')]);
        r = (await ipam.exec('ADD')) ?? {};
      }
      configure(env.netns, env.ifname, conf.mtu, r);
      const nic = (await sw.guest(userid))?.nics.find((n) => n.vdev === vdev);
      if (!nic) throw new CniError(CNI_CODE.SWITCH_REFUSED, `NIC ${vdev} of GUEST ${userid} went away during ADD`);
      return this.result(nic.mac, r);
    } catch (e) {
      for (const [what, step] of undo.reverse()) {
        try {
          await step();
        } catch (u) {
          this.inv.warn(`vswitch-cni: undo of ${what} after a failed ADD failed: ${(u as Error).message}`);
        }
      }
      if (claimed) this.att.releaseIfEmpty(userid);
      throw e;
    }
  }

  private result(mac: string, r: IpamResult): Output {
    const { conf, env } = this;
    const iface: Record<string, unknown> = { name: env.ifname, mac, sandbox: env.netns };
    if (conf.cniVersion === '1.1.0' && conf.mtu !== null) iface.mtu = conf.mtu;
    return {
      cniVersion: conf.cniVersion,
      interfaces: [iface],
      ips: (r.ips ?? []).map((i) => ({ address: i.address, ...(i.gateway !== undefined ? { gateway: i.gateway } : {}), interface: 0 })),
      routes: r.routes ?? [],
      dns: r.dns ?? {},
    };
  }

  /**
   * Remove one attachment (as DEL does): its NIC if it is still ADD's, the user's grant on the
   * network's switch once no NIC of it is coupled there, the record, the guest and claim once empty.
   */
  private async detach(userid: string, a: Attachment): Promise<void> {
    const g = await this.sw.guest(userid);
    const nic = g?.nics.find((n) => n.vdev === a.vdev);
    if (nic && nic.tap?.name === a.ifname) {
      const r = await this.sw.run(`DETACH NIC ${a.vdev} FOR ${userid}`);
      if (!r.ok && !/^VSW00(21|31)E/.test(r.lines[0] ?? '')) {
        throw new CniError(CNI_CODE.SWITCH_REFUSED, `the switch refused DETACH NIC: ${r.lines.join(' ')}`);
      }
    }
    const still = (g?.nics ?? []).some((n) => n.vdev !== a.vdev && n.switch === this.conf.vswitch);
    if (!still) {
      // Not granted (any more), or the switch is gone: nothing to revoke.
      const r = await this.sw.run(`SET VSWITCH ${this.conf.vswitch} REVOKE ${userid}`);
      if (!r.ok && !/^VSW00(11|42)E/.test(r.lines[0] ?? '')) {
        throw new CniError(CNI_CODE.SWITCH_REFUSED, `the switch refused REVOKE: ${r.lines.join(' ')}`);
      }
    }
    this.att.remove(userid, a.network, a.ifname);
    await this.dropGuestIfEmpty(userid);
  }

  private async dropGuestIfEmpty(userid: string): Promise<void> {
    if (this.att.list(userid).length > 0) return;
    const g = await this.sw.guest(userid);
    if (g !== null && g.nics.length === 0) await this.sw.run(`DETACH GUEST ${userid}`);
    this.att.releaseIfEmpty(userid);
  }

  async del(): Promise<void> {
    const { conf, env } = this;
    const userid = this.att.find(env.containerId);
    if (userid !== null) {
      const a = this.att.get(userid, conf.name, env.ifname);
      if (a !== null) await this.detach(userid, a);
      else await this.dropGuestIfEmpty(userid);
    }
    await this.ipam()?.exec('DEL');
  }

  async check(): Promise<void> {
    const { conf, env } = this;
    const prev = conf.prevResult as { interfaces?: Array<{ name: string; mac?: string; sandbox?: string }>; ips?: Array<{ address: string; interface?: number }>; routes?: Array<{ dst: string; gw?: string }> } | undefined;
    if (typeof prev !== 'object' || prev === null) throw new CniError(CNI_CODE.INVALID_CONFIG, 'CHECK needs prevResult in the network configuration');
    const failed = (msg: string): never => { throw new CniError(CNI_CODE.CHECK_FAILED, msg); };
    const userid = this.att.find(env.containerId);
    const a = userid === null ? null : this.att.get(userid, conf.name, env.ifname);
    if (userid === null || a === null) throw new CniError(CNI_CODE.UNKNOWN_CONTAINER, `container ${env.containerId} has no interface ${env.ifname} on network ${conf.name}`);
    const g = await this.sw.guest(userid);
    if (g === null) failed(`GUEST ${userid} of container ${env.containerId} is gone from the switch`);
    if (g!.netns !== env.netns) failed(`GUEST ${userid} is in namespace ${g!.netns}, not ${env.netns}`);
    const nic = g!.nics.find((n) => n.vdev === a.vdev);
    if (!nic || nic.tap?.name !== env.ifname) failed(`NIC ${a.vdev} (${env.ifname}) of GUEST ${userid} is gone from the switch`);
    if (nic!.switch !== conf.vswitch) failed(`NIC ${a.vdev} of GUEST ${userid} is not coupled to VSWITCH ${conf.vswitch} (${nic!.switch === null ? 'not coupled' : `coupled to ${nic!.switch}`})`);
    const facts = inspect(env.netns, env.ifname);
    if (facts === null) failed(`interface ${env.ifname} is gone from ${env.netns}`);
    const f = facts!;
    const pi = (prev.interfaces ?? []).findIndex((i) => i.name === env.ifname && (i.sandbox ?? env.netns) === env.netns);
    if (pi < 0) failed(`prevResult has no interface ${env.ifname} in ${env.netns}`);
    const want = prev.interfaces![pi];
    if (want.mac !== undefined && want.mac !== f.mac) failed(`interface ${env.ifname} has MAC ${f.mac}, not ${want.mac}`);
    if (nic!.mac !== f.mac) failed(`interface ${env.ifname} has MAC ${f.mac}, the switch's NIC ${nic!.mac}`);
    if (!f.up) failed(`interface ${env.ifname} is down`);
    if (conf.mtu !== null && f.mtu !== conf.mtu) failed(`interface ${env.ifname} has MTU ${f.mtu}, not ${conf.mtu}`);
    for (const ip of prev.ips ?? []) {
      if ((ip.interface ?? pi) !== pi) continue;
      if (!f.addresses.includes(ip.address)) failed(`interface ${env.ifname} lacks address ${ip.address} (has ${f.addresses.join(', ') || 'none'})`);
    }
    for (const rt of resolvedRoutes({ ips: prev.ips, routes: prev.routes })) {
      if (!f.routes.some((x) => sameDestination(rt.dst, x.dst) && (rt.gw === undefined || rt.gw === x.gw))) {
        failed(`route ${rt.dst}${rt.gw !== undefined ? ` via ${rt.gw}` : ''} is missing in ${env.netns}`);
      }
    }
    await this.ipam()?.exec('CHECK');
  }

  async status(): Promise<void> {
    let ok: boolean;
    try {
      ok = (await this.sw.vswitch(this.conf.vswitch)) !== null;
    } catch (e) {
      throw new CniError(CNI_CODE.NOT_AVAILABLE, `the vswitch daemon at ${this.conf.socket} does not answer`, (e as Error).message);
    }
    if (!ok) throw new CniError(CNI_CODE.NOT_AVAILABLE, `VSWITCH ${this.conf.vswitch} does not exist on the daemon at ${this.conf.socket}`);
    const ipam = this.ipam();
    if (ipam !== null && (await ipam.speaks('1.1.0'))) await ipam.exec('STATUS');
  }

  async gc(): Promise<void> {
    const list = this.conf.raw['cni.dev/valid-attachments'];
    if (list !== undefined && !Array.isArray(list)) throw new CniError(CNI_CODE.INVALID_CONFIG, '"cni.dev/valid-attachments" must be a list');
    const valid = new Set(((list ?? []) as Array<{ containerID?: unknown; ifname?: unknown }>).map((v) => `${String(v.containerID)}/${String(v.ifname)}`));
    for (const { userid, containerId } of this.att.claims()) {
      for (const a of this.att.list(userid)) {
        if (a.network === this.conf.name && !valid.has(`${containerId}/${a.ifname}`)) await this.detach(userid, a);
      }
    }
    const ipam = this.ipam();
    if (ipam !== null && (await ipam.speaks('1.1.0'))) await ipam.exec('GC');
  }
}
