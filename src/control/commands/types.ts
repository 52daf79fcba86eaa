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

/** Read-only probes of the host the checks may use. */
export interface Env {
  /** Does a network interface of this name exist in the daemon's namespace? (RDEV warnings) */
  interfaceExists(ifname: string): boolean;
}

/**
 * Run-time facts the checks read (queries show them; SET VSWITCH CONTROLLER asks which
 * controllers are connected). The reconciler implements it in the daemon; NO_RUNTIME below
 * stands for a daemon whose data plane and controllers do not exist (yet).
 */
export interface RuntimeView {
  /** Uplink of switch `name`: state text (NOT DEFINED, WAITING FOR DEVICE x, READY, ...). */
  uplink(name: string): { state: string; active: string | null; mac: number | null; mtu: number | null; port: number | null };
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
  /** Why a LAN IP table entry is local only (null: registered or unknown). */
  addressReason(sw: string, ip: number | string): string | null;
  /**
   * A QEMU guest's NIC: its sockets (or host TAP, with the libvirt <interface> element), the
   * exact QEMU arguments and its connection state; null without a daemon.
   */
  qemuNic(userid: string, vdev: number): QemuNicView | HostTapNicView | null;
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
