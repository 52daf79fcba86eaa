/**
 * SET VSWITCH name SWITCHOVER | UPLINK DISCONNECT | UPLINK CONNECT | CONTROLLER ctlname | * |
 * GRANT userid [PORTTYPE ACCESS|TRUNK] [VLAN vidset] [PROMISCUOUS|NOPROMISCUOUS] |
 * REVOKE userid | ISOLATION ON|OFF | MACPROTECT ON|OFF; and SYSTEM CONFIG's MODIFY VSWITCH
 * name GRANT ... | ISOLATION ... | MACPROTECT ... (the same checks).
 *
 * CONTROLLER changes the switch's definition (a Change, journaled): a named controller must be
 * connected now (else refused: "is not connected"), `*` lets the daemon pick the eligible
 * controller with the fewest switches. Replayed from the journal it is taken as it was
 * acknowledged, before any controller can have connected: the switch waits for the named one
 * (as DEFINE VSWITCH ... CONTROLLER name does). SWITCHOVER and UPLINK act on the running uplink: they
 * are Operations the control plane hands to the controller manager (not journaled), which
 * refuses them with a reason (no backup RDEV ready, already disconnected, ...).
 * A switch without RDEVs has no uplink: SWITCHOVER, UPLINK and CONTROLLER are refused for it.
 *
 * The access list (journaled definitions): GRANT puts a user id on it (any user id: the guest
 * need not exist yet) or changes its entry: the operands given replace the entry's, those not
 * given stay (a new entry: the switch's PORTTYPE and default VLAN, NOPROMISCUOUS). VLAN and
 * PORTTYPE TRUNK are refused on a VLAN-unaware switch; an ACCESS port takes one VLAN. A
 * changed grant reaches the user's coupled NICs at once (their PortPolicy, src/control/policy.ts);
 * NOPROMISCUOUS also takes SET NIC PROMISCUOUS off its NICs on the switch. REVOKE takes the user
 * off the list and uncouples its NICs from the switch (the guest sees NO-CARRIER); refused for
 * a user not on it. ISOLATION and MACPROTECT set the switch's flag.
 */
import { hex4, type Command, type GrantOp, type ModifyVswitchOp } from '../grammar.js';
import { MSG } from '../messages.js';
import type { Change, Grant, Nic, State, Vswitch } from '../state.js';
import { fail, type CheckContext, type Outcome } from './types.js';

export function checkSet(state: State, cmd: Extract<Command, { kind: 'set-vswitch' | 'modify-vswitch' }>, { runtime: rt, replay }: CheckContext): Outcome {
  const sw = state.switches.get(cmd.name);
  if (!sw) return fail(MSG.SWITCH_MISSING, `VSWITCH SYSTEM ${cmd.name} does not exist`);
  const op = cmd.op;
  switch (op.t) {
    case 'grant':
    case 'isolation':
    case 'macprotect':
      return modify(state, sw, op);
    case 'revoke':
      return revoke(state, sw, op.userid);
    default:
      break;
  }
  if (sw.rdevs.length === 0) return fail(MSG.NO_UPLINK, `VSWITCH SYSTEM ${cmd.name} has no uplink (RDEV NONE)`);
  if (op.t === 'controller') {
    if (op.controller !== '*' && replay === undefined && !rt.hasController(op.controller)) {
      return fail(MSG.CONTROLLER_MISSING, `controller ${op.controller} is not connected`);
    }
    if (op.controller === sw.controller) return { ok: true, changes: [], lines: [`VSWITCH SYSTEM ${cmd.name} already uses CONTROLLER ${op.controller}`] };
    return {
      ok: true,
      changes: [{ t: 'switch-controller', name: cmd.name, controller: op.controller }],
      lines: [`VSWITCH SYSTEM ${cmd.name} CONTROLLER set to ${op.controller}`],
    };
  }
  return {
    ok: true,
    changes: [],
    lines: [],
    operation: op.t === 'switchover' ? { t: 'switchover', sw: cmd.name } : { t: 'uplink', sw: cmd.name, connect: op.connect },
  };
}

function modify(state: State, sw: Vswitch, op: ModifyVswitchOp): Outcome {
  if (op.t === 'isolation') {
    return { ok: true, changes: [{ t: 'switch-set', name: sw.name, set: { isolation: op.on } }], lines: [`VSWITCH SYSTEM ${sw.name} ISOLATION ${op.on ? 'ON' : 'OFF'}`] };
  }
  if (op.t === 'macprotect') {
    return { ok: true, changes: [{ t: 'switch-set', name: sw.name, set: { macProtect: op.on } }], lines: [`VSWITCH SYSTEM ${sw.name} MACPROTECT ${op.on ? 'ON' : 'OFF'}`] };
  }
  const g = mergeGrant(sw, op);
  if (typeof g === 'string') return fail(MSG.GRANT_BAD, `GRANT ${op.userid} refused: ${g}`);
  const changes: Change[] = [{ t: 'grant', sw: sw.name, userid: op.userid, grant: g }];
  if (!g.promiscuous) {
    for (const n of nicsOn(state, sw, op.userid)) {
      if (n.promiscuous) changes.push({ t: 'nic-set', userid: n.userid, vdev: n.vdev, set: { promiscuous: false } });
    }
  }
  const was = sw.grants.has(op.userid);
  return { ok: true, changes, lines: [`${op.userid} ${was ? 'grant changed' : 'granted'} for VSWITCH SYSTEM ${sw.name}: ${grantText(sw, g)}`] };
}

/** The user's entry after GRANT `op`, or why it is refused. */
function mergeGrant(sw: Vswitch, op: GrantOp): Grant | string {
  const old = sw.grants.get(op.userid);
  const g: Grant = {
    portType: op.portType ?? old?.portType ?? null,
    vlans: op.vlans ?? old?.vlans ?? null,
    promiscuous: op.promiscuous ?? old?.promiscuous ?? false,
  };
  if (sw.vlan === null) {
    if (op.vlans !== undefined) return `VSWITCH SYSTEM ${sw.name} is VLAN UNAWARE: it takes no VLAN`;
    if (g.portType === 'TRUNK') return `VSWITCH SYSTEM ${sw.name} is VLAN UNAWARE: it has no trunk ports`;
  }
  if ((g.portType ?? sw.portType) === 'ACCESS' && g.vlans !== null && g.vlans.length > 1) {
    return `an ACCESS port carries one VLAN, not ${g.vlans.length} (PORTTYPE TRUNK for several)`;
  }
  return g;
}

/** A grant in words: `PORTTYPE TRUNK VLAN 10 20 PROMISCUOUS` (the switch's defaults filled in). */
export function grantText(sw: Vswitch, g: Grant): string {
  const words = [`PORTTYPE ${g.portType ?? sw.portType}`];
  if (sw.vlan !== null) words.push(`VLAN ${(g.vlans ?? [sw.vlan]).join(' ')}`);
  words.push(g.promiscuous ? 'PROMISCUOUS' : 'NOPROMISCUOUS');
  return words.join(' ');
}

/** The NICs of guest `userid` coupled to `sw`, by vdev (the user's own NICs only: a GRANT costs what the user has). */
function nicsOn(state: State, sw: Vswitch, userid: string): Nic[] {
  const g = state.guests.get(userid);
  return g ? [...g.nics.values()].filter((n) => n.coupled === sw.name).sort((a, b) => a.vdev - b.vdev) : [];
}

function revoke(state: State, sw: Vswitch, userid: string): Outcome {
  if (!sw.grants.has(userid)) return fail(MSG.NOT_GRANTED, `${userid} is not authorized for VSWITCH SYSTEM ${sw.name}`);
  const changes: Change[] = [];
  const lines: string[] = [];
  for (const n of nicsOn(state, sw, userid)) {
    if (n.promiscuous) changes.push({ t: 'nic-set', userid, vdev: n.vdev, set: { promiscuous: false } });
    changes.push({ t: 'uncouple', userid, vdev: n.vdev });
    lines.push(`NIC ${hex4(n.vdev)} of GUEST ${userid} is disconnected from VSWITCH SYSTEM ${sw.name}`);
  }
  changes.push({ t: 'revoke', sw: sw.name, userid });
  lines.push(`${userid} revoked for VSWITCH SYSTEM ${sw.name}`);
  return { ok: true, changes, lines };
}
