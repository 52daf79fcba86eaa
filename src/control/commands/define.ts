/**
 * DEFINE VSWITCH / DEFINE GUEST / DEFINE NIC: checks against the state and the Changes they make.
 *
 * DEFINE VSWITCH (seed Fig. 2): a name already in the System LAN Table is refused; an RDEV that
 * another switch holds is refused, naming that switch (one interface, one uplink: two switches
 * on one RDEV would both show it ACTIVE and take each other's LAN traffic); RDEVs that do not
 * exist give a warning line and the switch is still created (its uplink waits for them).
 * DEFINE GUEST: a user id is defined once; a namespace (by name or by path) belongs to one guest
 * (the NICs' TAP names would clash otherwise); a QEMU guest names its NICs' transport (STREAM,
 * the default, DGRAM, or TAP with an optional OWNER uid / GROUP gid).
 * DEFINE NIC: a container guest's NIC is a TAP in its namespace, named NAME (default encVDEV);
 * a QEMU guest's NIC is a pair of unix sockets the daemon names (src/control/qemu-nics.ts) or,
 * for a TAP guest, a TAP on the host named NAME (default userid-vdev, src/control/host-tap-nics.ts);
 * QUERY NIC DETAILS prints the QEMU arguments. A TAP name is unique where it lives: among the
 * guest's NICs in its namespace, among all QEMU TAP NICs on the host; NAME is refused for a
 * socket NIC, which has no interface. The triplet vdev..vdev+2 must not overlap another NIC's
 * triplet of the guest; allocates a MAC serial (never one an existing NIC holds), three
 * subchannel ids and a CHPID from the guest's own spaces. A journaled allocation is reused when
 * it is still free, so a replay gives the same MAC. MACID xxxxxx pins the MAC's low three bytes
 * (the upper ones are VMLAN USERPREFIX): refused when another NIC has that MAC or that id.
 * DEFINE VSWITCH's VLAN, NATIVE, PORTTYPE and ISOLATION go into the definition as parsed.
 */
import { hex4, hex6Text, netnsWords, type Command } from '../grammar.js';
import { MSG } from '../messages.js';
import { MAC_SERIALS, hostTapName, tapName, type Guest, type Nic, type NicAlloc, type State } from '../state.js';
import { MAX_SWITCHES } from '../../forward/counters.js';
import { fail, type CheckContext, type Outcome } from './types.js';

type Define = Extract<Command, { kind: 'define-vswitch' | 'define-guest' | 'define-nic' }>;

export function checkDefine(state: State, cmd: Define, { env, replay }: CheckContext): Outcome {
  switch (cmd.kind) {
    case 'define-vswitch': {
      if (state.switches.has(cmd.name)) return fail(MSG.SWITCH_EXISTS, `VSWITCH SYSTEM ${cmd.name} already exists`);
      if (state.switches.size >= MAX_SWITCHES) return fail(MSG.SWITCH_LIMIT, `no more than ${MAX_SWITCHES} switches can be defined`);
      for (const r of cmd.rdevs) {
        const holder = switchHoldingRdev(state, r);
        if (holder !== null) return fail(MSG.RDEV_TAKEN, `RDEV ${r} already belongs to VSWITCH SYSTEM ${holder}`);
      }
      const lines: string[] = [];
      for (const r of cmd.rdevs) {
        if (!env.interfaceExists(r)) lines.push(`${MSG.RDEV_MISSING} RDEV ${r} does not exist; the uplink of VSWITCH SYSTEM ${cmd.name} waits for it`);
      }
      lines.push(`VSWITCH SYSTEM ${cmd.name} is created`);
      const { kind: _k, ...sw } = cmd;
      return { ok: true, changes: [{ t: 'switch-add', sw }], lines };
    }
    case 'define-guest': {
      if (state.guests.has(cmd.userid)) return fail(MSG.GUEST_EXISTS, `GUEST ${cmd.userid} already exists`);
      if (cmd.netns !== null) {
        const owner = state.guestOfNetns(cmd.netns);
        if (owner) return fail(MSG.NETNS_TAKEN, `namespace ${cmd.netns} already belongs to GUEST ${owner.userid}`);
      }
      const qemu = cmd.netns === null ? (cmd.qemu ?? 'STREAM') : null;
      const what = qemu !== null ? `QEMU ${qemu}` : netnsWords(cmd.netns!);
      const owner = qemu === 'TAP' && cmd.tapOwner ? { tapOwner: cmd.tapOwner } : {};
      const user = cmd.owner !== undefined ? { owner: cmd.owner } : {};
      return { ok: true, changes: [{ t: 'guest-add', userid: cmd.userid, netns: cmd.netns, qemu, ...owner, ...user }], lines: [`GUEST ${cmd.userid} is defined (${what}${cmd.owner !== undefined ? `, OWNER ${cmd.owner}` : ''})`] };
    }
    case 'define-nic': {
      const g = state.guests.get(cmd.userid);
      if (!g) return fail(MSG.GUEST_MISSING, `GUEST ${cmd.userid} does not exist`);
      for (const n of g.nics.values()) {
        if (Math.abs(n.vdev - cmd.vdev) <= 2) {
          return fail(MSG.NIC_CLASH, `devices ${range(cmd.vdev)} overlap NIC ${hex4(n.vdev)} (devices ${range(n.vdev)}) of GUEST ${cmd.userid}`);
        }
      }
      const tap = nicTapName(state, g, cmd.vdev, cmd.name);
      if (typeof tap === 'object' && tap !== null) return tap;
      if (cmd.macId !== undefined) {
        const mac = state.macForId(cmd.macId);
        const holder = nicHolding(state, (n) => n.mac === mac || n.macSerial === cmd.macId);
        if (holder !== null) return fail(MSG.MACID_TAKEN, `MACID ${hex6Text(cmd.macId)} is taken: NIC ${hex4(holder.vdev)} of GUEST ${holder.userid} has it`);
      }
      let alloc: NicAlloc;
      const journaled = replay?.alloc;
      if (journaled && state.allocFree(g, journaled) && (cmd.macId === undefined || journaled.macSerial === cmd.macId)) {
        alloc = { ...journaled, subchannels: [...journaled.subchannels] };
      } else {
        const serial = cmd.macId ?? state.allocMacSerial();
        const subchannels = state.allocSubchannels(g);
        const chpid = state.allocChpid(g);
        if (serial < 0 || serial >= MAC_SERIALS) return fail(MSG.NIC_EXHAUSTED, 'no MAC address is left to assign');
        if (subchannels === null) return fail(MSG.NIC_EXHAUSTED, `GUEST ${cmd.userid} has no subchannel ids left`);
        if (chpid < 0) return fail(MSG.NIC_EXHAUSTED, `GUEST ${cmd.userid} has no CHPID left`);
        alloc = { macSerial: serial, mac: cmd.macId !== undefined ? state.macForId(serial) : state.macFor(serial), subchannels, chpid };
      }
      return {
        ok: true,
        changes: [{ t: 'nic-add', userid: cmd.userid, vdev: cmd.vdev, alloc, tap, ...(cmd.macId !== undefined ? { macId: cmd.macId } : {}) }],
        lines: [`NIC ${hex4(cmd.vdev)} is created; devices ${range(cmd.vdev)} defined`],
        alloc,
      };
    }
  }
}

/** The new NIC's TAP name (null: a socket NIC has none), or the refusal. */
function nicTapName(state: State, g: Guest, vdev: number, name: string | undefined): string | null | Outcome {
  if (g.netns !== null) {
    const tap = name ?? tapName(vdev);
    for (const n of g.nics.values()) {
      if (n.tap === tap) return fail(MSG.NIC_CLASH, `interface name ${tap} is taken by NIC ${hex4(n.vdev)} of GUEST ${g.userid}`);
    }
    return tap;
  }
  if (g.qemu === 'TAP') {
    const tap = name ?? hostTapName(g.userid, vdev);
    for (const o of state.guests.values()) {
      if (o.qemu !== 'TAP') continue;
      for (const n of o.nics.values()) {
        if (n.tap === tap) return fail(MSG.NIC_CLASH, `TAP name ${tap} is taken by NIC ${hex4(n.vdev)} of GUEST ${o.userid}; give another with NAME`);
      }
    }
    return tap;
  }
  if (name !== undefined) {
    return fail(MSG.NIC_UNSUPPORTED, `NAME ${name}: the NICs of QEMU ${g.qemu} GUEST ${g.userid} are sockets and have no interface name`);
  }
  return null;
}

/** The first NIC of any guest for which `is` holds, or null. */
function nicHolding(state: State, is: (n: Nic) => boolean): Nic | null {
  for (const g of state.guests.values()) for (const n of g.nics.values()) if (is(n)) return n;
  return null;
}

/** The switch whose RDEVs include interface `ifname` (names compared exactly, as Linux does), or null. */
export function switchHoldingRdev(state: State, ifname: string): string | null {
  for (const sw of state.switches.values()) if (sw.rdevs.includes(ifname)) return sw.name;
  return null;
}

export function range(vdev: number): string {
  return `${hex4(vdev)}-${hex4(vdev + 2)}`;
}
