/**
 * The command engine: text in, reply out. Two phases, in the daemon's start order:
 *
 * StartUp, before the data plane exists: SYSTEM CONFIG statements and journal (and snapshot)
 * records are checked (against NO_RUNTIME: no data plane, no controller yet) and applied
 * straight to the state, without prepare and without the journal (the reconciler creates what
 * they need when the data plane starts). A replayed record that no longer applies is skipped
 * and logged. It remembers the SYSTEM CONFIG statements: the snapshot is the difference between
 * the state they make and the running one (configState).
 *
 * ControlPlane, once the journal is open and the reconciler exists (both given to its
 * constructor): a command from the socket is parsed -> checked against the state
 * (src/control/commands) -> the host side that can fail is prepared (namespace, TAP:
 * Effects.prepare) -> journal + fsync -> applied to the state -> the data plane reconciled
 * (Effects.sync) -> replied. An error at any step before the journal leaves the state as it
 * was (a prepared TAP is undone); the reply is then one line with a message id. Effects.sync
 * never fails a command: the data plane converges (retries) and its state shows in QUERY.
 * What is journaled, what is an operation on the uplink (Effects.operate) and what only
 * SYSTEM CONFIG accepts is the table of verbs' answer (src/control/commands/index.ts).
 * Commands run one at a time, synchronously, so replies follow the order of arrival.
 *
 * In a cluster (vswitchd --cluster, src/daemon/cluster) a DefinitionStore takes part:
 * `submit` (the control socket's entry) hands it the commands it `involves` (the shared
 * system definitions, and those that claim something cluster-wide) and answers once the store
 * has decided (VMRELOCATE MOVE, an operation, is the store's to carry out); the store applies a committed shared definition on every member through
 * `applyShared` (checked as a replayed journal record is, then journaled locally and applied).
 * Without a store `submit` is `execute`.
 */
import type { Logger } from 'pino';
import { check, verbOf } from './commands/index.js';
import { NO_RUNTIME, type Env, type Operation, type Outcome, type RuntimeView } from './commands/types.js';
import { format, leadingWords, parse, type Command } from './grammar.js';
import type { Journal, JournalRecord } from './journal.js';
import { MSG } from './messages.js';
import { SYSTEM, type Principal } from './privilege.js';
import { State, type Change, type NicAlloc } from './state.js';

export interface Reply {
  ok: boolean;
  /** Reply lines (warnings first), or the single error line. */
  lines: string[];
  /** QUERY's JSON document. */
  data?: unknown;
}

export interface Effects {
  /** Host work a change needs before it is acknowledged. Throws with a reason; returns an undo. */
  prepare(changes: Change[]): () => void;
  /** Bring the data plane to the state. Never throws. */
  sync(): void;
  /** Run an operation on the running uplink (SET VSWITCH SWITCHOVER / UPLINK). Returns an error text or null. */
  operate(op: Operation): string | null;
}

/** Where an acknowledged command is made durable (in the daemon src/control/history.ts: the journal, compacted into snapshots). */
export type CommandJournal = Pick<Journal, 'append'>;

/**
 * The cluster's part in commands (src/daemon/cluster). `involves`: does this checked command
 * go through the store (a shared definition; a COUPLE that claims its user id)? `submit`: the
 * store's way with it; `run` executes it locally (ControlPlane.execute) when the store agrees,
 * `recheck` checks it again against the state as it is then (the error line, or null).
 */
export interface DefinitionStore {
  involves(cmd: Command): boolean;
  /** Is this a shared definition (applied on every member through applyShared, never through execute)? */
  shares(cmd: Command): boolean;
  submit(cmd: Command, text: string, run: () => Reply, recheck: () => string | null): Promise<Reply>;
}

/** What the running engine works with besides the state: in the daemon, the journal and the reconciler. */
export interface Running {
  journal: CommandJournal;
  effects: Effects;
  runtime: RuntimeView;
  /** The cluster's store (vswitchd --cluster); absent on a host of its own. */
  store?: DefinitionStore;
}

/** Start-up: SYSTEM CONFIG and journal replay, applied to the state before the data plane exists. */
export class StartUp {
  /** The SYSTEM CONFIG statements applied, in order (what the journal's records apply on top of). */
  private readonly configured: Command[] = [];
  private configOnly: State | null = null;

  constructor(readonly state: State, private readonly env: Env, private readonly log: Logger) {}

  /**
   * A SYSTEM CONFIG statement (already parsed; `line`: where it is, for the log). Returns the
   * error line, or null. A second DEFINE VSWITCH of a name SYSTEM CONFIG already defined is an
   * error of that statement alone, as in z/VM ("the first definition will be accepted and
   * subsequent statements will receive an error"): logged, and null (the file goes on).
   */
  configure(cmd: Command, line?: number): string | null {
    const o = check(this.state, cmd, { env: this.env, runtime: NO_RUNTIME });
    if (!o.ok && cmd.kind === 'define-vswitch' && this.configured.some((c) => c.kind === 'define-vswitch' && c.name === cmd.name)) {
      this.log.error({ line, cmd: format(cmd) }, `${MSG.CONFIG_DUPLICATE} SYSTEM CONFIG${line !== undefined ? ` line ${line}` : ''}: VSWITCH ${cmd.name} is defined again; the first definition stands`);
      return null;
    }
    if (!o.ok) return o.error;
    for (const c of o.changes) this.state.applyChange(c);
    this.configured.push(cmd);
    return null;
  }

  /**
   * The state SYSTEM CONFIG alone makes: the same statements applied to a fresh State (made
   * once; the file is read only at start). The snapshot is the difference from it
   * (src/control/snapshot.ts). Not to be changed by the caller.
   */
  configState(): State {
    if (this.configOnly === null) {
      const s = new State();
      for (const cmd of this.configured) {
        const o = check(s, cmd, { env: this.env, runtime: NO_RUNTIME });
        if (o.ok) for (const c of o.changes) s.applyChange(c);
      }
      this.configOnly = s;
    }
    return this.configOnly;
  }

  /** Replay one record of the journal (or of the snapshot: `from`). Returns false (and logs) when it no longer applies. */
  replay(rec: JournalRecord, from: 'journal' | 'snapshot' = 'journal'): boolean {
    const p = parse(rec.cmd);
    if (!p.ok || !verbOf(p.cmd).journaled) {
      this.log.warn({ from, seq: rec.seq, cmd: rec.cmd, reason: p.ok ? 'not a dynamic command' : p.error.message }, 'journal record skipped');
      return false;
    }
    const o = this.check(p.cmd, { ...(rec.alloc ? { alloc: rec.alloc } : {}) });
    if (!o.ok) {
      this.log.warn({ from, seq: rec.seq, cmd: rec.cmd, reason: o.error }, 'journal record no longer applies; skipped');
      return false;
    }
    if (rec.alloc && o.alloc && !sameAlloc(rec.alloc, o.alloc)) {
      this.log.warn({ from, seq: rec.seq, cmd: rec.cmd, journaled: rec.alloc, now: o.alloc }, 'journaled allocation is taken; the NIC got a new one');
    }
    for (const c of o.changes) this.state.applyChange(c);
    return true;
  }

  private check(cmd: Command, replay: { alloc?: NicAlloc }): Outcome {
    return check(this.state, cmd, { env: this.env, runtime: NO_RUNTIME, replay });
  }
}

/** The running engine: commands from the control socket (or the CLI). */
export class ControlPlane {
  private readonly journal: CommandJournal;
  private readonly effects: Effects;
  private readonly runtime: RuntimeView;
  private readonly store: DefinitionStore | null;

  constructor(readonly state: State, private readonly env: Env, private readonly log: Logger, running: Running) {
    this.journal = running.journal;
    this.effects = running.effects;
    this.runtime = running.runtime;
    this.store = running.store ?? null;
  }

  /** A command from the control socket for `who`: `execute`, or through the cluster's store when it takes part (a Promise then). */
  submit(text: string, who: Principal = SYSTEM): Reply | Promise<Reply> {
    if (this.store === null) return this.execute(text, who);
    const p = parse(text);
    if (!p.ok || !this.store.involves(p.cmd)) return this.execute(text, who);
    const cmd = p.cmd;
    const recheck = (): string | null => {
      const o = check(this.state, cmd, { env: this.env, runtime: this.runtime, who });
      return o.ok ? null : o.error;
    };
    const err = recheck();
    if (err !== null) {
      if (err.startsWith(MSG.NOT_AUTHORIZED)) this.log.warn({ cmd: format(cmd), uid: who.uid, user: who.user }, 'command refused: not authorized');
      return { ok: false, lines: [err] };
    }
    return this.store.submit(cmd, text, () => this.execute(text, who, true), recheck);
  }

  /**
   * A shared definition the cluster's store committed (on this member or another): checked as a
   * replayed journal record is (against the running daemon, as the system: the issuing member
   * checked its issuer's privilege), then prepared, journaled, applied and reconciled as any
   * command. A refusal is the reply (logged by the caller).
   */
  applyShared(text: string): Reply {
    return this.execute(text, SYSTEM, true, { replay: {} });
  }

  /**
   * Run one command for `who` (the control socket's peer; the daemon's own commands: SYSTEM).
   * `byStore`: the cluster's store agreed (or this is its shared definition); otherwise a shared
   * definition is refused here.
   */
  execute(text: string, who: Principal = SYSTEM, byStore = false, replay?: { replay: { alloc?: NicAlloc } }): Reply {
    const p = parse(text);
    if (!p.ok) return { ok: false, lines: [`${MSG.SYNTAX} ${p.error.message}`] };
    const cmd = p.cmd;
    const verb = verbOf(cmd);
    if (verb.from === 'config') {
      return { ok: false, lines: [`${MSG.NOT_HERE} ${leadingWords(cmd)} is a SYSTEM CONFIG statement; it cannot be changed while the daemon runs`] };
    }
    if (!byStore && verb.journaled && this.store?.shares(cmd)) {
      return { ok: false, lines: [`${MSG.NOT_HERE} ${leadingWords(cmd)} is shared by the cluster: it is issued through the control socket`] };
    }
    const o = check(this.state, cmd, { env: this.env, runtime: this.runtime, who, ...replay });
    if (!o.ok) {
      if (o.error.startsWith(MSG.NOT_AUTHORIZED)) this.log.warn({ cmd: format(cmd), uid: who.uid, user: who.user }, 'command refused: not authorized');
      return { ok: false, lines: [o.error] };
    }
    if (!verb.journaled) {
      if (o.operation) return this.operate(o.operation);
      return { ok: true, lines: o.lines, data: o.data };
    }
    let undo: () => void;
    try {
      undo = this.effects.prepare(o.changes);
    } catch (e) {
      this.log.warn({ cmd: format(cmd), err: String(e) }, 'command refused: host side failed');
      return { ok: false, lines: [`${MSG.NIC_DEVICE} ${errText(e)}`] };
    }
    let rec: JournalRecord;
    try {
      rec = this.journal.append(format(cmd), o.alloc);
    } catch (e) {
      this.log.error({ cmd: format(cmd), err: String(e) }, 'journal write failed; command refused');
      try { undo(); } catch (u) { this.log.warn({ err: String(u) }, 'undo after journal failure failed'); }
      return { ok: false, lines: [`${MSG.JOURNAL} the command could not be made durable: ${errText(e)}`] };
    }
    for (const c of o.changes) this.state.applyChange(c);
    this.log.info({ cmd: format(cmd), seq: rec.seq, alloc: o.alloc, uid: who.uid }, 'command applied');
    this.effects.sync();
    return { ok: true, lines: o.lines };
  }

  private operate(op: Operation): Reply {
    const err = this.effects.operate(op);
    if (err !== null) return { ok: false, lines: [`${MSG.UPLINK_OP} VSWITCH SYSTEM ${op.sw}: ${err}`] };
    this.log.info({ op }, 'uplink operation');
    const what = op.t === 'switchover' ? 'switchover started' : op.connect ? 'uplink connected' : 'uplink disconnected';
    return { ok: true, lines: [`VSWITCH SYSTEM ${op.sw} ${what}`] };
  }
}

function sameAlloc(a: NicAlloc, b: NicAlloc): boolean {
  return a.macSerial === b.macSerial && a.mac === b.mac && a.chpid === b.chpid && a.subchannels.every((s, i) => s === b.subchannels[i]);
}

function errText(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0];
}
