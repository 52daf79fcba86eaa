/**
 * Live guest relocation between members (VMRELOCATE MOVE USER userid TO member), on the
 * daemon's main thread; the network's part of it. A QEMU guest's memory is moved by whoever
 * runs QEMU (its VM manager: QEMU `-incoming` on the target, QMP `migrate` on the source), a
 * container by the user's own tooling; the daemon never drives QEMU, which it did not start
 * (it holds no QMP socket of it, and a migration's timing is the VM manager's business).
 *
 * The guest's definitions travel through etcd, in its relocation record
 * /vswitch/relocate/<userid> (keys.ts): the commands that make the guest, its NICs (each with
 * its allocation, so the MAC and vdev stay the same) and their couplings on the target, in
 * order, plus the NICs' addresses (IPv4 and IPv6). Grants are shared definitions: the target has them.
 *
 * Protocol (every member watches /vswitch/relocate/; the record's `state` says whose turn it is):
 * 1. source: writes the record, state 'prepare'.
 * 2. target: checks it can take the guest (no guest of that user id defined there; each switch
 *    exists and grants the user): 'ready', or 'failed' with the reason (nothing changed anywhere).
 *    A target that answered 'ready' and sees no 'released' within APPLY_MS (the source died after
 *    step 3's transaction) lets the user id's key go (letUserGo).
 * 3. source: unless the guest's definitions here changed since step 1 (then 'failed': the record
 *    would lose the change), one etcd transaction moves the user id's key (/vswitch/users/<userid>) to the
 *    target, under the target's lease (read from its live-member key, which must be the one it
 *    had), and deletes the guest's address keys (IPv4 and IPv6) this member holds: from then on no other member
 *    can take the user id, and the target can take the addresses at once (no waiting for a
 *    lease). Then it releases the guest here (UNCOUPLE, DETACH NIC, DETACH GUEST: journaled
 *    here), and writes 'released'.
 * 4. target: checks the user id's key is its own now (a 'released' record without the hand-over,
 *    forged or left by a source that gave up, is answered 'failed': nothing set up), runs the commands (journaled there), checks each NIC got the record's MAC, gives a
 *    QEMU guest's NICs their addresses at once, IPv4 and IPv6 (the reconciler's relocatedAddress:
 *    the uplink then registers and announces them: gratuitous ARP, unsolicited NA, as for any
 *    registered address, an IPv4 address without probing the LAN again for HANDOVER_MS
 *    (`handedOver`: it passed its probe on the source and stayed registered there); a namespace guest's are seen in its namespace when the container configures them), and
 *    writes 'done' (or 'failed': the guest is then on neither member, the reply says so; the user
 *    id's key is let go when none of its NICs got coupled here).
 * 5. source: replies when the record is 'done' or 'failed', or after the deadlines
 *    (PREPARE_MS for step 2, APPLY_MS for step 4).
 * A record whose steps are not the guest's own definitions (readRecord: DEFINE GUEST, DEFINE NIC,
 * SET NIC, COUPLE, for its user id) is ignored and counted: the target runs them as the system.
 * A relocation already running for the user id is refused. Nothing here throws; store errors
 * are the reply (MSG.RELOCATE_FAILED, saying where the guest is). `view()` lists the last
 * relocations this member took part in (VMRELOCATE STATUS).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Reply } from '../../control/controlplane.js';
import { format, hex4, parse, type Command } from '../../control/grammar.js';
import { MSG } from '../../control/messages.js';
import type { RelocationView } from '../../control/commands/types.js';
import { hostTapName, tapName, type Guest, type NicAlloc, type State } from '../../control/state.js';
import { formatIpv4 } from '../../wire/addr.js';
import { address6Key, addressKey, MEMBERS, RELOCATE, USERS } from './keys.js';
import { errText, type Store } from './store.js';

/** How long the source waits for the target's 'ready' (ms); with APPLY_MS and the store's calls, within the CLI's 30 s. */
export const PREPARE_MS = 8_000;
/** How long the source waits for the target's 'done' once the guest is released (ms). */
export const APPLY_MS = 15_000;
/** How long the target keeps giving a QEMU NIC its addresses while the NIC has no port yet (ms). */
const ADDRESS_WAIT_MS = 10_000;
/** How long an address handed over with a guest is taken here without a probe of the LAN (ms): a container configures it again within it. */
export const HANDOVER_MS = 30_000;
/** Relocations kept for VMRELOCATE STATUS. */
const KEPT = 16;

export interface RelocationStep {
  cmd: string;
  /** DEFINE NIC's allocation (the MAC); the target picks a free MAC serial of its own (unless MACID). */
  alloc?: NicAlloc;
}

export interface RelocationRecord {
  id: string;
  userid: string;
  from: string;
  to: string;
  state: 'prepare' | 'ready' | 'released' | 'done' | 'failed';
  reason?: string;
  steps: RelocationStep[];
  /** vdev -> MAC of each NIC (checked on the target). */
  macs: Array<{ vdev: number; mac: number }>;
  /** Each NIC's addresses by vdev: IPv4 as uint32, IPv6 as canonical text (not kept by older records: absent). */
  addresses: Array<{ vdev: number; ips: number[]; ips6?: string[] }>;
  at: string;
}

/** What relocation runs commands with (the control plane, as the system). */
export interface RelocationEngine {
  execute(text: string, alloc?: NicAlloc): Reply;
  /** reconcile.ts relocatedAddress. */
  relocatedAddress(userid: string, vdev: number, ip: number | string): boolean;
}

interface Waiter {
  id: string;
  states: ReadonlySet<RelocationRecord['state']>;
  resolve(r: RelocationRecord | null): void;
}

export class Relocations {
  private engine: RelocationEngine | null = null;
  private watching = false;
  private readonly waiters = new Set<Waiter>();
  private readonly running = new Set<string>();
  /** Record ids this member (as target) has acted on, by step. */
  private readonly handled = new Set<string>();
  private readonly history: RelocationView[] = [];
  /** `sw/ip` (IPv4, uint32) handed over to this member -> until when it is taken without a probe. */
  private readonly handed = new Map<string, number>();
  private ignored = 0;

  constructor(private readonly store: Store, private readonly member: string, private readonly state: State, private readonly log: Logger) {}

  attach(engine: RelocationEngine): void {
    this.engine = engine;
  }

  /** Watch /vswitch/relocate/ and take up records addressed to this member (at join). */
  async watch(): Promise<void> {
    if (this.watching) return;
    const w = await this.store.client.watch().prefix(RELOCATE).create();
    this.watching = true;
    w.on('put', (kv) => this.event(kv.value.toString()));
    w.on('error', (e) => this.log.warn({ err: errText(e) }, 'cluster: the relocation watch failed; it reconnects'));
    // Records written while this member was away: a 'prepare' or 'released' for it is answered now.
    const all = await this.store.client.getAll().prefix(RELOCATE).strings();
    for (const v of Object.values(all)) this.event(v);
  }

  view(): RelocationView[] {
    return [...this.history];
  }

  /** Did `ip` on switch `sw` come here with a guest relocated in the last HANDOVER_MS (lan-ip.ts: not probed again)? */
  handedOver(sw: string, ip: number): boolean {
    const key = `${sw}/${ip}`;
    const until = this.handed.get(key);
    if (until === undefined) return false;
    if (Date.now() <= until) return true;
    this.handed.delete(key);
    return false;
  }

  /** Relocation records in the store that were not read (not a record, or steps that are not the guest's definitions). */
  ignoredRecords(): number {
    return this.ignored;
  }

  private event(text: string): void {
    const rec = readRecord(text);
    if (typeof rec === 'string') {
      this.ignored++;
      this.log.warn({ err: rec }, 'cluster: a relocation record that is not one; ignored (counted in QUERY SSI)');
      return;
    }
    for (const w of [...this.waiters]) {
      if (w.id === rec.id && w.states.has(rec.state)) { this.waiters.delete(w); w.resolve(rec); }
    }
    if (rec.to !== this.member) return;
    const step = `${rec.id}/${rec.state}`;
    if ((rec.state !== 'prepare' && rec.state !== 'released') || this.handled.has(step)) return;
    this.handled.add(step);
    if (rec.state === 'prepare') void this.answer(rec, this.canTake(rec));
    else void this.take(rec);
  }

  // ---- source

  /** VMRELOCATE MOVE USER userid TO to, checked already (commands/vmrelocate.ts). */
  async move(userid: string, to: string): Promise<Reply> {
    if (this.running.has(userid)) return failed(`a relocation of user ${userid} is already running`);
    const g = this.state.guests.get(userid);
    if (g === undefined) return { ok: false, lines: [`${MSG.RELOCATE_USER} user ${userid} is not a guest on this member (${this.member})`] };
    this.running.add(userid);
    const started = Date.now();
    const rec: RelocationRecord = {
      id: randomBytes(8).toString('hex'), userid, from: this.member, to, state: 'prepare', steps: stepsOf(g),
      macs: [...g.nics.values()].map((n) => ({ vdev: n.vdev, mac: n.mac })),
      addresses: [...g.nics.values()].map((n) => ({
        vdev: n.vdev,
        ips: [...n.addresses].filter(([, c]) => !c.refused).map(([ip]) => ip),
        ips6: [...n.addresses6].filter(([, c]) => !c.refused).map(([ip6]) => ip6),
      })),
      at: new Date().toISOString(),
    };
    const seen: RelocationView = { userid, from: this.member, to, state: 'MOVING', reason: null, at: rec.at, ms: null };
    this.remember(seen);
    const end = (ok: boolean, reason: string | null): void => {
      seen.state = ok ? 'DONE' : 'FAILED';
      seen.reason = reason;
      seen.ms = Date.now() - started;
      this.running.delete(userid);
    };
    try {
      // 1-2: the target's answer.
      const ready = this.until(rec.id, ['ready', 'failed'], PREPARE_MS);
      await this.put(rec);
      const answer = await ready;
      if (answer === null || answer.state === 'failed') {
        const why = answer === null ? `member ${to} did not answer within ${PREPARE_MS / 1000} s` : `member ${to}: ${answer.reason ?? 'refused'}`;
        if (answer === null) await this.put({ ...rec, state: 'failed', reason: why }).catch(() => { /* the record says prepare: the target's late answer changes nothing */ });
        end(false, why);
        return failed(`user ${userid} not relocated: ${why}; it stays on ${this.member}, nothing changed`);
      }
      // The record's steps are the guest as it was when the MOVE began: a change made here
      // meanwhile (a NIC defined, coupled, set) would be lost on both members.
      if (this.state.guests.get(userid) !== g || JSON.stringify(stepsOf(g)) !== JSON.stringify(rec.steps)) {
        const why = `its definitions on ${this.member} changed while ${to} prepared`;
        await this.put({ ...rec, state: 'failed', reason: why }).catch(() => { /* the target waits for 'released', which never comes */ });
        end(false, why);
        return failed(`user ${userid} not relocated: ${why}; it stays on ${this.member}, nothing changed (issue the MOVE again)`);
      }
      // 3: the user id moves, the addresses are let go; the guest is released here.
      const moved = await this.handOver(rec);
      if (moved !== null) {
        await this.put({ ...rec, state: 'failed', reason: moved }).catch(() => { /* logged below */ });
        end(false, moved);
        return failed(`user ${userid} not relocated: ${moved}; it stays on ${this.member}, nothing changed`);
      }
      const releaseErrors = this.release(g);
      const done = this.until(rec.id, ['done', 'failed'], APPLY_MS);
      await this.put({ ...rec, state: 'released' });
      // 4-5: the target takes it.
      const r = await done;
      if (r === null || r.state === 'failed') {
        const why = r === null ? `member ${to} did not confirm within ${APPLY_MS / 1000} s` : `member ${to}: ${r.reason ?? 'failed'}`;
        end(false, why);
        return failed(`user ${userid} was released on ${this.member} and its user id is ${to}'s, but ${why}: QUERY GUEST ${userid} on ${to} shows what it has`);
      }
      end(true, releaseErrors.length > 0 ? releaseErrors.join('; ') : null);
      const ips = rec.addresses.flatMap((a) => [...a.ips.map(formatIpv4), ...(a.ips6 ?? [])]);
      this.log.info({ userid, to, ms: seen.ms, addresses: ips }, 'cluster: guest relocated');
      return {
        ok: true,
        lines: [
          ...releaseErrors.map((e) => `${MSG.RELOCATE_FAILED} on ${this.member}: ${e}`),
          `${MSG.RELOCATE_INFO} user ${userid} has been relocated from ${this.member} to ${to} in ${seen.ms} ms${ips.length > 0 ? `; its addresses ${ips.join(' ')} are announced by ${to}` : ''}`,
        ],
      };
    } catch (e) {
      const why = `the cluster's store failed (${errText(e)})`;
      end(false, why);
      const where = this.state.guests.has(userid) ? `it stays on ${this.member}` : `it was released on ${this.member}; QUERY GUEST ${userid} on ${to} shows whether it arrived`;
      return failed(`user ${userid}: ${why}; ${where}`);
    }
  }

  /** Step 3's transaction; null when done, else why not. */
  private async handOver(rec: RelocationRecord): Promise<string | null> {
    const c = this.store.client;
    const live = (await c.get(`${MEMBERS}${rec.to}`).exec()).kvs[0];
    if (live === undefined) return `member ${rec.to} is down`;
    const mine = JSON.stringify({ member: this.member });
    const userKey = `${USERS}${rec.userid}`;
    const addressKeys: string[] = [];
    const g = this.state.guests.get(rec.userid);
    for (const n of g?.nics.values() ?? []) {
      if (n.coupled === null) continue;
      for (const [ip, claim] of n.addresses) if (!claim.refused) addressKeys.push(addressKey(n.coupled, formatIpv4(ip)));
      for (const [ip6, claim] of n.addresses6) if (!claim.refused) addressKeys.push(address6Key(n.coupled, ip6));
    }
    // Only the address keys this member holds are let go (one another member holds stays its).
    const held = await Promise.all(addressKeys.map(async (k) => ((await c.get(k).string()) === mine ? k : null)));
    const t = await c.if(userKey, 'Value', '==', mine).and(`${MEMBERS}${rec.to}`, 'Create', '==', live.create_revision)
      .then(
        c.put(userKey).value(JSON.stringify({ member: rec.to })).lease(live.lease),
        ...held.filter((k): k is string => k !== null).map((k) => c.delete().key(k)),
      ).commit();
    return t.succeeded ? null : `the cluster's store does not show user ${rec.userid} active here, or member ${rec.to} restarted meanwhile`;
  }

  /** Uncouple and detach the guest here; the errors (the guest is released anyway where it can be). */
  private release(g: Guest): string[] {
    const errors: string[] = [];
    const run = (text: string): void => {
      const r = this.engine?.execute(text) ?? { ok: false, lines: ['the control plane is not running'] };
      if (!r.ok) errors.push(`${text}: ${r.lines.join(' ')}`);
    };
    const nics = [...g.nics.values()].sort((a, b) => a.vdev - b.vdev);
    for (const n of nics) if (n.coupled !== null) run(`UNCOUPLE ${hex4(n.vdev)} FOR ${g.userid}`);
    for (const n of nics) run(`DETACH NIC ${hex4(n.vdev)} FOR ${g.userid}`);
    run(`DETACH GUEST ${g.userid}`);
    return errors;
  }

  // ---- target

  /** Step 2: may this member take the guest? null: yes; else why not. */
  private canTake(rec: RelocationRecord): string | null {
    if (this.engine === null) return 'its control plane is not running yet';
    if (this.state.guests.has(rec.userid)) return `GUEST ${rec.userid} is already defined there (DETACH GUEST ${rec.userid} there first)`;
    for (const s of rec.steps) {
      const m = /^COUPLE \S+ TO SYSTEM (\S+) FOR/.exec(s.cmd);
      if (m === null) continue;
      const sw = this.state.switches.get(m[1]);
      if (sw === undefined) return `VSWITCH ${m[1]} does not exist there`;
      if (!sw.grants.has(rec.userid)) return `user ${rec.userid} is not granted VSWITCH ${m[1]} there`;
    }
    return null;
  }

  private async answer(rec: RelocationRecord, refusal: string | null): Promise<void> {
    const r: RelocationRecord = refusal === null ? { ...rec, state: 'ready' } : { ...rec, state: 'failed', reason: refusal };
    await this.putIfSame(r, 'prepare');
    // A source that dies after its hand-over (the user id's key is this member's) never writes
    // 'released': the key is let go after APPLY_MS, or the user could not be coupled anywhere.
    if (refusal === null) {
      setTimeout(() => {
        if (this.handled.has(`${rec.id}/released`)) return;
        this.log.warn({ userid: rec.userid, from: rec.from }, 'cluster: a relocation answered ready here was not released by its source; its user id is let go');
        void this.letUserGo(rec.userid);
      }, APPLY_MS).unref();
    }
    if (refusal !== null) this.log.warn({ userid: rec.userid, from: rec.from, reason: refusal }, 'cluster: relocation refused here');
  }

  /** Step 4. */
  private async take(rec: RelocationRecord): Promise<void> {
    const started = Date.now();
    const seen: RelocationView = { userid: rec.userid, from: rec.from, to: rec.to, state: 'MOVING', reason: null, at: new Date().toISOString(), ms: null };
    this.remember(seen);
    let reason: string | null = await this.handedHere(rec);
    for (const s of reason === null ? rec.steps : []) {
      const r = this.engine!.execute(s.cmd, allocHere(s, this.state));
      if (!r.ok) { reason = `${s.cmd}: ${r.lines.join(' ')}`; break; }
    }
    for (const m of reason === null ? rec.macs : []) {
      const n = this.state.nic(rec.userid, m.vdev);
      if (n?.mac !== m.mac) { reason = `NIC ${hex4(m.vdev)} did not get its MAC here`; break; }
    }
    seen.state = reason === null ? 'DONE' : 'FAILED';
    seen.reason = reason;
    seen.ms = Date.now() - started;
    // Before anything waits: the guest's first packets here may bring its addresses at once.
    if (reason === null) this.takeAddresses(rec);
    await this.putIfSame(reason === null ? { ...rec, state: 'done' } : { ...rec, state: 'failed', reason }, 'released').catch((e: unknown) => {
      this.log.warn({ userid: rec.userid, err: errText(e) }, 'cluster: the relocation could not be confirmed in the store');
    });
    if (reason !== null) {
      this.log.error({ userid: rec.userid, from: rec.from, reason }, 'cluster: a relocated guest could not be set up here');
      await this.letUserGo(rec.userid);
      return;
    }
    this.log.info({ userid: rec.userid, from: rec.from, ms: seen.ms }, 'cluster: guest relocated here');
    this.giveAddresses(rec);
  }

  /**
   * Step 4's precondition: the source's hand-over moved the user id's key to this member. A
   * 'released' record without it (forged, or left by a source that gave up while this member
   * was away) is not taken: the user id may be active elsewhere. Null when it was; else why not.
   */
  private async handedHere(rec: RelocationRecord): Promise<string | null> {
    let v: string | null;
    try {
      v = await this.store.client.get(`${USERS}${rec.userid}`).string();
    } catch (e) {
      return `the cluster's store could not be read (${errText(e)}); nothing was set up here`;
    }
    let holder: unknown = null;
    try { holder = v === null ? null : (JSON.parse(v) as { member?: unknown }).member; } catch { /* not a claim: not this member's */ }
    if (holder === this.member) return null;
    return `the user id ${rec.userid} was not handed over to ${this.member} (${typeof holder === 'string' ? `it is active on ${holder}` : 'no member holds it'}); nothing was set up here`;
  }

  /**
   * After a failed step 4, or a step 3 whose 'released' never came: the user id's key the source moved here is let go while none of the
   * user's NICs is coupled here (the claims here never wanted it, so nothing else would: the
   * user could not couple it on any member while this one lives).
   */
  private async letUserGo(userid: string): Promise<void> {
    if ([...this.state.guests.get(userid)?.nics.values() ?? []].some((n) => n.coupled !== null)) return;
    const c = this.store.client;
    const key = `${USERS}${userid}`;
    await c.if(key, 'Value', '==', JSON.stringify({ member: this.member })).then(c.delete().key(key)).commit()
      .catch((e: unknown) => this.log.warn({ userid, err: errText(e) }, 'cluster: the user id of a guest not set up here could not be let go; it goes with the lease'));
  }

  /** The record's IPv4 addresses are taken here without a probe of the LAN for HANDOVER_MS (handedOver). */
  private takeAddresses(rec: RelocationRecord): void {
    const now = Date.now();
    for (const [k, t] of this.handed) if (t < now) this.handed.delete(k);
    for (const a of rec.addresses) {
      const sw = this.state.nic(rec.userid, a.vdev)?.coupled;
      if (sw) for (const ip of a.ips) this.handed.set(`${sw}/${ip}`, now + HANDOVER_MS);
    }
  }

  /** A QEMU guest's NICs hold their addresses here at once (polled until each NIC has its port, ADDRESS_WAIT_MS at most). */
  private giveAddresses(rec: RelocationRecord): void {
    const left = rec.addresses.flatMap((a) => [...a.ips, ...(a.ips6 ?? [])].map((ip) => ({ vdev: a.vdev, ip })));
    const g = this.state.guests.get(rec.userid);
    if (left.length === 0 || g === undefined || g.qemu === null) return;
    const until = Date.now() + ADDRESS_WAIT_MS;
    const tick = (): void => {
      for (let i = left.length - 1; i >= 0; i--) {
        if (this.engine!.relocatedAddress(rec.userid, left[i].vdev, left[i].ip)) left.splice(i, 1);
      }
      if (left.length > 0 && Date.now() < until && this.state.guests.get(rec.userid) === g) setTimeout(tick, 20).unref();
      else if (left.length > 0) this.log.warn({ userid: rec.userid, addresses: left.map((a) => (typeof a.ip === 'string' ? a.ip : formatIpv4(a.ip))) }, 'cluster: a relocated guest\'s addresses wait for it to use them');
    };
    tick();
  }

  // ---- store

  private put(rec: RelocationRecord): Promise<unknown> {
    return this.store.client.put(`${RELOCATE}${rec.userid}`).value(JSON.stringify(rec)).exec();
  }

  /**
   * Write `rec` only while the record is still this relocation's and in state `from` (a later
   * relocation, or a source that gave up meanwhile, is left alone).
   */
  private async putIfSame(rec: RelocationRecord, from: RelocationRecord['state']): Promise<void> {
    const key = `${RELOCATE}${rec.userid}`;
    const cur = await this.store.client.get(key).string();
    let now: { id?: string; state?: string } = {};
    try { now = cur === null ? {} : (JSON.parse(cur) as typeof now); } catch { /* not a record: left alone */ }
    if (cur === null || now.id !== rec.id || now.state !== from) return;
    await this.store.client.if(key, 'Value', '==', cur).then(this.store.client.put(key).value(JSON.stringify(rec))).commit();
  }

  /** The record of `id` once it is in one of `states`, or null after `ms`. */
  private until(id: string, states: Array<RelocationRecord['state']>, ms: number): Promise<RelocationRecord | null> {
    return new Promise((resolve) => {
      const w: Waiter = { id, states: new Set(states), resolve: (r) => { clearTimeout(timer); resolve(r); } };
      const timer = setTimeout(() => { this.waiters.delete(w); resolve(null); }, ms);
      this.waiters.add(w);
    });
  }

  private remember(v: RelocationView): void {
    this.history.unshift(v);
    if (this.history.length > KEPT) this.history.pop();
  }

  stop(): void {
    for (const w of this.waiters) w.resolve(null);
    this.waiters.clear();
  }
}

/** The kinds of command a relocation record's steps may be: the guest's own definitions. */
const STEP_KINDS: ReadonlySet<Command['kind']> = new Set<Command['kind']>(['define-guest', 'define-nic', 'set-nic', 'couple']);

/**
 * A relocation record from the store, checked: its fields, and each step one of the guest's own
 * definitions (STEP_KINDS, for the record's user id), since the target runs them as the system.
 * The error text when it is not.
 */
export function readRecord(text: string): RelocationRecord | string {
  let r: RelocationRecord;
  try {
    r = JSON.parse(text) as RelocationRecord;
  } catch (e) {
    return `not JSON: ${errText(e)}`;
  }
  if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || typeof r.userid !== 'string' || typeof r.from !== 'string'
    || typeof r.to !== 'string' || !['prepare', 'ready', 'released', 'done', 'failed'].includes(r.state) || !Array.isArray(r.steps)
    || !Array.isArray(r.macs) || !Array.isArray(r.addresses)) return 'not a relocation record';
  for (const st of r.steps) {
    const p = typeof st?.cmd === 'string' ? parse(st.cmd) : null;
    if (p === null || !p.ok || !STEP_KINDS.has(p.cmd.kind) || !('userid' in p.cmd) || p.cmd.userid !== r.userid) {
      return `step ${JSON.stringify(st?.cmd ?? st)} is not a definition of user ${r.userid}`;
    }
  }
  return r;
}

function failed(text: string): Reply {
  return { ok: false, lines: [`${MSG.RELOCATE_FAILED} ${text}`] };
}

/**
 * The allocation a step's DEFINE NIC takes on this member: the record's MAC, subchannels and
 * CHPID, with a MAC serial free here (serials are each member's own; the MAC, of the source's
 * prefix, cannot be one of this member's); a MACID NIC keeps its serial (its MACID).
 */
export function allocHere(step: RelocationStep, state: State): NicAlloc | undefined {
  if (step.alloc === undefined || / MACID /.test(step.cmd)) return step.alloc;
  return { ...step.alloc, subchannels: [...step.alloc.subchannels], macSerial: state.allocMacSerial() };
}

/**
 * The commands that make guest `g` as it is here, in an order they apply in: the guest, its NICs
 * (with their MACs) and MACPROTECT settings, the couplings, then PROMISCUOUS of the coupled NICs.
 */
export function stepsOf(g: Guest): RelocationStep[] {
  const guest: Command = {
    kind: 'define-guest', userid: g.userid, netns: g.netns, qemu: g.qemu,
    ...(g.tapOwner !== undefined ? { tapOwner: g.tapOwner } : {}),
    ...(g.owner !== undefined ? { owner: g.owner } : {}),
  };
  const steps: RelocationStep[] = [{ cmd: format(guest) }];
  const nics = [...g.nics.values()].sort((a, b) => a.vdev - b.vdev);
  for (const n of nics) {
    const dflt = g.netns !== null ? tapName(n.vdev) : g.qemu === 'TAP' ? hostTapName(g.userid, n.vdev) : null;
    const nic: Command = {
      kind: 'define-nic', vdev: n.vdev, userid: g.userid,
      ...(n.tap !== null && n.tap !== dflt ? { name: n.tap } : {}),
      ...(n.macId !== null ? { macId: n.macId } : {}),
    };
    steps.push({ cmd: format(nic), alloc: { macSerial: n.macSerial, mac: n.mac, subchannels: [...n.subchannels], chpid: n.chpid } });
    if (n.macProtect !== null) steps.push({ cmd: format({ kind: 'set-nic', vdev: n.vdev, userid: g.userid, op: { t: 'macprotect', value: n.macProtect } }) });
  }
  for (const n of nics) if (n.coupled !== null) steps.push({ cmd: format({ kind: 'couple', vdev: n.vdev, sw: n.coupled, userid: g.userid }) });
  // PROMISCUOUS needs the coupling (and the grant there): set after it; an uncoupled NIC's is not carried.
  for (const n of nics) {
    if (n.coupled !== null && n.promiscuous) steps.push({ cmd: format({ kind: 'set-nic', vdev: n.vdev, userid: g.userid, op: { t: 'promiscuous', on: true } }) });
  }
  return steps;
}
