/**
 * A vswitchd that is a member of a cluster (`vswitchd --cluster URL,... --member NAME`), on the
 * daemon's main thread: the control plane's DefinitionStore, the LAN IP part's AddressClaims,
 * and what QUERY SSI shows (ClusterView). etcd is never in the data path: everything here
 * decides what the control plane may do; frames never wait for it.
 *
 * Contract:
 * - `join()` (at start, after the history is replayed): the member's lease; its MAC prefix
 *   (VMLAN MACPREFIX, one per member: `memberMacPrefix`) taken for this member for good, or
 *   refused when another member has it (JoinRefused: the daemon does not start); the roster and
 *   the live-member key; catch-up of the shared definitions (a member that was down applies
 *   what it missed) and their watch; the claims of the user ids coupled here. A store that does
 *   not answer is no reason not to start: the member starts on its own history and joins once
 *   the store answers (until then shared definitions and COUPLE are refused, new addresses stay
 *   local only).
 * - Shared definitions (keys.ts isShared) go through Definitions (definitions.ts): committed in
 *   etcd, then applied by every member, the issuer replying once it applied it. A shared DETACH
 *   VSWITCH uncouples this member's NICs from the switch first (journaled here as UNCOUPLEs).
 * - COUPLE claims the user id (/vswitch/users/<userid>, under the lease) before it runs: a user
 *   id active (coupled) on another member is refused with that member (MSG.CLUSTER_HELD). A
 *   user id with no coupled NIC left is released (whatever removed the coupling).
 * - Addresses (AddressClaims, asked by src/control/reconcile/lan-ip.ts): each LAN IP table entry
 *   takes /vswitch/<switch>/ip/<addr> under the lease; until the store answers it is local
 *   only; a claim another member holds is refused (the LAN IP part drops it from the table and
 *   counts it) and asked again every second, so a dead member's addresses pass to this one at
 *   most LEASE_TTL_S (+1 s) after its last keep-alive. Each member publishes its uplink MACs in
 *   the roster: a member's uplink answering for an address is the claims' business, never a LAN
 *   holder that refuses it (isMemberMac). IPv6 addresses the same way (src/control/reconcile/
 *   lan-ip6.ts), under /vswitch/<switch>/ip6/<addr>.
 */
import type { Logger } from 'pino';
import type { DefinitionStore, Reply } from '../../control/controlplane.js';
import type { AddressClaims } from '../../control/reconcile/lan-ip.js';
import { hex4, parse, type Command } from '../../control/grammar.js';
import { MSG } from '../../control/messages.js';
import type { ClusterView } from '../../control/commands/types.js';
import type { State } from '../../control/state.js';
import { formatIpv4 } from '../../wire/addr.js';
import { Claims, type ClaimAnswer } from './claims.js';
import { Definitions, type SharedRecord } from './definitions.js';
import { Relocations } from './relocation.js';
import type { NicAlloc } from '../../control/state.js';
import { address6Key, addressKey, isShared, LEASE_TTL_S, MACPREFIX, MEMBERS, prefixHex, ROOT, ROSTER, USERS } from './keys.js';
import { CALL_MS, errText, PROBE_MS, Store } from './store.js';

/** The member's MAC prefix: the state's (SYSTEM CONFIG's VMLAN MACPREFIX, default 020000). The one place that says so. */
export function memberMacPrefix(state: State): number {
  return state.macPrefix;
}

/** The member cannot join: its MAC prefix is another member's. */
export class JoinRefused extends Error {}

/** What the cluster runs commands with (the control plane, once it exists). */
export interface ClusterEngine {
  applyShared(text: string): Reply;
  /** A command as the system; `alloc`: DEFINE NIC's allocation to reuse (a relocated NIC's MAC). */
  execute(text: string, alloc?: NicAlloc): Reply;
  /** VMRELOCATE: a relocated QEMU guest's address, held at once (reconcile.ts relocatedAddress). */
  relocatedAddress(userid: string, vdev: number, ip: number | string): boolean;
  /** This member's uplink MACs now (the reconciler's uplink views). */
  uplinkMacs(): number[];
}

export interface ClusterOptions {
  endpoints: string[];
  member: string;
  stateDir: string;
  state: State;
  log: Logger;
}

export class Cluster implements DefinitionStore, AddressClaims {
  readonly store: Store;
  private readonly definitions: Definitions;
  private readonly users: Claims;
  private readonly addresses: Claims;
  private readonly relocations: Relocations;
  private engine: ClusterEngine | null = null;
  private joined = false;
  private joining: Promise<void> | null = null;
  private members: ClusterView['members'] = [];
  /** Every member's uplink MACs, as the roster says (this member's published when they change). */
  private memberMacs = new Set<number>();
  private publishedMacs = '';
  private membersTimer: NodeJS.Timeout | null = null;
  /** COUPLEs waiting for their user claim (kept wanted meanwhile). */
  private readonly pendingUsers = new Set<string>();
  private usersQueued = false;
  /** Switch name -> its address claims changed (lan-ip marks the switch). */
  private addressListener: ((sw: string) => void) | null = null;
  private readonly refusedAddresses = new Map<string, number>();
  private readonly state: State;
  private readonly log: Logger;
  readonly member: string;

  constructor(private readonly opts: ClusterOptions) {
    this.state = opts.state;
    this.log = opts.log;
    this.member = opts.member;
    this.store = new Store(opts.endpoints, opts.log);
    this.definitions = new Definitions(this.store, opts.member, opts.stateDir, (text, rec, seq) => this.applyShared(text, rec, seq), opts.log);
    this.users = new Claims(this.store, opts.member, USERS, {
      changed: () => { /* COUPLE awaits its claim; nothing else follows a user claim */ },
      refused: (key, member) => this.log.warn({ userid: key.slice(USERS.length), member }, 'cluster: a user id coupled here is active on another member'),
    }, opts.log);
    this.addresses = new Claims(this.store, opts.member, ROOT, {
      changed: (key) => this.addressListener?.(switchOfKey(key)),
      refused: (key, member) => {
        this.refusedAddresses.set(key, (this.refusedAddresses.get(key) ?? 0) + 1);
        this.log.warn({ claim: key, member }, 'cluster: address claim refused: another member holds it');
      },
    }, opts.log);
    this.relocations = new Relocations(this.store, opts.member, opts.state, opts.log);
    this.store.onLease(() => void this.announce().catch(() => { /* the next lease or probe retries */ }));
    this.store.onHealthy(() => { if (!this.joined) void this.join().catch((e) => this.log.error({ err: errText(e) }, 'cluster: join failed')); });
    this.state.beforeChange((c) => {
      if (c.t === 'couple' || c.t === 'uncouple' || c.t === 'nic-remove' || c.t === 'guest-remove') this.queueUsers();
    });
  }

  attach(engine: ClusterEngine): void {
    this.engine = engine;
    this.relocations.attach(engine);
  }

  /** Join the cluster (see the file comment). Throws JoinRefused; other failures leave it to join when the store answers. */
  join(): Promise<void> {
    this.joining ??= this.joinOnce().finally(() => { this.joining = null; });
    return this.joining;
  }

  private async joinOnce(): Promise<void> {
    if (this.joined) return;
    const c = this.store.client;
    const hex = prefixHex(memberMacPrefix(this.state));
    try {
      await this.store.lease();
      const t = await c.if(`${MACPREFIX}${hex}`, 'Create', '==', 0).then(c.put(`${MACPREFIX}${hex}`).value(this.member)).else(c.get(`${MACPREFIX}${hex}`)).commit();
      const owner = t.succeeded ? this.member : t.responses[0]?.response_range?.kvs?.[0]?.value.toString() ?? this.member;
      if (owner !== this.member) {
        throw new JoinRefused(`MAC prefix ${hex} belongs to member ${owner}: give member ${this.member} a prefix of its own (SYSTEM CONFIG: '${this.member}: VMLAN MACPREFIX xxxxxx')`);
      }
      await c.put(`${ROSTER}${this.member}`).value(JSON.stringify({ macPrefix: hex, joined: new Date().toISOString() }));
      await this.announce();
      await this.definitions.watch();
      await this.definitions.catchUp();
      await this.relocations.watch();
      this.store.setHealth(true, null);
    } catch (e) {
      if (e instanceof JoinRefused) throw e;
      this.store.setHealth(false, errText(e));
      this.log.warn({ err: errText(e), endpoints: this.opts.endpoints }, 'cluster: the store does not answer; this member runs on its own history and joins when it does');
      return;
    }
    this.joined = true;
    this.log.info({ member: this.member, macPrefix: hex, applied: this.definitions.applied }, 'cluster: joined');
    this.syncUsers();
    this.addressListener?.('');
  }

  /** Start the store's probe and the members' view. */
  start(): void {
    this.store.startProbe();
    const refresh = async (): Promise<void> => {
      try {
        await this.refreshMembers();
      } catch { /* the probe says why */ }
      this.membersTimer = setTimeout(() => void refresh(), PROBE_MS);
      this.membersTimer.unref();
    };
    void refresh();
  }

  /** The live-member key under the current lease. */
  private async announce(): Promise<void> {
    const lease = await this.store.lease();
    await this.store.client.put(`${MEMBERS}${this.member}`).value(JSON.stringify({ pid: process.pid, since: new Date().toISOString() })).lease(lease);
  }

  private async refreshMembers(): Promise<void> {
    const c = this.store.client;
    const macs = [...new Set(this.engine?.uplinkMacs() ?? [])].sort((a, b) => a - b);
    if (this.joined && JSON.stringify(macs) !== this.publishedMacs) {
      const key = `${ROSTER}${this.member}`;
      const cur = JSON.parse((await c.get(key).string()) ?? '{}') as Record<string, unknown>;
      await c.put(key).value(JSON.stringify({ ...cur, uplinkMacs: macs }));
      this.publishedMacs = JSON.stringify(macs);
    }
    const [roster, live] = await Promise.all([c.getAll().prefix(ROSTER).strings(), c.getAll().prefix(MEMBERS).keys()]);
    const alive = new Set(live.map((k) => k.slice(MEMBERS.length)));
    const memberMacs = new Set<number>();
    this.members = Object.entries(roster).map(([k, v]) => {
      const name = k.slice(ROSTER.length);
      let o: { macPrefix?: string; joined?: string; uplinkMacs?: unknown } = {};
      try { o = JSON.parse(v) as typeof o; } catch { /* shown without */ }
      if (Array.isArray(o.uplinkMacs)) for (const m of o.uplinkMacs) if (typeof m === 'number') memberMacs.add(m);
      return { name, state: alive.has(name) ? 'JOINED' as const : 'DOWN' as const, macPrefix: o.macPrefix ?? null, joined: o.joined ?? null };
    }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.memberMacs = memberMacs;
  }

  handedOver(sw: string, ip: number): boolean {
    return this.relocations.handedOver(sw, ip);
  }

  isMemberMac(mac: number): boolean {
    return this.memberMacs.has(mac);
  }

  // ---- DefinitionStore (src/control/controlplane.ts)

  involves(cmd: Command): boolean {
    return isShared(cmd) || cmd.kind === 'couple' || (cmd.kind === 'vmrelocate' && cmd.op === 'MOVE');
  }

  shares(cmd: Command): boolean {
    return isShared(cmd);
  }

  async submit(cmd: Command, text: string, run: () => Reply, recheck: () => string | null): Promise<Reply> {
    if (!this.joined) return notJoined(this.store.health.error);
    if (isShared(cmd)) return this.definitions.commit(text, recheck);
    if (cmd.kind === 'vmrelocate') return this.relocations.move(cmd.userid!, cmd.member!);
    if (cmd.kind !== 'couple') return run();
    const key = `${USERS}${cmd.userid}`;
    this.pendingUsers.add(cmd.userid);
    let r: Awaited<ReturnType<Claims['claimNow']>>;
    try {
      r = await this.users.claimNow(key);
    } finally {
      this.pendingUsers.delete(cmd.userid);
    }
    if (r === 'unavailable') { this.syncUsers(); return notJoined(this.store.health.error); }
    if (r !== 'mine') {
      this.syncUsers();
      return { ok: false, lines: [`${MSG.CLUSTER_HELD} user ${cmd.userid} is active on member ${r.member}: COUPLE refused (a user id is active on one member of the cluster at a time)`] };
    }
    const err = recheck();
    const reply = err !== null ? { ok: false, lines: [err] } : run();
    this.syncUsers();
    return reply;
  }

  /** A committed shared definition, applied here. */
  private applyShared(text: string, rec: SharedRecord, seq: number): Reply {
    const engine = this.engine;
    if (engine === null) return { ok: false, lines: [`${MSG.INTERNAL} the control plane is not running yet`] };
    const p = parse(text);
    if (p.ok && p.cmd.kind === 'detach-vswitch') {
      for (const n of this.state.coupledTo(p.cmd.name)) {
        const u = engine.execute(`UNCOUPLE ${hex4(n.vdev)} FOR ${n.userid}`);
        this.log.info({ seq, from: rec.member, nic: `${n.userid} ${hex4(n.vdev)}`, ok: u.ok }, 'cluster: NIC uncoupled from a switch the cluster detaches');
      }
    }
    return engine.applyShared(text);
  }

  // ---- user ids

  private queueUsers(): void {
    if (this.usersQueued) return;
    this.usersQueued = true;
    setImmediate(() => { this.usersQueued = false; this.syncUsers(); });
  }

  /** Claim the user ids with a coupled NIC here (and those a COUPLE waits for); release the others. */
  private syncUsers(): void {
    if (!this.joined) return;
    const wanted = new Set<string>([...this.pendingUsers].map((u) => `${USERS}${u}`));
    for (const g of this.state.guests.values()) {
      for (const n of g.nics.values()) if (n.coupled !== null) { wanted.add(`${USERS}${g.userid}`); break; }
    }
    this.users.keep(wanted);
  }

  // ---- AddressClaims (src/control/reconcile/lan-ip.ts)

  listen(fn: (sw: string) => void): void {
    this.addressListener = fn;
  }

  claim(sw: string, ip: number | string): ClaimAnswer {
    if (!this.joined) return 'wait';
    return this.addresses.want(typeof ip === 'string' ? address6Key(sw, ip) : addressKey(sw, formatIpv4(ip)));
  }

  /** The address claims this member holds (/vswitch/<switch>/ip/<addr> keys; the overlay directory publishes them). */
  addressesHeld(): string[] {
    return this.addresses.held();
  }

  inUse(sw: string, ips: Iterable<number>): void {
    if (!this.joined) return;
    const keys: string[] = [];
    for (const ip of ips) keys.push(addressKey(sw, formatIpv4(ip)));
    this.addresses.keep(keys, `${ROOT}${sw}/ip/`);
  }

  inUse6(sw: string, ips: Iterable<string>): void {
    if (!this.joined) return;
    this.addresses.keep([...ips].map((ip) => address6Key(sw, ip)), `${ROOT}${sw}/ip6/`);
  }

  // ---- QUERY SSI

  view(): ClusterView {
    const refused = this.addresses.refusals().map(({ key, member }) => {
      const m = /^\/vswitch\/([^/]+)\/ip6?\/(.+)$/.exec(key);
      return { sw: m?.[1] ?? '?', ip: m?.[2] ?? key, member };
    });
    return {
      member: this.member,
      endpoints: this.opts.endpoints,
      store: { ...this.store.health },
      joined: this.joined,
      definitions: { committed: Math.max(this.definitions.committed, this.definitions.applied), applied: this.definitions.applied, notApplied: this.definitions.notApplied },
      members: this.members,
      users: {
        held: this.users.held().map((k) => k.slice(USERS.length)).sort(),
        refused: this.users.refusals().map(({ key, member }) => ({ userid: key.slice(USERS.length), member })),
      },
      addresses: { held: this.addresses.held().length, refused },
      leaseTtlS: LEASE_TTL_S,
      relocations: this.relocations.view(),
      relocationRecordsIgnored: this.relocations.ignoredRecords(),
    };
  }

  /** A clean stop: revoke the lease (the member's users and addresses are free at once), close. */
  async stop(): Promise<void> {
    if (this.membersTimer) clearTimeout(this.membersTimer);
    this.definitions.stop();
    this.relocations.stop();
    this.users.stop();
    this.addresses.stop();
    await Promise.race([this.store.leave(), new Promise((r) => setTimeout(r, CALL_MS))]);
    this.store.close();
  }
}

function notJoined(error: string | null): Reply {
  return { ok: false, lines: [`${MSG.CLUSTER_STORE} the cluster's store is not available (${error ?? 'no quorum'}): shared definitions and COUPLE are refused until it is back; traffic is not affected`] };
}

/** /vswitch/<switch>/ip/<addr> -> <switch>. */
function switchOfKey(key: string): string {
  const rest = key.slice(ROOT.length);
  return rest.slice(0, rest.indexOf('/'));
}
