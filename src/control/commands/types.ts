/**
 * What every verb module (one per file in this directory) gives back, and what it may consult.
 *
 * A verb module checks a parsed Command against the State and answers either an error (one
 * line, message id first; nothing changes) or, for a definition, the typed Changes to apply and
 * the reply lines, or, for a QUERY, the reply lines and a JSON document, or, for an operation
 * on the running uplink, the Operation. Verb modules never change the state and do no I/O
 * beyond the read-only probes in Env; besides the state they consult the CheckContext: Env,
 * the RuntimeView (always given: NO_RUNTIME when there is no data plane) and, in journal
 * replay, that it is one (with the journaled allocation). The table of verbs (index.ts) says which module checks
 * which kind of Command.
 */
import type { CommandKind, CommandOf } from '../grammar.js';
import type { Change, NicAlloc, State } from '../state.js';
import type { ControllerListEntry, SwitchControlView } from '../controllers.js';
import type { QemuNicView } from '../qemu-nics.js';
import type { HostTapNicView } from '../host-tap-nics.js';
import type { Principal } from '../privilege.js';
import type { OverlayView } from '../reconcile/overlay.js';

/** Read-only probes of the host the checks may use. */
export interface Env {
  /** Does a network interface of this name exist in the daemon's namespace? (RDEV warnings) */
  interfaceExists(ifname: string): boolean;
  /** The cluster this daemon is a member of (vswitchd --cluster, src/daemon/cluster); absent or null: none. */
  cluster?(): ClusterView | null;
}

/** What QUERY SSI shows of the cluster (src/daemon/cluster keeps it). Times are ms since the epoch. */
export interface ClusterView {
  member: string;
  endpoints: string[];
  /** The store's health: does it answer (a quorum), since when, the last error. */
  store: { ok: boolean; since: number; error: string | null };
  joined: boolean;
  /** Shared definitions: the last committed one seen, the last applied here, those that did not apply here. */
  definitions: { committed: number; applied: number; notApplied: number };
  members: Array<{ name: string; state: 'JOINED' | 'DOWN'; macPrefix: string | null; joined: string | null }>;
  /** User ids active here, and the ones refused here (active on another member). */
  users: { held: string[]; refused: Array<{ userid: string; member: string }> };
  /** Addresses held here, and the claims refused here (another member holds them), by switch. */
  addresses: { held: number; refused: Array<{ sw: string; ip: string; member: string }> };
  leaseTtlS: number;
  /** VMRELOCATE: the relocations this member took part in (as source or target), newest first. */
  relocations?: RelocationView[];
  /** Relocation records in the store this member ignored (not one; steps that are not the guest's definitions). */
  relocationRecordsIgnored?: number;
}

/** One relocation as VMRELOCATE STATUS shows it. `ms`: how long it took (null while it runs). */
export interface RelocationView {
  userid: string;
  from: string;
  to: string;
  state: 'MOVING' | 'DONE' | 'FAILED';
  reason: string | null;
  /** When it started (ISO time). */
  at: string;
  ms: number | null;
}

/**
 * Run-time facts the checks read (queries show them; SET VSWITCH CONTROLLER asks which
 * controllers are connected). The reconciler implements it in the daemon; NO_RUNTIME below
 * stands for a daemon whose data plane and controllers do not exist (yet).
 */
export interface RuntimeView {
  /** Uplink of switch `name`: state text (NOT DEFINED, WAITING FOR DEVICE x, READY, ...). */
  uplink(name: string): { state: string; active: string | null; mac: number | null; mtu: number | null; port: number | null };
  /** The VXLAN overlay of switch `name` (src/control/reconcile/overlay.ts), null without one; absent: no overlays here. */
  overlay?(name: string): OverlayView | null;
  /** Data-plane port of a coupled NIC, or null while it has none. */
  nicPort(userid: string, vdev: number): number | null;
  /** Data-plane switch number, or null. */
  switchNumber(name: string): number | null;
  /** The shared counters (src/forward/counters.ts layout), or null without a data plane. */
  counters(): Float64Array | null;
  /** Is a controller of this name connected (src/control/controllers.ts)? */
  hasController(name: string): boolean;
  /** The connected controllers. */
  controllerList(): ControllerListEntry[];
  /** A switch's control side: controller, RDEV statuses, events; null if it has no uplink (or none is started). */
  switchControl(name: string): SwitchControlView | null;
  /** IP mode: the multicast groups NICs of the switch joined, their members, and their registration on the adapter. */
  groups(sw: string): Array<{ group: number; members: Array<{ userid: string; vdev: number }>; registered: boolean; reason: string | null }>;
  /** Why a LAN IP table entry (of `ip` in VLAN `vid`, VLAN_NONE if absent) is local only (null: registered or unknown). */
  addressReason(sw: string, ip: number | string, vid?: number): string | null;
  /**
   * A QEMU guest's NIC: its sockets (or host TAP, with the libvirt <interface> element), the
   * exact QEMU arguments and its connection state; null without a daemon.
   */
  qemuNic(userid: string, vdev: number): QemuNicView | HostTapNicView | null;
  /**
   * ETHERNET mode: the switch's learned MAC table as the data plane last answered (the
   * reconciler asks it every second: src/control/reconcile/mac-tables.ts); `at`: when
   * (ms since the epoch). null: no answer yet (or no data plane).
   */
  macTable(sw: string): MacTableView | null;
}

/** A learned MAC table as the worker answered 'fdb-query' (src/protocol/dataplane.ts FdbEntry). */
export interface MacTableView {
  at: number;
  entries: ReadonlyArray<{ mac: number; vid: number; port: number; ageMs: number }>;
}

/**
 * The run-time view of a daemon with no data plane and no controller: start-up (SYSTEM CONFIG
 * and journal replay run before the data plane exists) and tests of the commands alone.
 * Uplinks are NOT STARTED; nothing has a port, counters, groups or a controller.
 */
export const NO_RUNTIME: RuntimeView = {
  uplink: () => ({ state: 'NOT STARTED', active: null, mac: null, mtu: null, port: null }),
  nicPort: () => null,
  switchNumber: () => null,
  counters: () => null,
  hasController: () => false,
  controllerList: () => [],
  switchControl: () => null,
  groups: () => [],
  addressReason: () => null,
  qemuNic: () => null,
  macTable: () => null,
};

/** What a verb's check may consult besides the state. */
export interface CheckContext {
  env: Env;
  runtime: RuntimeView;
  /**
   * Set when the command is a journal record (or a snapshot's) being replayed: it was checked
   * and acknowledged when it was issued, so conditions on the running daemon checked then
   * (SET VSWITCH CONTROLLER name: the controller was connected) are not asked again; the state
   * rules still are. `alloc`: DEFINE NIC's journaled allocation, reused when still free.
   */
  replay?: { alloc?: NicAlloc };
  /** Who issues it (src/control/privilege.ts); absent: the system (SYSTEM CONFIG, replay, the daemon itself). */
  who?: Principal;
}

/** A verb's check (one module per verb in this directory): pure, reads the state, returns an Outcome. */
export type Check<K extends CommandKind> = (state: State, cmd: CommandOf<K>, ctx: CheckContext) => Outcome;

/** An operation on the running uplink (SET VSWITCH SWITCHOVER / UPLINK): not journaled. */
export type Operation = { t: 'switchover'; sw: string } | { t: 'uplink'; sw: string; connect: boolean };

export type Outcome =
  | { ok: true; changes: Change[]; lines: string[]; alloc?: NicAlloc; data?: unknown; operation?: Operation }
  | { ok: false; error: string };

export function fail(id: string, text: string): Outcome {
  return { ok: false, error: `${id} ${text}` };
}
