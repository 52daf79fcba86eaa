/**
 * The CP command language: one grammar for the CLI, the control socket and SYSTEM CONFIG.
 *
 * Contract:
 * - `parse(text)` never throws. It returns a typed Command (a discriminated union on `kind`)
 *   or a ParseError naming the offending word and what was expected there.
 * - Keywords are case blind and take z/VM's minimum abbreviations: a word matches a keyword
 *   when it is a prefix of the keyword at least `min` letters long (Q for QUERY, DEF for
 *   DEFINE, DET for DETACH as a verb and for DETAILS as an option, VSW for VSWITCH, ...).
 * - Case blind means ASCII only: a-z and A-Z are the same letter, nothing else is folded (no
 *   Unicode case rules: 'DEFıNE' is not DEFINE, though 'ı'.toUpperCase() is 'I'). Words are
 *   separated by ASCII white space only; any other character is part of a word (and refused
 *   wherever a keyword, name or number is expected).
 * - Switch names, user ids and controller names are 1-8 characters of A-Z 0-9 @ # $ _,
 *   folded to upper case (ASCII). Interface and namespace names keep their case (Linux names).
 *   Virtual device numbers are 1-4 hex digits, kept as numbers. A namespace given by path
 *   (`NETNS PATH /proc/PID/ns/net`, as container runtimes name one) is an absolute path, kept
 *   as typed, in the same `netns` field (a path starts with '/', a name never does).
 * - `format(cmd)` writes the canonical words (full keywords, every default spelled out), and
 *   `parse(format(cmd))` gives back an equal Command.
 * Checking a command against the state (does the switch exist, ...) is not done here, nor is
 * what a command is (journaled or not, where it is accepted): src/control/commands/index.ts.
 */
import { VLAN_NONE } from '../protocol/dataplane.js';
import { formatIpv4, parseIpv4 } from '../wire/addr.js';
import { IFNAME_RE, NAME_RE, NETNS_PATH_RE, NETNS_RE, isNetnsPath } from '../protocol/names.js';

export type Mode = 'IP' | 'ETHERNET';
/**
 * How a QEMU guest's NICs reach the daemon: `-netdev stream` (default) or `-netdev dgram` over a
 * unix socket, or `-netdev tap` on a host-side TAP the daemon makes (src/control/host-tap-nics.ts).
 */
export type QemuTransport = 'STREAM' | 'DGRAM' | 'TAP';

/** Who may open a QEMU TAP guest's TAPs besides root (TUNSETOWNER / TUNSETGROUP); null: not set. */
export interface TapOwner { uid: number | null; gid: number | null }

/**
 * DEFINE VSWITCH ... VXLAN vni [VTEP addr ...]: the switch's overlay between hosts over the
 * kernel's VXLAN (src/forward/overlay.ts). vni 1..16777215; vteps: static remote VTEPs
 * (dotted IPv4, each once, at most MAX_STATIC_VTEPS): hand-made VXLAN endpoints outside the
 * cluster that get the overlay's floods (ARP), in the order given.
 */
export interface VxlanDef { vni: number; vteps: string[] }
export const MAX_VNI = 0xffffff;
export const MAX_STATIC_VTEPS = 16;
/** Whether an IPv4 address (parseIpv4's number; negative: not one) may be a VTEP: unicast, not 0.0.0.0, loopback, multicast or class E. */
export function unicastVtep(ip: number): boolean {
  return ip > 0 && ip >>> 28 < 14 && ip >>> 24 !== 127;
}

export type Command =
  /**
   * vlan: VLAN UNAWARE (null, the default) or VLAN defvid [AWARE] (the VLAN of guests whose grant
   * names none). nativeVid: NATIVE natvid (default 1) or NONE (VLAN_NONE, 0); VLAN_NONE on a
   * VLAN-unaware switch. portType: the guests' port type when their grant names none.
   */
  | { kind: 'define-vswitch'; name: string; rdevs: string[]; mode: Mode; controller: string; queueBytes: number;
      vlan: number | null; nativeVid: number; portType: PortType; isolation: boolean; vxlan?: VxlanDef }
  | { kind: 'detach-vswitch'; name: string }
  /**
   * netns for a container guest (qemu null): a name, or a path (starts with '/'); qemu for a
   * QEMU guest (netns null). tapOwner only for QEMU TAP, and only when OWNER or GROUP was given.
   * owner: the unix user (a name, or a decimal uid; as typed) who may command the guest's NICs
   * (class G, src/control/privilege.ts), only when OWNER was given; a QEMU TAP guest's OWNER uid
   * is its tapOwner.uid instead.
   */
  | { kind: 'define-guest'; userid: string; netns: string | null; qemu: QemuTransport | null; tapOwner?: TapOwner; owner?: string }
  | { kind: 'detach-guest'; userid: string }
  /** name: the NIC's interface name (NAME operand), only when given; macId: MACID xxxxxx (the MAC's low 3 bytes), only when given. */
  | { kind: 'define-nic'; vdev: number; userid: string; name?: string; macId?: number }
  | { kind: 'detach-nic'; vdev: number; userid: string }
  | { kind: 'couple'; vdev: number; sw: string; userid: string }
  | { kind: 'uncouple'; vdev: number; userid: string }
  /** list: QUERY VSWITCH name ACCESSLIST | PROMISCUOUS (only when given; then details is false). */
  | { kind: 'query-vswitch'; name: string | null; details: boolean; list?: 'ACCESSLIST' | 'PROMISCUOUS' }
  /** virtual: said as QUERY VIRTUAL NIC (CP's class G form for one's own guest), only when so. */
  | { kind: 'query-nic'; vdev: number | null; details: boolean; userid: string; virtual?: true }
  /** QUERY LAN [name|ALL] [DETAILS]: the switches, as z/VM lists its guest LANs and virtual switches. */
  | { kind: 'query-lan'; name: string | null; details: boolean }
  | { kind: 'query-guest'; userid: string | null }
  | { kind: 'query-vmlan' }
  | { kind: 'query-ssi' }
  | { kind: 'vmlan-macprefix'; prefix: number }
  /** VMLAN USERPREFIX xxxxxx: the upper 24 bits of the MACs of NICs defined with MACID. */
  | { kind: 'vmlan-userprefix'; prefix: number }
  | { kind: 'set-vswitch'; name: string; op: SetVswitchOp }
  /** SYSTEM CONFIG's MODIFY VSWITCH name GRANT ... | ISOLATION ON|OFF | MACPROTECT ON|OFF (the SET VSWITCH operands that are definitions). */
  | { kind: 'modify-vswitch'; name: string; op: ModifyVswitchOp }
  /** SET NIC vdev PROMISCUOUS | NOPROMISCUOUS | MACPROTECT ON|OFF|UNSPECIFIED FOR userid */
  | { kind: 'set-nic'; vdev: number; userid: string; op: SetNicOp }
  | { kind: 'query-controller'; name: string | null }
  /**
   * VMRELOCATE TEST | MOVE [USER] userid [TO] member: move a guest to another member of the
   * cluster (TEST: is it eligible?); VMRELOCATE STATUS: the relocations this member took part in
   * (userid and member null).
   */
  | { kind: 'vmrelocate'; op: 'TEST' | 'MOVE' | 'STATUS'; userid: string | null; member: string | null };

/** A guest's port type on a VLAN-aware switch: one VLAN untagged (ACCESS) or several tagged plus the native one untagged (TRUNK). */
export type PortType = 'ACCESS' | 'TRUNK';

/**
 * GRANT userid [PORTTYPE ACCESS|TRUNK] [VLAN vidset] [PROMISCUOUS|NOPROMISCUOUS]: portType and
 * vlans only when given (absent: the switch's PORTTYPE, its default VLAN); vlans sorted, unique.
 */
export interface GrantOp { t: 'grant'; userid: string; portType?: PortType; vlans?: number[]; promiscuous?: boolean }

/** The SET VSWITCH operands that change the switch's definition and SYSTEM CONFIG's MODIFY VSWITCH takes. */
export type ModifyVswitchOp =
  | GrantOp
  | { t: 'isolation'; on: boolean }
  | { t: 'macprotect'; on: boolean };

/**
 * SET VSWITCH name SWITCHOVER | UPLINK DISCONNECT | UPLINK CONNECT | CONTROLLER ctlname | * |
 * GRANT ... | REVOKE userid | ISOLATION ON|OFF | MACPROTECT ON|OFF
 */
export type SetVswitchOp =
  | { t: 'switchover' }
  | { t: 'uplink'; connect: boolean }
  | { t: 'controller'; controller: string }
  | ModifyVswitchOp
  | { t: 'revoke'; userid: string };

/** SET NIC operands: PROMISCUOUS / NOPROMISCUOUS; MACPROTECT ON | OFF | UNSPECIFIED (null: the switch's setting). */
export type SetNicOp = { t: 'promiscuous'; on: boolean } | { t: 'macprotect'; value: 'ON' | 'OFF' | null };

export type CommandKind = Command['kind'];
/** The Command of one kind. */
export type CommandOf<K extends CommandKind> = Extract<Command, { kind: K }>;

export interface ParseError {
  /** One line: what was wrong, naming the word and what was expected. */
  message: string;
  /** The offending word, or null at the end of the command. */
  word: string | null;
}

export type ParseResult = { ok: true; cmd: Command } | { ok: false; error: ParseError };

/** QUEUESTORAGE default and limits, in bytes (z/VM's default is 8M). */
export const DEFAULT_QUEUE_BYTES = 8 * 1024 * 1024;
export const MIN_QUEUE_BYTES = 64 * 1024;
export const MAX_QUEUE_BYTES = 1024 * 1024 * 1024;
/** Highest vdev whose triplet (vdev, vdev+1, vdev+2) fits below 0x10000. */
export const MAX_VDEV = 0xfffd;

interface Keyword { word: string; min: number }

function kw(word: string, min: number): Keyword {
  return { word, min };
}

/** Keywords and their minimum abbreviations (z/VM's capitalised part). */
export const K = {
  QUERY: kw('QUERY', 1),
  DEFINE: kw('DEFINE', 3),
  DETACH: kw('DETACH', 3),
  COUPLE: kw('COUPLE', 4),
  UNCOUPLE: kw('UNCOUPLE', 6),
  VMLAN: kw('VMLAN', 5),
  SSI: kw('SSI', 3),
  VSWITCH: kw('VSWITCH', 3),
  GUEST: kw('GUEST', 3),
  NIC: kw('NIC', 3),
  RDEV: kw('RDEV', 4),
  NONE: kw('NONE', 4),
  IP: kw('IP', 2),
  ETHERNET: kw('ETHERNET', 3),
  CONTROLLER: kw('CONTROLLER', 5),
  QUEUESTORAGE: kw('QUEUESTORAGE', 9),
  DETAILS: kw('DETAILS', 3),
  ALL: kw('ALL', 3),
  TYPE: kw('TYPE', 4),
  QDIO: kw('QDIO', 4),
  FOR: kw('FOR', 3),
  TO: kw('TO', 2),
  SYSTEM: kw('SYSTEM', 3),
  NETNS: kw('NETNS', 5),
  QEMU: kw('QEMU', 4),
  STREAM: kw('STREAM', 3),
  DGRAM: kw('DGRAM', 2),
  TAP: kw('TAP', 3),
  OWNER: kw('OWNER', 5),
  GROUP: kw('GROUP', 5),
  PATH: kw('PATH', 4),
  NAME: kw('NAME', 4),
  MACPREFIX: kw('MACPREFIX', 7),
  SET: kw('SET', 3),
  SWITCHOVER: kw('SWITCHOVER', 6),
  UPLINK: kw('UPLINK', 6),
  DISCONNECT: kw('DISCONNECT', 4),
  CONNECT: kw('CONNECT', 4),
  VLAN: kw('VLAN', 4),
  UNAWARE: kw('UNAWARE', 5),
  AWARE: kw('AWARE', 5),
  NATIVE: kw('NATIVE', 3),
  PORTTYPE: kw('PORTTYPE', 5),
  ACCESS: kw('ACCESS', 6),
  TRUNK: kw('TRUNK', 5),
  ISOLATION: kw('ISOLATION', 4),
  GRANT: kw('GRANT', 3),
  REVOKE: kw('REVOKE', 3),
  PROMISCUOUS: kw('PROMISCUOUS', 3),
  NOPROMISCUOUS: kw('NOPROMISCUOUS', 5),
  MACPROTECT: kw('MACPROTECT', 4),
  ON: kw('ON', 2),
  OFF: kw('OFF', 3),
  UNSPECIFIED: kw('UNSPECIFIED', 6),
  ACCESSLIST: kw('ACCESSLIST', 3),
  MODIFY: kw('MODIFY', 3),
  USERPREFIX: kw('USERPREFIX', 7),
  MACID: kw('MACID', 5),
  VIRTUAL: kw('VIRTUAL', 1),
  LAN: kw('LAN', 3),
  VXLAN: kw('VXLAN', 5),
  VTEP: kw('VTEP', 4),
  VMRELOCATE: kw('VMRELOCATE', 5),
  MOVE: kw('MOVE', 4),
  TEST: kw('TEST', 4),
  STATUS: kw('STATUS', 4),
  USER: kw('USER', 4),
} as const;

/** VLAN ids (802.1Q): 1 to 4094. */
export const MIN_VID = 1;
export const MAX_VID = 4094;
/** z/VM's default NATIVE VLAN id. */
export const DEFAULT_NATIVE_VID = 1;

/** Does `word` stand for keyword `k` (ASCII case blind, at least k.min letters, a prefix of it)? */
export function matches(word: string, k: Keyword): boolean {
  if (word.length < k.min || word.length > k.word.length) return false;
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    // Keywords are upper-case ASCII: fold a-z alone, so no other character can equal a letter.
    if ((c >= 0x61 && c <= 0x7a ? c - 0x20 : c) !== k.word.charCodeAt(i)) return false;
  }
  return true;
}

/** ASCII upper case: a-z to A-Z, every other character as it is (Unicode case rules never apply). */
export function asciiUpper(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

function show(k: Keyword): string {
  return k.min < k.word.length ? `${k.word} (${k.word.slice(0, k.min)})` : k.word;
}

const VDEV_RE = /^[0-9A-Fa-f]{1,4}$/;

/** Split a command into words. Any run of ASCII white space (space, tab, CR, LF, FF, VT) separates words. */
export function tokenize(text: string): string[] {
  return text.split(/[ \t\r\n\f\v]+/).filter((w) => w.length > 0);
}

/** `s` without leading and trailing ASCII white space (String.trim would also take Unicode spaces). */
export function trimAscii(s: string): string {
  return s.replace(/^[ \t\r\n\f\v]+|[ \t\r\n\f\v]+$/g, '');
}

class Fail {
  constructor(readonly error: ParseError) {}
}

class Cursor {
  private i = 0;
  constructor(private readonly words: readonly string[]) {}

  peek(): string | null {
    return this.peekAt(0);
  }

  /** The word `ahead` words after the next one (0: the next one), or null past the end. */
  peekAt(ahead: number): string | null {
    const j = this.i + ahead;
    return j < this.words.length ? this.words[j] : null;
  }

  atEnd(): boolean {
    return this.i >= this.words.length;
  }

  next(): string | null {
    const w = this.peek();
    if (w !== null) this.i++;
    return w;
  }

  fail(expected: string): never {
    const w = this.peek();
    const message = w === null ? `missing word: expected ${expected}` : `unexpected word '${clip(w)}': expected ${expected}`;
    throw new Fail({ message, word: w });
  }

  failWord(word: string, message: string): never {
    throw new Fail({ message, word });
  }

  /** Consume the next word if it is keyword k. */
  accept(k: Keyword): boolean {
    const w = this.peek();
    if (w !== null && matches(w, k)) {
      this.i++;
      return true;
    }
    return false;
  }

  expect(k: Keyword): void {
    if (!this.accept(k)) this.fail(show(k));
  }

  /** The next word must be one of the keywords; returns which. */
  oneOf<T extends Keyword>(ks: readonly T[]): T {
    const w = this.peek();
    if (w !== null) {
      for (const k of ks) {
        if (matches(w, k)) {
          this.i++;
          return k;
        }
      }
    }
    return this.fail(ks.map(show).join(', '));
  }

  end(): void {
    if (!this.atEnd()) this.fail('end of command');
  }
}

function clip(w: string): string {
  return w.length > 40 ? `${w.slice(0, 40)}...` : w;
}

function name(c: Cursor, what: string): string {
  const w = c.peek();
  if (w === null) return c.fail(what);
  if (!NAME_RE.test(w)) return c.failWord(w, `bad ${what} '${clip(w)}': 1-8 characters of A-Z 0-9 @ # $ _`);
  c.next();
  return asciiUpper(w);
}

function vdev(c: Cursor): number {
  const w = c.peek();
  if (w === null) return c.fail('a virtual device number (1-4 hex digits)');
  if (!VDEV_RE.test(w)) return c.failWord(w, `bad virtual device number '${clip(w)}': expected 1-4 hex digits`);
  const v = parseInt(w, 16);
  if (v > MAX_VDEV) return c.failWord(w, `virtual device number ${asciiUpper(w)} leaves no room for its triplet (highest is ${hex4(MAX_VDEV)})`);
  c.next();
  return v;
}

function ifname(c: Cursor): string {
  const w = c.peek();
  if (w === null) return c.fail('an interface name');
  if (!IFNAME_RE.test(w) || w === '.' || w === '..') return c.failWord(w, `bad interface name '${clip(w)}': 1-15 characters of A-Z a-z 0-9 _ . @ + -`);
  c.next();
  return w;
}

function netnsPathWord(c: Cursor): string {
  const w = c.peek();
  if (w === null) return c.fail('an absolute path to a network namespace file such as /proc/PID/ns/net');
  if (!NETNS_PATH_RE.test(w) || w.split('/').includes('..')) {
    return c.failWord(w, `bad namespace path '${clip(w)}': expected an absolute path such as /proc/PID/ns/net or /run/netns/NAME`);
  }
  c.next();
  return w;
}

/** A uid or gid (OWNER, GROUP): a decimal number below 2^32 - 1. */
function idNumber(c: Cursor, what: string): number {
  const w = c.peek();
  if (w === null) return c.fail(`a numeric ${what}`);
  if (!/^\d{1,10}$/.test(w) || Number(w) >= 0xffffffff) return c.failWord(w, `bad ${what} '${clip(w)}': expected a number from 0 to 4294967294`);
  c.next();
  return Number(w);
}

/** A unix user (OWNER of a guest): a name (kept as typed, Linux names have case) or a decimal uid. */
function unixUser(c: Cursor): string {
  const w = c.peek();
  if (w === null) return c.fail('a unix user name or uid');
  if (!/^(\d{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,30}\$?)$/.test(w) || (/^\d+$/.test(w) && Number(w) >= 0xffffffff)) {
    return c.failWord(w, `bad unix user '${clip(w)}': expected a user name (A-Z a-z 0-9 _ . -, up to 32 characters) or a uid`);
  }
  c.next();
  return w;
}

/** QEMU TAP's [OWNER uid] [GROUP gid], in either order, each at most once. */
function tapOwner(c: Cursor): TapOwner | null {
  let uid: number | null = null;
  let gid: number | null = null;
  while (!c.atEnd()) {
    const w = c.peek()!;
    const k = c.oneOf([K.OWNER, K.GROUP]);
    if ((k === K.OWNER ? uid : gid) !== null) c.failWord(w, `option ${k.word} given twice`);
    if (k === K.OWNER) uid = idNumber(c, 'user id (uid)');
    else gid = idNumber(c, 'group id (gid)');
  }
  return uid === null && gid === null ? null : { uid, gid };
}

/** Six hex digits (MACPREFIX, USERPREFIX, MACID). prefix: a MAC's upper bytes (refused when multicast); else not zero. */
function hex6(c: Cursor, what: string, example: string, prefix: boolean): number {
  const w = c.peek();
  if (w === null) return c.fail(`6 hex digits: ${example}`);
  if (!/^[0-9A-Fa-f]{6}$/.test(w)) return c.failWord(w, `bad ${what} '${clip(w)}': expected 6 hex digits: ${example}`);
  const v = parseInt(w, 16);
  if (prefix && (v >> 16) & 1) return c.failWord(w, `${what} ${asciiUpper(w)} is a multicast prefix (low bit of the first byte set)`);
  if (!prefix && v === 0) return c.failWord(w, `${what} 000000 is not allowed`);
  c.next();
  return v;
}

function forUser(c: Cursor): string {
  c.expect(K.FOR);
  return name(c, 'user id');
}

/** QUEUESTORAGE amount: n (megabytes, as in z/VM), nK or nM. Returns bytes. */
function queueStorage(c: Cursor): number {
  const w = c.peek();
  if (w === null) return c.fail('a storage amount such as 8M or 512K');
  const m = /^(\d{1,7})([KkMm]?)$/.exec(w);
  if (!m) return c.failWord(w, `bad QUEUESTORAGE amount '${clip(w)}': expected n, nK or nM (plain n is megabytes)`);
  const unit = asciiUpper(m[2]) === 'K' ? 1024 : 1024 * 1024;
  const bytes = Number(m[1]) * unit;
  if (bytes < MIN_QUEUE_BYTES || bytes > MAX_QUEUE_BYTES) {
    return c.failWord(w, `QUEUESTORAGE ${asciiUpper(w)} is out of range (64K to 1024M)`);
  }
  c.next();
  return bytes;
}

const VERBS = [K.QUERY, K.DEFINE, K.DETACH, K.COUPLE, K.UNCOUPLE, K.VMLAN, K.SET, K.MODIFY, K.VMRELOCATE];
const SWITCH_OPTIONS = [K.RDEV, K.IP, K.ETHERNET, K.CONTROLLER, K.QUEUESTORAGE, K.VLAN, K.NATIVE, K.PORTTYPE, K.ISOLATION, K.VXLAN, K.VTEP];

function isSwitchOption(w: string): boolean {
  return SWITCH_OPTIONS.some((k) => matches(w, k));
}

/** A VLAN id, 1-4094. `or`: the keyword that may stand instead (named when the word is missing). */
function vid(c: Cursor, what: string, or: string): number {
  const w = c.peek();
  if (w === null) return c.fail(`${what} (a VLAN id, ${MIN_VID}-${MAX_VID}) or ${or}`);
  if (!/^\d{1,4}$/.test(w) || Number(w) < MIN_VID || Number(w) > MAX_VID) return c.failWord(w, `bad ${what} '${clip(w)}': expected a VLAN id from ${MIN_VID} to ${MAX_VID}`);
  c.next();
  return Number(w);
}

const VIDSET_WORD = /^[0-9][0-9,-]*$/;

/**
 * A VLAN id set (GRANT ... VLAN vidset): words of VLAN ids and ranges `a-b`, blank or comma
 * separated (`10 20-22`, `2,200`), up to the next keyword. Returns the ids sorted, each once.
 */
function vidset(c: Cursor): number[] {
  const out = new Set<number>();
  if (c.peek() === null || !VIDSET_WORD.test(c.peek()!)) c.fail(`a VLAN id set such as 10 or 20-22 or 2,200 (VLAN ids ${MIN_VID}-${MAX_VID})`);
  while (c.peek() !== null && VIDSET_WORD.test(c.peek()!)) {
    const w = c.next()!;
    for (const part of w.split(',')) {
      const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part);
      const lo = m ? Number(m[1]) : NaN;
      const hi = m ? Number(m[2] ?? m[1]) : NaN;
      if (!m || lo < MIN_VID || hi > MAX_VID || lo > hi) c.failWord(w, `bad VLAN id set '${clip(w)}': expected VLAN ids from ${MIN_VID} to ${MAX_VID} and ranges low-high`);
      for (let v = lo; v <= hi; v++) out.add(v);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** A vid set in the fewest words: runs as ranges (`10-12 20`). */
export function formatVidset(vids: readonly number[]): string {
  const words: string[] = [];
  for (let i = 0; i < vids.length; ) {
    let j = i;
    while (j + 1 < vids.length && vids[j + 1] === vids[j] + 1) j++;
    words.push(j === i ? String(vids[i]) : `${vids[i]}-${vids[j]}`);
    i = j + 1;
  }
  return words.join(' ');
}

function portType(c: Cursor): PortType {
  return c.oneOf([K.ACCESS, K.TRUNK]) === K.TRUNK ? 'TRUNK' : 'ACCESS';
}

function onOff(c: Cursor): boolean {
  return c.oneOf([K.ON, K.OFF]) === K.ON;
}

function defineVswitch(c: Cursor): Command {
  const sw = name(c, 'switch name');
  if (matches(sw, K.ALL)) c.failWord(sw, `switch name '${sw}' is reserved (QUERY VSWITCH ALL)`);
  let rdevs: string[] | null = null;
  let mode: Mode | null = null;
  let controller: string | null = null;
  let queueBytes: number | null = null;
  let vlan: number | null | undefined;
  let native: number | null = null;
  let nativeWord: string | null = null;
  let ptype: PortType | null = null;
  let ptypeWord: string | null = null;
  let isolation = false;
  let vni: number | null = null;
  let vxlanWord: string | null = null;
  let vteps: string[] | null = null;
  let vtepWord: string | null = null;
  // z/VM: the operands in any order after the switch name, each once.
  while (!c.atEnd()) {
    const w = c.peek()!;
    const k = c.oneOf(SWITCH_OPTIONS);
    const dup = (): never => c.failWord(w, `option ${k.word} given twice`);
    if (k === K.RDEV) {
      if (rdevs !== null) dup();
      if (c.accept(K.NONE)) {
        rdevs = [];
      } else {
        // At most three interface names; the next keyword ends the list.
        rdevs = [ifname(c)];
        while (rdevs.length < 3 && c.peek() !== null && !isSwitchOption(c.peek()!)) rdevs.push(ifname(c));
        if (rdevs.length === 3 && c.peek() !== null && !isSwitchOption(c.peek()!)) {
          c.failWord(c.peek()!, `too many RDEVs: at most 3 interfaces, found '${clip(c.peek()!)}'`);
        }
        if (new Set(rdevs).size !== rdevs.length) c.failWord(w, `RDEV names the same interface twice`);
      }
    } else if (k === K.IP || k === K.ETHERNET) {
      if (mode !== null) c.failWord(w, `IP and ETHERNET are exclusive and may be given once`);
      mode = k === K.IP ? 'IP' : 'ETHERNET';
    } else if (k === K.CONTROLLER) {
      if (controller !== null) dup();
      if (c.peek() === '*') {
        c.next();
        controller = '*';
      } else {
        controller = name(c, "controller name or '*'");
      }
    } else if (k === K.QUEUESTORAGE) {
      if (queueBytes !== null) dup();
      queueBytes = queueStorage(c);
    } else if (k === K.VLAN) {
      if (vlan !== undefined) dup();
      if (c.accept(K.UNAWARE)) vlan = null;
      else {
        vlan = vid(c, 'default VLAN id', 'UNAWARE');
        c.accept(K.AWARE);
      }
    } else if (k === K.NATIVE) {
      if (nativeWord !== null) dup();
      nativeWord = w;
      native = c.accept(K.NONE) ? VLAN_NONE : vid(c, 'native VLAN id', 'NONE');
    } else if (k === K.PORTTYPE) {
      if (ptypeWord !== null) dup();
      ptypeWord = w;
      ptype = portType(c);
    } else if (k === K.VXLAN) {
      if (vxlanWord !== null) dup();
      vxlanWord = w;
      const v = c.peek();
      if (v === null) c.fail(`a VXLAN network identifier (VNI, 1-${MAX_VNI})`);
      if (!/^\d{1,8}$/.test(v!) || Number(v) < 1 || Number(v) > MAX_VNI) c.failWord(v!, `bad VNI '${clip(v!)}': expected a VXLAN network identifier from 1 to ${MAX_VNI}`);
      c.next();
      vni = Number(v);
    } else if (k === K.VTEP) {
      if (vtepWord !== null) dup();
      vtepWord = w;
      vteps = [];
      if (c.peek() === null || isSwitchOption(c.peek()!)) c.fail('a remote VTEP address (dotted IPv4)');
      while (c.peek() !== null && !isSwitchOption(c.peek()!)) {
        const a = c.next()!;
        const ip = parseIpv4(a);
        if (!unicastVtep(ip)) c.failWord(a, `bad VTEP '${clip(a)}': expected a unicast IPv4 address such as 192.168.50.9`);
        if (vteps.includes(formatIpv4(ip))) c.failWord(a, `VTEP ${formatIpv4(ip)} given twice`);
        if (vteps.length >= MAX_STATIC_VTEPS) c.failWord(a, `too many VTEPs: at most ${MAX_STATIC_VTEPS}`);
        vteps.push(formatIpv4(ip));
      }
    } else {
      if (isolation) dup();
      isolation = true;
    }
  }
  const aware = vlan !== undefined && vlan !== null;
  if (vtepWord !== null && vxlanWord === null) c.failWord(vtepWord, 'VTEP names the static remote VTEPs of a VXLAN overlay: it needs VXLAN vni');
  if (vxlanWord !== null && mode === 'ETHERNET') c.failWord(vxlanWord, 'VXLAN needs an IP-mode switch (an ETHERNET-mode switch is not carried over VXLAN)');
  if (vxlanWord !== null && aware) c.failWord(vxlanWord, 'VXLAN needs a VLAN-unaware switch (one VNI carries one segment)');
  if (!aware && nativeWord !== null) c.failWord(nativeWord, 'NATIVE needs a VLAN-aware switch (VLAN defvid)');
  if (!aware && ptype === 'TRUNK') c.failWord(ptypeWord!, 'PORTTYPE TRUNK needs a VLAN-aware switch (VLAN defvid)');
  return {
    kind: 'define-vswitch',
    name: sw,
    rdevs: rdevs ?? [],
    mode: mode ?? 'IP',
    controller: controller ?? '*',
    queueBytes: queueBytes ?? DEFAULT_QUEUE_BYTES,
    vlan: aware ? vlan! : null,
    nativeVid: aware ? (native ?? DEFAULT_NATIVE_VID) : VLAN_NONE,
    portType: ptype ?? 'ACCESS',
    isolation,
    ...(vni !== null ? { vxlan: { vni, vteps: vteps ?? [] } } : {}),
  };
}

/** GRANT userid [PORTTYPE ACCESS|TRUNK] [VLAN vidset] [PROMISCUOUS|NOPROMISCUOUS], the options in any order, each once. */
function grant(c: Cursor): GrantOp {
  const userid = name(c, 'user id');
  const op: GrantOp = { t: 'grant', userid };
  while (!c.atEnd()) {
    const w = c.peek()!;
    const k = c.oneOf([K.PORTTYPE, K.VLAN, K.PROMISCUOUS, K.NOPROMISCUOUS]);
    if (k === K.PORTTYPE) {
      if (op.portType !== undefined) c.failWord(w, 'option PORTTYPE given twice');
      op.portType = portType(c);
    } else if (k === K.VLAN) {
      if (op.vlans !== undefined) c.failWord(w, 'option VLAN given twice');
      op.vlans = vidset(c);
    } else {
      if (op.promiscuous !== undefined) c.failWord(w, 'PROMISCUOUS and NOPROMISCUOUS are exclusive and may be given once');
      op.promiscuous = k === K.PROMISCUOUS;
    }
  }
  return op;
}

/** The operands SET VSWITCH and MODIFY VSWITCH share: GRANT ..., ISOLATION ON|OFF, MACPROTECT ON|OFF. */
function modifyOp(c: Cursor, k: Keyword): ModifyVswitchOp {
  if (k === K.GRANT) return grant(c);
  if (k === K.ISOLATION) return { t: 'isolation', on: onOff(c) };
  return { t: 'macprotect', on: onOff(c) };
}

function define(c: Cursor): Command {
  const what = c.oneOf([K.VSWITCH, K.GUEST, K.NIC]);
  if (what === K.VSWITCH) return defineVswitch(c);
  if (what === K.GUEST) {
    const userid = name(c, 'user id');
    const t = c.oneOf([K.NETNS, K.QEMU]);
    let netns: string | null = null;
    let qemu: QemuTransport | null = null;
    let owner: TapOwner | null = null;
    let user: string | null = null;
    if (t === K.QEMU) {
      if (c.atEnd() || matches(c.peek()!, K.OWNER)) qemu = 'STREAM';
      else {
        const k = c.oneOf([K.STREAM, K.DGRAM, K.TAP]);
        qemu = k === K.DGRAM ? 'DGRAM' : k === K.TAP ? 'TAP' : 'STREAM';
        if (qemu === 'TAP') owner = tapOwner(c);
      }
      if (qemu !== 'TAP' && c.accept(K.OWNER)) user = unixUser(c);
    } else {
      const w = c.peek();
      if (w === null) c.fail('a network namespace name');
      // NETNS PATH p: a namespace by path. A namespace named PATH is still NETNS PATH (last word, or before OWNER).
      if (matches(w!, K.PATH) && c.peekAt(1) !== null && !matches(c.peekAt(1)!, K.OWNER)) {
        c.next();
        netns = netnsPathWord(c);
      } else {
        if (isNetnsPath(w!)) c.failWord(w!, `bad namespace name '${clip(w!)}': a namespace given by path is NETNS PATH ${clip(w!)}`);
        if (!NETNS_RE.test(w!) || w === '.' || w === '..') c.failWord(w!, `bad namespace name '${clip(w!)}': 1-64 characters of A-Z a-z 0-9 _ . @ + -`);
        c.next();
        netns = w;
      }
      if (c.accept(K.OWNER)) user = unixUser(c);
    }
    c.end();
    return { kind: 'define-guest', userid, netns, qemu, ...(owner !== null ? { tapOwner: owner } : {}), ...(user !== null ? { owner: user } : {}) };
  }
  const v = vdev(c);
  if (c.accept(K.TYPE)) c.expect(K.QDIO);
  else c.accept(K.QDIO);
  let nicName: string | null = null;
  let macId: number | null = null;
  // NAME and MACID in either order, each once, before FOR.
  while (c.peek() !== null && !matches(c.peek()!, K.FOR)) {
    const w = c.peek()!;
    const k = c.oneOf([K.NAME, K.MACID, K.FOR]);
    if ((k === K.NAME ? nicName : macId) !== null) c.failWord(w, `option ${k.word} given twice`);
    if (k === K.NAME) nicName = ifname(c);
    else macId = hex6(c, 'MACID', 'the low 3 bytes of the MAC, such as 00A1B2', false);
  }
  const userid = forUser(c);
  c.end();
  return { kind: 'define-nic', vdev: v, userid, ...(nicName !== null ? { name: nicName } : {}), ...(macId !== null ? { macId } : {}) };
}

function detach(c: Cursor): Command {
  const what = c.oneOf([K.VSWITCH, K.GUEST, K.NIC]);
  if (what === K.VSWITCH) {
    const n = name(c, 'switch name');
    c.end();
    return { kind: 'detach-vswitch', name: n };
  }
  if (what === K.GUEST) {
    const u = name(c, 'user id');
    c.end();
    return { kind: 'detach-guest', userid: u };
  }
  const v = vdev(c);
  const userid = forUser(c);
  c.end();
  return { kind: 'detach-nic', vdev: v, userid };
}

function query(c: Cursor): Command {
  const what = c.oneOf([K.VSWITCH, K.NIC, K.GUEST, K.VMLAN, K.CONTROLLER, K.VIRTUAL, K.LAN, K.SSI]);
  if (what === K.SSI) {
    c.end();
    return { kind: 'query-ssi' };
  }
  if (what === K.CONTROLLER) {
    let n: string | null = null;
    if (c.accept(K.ALL)) n = null;
    else if (c.peek() === '*') c.next();
    else if (!c.atEnd()) n = name(c, 'controller name, * or ALL');
    c.end();
    return { kind: 'query-controller', name: n };
  }
  if (what === K.VSWITCH || what === K.LAN) {
    const tail = what === K.VSWITCH ? [K.DETAILS, K.ACCESSLIST, K.PROMISCUOUS] : [K.DETAILS];
    let n: string | null = null;
    if (c.accept(K.ALL)) n = null;
    else if (c.peek() !== null && !tail.some((k) => matches(c.peek()!, k))) n = name(c, `switch name, ALL or ${tail.map((k) => k.word).join(', ')}`);
    let list: 'ACCESSLIST' | 'PROMISCUOUS' | null = null;
    let details = false;
    if (!c.atEnd()) {
      const k = c.oneOf(tail);
      if (k === K.DETAILS) details = true;
      else list = k === K.ACCESSLIST ? 'ACCESSLIST' : 'PROMISCUOUS';
    }
    c.end();
    if (what === K.LAN) return { kind: 'query-lan', name: n, details };
    return { kind: 'query-vswitch', name: n, details, ...(list !== null ? { list } : {}) };
  }
  if (what === K.NIC || what === K.VIRTUAL) {
    if (what === K.VIRTUAL) c.expect(K.NIC);
    let v: number | null = null;
    if (c.accept(K.ALL)) v = null;
    else if (c.peek() !== null && !matches(c.peek()!, K.DETAILS) && !matches(c.peek()!, K.FOR)) v = vdev(c);
    const details = c.accept(K.DETAILS);
    const userid = forUser(c);
    c.end();
    return { kind: 'query-nic', vdev: v, details, userid, ...(what === K.VIRTUAL ? { virtual: true as const } : {}) };
  }
  if (what === K.GUEST) {
    let u: string | null = null;
    if (c.accept(K.ALL)) u = null;
    else if (!c.atEnd()) u = name(c, 'user id or ALL');
    c.end();
    return { kind: 'query-guest', userid: u };
  }
  c.end();
  return { kind: 'query-vmlan' };
}

function setVswitch(c: Cursor): Command {
  const sw = name(c, 'switch name');
  const k = c.oneOf([K.SWITCHOVER, K.UPLINK, K.CONTROLLER, K.GRANT, K.REVOKE, K.ISOLATION, K.MACPROTECT]);
  let op: SetVswitchOp;
  if (k === K.SWITCHOVER) op = { t: 'switchover' };
  else if (k === K.UPLINK) op = { t: 'uplink', connect: c.oneOf([K.DISCONNECT, K.CONNECT]) === K.CONNECT };
  else if (k === K.CONTROLLER) {
    if (c.peek() === '*') { c.next(); op = { t: 'controller', controller: '*' }; }
    else op = { t: 'controller', controller: name(c, "controller name or '*'") };
  } else if (k === K.REVOKE) op = { t: 'revoke', userid: name(c, 'user id') };
  else op = modifyOp(c, k);
  c.end();
  return { kind: 'set-vswitch', name: sw, op };
}

function setNic(c: Cursor): Command {
  const v = vdev(c);
  const k = c.oneOf([K.PROMISCUOUS, K.NOPROMISCUOUS, K.MACPROTECT]);
  let op: SetNicOp;
  if (k === K.MACPROTECT) {
    const m = c.oneOf([K.ON, K.OFF, K.UNSPECIFIED]);
    op = { t: 'macprotect', value: m === K.ON ? 'ON' : m === K.OFF ? 'OFF' : null };
  } else op = { t: 'promiscuous', on: k === K.PROMISCUOUS };
  const userid = forUser(c);
  c.end();
  return { kind: 'set-nic', vdev: v, userid, op };
}

function parseCommandAt(c: Cursor): Command {
  const verb = c.oneOf(VERBS);
  switch (verb) {
    case K.QUERY:
      return query(c);
    case K.DEFINE:
      return define(c);
    case K.DETACH:
      return detach(c);
    case K.COUPLE: {
      // COUPLE vdev [TO] SYSTEM switch FOR userid (z/VM: TO is optional).
      const v = vdev(c);
      c.accept(K.TO);
      c.expect(K.SYSTEM);
      const sw = name(c, 'switch name');
      const userid = forUser(c);
      c.end();
      return { kind: 'couple', vdev: v, sw, userid };
    }
    case K.UNCOUPLE: {
      const v = vdev(c);
      const userid = forUser(c);
      c.end();
      return { kind: 'uncouple', vdev: v, userid };
    }
    case K.SET:
      return c.oneOf([K.VSWITCH, K.NIC]) === K.VSWITCH ? setVswitch(c) : setNic(c);
    case K.VMRELOCATE: {
      // VMRELOCATE TEST | MOVE [USER] userid [TO] member; VMRELOCATE STATUS (z/VM's words).
      const op = c.oneOf([K.TEST, K.MOVE, K.STATUS]);
      if (op === K.STATUS) {
        c.end();
        return { kind: 'vmrelocate', op: 'STATUS', userid: null, member: null };
      }
      c.accept(K.USER);
      const userid = name(c, 'user id');
      c.accept(K.TO);
      const member = name(c, 'member name');
      c.end();
      return { kind: 'vmrelocate', op: op === K.TEST ? 'TEST' : 'MOVE', userid, member };
    }
    case K.MODIFY: {
      c.expect(K.VSWITCH);
      const sw = name(c, 'switch name');
      const op = modifyOp(c, c.oneOf([K.GRANT, K.ISOLATION, K.MACPROTECT]));
      c.end();
      return { kind: 'modify-vswitch', name: sw, op };
    }
    default: {
      const k = c.oneOf([K.MACPREFIX, K.USERPREFIX]);
      const prefix = hex6(c, k.word, 'such as 020000', true);
      c.end();
      return k === K.MACPREFIX ? { kind: 'vmlan-macprefix', prefix } : { kind: 'vmlan-userprefix', prefix };
    }
  }
}

/** Parse one command from its words. Never throws. */
export function parseWords(words: readonly string[]): ParseResult {
  if (words.length === 0) return { ok: false, error: { message: 'empty command: expected QUERY, DEFINE, DETACH, COUPLE, UNCOUPLE, SET, MODIFY, VMLAN or VMRELOCATE', word: null } };
  try {
    return { ok: true, cmd: parseCommandAt(new Cursor(words)) };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: e.error };
    return { ok: false, error: { message: `cannot parse command: ${String(e)}`, word: null } };
  }
}


/** Parse one command from its text. Never throws. */
export function parse(text: string): ParseResult {
  return parseWords(tokenize(text));
}

/** A vdev as z/VM prints it: 4 upper-case hex digits. */
export function hex4(v: number): string {
  return v.toString(16).toUpperCase().padStart(4, '0');
}

function storage(bytes: number): string {
  const mb = 1024 * 1024;
  return bytes % mb === 0 ? `${bytes / mb}M` : `${bytes / 1024}K`;
}

/** A guest's namespace as the command words say it: `NETNS name` or `NETNS PATH path`. */
export function netnsWords(netns: string): string {
  return isNetnsPath(netns) ? `NETNS PATH ${netns}` : `NETNS ${netns}`;
}

/** How a message names a command: its first two canonical words (`VMLAN MACPREFIX`, `QUERY VSWITCH`). */
export function leadingWords(cmd: Command): string {
  return format(cmd).split(' ').slice(0, 2).join(' ');
}

/** Six upper-case hex digits (MAC prefixes, MACIDs). */
export function hex6Text(v: number): string {
  return v.toString(16).toUpperCase().padStart(6, '0');
}

/** The words of a SET VSWITCH (or MODIFY VSWITCH) operation after the switch name. */
function setVswitchWords(op: SetVswitchOp): string {
  switch (op.t) {
    case 'switchover': return 'SWITCHOVER';
    case 'uplink': return `UPLINK ${op.connect ? 'CONNECT' : 'DISCONNECT'}`;
    case 'controller': return `CONTROLLER ${op.controller}`;
    case 'revoke': return `REVOKE ${op.userid}`;
    case 'isolation': return `ISOLATION ${op.on ? 'ON' : 'OFF'}`;
    case 'macprotect': return `MACPROTECT ${op.on ? 'ON' : 'OFF'}`;
    case 'grant':
      return [
        `GRANT ${op.userid}`,
        ...(op.portType !== undefined ? [`PORTTYPE ${op.portType}`] : []),
        ...(op.vlans !== undefined ? [`VLAN ${formatVidset(op.vlans)}`] : []),
        ...(op.promiscuous !== undefined ? [op.promiscuous ? 'PROMISCUOUS' : 'NOPROMISCUOUS'] : []),
      ].join(' ');
  }
}

/** Canonical words for a command: full keywords, every default spelled out. */
export function format(cmd: Command): string {
  switch (cmd.kind) {
    case 'define-vswitch':
      return [
        'DEFINE VSWITCH', cmd.name,
        'RDEV', cmd.rdevs.length === 0 ? 'NONE' : cmd.rdevs.join(' '),
        cmd.mode,
        'CONTROLLER', cmd.controller,
        'QUEUESTORAGE', storage(cmd.queueBytes),
        cmd.vlan === null ? 'VLAN UNAWARE' : `VLAN ${cmd.vlan} AWARE NATIVE ${cmd.nativeVid === VLAN_NONE ? 'NONE' : cmd.nativeVid}`,
        'PORTTYPE', cmd.portType,
        ...(cmd.isolation ? ['ISOLATION'] : []),
        ...(cmd.vxlan ? ['VXLAN', String(cmd.vxlan.vni), ...(cmd.vxlan.vteps.length > 0 ? ['VTEP', ...cmd.vxlan.vteps] : [])] : []),
      ].join(' ');
    case 'detach-vswitch':
      return `DETACH VSWITCH ${cmd.name}`;
    case 'define-guest': {
      const o = cmd.tapOwner;
      const owner = o === undefined ? '' : `${o.uid !== null ? ` OWNER ${o.uid}` : ''}${o.gid !== null ? ` GROUP ${o.gid}` : ''}`;
      const user = cmd.owner !== undefined ? ` OWNER ${cmd.owner}` : '';
      return `DEFINE GUEST ${cmd.userid} ${cmd.netns === null ? `QEMU ${cmd.qemu ?? 'STREAM'}${owner}` : netnsWords(cmd.netns)}${user}`;
    }
    case 'detach-guest':
      return `DETACH GUEST ${cmd.userid}`;
    case 'define-nic':
      return `DEFINE NIC ${hex4(cmd.vdev)} TYPE QDIO${cmd.name !== undefined ? ` NAME ${cmd.name}` : ''}${cmd.macId !== undefined ? ` MACID ${hex6Text(cmd.macId)}` : ''} FOR ${cmd.userid}`;
    case 'detach-nic':
      return `DETACH NIC ${hex4(cmd.vdev)} FOR ${cmd.userid}`;
    case 'couple':
      return `COUPLE ${hex4(cmd.vdev)} TO SYSTEM ${cmd.sw} FOR ${cmd.userid}`;
    case 'uncouple':
      return `UNCOUPLE ${hex4(cmd.vdev)} FOR ${cmd.userid}`;
    case 'query-vswitch':
      return `QUERY VSWITCH ${cmd.name ?? 'ALL'}${cmd.details ? ' DETAILS' : ''}${cmd.list !== undefined ? ` ${cmd.list}` : ''}`;
    case 'query-lan':
      return `QUERY LAN ${cmd.name ?? 'ALL'}${cmd.details ? ' DETAILS' : ''}`;
    case 'query-nic':
      return `QUERY ${cmd.virtual ? 'VIRTUAL ' : ''}NIC ${cmd.vdev === null ? 'ALL' : hex4(cmd.vdev)}${cmd.details ? ' DETAILS' : ''} FOR ${cmd.userid}`;
    case 'query-guest':
      return `QUERY GUEST ${cmd.userid ?? 'ALL'}`;
    case 'query-vmlan':
      return 'QUERY VMLAN';
    case 'query-ssi':
      return 'QUERY SSI';
    case 'vmlan-macprefix':
      return `VMLAN MACPREFIX ${hex6Text(cmd.prefix)}`;
    case 'vmlan-userprefix':
      return `VMLAN USERPREFIX ${hex6Text(cmd.prefix)}`;
    case 'set-vswitch':
      return `SET VSWITCH ${cmd.name} ${setVswitchWords(cmd.op)}`;
    case 'modify-vswitch':
      return `MODIFY VSWITCH ${cmd.name} ${setVswitchWords(cmd.op)}`;
    case 'set-nic':
      return `SET NIC ${hex4(cmd.vdev)} ${cmd.op.t === 'promiscuous' ? (cmd.op.on ? 'PROMISCUOUS' : 'NOPROMISCUOUS') : `MACPROTECT ${cmd.op.value ?? 'UNSPECIFIED'}`} FOR ${cmd.userid}`;
    case 'query-controller':
      return `QUERY CONTROLLER ${cmd.name ?? 'ALL'}`;
    case 'vmrelocate':
      return cmd.op === 'STATUS' ? 'VMRELOCATE STATUS' : `VMRELOCATE ${cmd.op} USER ${cmd.userid} TO ${cmd.member}`;
  }
}
