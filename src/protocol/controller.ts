/**
 * The controller protocol (seed Figs. 3 and 4): messages between vswitchd (the switch manager)
 * and a vswitch-controller process, which owns the uplinks' control path (rtnetlink) and is
 * never in the data path (it never sees a frame).
 *
 * Transport: the daemon's control socket (a unix stream socket). A connection whose first line
 * is a Register message becomes a controller link; any other first line is a CP command
 * connection (src/daemon/server.ts). Each message is one line of JSON, at most MAX_MESSAGE
 * bytes, an object with a string `t`.
 *
 * Handshake: controller -> Register{name, pid, version}; daemon -> Registered{name} or
 * Refused{reason, retryMs?} (then closes). Only Register is accepted before Registered;
 * anything else, a line that is not a valid message, or a line over the limit: the daemon logs
 * it, answers Refused when it can, and closes the connection. A Refused with retryMs (the name
 * is held by a connection that may be dead or a squatter the daemon will drop) means: register
 * again after retryMs; without it the refusal is final.
 *
 * Liveness: the daemon sends Ping{seq} now and then; the controller answers Pong{seq} at once.
 * A connection that leaves a Ping unanswered past the daemon's deadline is closed and its name
 * freed (src/control/controllers.ts has the deadlines).
 *
 * Daemon -> controller:
 *   ControlSwitch{switch, rdevs}        take over the control side of these RDEVs for a switch
 *   ReleaseSwitch{switch}               the switch no longer uses this controller
 *   RegisterAddress{kind, switch, rdev, address}    register an address of a guest with the
 *                                       adapter behind rdev; what that means is the kind's:
 *     kind 'ipv4'        an IPv4 address (dotted): the LAN reaches it through rdev
 *     kind 'ipv4-group'  an IPv4 multicast group a guest joined (224.0.0.0/4, dotted): the
 *                        adapter accepts its frames (its multicast filter gets the group's MAC)
 *     kind 'ipv6'        an IPv6 address of a guest (RFC 5952 text): the LAN reaches it through
 *                        rdev; the adapter receives the LAN's Neighbor Solicitations for it (its
 *                        multicast filter gets the address's solicited-node group MAC, and
 *                        all-nodes' 33:33:00:00:00:01)
 *     kind 'ipv6-group'  an IPv6 multicast group beyond link scope a guest joined (MLD): the
 *                        adapter accepts its frames (its MAC, 33:33 + the group's last 32 bits)
 *   DeregisterAddress{kind, switch, rdev, address}  take it back (a group: its last member left)
 *   Ping{seq}                           answer Pong{seq}
 * Controller -> daemon:
 *   InitializationComplete{switch, rdevs: RdevStatus[]}   one status per RDEV of ControlSwitch
 *   AddressRegistered{kind, switch, rdev, address, ok, reason?}
 *   LinkEvent{switch, status: RdevStatus}   an RDEV changed (carrier, up, MTU, appeared, removed,
 *                                       made again: a new ifindex)
 *   Pong{seq}                           the answer to Ping{seq}
 * The controller answers each ControlSwitch once and each RegisterAddress once, in order;
 * deregistrations get no answer. An address must have its kind's form (ADDRESS_KINDS).
 *
 * `decode` validates untrusted text completely (types, ranges, name shapes) and never throws.
 */
import { CANONICAL_NAME_RE, IFNAME_RE } from './names.js';

/**
 * 3: Ping / Pong, Refused.retryMs, RdevStatus.ifindex. 2: one RegisterAddress /
 * DeregisterAddress / AddressRegistered with a kind (1 had one set per kind).
 */
export const PROTOCOL_VERSION = 3;
export const MAX_MESSAGE = 16 * 1024;
/** Ping sequence numbers wrap below this. */
export const MAX_SEQ = 2 ** 31 - 1;

/** What the controller found on an RDEV. `ok`: the data device can be opened and used. */
export interface RdevStatus {
  rdev: string;
  ok: boolean;
  /** Why not ok (absent interface, not Ethernet, cannot set it up, no carrier, ...). */
  reason?: string;
  /** Interface exists. */
  exists: boolean;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Carrier (IFF_LOWER_UP). */
  carrier: boolean;
  mtu: number;
  /** MAC as "aa:bb:cc:dd:ee:ff" ("" when unknown). */
  mac: string;
  /** Interface index (0 when it does not exist): a new one under the same name is a new interface. */
  ifindex: number;
}

const IP_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$|^$/;
/** An IPv4 multicast group, 224.0.0.0 - 239.255.255.255. */
const GROUP_RE = /^(22[4-9]|23\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** IPv6 text in its characters and length (the receiver parses it: wire/ipv6.ts parseIpv6). */
const IPV6_RE = /^(?=.*:)[0-9a-f:.]{2,45}$/;
/** An IPv6 multicast group's text (ff00::/8). */
const IPV6_GROUP_RE = /^ff[0-9a-f]{0,2}:[0-9a-f:]{1,40}$/;

/** The kinds of address a switch registers with the adapter, and the form each is carried in. */
export const ADDRESS_KINDS = {
  ipv4: { re: IP_RE, what: 'IPv4 address' },
  'ipv4-group': { re: GROUP_RE, what: 'IPv4 multicast group' },
  ipv6: { re: IPV6_RE, what: 'IPv6 address' },
  'ipv6-group': { re: IPV6_GROUP_RE, what: 'IPv6 multicast group' },
} as const;

export type AddressKind = keyof typeof ADDRESS_KINDS;

/** Which address of which kind, on which RDEV of which switch. */
export interface AddressRef {
  kind: AddressKind;
  switch: string;
  rdev: string;
  address: string;
}

export type ToDaemon =
  | { t: 'register'; name: string; pid: number; version: number }
  | { t: 'initialization-complete'; switch: string; rdevs: RdevStatus[] }
  | ({ t: 'address-registered'; ok: boolean; reason?: string } & AddressRef)
  | { t: 'link-event'; switch: string; status: RdevStatus }
  | { t: 'pong'; seq: number };

export type ToController =
  | { t: 'registered'; name: string }
  | { t: 'refused'; reason: string; retryMs?: number }
  | { t: 'ping'; seq: number }
  | { t: 'control-switch'; switch: string; rdevs: string[] }
  | { t: 'release-switch'; switch: string }
  | ({ t: 'register-address' | 'deregister-address' } & AddressRef);

export type Decoded<T> = { ok: true; msg: T } | { ok: false; error: string };

type Obj = Record<string, unknown>;

class Bad extends Error {}

function field(o: Obj, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

function str(o: Obj, k: string, re?: RegExp, what?: string): string {
  const v = field(o, k);
  if (typeof v !== 'string') throw new Bad(`"${k}" must be a string`);
  if (re && !re.test(v)) throw new Bad(`"${k}" is not a valid ${what ?? k}: ${JSON.stringify(v.slice(0, 40))}`);
  return v;
}

function bool(o: Obj, k: string): boolean {
  const v = field(o, k);
  if (typeof v !== 'boolean') throw new Bad(`"${k}" must be true or false`);
  return v;
}

function int(o: Obj, k: string, min: number, max: number): number {
  const v = field(o, k);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Bad(`"${k}" must be an integer ${min}..${max}`);
  return v;
}

function optReason(o: Obj): string | undefined {
  const v = field(o, 'reason');
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > 300) throw new Bad('"reason" must be a string of at most 300 characters');
  return v;
}

function obj(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Bad(`${what} must be a JSON object`);
  return v as Obj;
}

function status(v: unknown): RdevStatus {
  const o = obj(v, 'an RDEV status');
  const s: RdevStatus = {
    rdev: str(o, 'rdev', IFNAME_RE, 'interface name'),
    ok: bool(o, 'ok'),
    exists: bool(o, 'exists'),
    up: bool(o, 'up'),
    carrier: bool(o, 'carrier'),
    mtu: int(o, 'mtu', 0, 1 << 20),
    mac: str(o, 'mac', MAC_RE, 'MAC'),
    ifindex: int(o, 'ifindex', 0, 2 ** 31 - 1),
  };
  const r = optReason(o);
  if (r !== undefined) s.reason = r;
  return s;
}

function switchName(o: Obj): string {
  return str(o, 'switch', CANONICAL_NAME_RE, 'switch name');
}

function addressRef(o: Obj): AddressRef {
  const kind = str(o, 'kind');
  if (!Object.prototype.hasOwnProperty.call(ADDRESS_KINDS, kind)) {
    throw new Bad(`"kind" must be one of ${Object.keys(ADDRESS_KINDS).join(', ')}: ${JSON.stringify(kind.slice(0, 40))}`);
  }
  const k = ADDRESS_KINDS[kind as AddressKind];
  return {
    kind: kind as AddressKind,
    switch: switchName(o),
    rdev: str(o, 'rdev', IFNAME_RE, 'interface name'),
    address: str(o, 'address', k.re, k.what),
  };
}

function parseLine(line: string): Obj {
  if (line.length > MAX_MESSAGE) throw new Bad(`message longer than ${MAX_MESSAGE} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new Bad(`not JSON: ${(e as Error).message}`);
  }
  const o = obj(v, 'a message');
  if (typeof o.t !== 'string') throw new Bad('message has no "t" string');
  return o;
}

/** Decode one line sent by a controller. Never throws. */
export function decodeToDaemon(line: string): Decoded<ToDaemon> {
  try {
    const o = parseLine(line);
    switch (o.t) {
      case 'register':
        return { ok: true, msg: { t: 'register', name: str(o, 'name', CANONICAL_NAME_RE, 'controller name (1-8 of A-Z 0-9 @ # $ _)'), pid: int(o, 'pid', 1, 2 ** 31 - 1), version: int(o, 'version', 1, 1000) } };
      case 'initialization-complete': {
        const rd = field(o, 'rdevs');
        if (!Array.isArray(rd) || rd.length > 3) throw new Bad('"rdevs" must be an array of at most 3 RDEV statuses');
        return { ok: true, msg: { t: 'initialization-complete', switch: switchName(o), rdevs: rd.map(status) } };
      }
      case 'address-registered': {
        const m: ToDaemon = { t: 'address-registered', ...addressRef(o), ok: bool(o, 'ok') };
        const r = optReason(o);
        if (r !== undefined) m.reason = r;
        return { ok: true, msg: m };
      }
      case 'link-event':
        return { ok: true, msg: { t: 'link-event', switch: switchName(o), status: status(field(o, 'status')) } };
      case 'pong':
        return { ok: true, msg: { t: 'pong', seq: int(o, 'seq', 0, MAX_SEQ) } };
      default:
        throw new Bad(`unknown message type ${JSON.stringify(String(o.t).slice(0, 40))}`);
    }
  } catch (e) {
    return { ok: false, error: e instanceof Bad ? e.message : `bad message: ${String(e)}` };
  }
}

/** Decode one line sent by the daemon. Never throws. */
export function decodeToController(line: string): Decoded<ToController> {
  try {
    const o = parseLine(line);
    switch (o.t) {
      case 'registered':
        return { ok: true, msg: { t: 'registered', name: str(o, 'name', CANONICAL_NAME_RE, 'controller name') } };
      case 'refused': {
        const m: ToController = { t: 'refused', reason: str(o, 'reason') };
        if (field(o, 'retryMs') !== undefined) m.retryMs = int(o, 'retryMs', 1, 3_600_000);
        return { ok: true, msg: m };
      }
      case 'ping':
        return { ok: true, msg: { t: 'ping', seq: int(o, 'seq', 0, MAX_SEQ) } };
      case 'control-switch': {
        const rd = field(o, 'rdevs');
        if (!Array.isArray(rd) || rd.length > 3 || !rd.every((r) => typeof r === 'string' && IFNAME_RE.test(r))) {
          throw new Bad('"rdevs" must be an array of at most 3 interface names');
        }
        return { ok: true, msg: { t: 'control-switch', switch: switchName(o), rdevs: rd as string[] } };
      }
      case 'release-switch':
        return { ok: true, msg: { t: 'release-switch', switch: switchName(o) } };
      case 'register-address':
      case 'deregister-address':
        return { ok: true, msg: { t: o.t, ...addressRef(o) } };
      default:
        throw new Bad(`unknown message type ${JSON.stringify(String(o.t).slice(0, 40))}`);
    }
  } catch (e) {
    return { ok: false, error: e instanceof Bad ? e.message : `bad message: ${String(e)}` };
  }
}

/** Is this first line of a connection a controller's Register (so the connection is a controller link)? */
export function looksLikeRegister(line: string): boolean {
  if (line.length > MAX_MESSAGE) return false;
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as Obj).t === 'register';
  } catch {
    return false;
  }
}

export function encode(m: ToDaemon | ToController): string {
  return `${JSON.stringify(m)}\n`;
}

/**
 * Splits a byte stream into lines. push() returns the complete lines; an over-long pending
 * line sets `overflow` (the caller closes the connection).
 */
export class LineSplitter {
  private buf = '';
  overflow = false;

  push(chunk: string): string[] {
    this.buf += chunk;
    const out: string[] = [];
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() !== '') out.push(line);
    }
    if (this.buf.length > MAX_MESSAGE) {
      this.overflow = true;
      this.buf = '';
    }
    return out;
  }

  get pending(): number {
    return this.buf.length;
  }
}
