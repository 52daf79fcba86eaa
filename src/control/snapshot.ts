/**
 * The snapshot: the journal's effect up to one record, as the shortest command list that has it,
 * in a file of its own (`snapshot.jsonl` in the state directory). Start-up replays SYSTEM
 * CONFIG, then the snapshot, then the journal records after it (src/control/history.ts), all
 * through the same replay path (StartUp.replay), so a snapshot record that no longer applies
 * (SYSTEM CONFIG changed) is skipped and logged like a journal record.
 *
 * Content (`snapshotCommands`): journal records apply on top of what SYSTEM CONFIG defines, so
 * the snapshot is the difference between the state SYSTEM CONFIG alone makes (`base`) and the
 * running state, in canonical command words, in an order that replays: first what goes
 * (UNCOUPLE, DETACH NIC, DETACH GUEST, DETACH VSWITCH of base definitions the state no longer
 * has, or has changed; REVOKE of base grants gone or changed beyond what a GRANT can say),
 * then what comes (DEFINE VSWITCH with its CONTROLLER and VLAN operands, SET VSWITCH CONTROLLER,
 * ISOLATION and MACPROTECT where a base switch's differ, GRANT of every entry of an access list
 * that base does not have as it is, DEFINE GUEST, DEFINE NIC with its NAME, MACID and allocation,
 * COUPLE, SET NIC of NICs whose PROMISCUOUS or MACPROTECT is set). A definition is "the same"
 * when every field is: a NIC its allocation (MAC serial, MAC, subchannels, CHPID) and interface
 * name, a guest its namespace or QEMU transport (and TAP owner), a switch its RDEVs, mode,
 * storage and VLAN operands. The MAC serial counter goes in the header (serials are never reused
 * while they go round, even those of detached NICs). Run-time facts (addresses, the LAN IP
 * table) are not in it, as they are not in the journal.
 *
 * File: JSON lines in the journal's record format (src/control/journal.ts), every line with
 * its crc. Line 1, the header: {"v":2,"snapshot":{"upTo":S,"records":M,"nextMacSerial":X},"at":...};
 * then M command records with seq 1..M. S is the journal sequence number the snapshot covers:
 * journal records up to S are in it. It is written whole to a temp file, fsynced, renamed over
 * the old one and the directory fsynced (`writeSnapshot`), so the file is the old snapshot or
 * the new one, never a part; anything else found there (a bad line, fewer records than the
 * header says) is damage, reported with its line like the journal's.
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { format, type Command, type GrantOp } from './grammar.js';
import { decodeRecord, encodeLine, fsyncDir, readLines, TEMP_SUFFIX, type JournalRecord, type LineProblem } from './journal.js';
import { cmp, hostTapName, tapName, type Grant, type Guest, type Nic, type NicAlloc, type State, type Vswitch } from './state.js';

export const SNAPSHOT_FILE = 'snapshot.jsonl';

/** A snapshot's command: canonical words, and DEFINE NIC's allocation. */
export interface SnapshotRecord {
  cmd: string;
  alloc?: NicAlloc;
}

export interface SnapshotHeader {
  /** The journal sequence number the snapshot covers. */
  upTo: number;
  records: number;
  nextMacSerial: number;
}

export type SnapshotRead =
  | { ok: true; header: SnapshotHeader; records: JournalRecord[] }
  /** Damaged: the header (when it was intact) and the records before the damage. */
  | { ok: false; damage: LineProblem; header: SnapshotHeader | null; records: JournalRecord[] };

function sameSwitch(a: Vswitch, b: Vswitch): boolean {
  // A switch without RDEVs has no controller to SET: its controller counts as definition.
  // ISOLATION and MACPROTECT have SET VSWITCH: not part of "the same".
  return a.mode === b.mode && a.queueBytes === b.queueBytes && a.rdevs.length === b.rdevs.length
    && a.rdevs.every((r, i) => r === b.rdevs[i]) && (a.rdevs.length > 0 || a.controller === b.controller)
    && a.vlan === b.vlan && a.nativeVid === b.nativeVid && a.portType === b.portType;
}

function sameGuest(a: Guest, b: Guest): boolean {
  return a.netns === b.netns && a.qemu === b.qemu && a.owner === b.owner && a.tapOwner?.uid === b.tapOwner?.uid && a.tapOwner?.gid === b.tapOwner?.gid;
}

function sameVlans(a: number[] | null, b: number[] | null): boolean {
  return a === b || (a !== null && b !== null && a.length === b.length && a.every((v, i) => v === b[i]));
}

/** Can a GRANT take entry `was` to `now`? (GRANT keeps what it does not say, so a field cannot go back to the switch's default.) */
function grantReaches(was: Grant, now: Grant): boolean {
  return (was.portType === null || now.portType !== null) && (was.vlans === null || now.vlans !== null);
}

function sameGrant(a: Grant, b: Grant): boolean {
  return a.portType === b.portType && a.promiscuous === b.promiscuous && sameVlans(a.vlans, b.vlans);
}

function grantOp(userid: string, g: Grant): GrantOp {
  return { t: 'grant', userid, ...(g.portType !== null ? { portType: g.portType } : {}), ...(g.vlans !== null ? { vlans: [...g.vlans] } : {}), promiscuous: g.promiscuous };
}

function sameNic(a: Nic, b: Nic): boolean {
  return a.macSerial === b.macSerial && a.mac === b.mac && a.chpid === b.chpid && a.tap === b.tap
    && a.subchannels.every((s, i) => s === b.subchannels[i]);
}

function byName<T>(m: Map<string, T>): T[] {
  return [...m.entries()].sort((a, b) => cmp(a[0], b[0])).map((e) => e[1]);
}

function byVdev(g: Guest): Nic[] {
  return [...g.nics.values()].sort((a, b) => a.vdev - b.vdev);
}

/** The commands that take `base` (SYSTEM CONFIG's state) to `state`. Pure; linear in the number of definitions. */
export function snapshotCommands(base: State, state: State): SnapshotRecord[] {
  const out: SnapshotRecord[] = [];
  const emit = (cmd: Command, alloc?: NicAlloc): void => { out.push({ cmd: format(cmd), ...(alloc ? { alloc: { ...alloc, subchannels: [...alloc.subchannels] } } : {}) }); };
  const switchKept = (name: string): boolean => {
    const was = base.switches.get(name);
    const now = state.switches.get(name);
    return was !== undefined && now !== undefined && sameSwitch(was, now);
  };
  const guestKept = (userid: string): boolean => {
    const was = base.guests.get(userid);
    const now = state.guests.get(userid);
    return was !== undefined && now !== undefined && sameGuest(was, now);
  };
  const nicKept = (n: Nic): boolean => {
    if (!guestKept(n.userid)) return false;
    const now = state.nic(n.userid, n.vdev);
    return now !== undefined && sameNic(n, now);
  };
  /** A base grant that stays, or that a GRANT can change into the running one (no REVOKE, which would uncouple). */
  const grantKept = (sw: string, userid: string): boolean => {
    const was = base.switches.get(sw)?.grants.get(userid);
    const now = state.switches.get(sw)?.grants.get(userid);
    return was !== undefined && now !== undefined && switchKept(sw) && grantReaches(was, now);
  };
  /** Base NICs whose coupling stays as it is (same NIC, same switch, the switch kept, the user's grant kept). */
  const couplingKept = (n: Nic): boolean => nicKept(n) && n.coupled === state.nic(n.userid, n.vdev)!.coupled
    && (n.coupled === null || (switchKept(n.coupled) && grantKept(n.coupled, n.userid)));

  // What goes.
  const baseGuests = byName(base.guests);
  for (const g of baseGuests) {
    for (const n of byVdev(g)) {
      if (nicKept(n) && n.coupled !== null && !couplingKept(n)) emit({ kind: 'uncouple', vdev: n.vdev, userid: n.userid });
    }
  }
  for (const sw of byName(base.switches)) {
    if (!switchKept(sw.name)) continue;
    for (const userid of [...sw.grants.keys()].sort(cmp)) {
      if (!grantKept(sw.name, userid)) emit({ kind: 'set-vswitch', name: sw.name, op: { t: 'revoke', userid } });
    }
  }
  for (const g of baseGuests) for (const n of byVdev(g)) if (!nicKept(n)) emit({ kind: 'detach-nic', vdev: n.vdev, userid: n.userid });
  for (const g of baseGuests) if (!guestKept(g.userid)) emit({ kind: 'detach-guest', userid: g.userid });
  for (const sw of byName(base.switches)) if (!switchKept(sw.name)) emit({ kind: 'detach-vswitch', name: sw.name });

  // What comes.
  for (const sw of byName(state.switches)) {
    const was = switchKept(sw.name) ? base.switches.get(sw.name)! : null;
    if (was === null) {
      emit({
        kind: 'define-vswitch', name: sw.name, rdevs: [...sw.rdevs], mode: sw.mode, controller: sw.controller, queueBytes: sw.queueBytes,
        vlan: sw.vlan, nativeVid: sw.nativeVid, portType: sw.portType, isolation: sw.isolation,
        ...(sw.vxlan ? { vxlan: { vni: sw.vxlan.vni, vteps: [...sw.vxlan.vteps] } } : {}),
      });
    } else {
      if (was.controller !== sw.controller) emit({ kind: 'set-vswitch', name: sw.name, op: { t: 'controller', controller: sw.controller } });
      if (was.isolation !== sw.isolation) emit({ kind: 'set-vswitch', name: sw.name, op: { t: 'isolation', on: sw.isolation } });
    }
    if ((was?.macProtect ?? false) !== sw.macProtect) emit({ kind: 'set-vswitch', name: sw.name, op: { t: 'macprotect', on: sw.macProtect } });
    for (const [userid, g] of [...sw.grants.entries()].sort((a, b) => cmp(a[0], b[0]))) {
      const old = was?.grants.get(userid);
      if (old === undefined || !grantKept(sw.name, userid) || !sameGrant(old, g)) emit({ kind: 'set-vswitch', name: sw.name, op: grantOp(userid, g) });
    }
  }
  const guests = byName(state.guests);
  for (const g of guests) {
    if (!guestKept(g.userid)) emit({ kind: 'define-guest', userid: g.userid, netns: g.netns, qemu: g.qemu, ...(g.tapOwner ? { tapOwner: { ...g.tapOwner } } : {}), ...(g.owner !== undefined ? { owner: g.owner } : {}) });
  }
  for (const g of guests) {
    for (const n of byVdev(g)) {
      const was = base.nic(n.userid, n.vdev);
      if (was !== undefined && nicKept(was)) continue;
      const named = n.tap !== null && n.tap !== (g.netns !== null ? tapName(n.vdev) : hostTapName(g.userid, n.vdev));
      emit({ kind: 'define-nic', vdev: n.vdev, userid: n.userid, ...(named ? { name: n.tap! } : {}), ...(n.macId !== null ? { macId: n.macId } : {}) }, n);
    }
  }
  for (const g of guests) {
    for (const n of byVdev(g)) {
      if (n.coupled === null) continue;
      const was = base.nic(n.userid, n.vdev);
      if (was === undefined || !couplingKept(was)) emit({ kind: 'couple', vdev: n.vdev, sw: n.coupled, userid: n.userid });
    }
  }
  // SET NIC is no SYSTEM CONFIG statement: a base NIC has neither setting.
  for (const g of guests) {
    for (const n of byVdev(g)) {
      if (n.promiscuous) emit({ kind: 'set-nic', vdev: n.vdev, userid: n.userid, op: { t: 'promiscuous', on: true } });
      if (n.macProtect !== null) emit({ kind: 'set-nic', vdev: n.vdev, userid: n.userid, op: { t: 'macprotect', value: n.macProtect } });
    }
  }
  return out;
}

/** The snapshot file's bytes: header, then the records. */
export function encodeSnapshot(header: SnapshotHeader, records: SnapshotRecord[], at: string): Buffer {
  const lines: Buffer[] = [encodeLine({ v: 2, snapshot: header, at })];
  records.forEach((r, i) => lines.push(encodeLine({ v: 2, seq: i + 1, cmd: r.cmd, ...(r.alloc ? { alloc: r.alloc } : {}) })));
  return Buffer.concat(lines);
}

function decodeHeader(o: Record<string, unknown>, crc: boolean): SnapshotHeader | string {
  const h = o.snapshot as Record<string, unknown> | undefined;
  if (o.v !== 2 || !crc || typeof h !== 'object' || h === null) return 'not a snapshot header';
  if (![h.upTo, h.records, h.nextMacSerial].every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) return 'bad snapshot header';
  return { upTo: h.upTo as number, records: h.records as number, nextMacSerial: h.nextMacSerial as number };
}

/** Read a snapshot's bytes. Never throws. */
export function decodeSnapshot(data: Buffer): SnapshotRead {
  let header: SnapshotHeader | null = null;
  const records: JournalRecord[] = [];
  const r = readLines(data, (o, line, crc) => {
    if (line === 1) {
      const h = decodeHeader(o, crc);
      if (typeof h === 'string') return h;
      header = h;
      return null;
    }
    if (records.length >= header!.records) return `more records than the header's ${header!.records}`;
    const rec = decodeRecord(o, crc, false, records.length + 1);
    if (typeof rec === 'string') return rec;
    records.push(rec);
    return null;
  });
  const h = header as SnapshotHeader | null;
  if (r.damage !== null) return { ok: false, damage: r.damage, header: h, records };
  if (r.torn !== null) return { ok: false, damage: { line: r.torn.line, reason: 'incomplete line (a snapshot is written whole)' }, header: h, records };
  if (h === null) return { ok: false, damage: { line: 1, reason: 'empty snapshot (no header)' }, header: h, records };
  if (records.length !== h.records) return { ok: false, damage: { line: records.length + 2, reason: `snapshot ends after ${records.length} of its ${h.records} records` }, header: h, records };
  return { ok: true, header: h, records };
}

/** The snapshot in `dir`, or null when there is none. */
export function readSnapshot(dir: string): SnapshotRead | null {
  const path = join(dir, SNAPSHOT_FILE);
  if (!existsSync(path)) return null;
  return decodeSnapshot(readFileSync(path));
}

/**
 * Make `data` the snapshot in `dir`, without blocking the main thread on the disk: temp file,
 * fsync, rename over the old snapshot, fsync of the directory. `step` (tests) runs after each
 * step, by name, so a crash can be forced there.
 */
export async function writeSnapshot(dir: string, data: Buffer, step: (name: SnapshotStep) => void = () => {}): Promise<void> {
  const tmp = join(dir, `${SNAPSHOT_FILE}${TEMP_SUFFIX}`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    step('written');
    await fh.sync();
    step('synced');
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  await rename(tmp, join(dir, SNAPSHOT_FILE));
  step('renamed');
  fsyncDir(dir);
  step('dir-synced');
}

export type SnapshotStep = 'written' | 'synced' | 'renamed' | 'dir-synced';
