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
 * has, or has changed), then what comes (DEFINE VSWITCH with its CONTROLLER, SET VSWITCH
 * CONTROLLER for a base switch whose controller was set, DEFINE GUEST, DEFINE NIC with its
 * allocation, COUPLE). A definition is "the same" when every field is: a NIC its allocation
 * (MAC serial, MAC, subchannels, CHPID), a guest its namespace or QEMU transport, a switch its
 * RDEVs, mode and storage. The MAC serial counter goes in the header (serials are never reused
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
import { format, type Command } from './grammar.js';
import { decodeRecord, encodeLine, fsyncDir, readLines, TEMP_SUFFIX, type JournalRecord, type LineProblem } from './journal.js';
import { cmp, type Guest, type Nic, type NicAlloc, type State, type Vswitch } from './state.js';

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
  return a.mode === b.mode && a.queueBytes === b.queueBytes && a.rdevs.length === b.rdevs.length
    && a.rdevs.every((r, i) => r === b.rdevs[i]) && (a.rdevs.length > 0 || a.controller === b.controller);
}

function sameGuest(a: Guest, b: Guest): boolean {
  return a.netns === b.netns && a.qemu === b.qemu && a.owner === b.owner && JSON.stringify(a.tapOwner ?? null) === JSON.stringify(b.tapOwner ?? null);
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
  /** Base NICs whose coupling stays as it is (same NIC, same switch, the switch kept). */
  const couplingKept = (n: Nic): boolean => nicKept(n) && n.coupled === state.nic(n.userid, n.vdev)!.coupled && (n.coupled === null || switchKept(n.coupled));

  // What goes.
  const baseGuests = byName(base.guests);
  for (const g of baseGuests) {
    for (const n of byVdev(g)) {
      if (nicKept(n) && n.coupled !== null && !couplingKept(n)) emit({ kind: 'uncouple', vdev: n.vdev, userid: n.userid });
    }
  }
  for (const g of baseGuests) for (const n of byVdev(g)) if (!nicKept(n)) emit({ kind: 'detach-nic', vdev: n.vdev, userid: n.userid });
  for (const g of baseGuests) if (!guestKept(g.userid)) emit({ kind: 'detach-guest', userid: g.userid });
  for (const sw of byName(base.switches)) if (!switchKept(sw.name)) emit({ kind: 'detach-vswitch', name: sw.name });

  // What comes.
  for (const sw of byName(state.switches)) {
    if (!switchKept(sw.name)) {
      emit({ kind: 'define-vswitch', name: sw.name, rdevs: [...sw.rdevs], mode: sw.mode, controller: sw.controller, queueBytes: sw.queueBytes });
    } else if (base.switches.get(sw.name)!.controller !== sw.controller) {
      emit({ kind: 'set-vswitch', name: sw.name, op: { t: 'controller', controller: sw.controller } });
    }
  }
  const guests = byName(state.guests);
  for (const g of guests) {
    if (!guestKept(g.userid)) emit({ kind: 'define-guest', userid: g.userid, netns: g.netns, qemu: g.qemu, ...(g.tapOwner ? { tapOwner: { ...g.tapOwner } } : {}), ...(g.owner !== undefined ? { owner: g.owner } : {}) });
  }
  for (const g of guests) {
    for (const n of byVdev(g)) {
      const was = base.nic(n.userid, n.vdev);
      if (was === undefined || !nicKept(was)) emit({ kind: 'define-nic', vdev: n.vdev, userid: n.userid }, n);
    }
  }
  for (const g of guests) {
    for (const n of byVdev(g)) {
      if (n.coupled === null) continue;
      const was = base.nic(n.userid, n.vdev);
      if (was === undefined || !couplingKept(was)) emit({ kind: 'couple', vdev: n.vdev, sw: n.coupled, userid: n.userid });
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
