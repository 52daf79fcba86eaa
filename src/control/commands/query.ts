/**
 * QUERY VSWITCH (and its ACCESSLIST / PROMISCUOUS lists) / QUERY LAN / QUERY NIC (and QUERY
 * VIRTUAL NIC) / QUERY GUEST / QUERY VMLAN: z/VM-like report lines (one fact per line) and a
 * JSON document with everything (the CLI prints it with --json).
 *
 * JSON shapes (MACs as "02:00:00:00:00:01", IPs dotted, vdevs "0600"):
 *  QUERY VSWITCH -> { switches: [{ name, mode, queueStorage, controller, connected,
 *     control: { controller, state, active, rdevs: [RdevStatus], events: [{ at (ISO), kind,
 *       reason, durationMs, from?, to? }] } | null (no RDEV),
 *     vlan: { aware, defaultVid, nativeVid, portType }, isolation, macProtect,
 *     accessList: [{ userid, portType, vlans, promiscuous, text }],
 *     macTable: { readAt (ISO) | null, entries: [{ mac, vlan?, ifname, master, updated (s), ageMs,
 *       port, uplink, guest, vdev }] | null } (ETHERNET mode; `bridge -j fdb` names) | null (IP mode),
 *     uplink: { rdevs, active, state, mac, mtu, port, counters, vlans (trunk: its VLANs) },
 *     nics: [{ guest, vdev, mac, port, counters, portType, vlans (tagged), pvid (untagged, 0
 *     none), promiscuous, macProtect }], ipTable: [{ ip, vlan, guest, vdev, localOnly, reason }],
 *     overlay: { vni, state, device, localVtep, port, mac, counters, staticVteps, memberVteps:
 *       [{ member, vtep }] (the other members'), remotes: [{ ip (IPv4 dotted, or IPv6 text: global/ULA),
 *       mac, member, vtep }], entries: [{ mac, dst }] (the VXLAN device's forwarding entries) }
 *       | null (no VXLAN),
 *     drops: { <reason>: n } }] }
 *  QUERY LAN -> { lans: [{ type: 'VSWITCH', ...the same }] }
 *  (reason: why an entry is local only, null when registered.) IP mode also has
 *  groups: [{ group, members: [{ guest, vdev }], registered, reason }] (the multicast groups
 *  guests joined; reason: why a group is not registered on the adapter, null when it is).
 *  QUERY NIC -> { guest, nics: [{ guest, vdev, type, devices: { read, write, data },
 *     subchannels: { read, write, data }, chpid, mac, switch, tap: { name, netns } | null,
 *     transport: STREAM | DGRAM | TAP (QEMU guest) | null,
 *     qemu: { transport, netdevId, paths: { qemu, daemon }, args: [word], argsText, state }
 *       (STREAM, DGRAM) | { transport: TAP, netdevId, tap, vhost, args, argsText, libvirt
 *       (the <interface> element), state, tapDowns, lastDown } (TAP)
 *       | null (not a QEMU guest's NIC, or no daemon),
 *     macId, promiscuous (SET NIC), macProtect (ON | OFF | UNSPECIFIED),
 *     policy: { portType, pvid, vlans, promiscuous, macProtect } (in effect) | null (not coupled),
 *     port, counters, addresses: [{ ip, vlan, state }] (one per address and interface it is on; vlan null: in no VLAN the port carries) }] }
 *  QUERY GUEST -> { guests: [{ userid, type, netns, transport, nics: [vdev] }] }
 *  (transport: STREAM, DGRAM or TAP for a QEMU guest, null for a NETNS guest; netns a name
 *  or, for NETNS PATH, the path.)
 *  QUERY VMLAN -> { macPrefix, userPrefix, macIds: [{ guest, vdev, macId, mac }] }
 * counters: { rxFrames, rxBytes, txFrames, txBytes, txDrops, rxErrors } or null (no port).
 */
import { formatIpv4, formatMac } from '../../wire/addr.js';
import { DROP_REASON_NAMES } from '../../forward/api.js';
import { PortCounter, dropSlot, portSlot } from '../../forward/counters.js';
import { VLAN_NONE } from '../../protocol/dataplane.js';
import { hex4, hex6Text, type Command, netnsWords } from '../grammar.js';
import { MSG } from '../messages.js';
import { portPolicy, vidOfOn } from '../policy.js';
import { cmp, lanIp6Key, lanIpKey, type AddressClaims, type Guest, type Nic, type State, type Vswitch } from '../state.js';
import { grantText } from './set.js';
import type { SwitchEvent } from '../controllers.js';
import { fail, type CheckContext, type Outcome, type RuntimeView } from './types.js';
import { guestOwner } from '../privilege.js';

export interface Counters { rxFrames: number; rxBytes: number; txFrames: number; txBytes: number; txDrops: number; rxErrors: number }

function portCounters(rt: RuntimeView, port: number | null): Counters | null {
  const c = rt.counters();
  if (c === null || port === null) return null;
  return {
    rxFrames: c[portSlot(port, PortCounter.RxFrames)],
    rxBytes: c[portSlot(port, PortCounter.RxBytes)],
    txFrames: c[portSlot(port, PortCounter.TxFrames)],
    txBytes: c[portSlot(port, PortCounter.TxBytes)],
    txDrops: c[portSlot(port, PortCounter.TxDrops)],
    rxErrors: c[portSlot(port, PortCounter.RxErrors)],
  };
}

function countersLine(c: Counters | null): string {
  if (c === null) return 'no port';
  return `RX Frames: ${c.rxFrames}  RX Bytes: ${c.rxBytes}  TX Frames: ${c.txFrames}  TX Bytes: ${c.txBytes}  TX Drops: ${c.txDrops}  RX Errors: ${c.rxErrors}`;
}

/** JSON form: lower case with colons (as `ip -j link` prints it). */
function mac(m: number): string {
  return formatMac(m, ':');
}

/** Report form: z/VM's upper case with dashes. */
function zmac(m: string): string {
  return m.toUpperCase().replace(/:/g, '-');
}

function storage(bytes: number): string {
  const mb = 1024 * 1024;
  return bytes % mb === 0 ? `${bytes / mb}M` : `${bytes / 1024}K`;
}

/** Switches, guests and a guest's NICs in the order every report lists them. */
export function switchesByName(state: State): Vswitch[] {
  return [...state.switches.values()].sort((a, b) => cmp(a.name, b.name));
}

export function guestsByName(state: State): Guest[] {
  return [...state.guests.values()].sort((a, b) => cmp(a.userid, b.userid));
}

export function nicsByVdev(g: Guest): Nic[] {
  return [...g.nics.values()].sort((a, b) => a.vdev - b.vdev);
}

/** One switch's QUERY VSWITCH document (the JSON shape above); the metrics and live page read it too (src/daemon/http). */
export type SwitchDoc = ReturnType<typeof switchDoc>;
/** One NIC's QUERY NIC document. */
export type NicDoc = ReturnType<typeof nicDoc>;

export function switchDoc(state: State, sw: Vswitch, rt: RuntimeView) {
  const up = rt.uplink(sw.name);
  const swNum = rt.switchNumber(sw.name);
  const c = rt.counters();
  const drops: Record<string, number> = {};
  DROP_REASON_NAMES.forEach((r, i) => { drops[r] = c !== null && swNum !== null ? c[dropSlot(swNum, i)] : 0; });
  const ctl = rt.switchControl(sw.name);
  const control = ctl === null ? null : {
    controller: ctl.controller,
    state: ctl.controllerState,
    active: ctl.active,
    rdevs: ctl.rdevs,
    events: ctl.events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
  };
  const nics = state.coupledTo(sw.name).map((n) => {
    const port = rt.nicPort(n.userid, n.vdev);
    const p = portPolicy(sw, n);
    return {
      guest: n.userid, vdev: hex4(n.vdev), mac: mac(n.mac), port, counters: portCounters(rt, port),
      portType: p.portType, vlans: [...p.vlans], pvid: p.pvid, promiscuous: p.promiscuous, macProtect: p.macProtect,
    };
  });
  const up0 = up;
  return {
    name: sw.name,
    mode: sw.mode,
    queueStorage: sw.queueBytes,
    controller: sw.controller,
    control,
    vlan: { aware: sw.vlan !== null, defaultVid: sw.vlan, nativeVid: sw.vlan === null ? null : sw.nativeVid, portType: sw.portType },
    isolation: sw.isolation,
    macProtect: sw.macProtect,
    accessList: accessList(sw),
    macTable: sw.mode === 'ETHERNET' ? macTableDoc(sw, rt, nics, up0) : null,
    connected: nics.length,
    uplink: {
      rdevs: [...sw.rdevs],
      active: up.active,
      state: up.state,
      mac: up.mac === null ? null : mac(up.mac),
      mtu: up.mtu,
      port: up.port,
      counters: portCounters(rt, up.port),
      /** A VLAN-aware switch's uplink is a trunk of every VLAN its NICs carry (tagged; the native one untagged). */
      vlans: sw.vlan === null ? [] : [...new Set(nics.flatMap((n) => (n.pvid !== VLAN_NONE ? [n.pvid, ...n.vlans] : n.vlans)))].sort((a, b) => a - b),
    },
    nics,
    groups: sw.mode !== 'IP' ? [] : rt.groups(sw.name).map((g) => ({
      group: formatIpv4(g.group),
      members: g.members.map((m) => ({ guest: m.userid, vdev: hex4(m.vdev) })),
      registered: g.registered,
      reason: g.reason,
    })),
    ipTable: [...sw.lanIp.values()].map((e) => ({
      ip: formatIpv4(e.ip), vlan: e.vid, guest: e.userid, vdev: hex4(e.vdev), localOnly: e.localOnly,
      reason: e.localOnly ? (rt.addressReason(sw.name, e.ip, e.vid) ?? (doneUplink(rt, sw.name) ? 'not registered' : 'uplink not ready')) : null,
    })),
    ipTable6: [...sw.lanIp6.values()].map((e) => ({
      ip6: e.ip6, vlan: e.vid, guest: e.userid, vdev: hex4(e.vdev), localOnly: e.localOnly,
      reason: e.localOnly ? (rt.addressReason(sw.name, e.ip6, e.vid) ?? (doneUplink(rt, sw.name) ? 'not registered' : 'uplink not ready')) : null,
    })),
    overlay: overlayDoc(rt, sw.name),
    drops,
  };
}

/** A switch's VXLAN overlay (reconcile/overlay.ts), null without one. */
function overlayDoc(rt: RuntimeView, name: string) {
  const o = rt.overlay?.(name) ?? null;
  if (o === null) return null;
  return {
    vni: o.vni, state: o.state, device: o.device, localVtep: o.localVtep, port: o.port, mac: o.mac === null ? null : mac(o.mac),
    counters: portCounters(rt, o.port), staticVteps: o.staticVteps, memberVteps: o.memberVteps,
    remotes: o.remotes.map((r) => ({ ip: typeof r.ip === 'string' ? r.ip : formatIpv4(r.ip), mac: mac(r.mac), member: r.member, vtep: r.vtep })),
    entries: o.entries,
  };
}

function overlayLines(o: NonNullable<ReturnType<typeof overlayDoc>>, details: boolean): string[] {
  const lines = [`  VXLAN: VNI ${o.vni}    Local VTEP: ${o.localVtep ?? 'NONE'}    Device: ${o.device}    State: ${o.state}`];
  if (!details) return lines;
  lines.push(`  Overlay Port ${o.device}: ${countersLine(o.counters)}`);
  lines.push(`  Static VTEPs: ${o.staticVteps.length === 0 ? 'none' : o.staticVteps.join(' ')}`);
  lines.push(`  Member VTEPs: ${o.memberVteps.length === 0 ? 'none' : o.memberVteps.map((m) => `${m.member} ${m.vtep}`).join(', ')}`);
  if (o.remotes.length === 0) lines.push('  Remote guests: none');
  else lines.push('  Remote guests:');
  for (const r of o.remotes) lines.push(`    ${r.ip.padEnd(15)}  MAC: ${zmac(r.mac)}  Member: ${r.member.padEnd(8)}  VTEP: ${r.vtep}`);
  if (o.entries.length === 0) lines.push('  VXLAN forwarding entries: none');
  else lines.push('  VXLAN forwarding entries:');
  for (const e of o.entries) lines.push(`    ${e.mac}  dst ${e.dst}`);
  return lines;
}

/** The access list, by user id: each grant with the switch's defaults filled in. */
function accessList(sw: Vswitch) {
  return [...sw.grants.entries()].sort((a, b) => cmp(a[0], b[0])).map(([userid, g]) => ({
    userid,
    portType: g.portType ?? sw.portType,
    vlans: sw.vlan === null ? [] : [...(g.vlans ?? [sw.vlan])],
    promiscuous: g.promiscuous,
    text: grantText(sw, g),
  }));
}

/**
 * The learned MAC table (ETHERNET mode) in `bridge -j fdb`'s field names where they mean the
 * same: mac, vlan (absent for VLAN_NONE, as bridge leaves it out), ifname (the port: `USERID
 * VDEV` of a NIC, the RDEV of the uplink), master (the switch), updated (seconds since the
 * entry was last confirmed, as `bridge -s -j fdb` says it); plus guest/vdev of a NIC's port,
 * ageMs and the time the data plane answered (readAt, ISO). null entries: no answer yet.
 */
function macTableDoc(sw: Vswitch, rt: RuntimeView, nics: Array<{ guest: string; vdev: string; port: number | null }>, up: { port: number | null; active: string | null }) {
  const t = rt.macTable(sw.name);
  if (t === null) return { readAt: null, entries: null };
  const byPort = new Map<number, { guest: string; vdev: string }>();
  for (const n of nics) if (n.port !== null) byPort.set(n.port, n);
  const entries = t.entries.map((e) => {
    const n = byPort.get(e.port);
    const ifname = n ? `${n.guest} ${n.vdev}` : e.port === up.port ? (up.active ?? 'UPLINK') : `port ${e.port}`;
    return {
      mac: mac(e.mac),
      ...(e.vid !== VLAN_NONE ? { vlan: e.vid } : {}),
      ifname,
      master: sw.name,
      updated: Math.floor(e.ageMs / 1000),
      ageMs: e.ageMs,
      port: e.port,
      uplink: e.port === up.port,
      guest: n?.guest ?? null,
      vdev: n?.vdev ?? null,
    };
  }).sort((a, b) => cmp(a.ifname, b.ifname) || (a.vlan ?? 0) - (b.vlan ?? 0) || cmp(a.mac, b.mac));
  return { readAt: new Date(t.at).toISOString(), entries };
}

/** A port's VLANs in words: `VLAN 100` (access), `VLANs 10 20  Native: 1` (trunk), nothing on a VLAN-unaware switch. */
function portVlanText(aware: boolean, n: { portType: string; vlans: number[]; pvid: number }): string {
  if (!aware) return 'Porttype: ACCESS  VLAN: UNAWARE';
  if (n.portType === 'ACCESS') return `Porttype: ACCESS  VLAN: ${n.pvid}`;
  return `Porttype: TRUNK  VLANs: ${n.vlans.length === 0 ? 'none' : n.vlans.join(' ')}  Native: ${n.pvid === VLAN_NONE ? 'NONE' : n.pvid}`;
}

function vlanLine(doc: SwitchDoc): string {
  const v = doc.vlan;
  const flags = `Isolation: ${doc.isolation ? 'ON' : 'OFF'}    MACprotect: ${doc.macProtect ? 'ON' : 'OFF'}`;
  if (!v.aware) return `  VLAN: UNAWARE    ${flags}`;
  return `  VLAN: AWARE    Default VLAN: ${v.defaultVid}    Native VLAN: ${v.nativeVid === VLAN_NONE ? 'NONE' : v.nativeVid}    Default Porttype: ${v.portType}    ${flags}`;
}

function accessListLines(doc: SwitchDoc): string[] {
  if (doc.accessList.length === 0) return ['  Authorized userids: none'];
  return ['  Authorized userids:', ...doc.accessList.map((a) => `    ${a.userid.padEnd(8)}  ${a.text}`)];
}

function promiscuousLines(doc: SwitchDoc): string[] {
  const granted = doc.accessList.filter((a) => a.promiscuous).map((a) => a.userid);
  const on = doc.nics.filter((n) => n.promiscuous).map((n) => `${n.guest} ${n.vdev}`);
  return [
    `  Authorized for promiscuous mode: ${granted.length === 0 ? 'none' : granted.join(' ')}`,
    `  Promiscuous NICs: ${on.length === 0 ? 'none' : on.join(', ')}`,
  ];
}

function switchLines(doc: ReturnType<typeof switchDoc>, details: boolean, list?: 'ACCESSLIST' | 'PROMISCUOUS'): string[] {
  const lines = [
    `VSWITCH SYSTEM ${doc.name.padEnd(8)}  Type: QDIO    Connected: ${doc.connected}    Mode: ${doc.mode}`,
    `  QueueStorage: ${storage(doc.queueStorage)}    Controller: ${controllerText(doc)}`,
  ];
  const u = doc.uplink;
  if (u.rdevs.length === 0) {
    lines.push(`  RDEV: NONE    State: ${u.state}`);
  } else {
    lines.push(`  RDEV: ${u.rdevs.join(' ')}    Active: ${u.active ?? 'NONE'}    State: ${u.state}${u.mac !== null ? `    MAC: ${zmac(u.mac)}` : ''}`);
  }
  lines.push(vlanLine(doc));
  if (doc.overlay !== null && list === undefined) lines.push(...overlayLines(doc.overlay, details));
  if (list === 'ACCESSLIST') return [...lines, ...accessListLines(doc)];
  if (list === 'PROMISCUOUS') return [...lines, ...promiscuousLines(doc)];
  if (!details) return lines;
  if (u.rdevs.length > 0) lines.push(`  Uplink Port ${u.active ?? '(none)'}: ${countersLine(u.counters)}`);
  if (u.rdevs.length > 0 && doc.vlan.aware) {
    lines.push(`    Porttype: TRUNK  VLANs: ${u.vlans.length === 0 ? 'none' : u.vlans.join(' ')}  Native: ${doc.vlan.nativeVid === VLAN_NONE ? 'NONE' : doc.vlan.nativeVid}`);
  }
  if (doc.control !== null) {
    for (const r of doc.control.rdevs) {
      const role = r.rdev === doc.control.active ? 'ACTIVE' : 'BACKUP';
      lines.push(`  RDEV ${r.rdev.padEnd(15)} ${role.padEnd(6)}  ${r.ok ? 'READY' : `NOT READY (${r.reason ?? 'unknown'})`}${r.exists ? `  MTU: ${r.mtu}  Carrier: ${r.carrier ? 'YES' : 'NO'}` : ''}`);
    }
    if (doc.control.events.length === 0) lines.push('  Events: none');
    else lines.push('  Events:');
    for (const e of doc.control.events) {
      lines.push(`    ${e.at}  ${eventText(e)}`);
    }
  }
  if (doc.nics.length === 0) lines.push('  No NICs are coupled');
  for (const n of doc.nics) {
    lines.push(`  NIC ${n.guest} ${n.vdev}  MAC: ${zmac(n.mac)}  ${countersLine(n.counters)}`);
    lines.push(`    ${portVlanText(doc.vlan.aware, n)}  Promiscuous: ${n.promiscuous ? 'YES' : 'NO'}  MACprotect: ${n.macProtect ? 'ON' : 'OFF'}`);
  }
  lines.push(...accessListLines(doc));
  if (doc.mode === 'ETHERNET') {
    lines.push('  LAN IP table: not used in ETHERNET mode');
    const t = doc.macTable!;
    if (t.entries === null) lines.push('  MAC table: not read yet (the data plane answers within a second)');
    else if (t.entries.length === 0) lines.push(`  MAC table (read ${t.readAt}): empty`);
    else {
      lines.push(`  MAC table (read ${t.readAt}):`);
      for (const e of t.entries) lines.push(`    ${zmac(e.mac)}  VLAN: ${e.vlan ?? 'NONE'}  Port: ${e.ifname}  Age: ${e.updated} s`);
    }
  } else if (doc.ipTable.length === 0) {
    lines.push('  LAN IP table: empty');
  } else {
    lines.push('  LAN IP table:');
    for (const e of doc.ipTable) lines.push(`    ${e.ip.padEnd(15)}  ${e.guest.padEnd(8)}  ${e.vdev}${doc.vlan.aware ? `  VLAN ${e.vlan}` : ''}  ${e.localOnly ? `LOCAL ONLY (${e.reason})` : 'REGISTERED'}`);
  }
  if (doc.mode === 'IP') {
    if (doc.ipTable6.length === 0) lines.push('  LAN IPv6 table: empty');
    else lines.push('  LAN IPv6 table:');
    for (const e of doc.ipTable6) lines.push(`    ${e.ip6.padEnd(39)}  ${e.guest.padEnd(8)}  ${e.vdev}${doc.vlan.aware ? `  VLAN ${e.vlan}` : ''}  ${e.localOnly ? `LOCAL ONLY (${e.reason})` : 'REGISTERED'}`);
  }
  if (doc.mode === 'IP') {
    if (doc.groups.length === 0) lines.push('  Multicast groups: none');
    else lines.push('  Multicast groups:');
    for (const g of doc.groups) {
      lines.push(`    ${g.group.padEnd(15)}  ${g.registered ? 'REGISTERED' : `NOT REGISTERED (${g.reason ?? 'unknown'})`}  Members: ${g.members.map((m) => `${m.guest} ${m.vdev}`).join(', ')}`);
    }
  }
  const dropped = Object.entries(doc.drops).filter(([, n]) => n > 0);
  lines.push(`  Discarded: ${dropped.length === 0 ? 'none' : dropped.map(([r, n]) => `${r} ${n}`).join('  ')}`);
  return lines;
}

/** A switch event in words, without its time: `FAILOVER in 12 ms: reason (eth1 -> eth2)`. */
export function eventText(e: Omit<SwitchEvent, 'at'>): string {
  return `${e.kind.toUpperCase()}${e.durationMs !== null ? ` in ${e.durationMs} ms` : ''}: ${e.reason}${e.from || e.to ? ` (${e.from ?? '-'} -> ${e.to ?? '-'})` : ''}`;
}

function doneUplink(rt: RuntimeView, name: string): boolean {
  return rt.uplink(name).port !== null;
}

function controllerText(doc: ReturnType<typeof switchDoc>): string {
  const c = doc.control;
  if (doc.uplink.rdevs.length === 0) return `${doc.controller} (no uplink)`;
  if (c === null) return `${doc.controller} (not started)`;
  if (c.controller !== null) return `${c.controller} (${c.state})${doc.controller === '*' ? ' selected by *' : ''}`;
  return doc.controller === '*' ? `* ${c.state}` : `${doc.controller} (not connected) ${c.state}`;
}

/**
 * A NIC's addresses as QUERY NIC DETAILS shows them: one line per address and interface it is
 * on (AddressClaims), with the VLAN that puts it in (VLAN_NONE on a VLAN-unaware switch, null
 * when not coupled or in no VLAN the port carries) and its state.
 */
function addressDocs<K extends number | string>(state: State, n: Nic, addresses: Map<K, AddressClaims>): Array<{ ip: K; vlan: number | null; state: string }> {
  const sw = n.coupled === null ? undefined : state.switches.get(n.coupled);
  const vidOf = sw ? vidOfOn(sw) : () => null;
  const out: Array<{ ip: K; vlan: number | null; state: string }> = [];
  for (const [ip, a] of addresses) {
    for (const [on, claim] of [...a.on].sort((x, y) => x[0] - y[0])) {
      const vid = vidOf(n, on);
      out.push({ ip, vlan: vid, state: addressState(state, n, ip, vid, claim.refused) });
    }
  }
  return out;
}

function addressState(state: State, n: Nic, ip: number | string, vid: number | null, refused: boolean): string {
  if (n.coupled === null) return 'NOT COUPLED';
  const sw = state.switches.get(n.coupled);
  if (sw?.mode === 'ETHERNET') return 'ETHERNET MODE';
  const e = vid === null ? undefined : typeof ip === 'string' ? sw?.lanIp6.get(lanIp6Key(vid, ip)) : sw?.lanIp.get(lanIpKey(vid, ip));
  if (!e && typeof ip === 'number' && refused) return 'CONFLICT (another NIC held it when claimed; remove and add it again)';
  if (!e) return 'NOT REGISTERED';
  if (e.userid !== n.userid || e.vdev !== n.vdev) return `CONFLICT (held by ${e.userid} ${hex4(e.vdev)})`;
  return e.localOnly ? 'LOCAL ONLY' : 'REGISTERED';
}

export function nicDoc(state: State, g: Guest, n: Nic, rt: RuntimeView) {
  const port = rt.nicPort(n.userid, n.vdev);
  return {
    guest: g.userid,
    vdev: hex4(n.vdev),
    type: 'QDIO',
    devices: { read: hex4(n.vdev), write: hex4(n.vdev + 1), data: hex4(n.vdev + 2) },
    subchannels: { read: hex4(n.subchannels[0]), write: hex4(n.subchannels[1]), data: hex4(n.subchannels[2]) },
    chpid: n.chpid.toString(16).toUpperCase().padStart(2, '0'),
    mac: mac(n.mac),
    switch: n.coupled,
    tap: n.tap === null ? null : { name: n.tap, netns: g.netns },
    macId: n.macId === null ? null : hex6Text(n.macId),
    promiscuous: n.promiscuous,
    macProtect: n.macProtect ?? 'UNSPECIFIED',
    policy: n.coupled === null ? null : ((sw) => (sw ? portPolicy(sw, n) : null))(state.switches.get(n.coupled)),
    qemu: g.qemu === null ? null : rt.qemuNic(n.userid, n.vdev),
    transport: g.qemu,
    port,
    counters: portCounters(rt, port),
    addresses: addressDocs(state, n, n.addresses).map((a) => ({ ip: formatIpv4(a.ip), vlan: a.vlan, state: a.state })),
    addresses6: addressDocs(state, n, n.addresses6).map((a) => ({ ip6: a.ip, vlan: a.vlan, state: a.state })),
  };
}

function nicLines(d: ReturnType<typeof nicDoc>, details: boolean): string[] {
  const lines = [
    `Adapter ${d.vdev}.P00 Type: ${d.type}      Name: UNASSIGNED  Devices: 3`,
    `  MAC: ${zmac(d.mac)}         VSWITCH: ${d.switch === null ? '(not coupled)' : `SYSTEM ${d.switch}`}`,
  ];
  if (!details) return lines;
  lines.push(`  RDR: ${d.devices.read}  Subchannel: ${d.subchannels.read}`);
  lines.push(`  WRT: ${d.devices.write}  Subchannel: ${d.subchannels.write}`);
  lines.push(`  DATA: ${d.devices.data}  Subchannel: ${d.subchannels.data}`);
  lines.push(`  CHPID: ${d.chpid}`);
  lines.push(`  Promiscuous: ${d.promiscuous ? 'YES' : 'NO'}${d.policy !== null && d.promiscuous !== d.policy.promiscuous ? ' (not in effect: no PROMISCUOUS grant)' : ''}  MACprotect: ${d.macProtect}${d.macId !== null ? `  MACID: ${d.macId}` : ''}`);
  if (d.policy !== null) lines.push(`  ${portVlanText(d.policy.pvid !== VLAN_NONE || d.policy.portType === 'TRUNK', { ...d.policy, vlans: [...d.policy.vlans] })}`);
  if (d.tap !== null) lines.push(`  TAP: ${d.tap.name}  ${d.tap.netns === null ? 'On the host' : `Namespace: ${d.tap.netns}`}`);
  if (d.transport !== null) {
    const q = d.qemu;
    lines.push(`  QEMU: ${d.transport}  State: ${q === null ? 'NOT STARTED (no daemon)' : q.state}`);
    if (q !== null && q.argsText !== '') lines.push(`  QEMU arguments: ${q.argsText}`);
    if (q !== null && 'libvirt' in q) {
      lines.push(`  libvirt: ${q.libvirt}`);
      if (q.tapDowns > 0) lines.push(`  TAP lost: ${q.tapDowns} times, last: ${q.lastDown}`);
    }
  }
  if (d.switch !== null) lines.push(`  Port: ${countersLine(d.counters)}`);
  if (d.addresses.length === 0 && d.addresses6.length === 0) lines.push('  Addresses: none');
  const vlanText = (vlan: number | null): string => (vlan === null || vlan === VLAN_NONE ? '' : `  VLAN ${vlan}`);
  for (const a of d.addresses) lines.push(`  Address: ${a.ip}${vlanText(a.vlan)}  ${a.state}`);
  for (const a of d.addresses6) lines.push(`  IPv6 address: ${a.ip6}${vlanText(a.vlan)}  ${a.state}`);
  return lines;
}

export function checkQuery(state: State, cmd: Extract<Command, { kind: `query-${string}` }>, { runtime: rt }: CheckContext): Outcome {
  switch (cmd.kind) {
    case 'query-vswitch': {
      let sws: Vswitch[];
      if (cmd.name !== null) {
        const sw = state.switches.get(cmd.name);
        if (!sw) return fail(MSG.SWITCH_MISSING, `VSWITCH SYSTEM ${cmd.name} does not exist`);
        sws = [sw];
      } else {
        sws = switchesByName(state);
      }
      const docs = sws.map((s) => switchDoc(state, s, rt));
      const lines = docs.length === 0 ? ['No VSWITCHes are defined'] : docs.flatMap((d) => switchLines(d, cmd.details, cmd.list));
      return { ok: true, changes: [], lines, data: { switches: docs } };
    }
    case 'query-lan': {
      // z/VM's QUERY LAN lists guest LANs and virtual switches; here every LAN is a virtual switch.
      const sw = cmd.name === null ? null : state.switches.get(cmd.name);
      if (cmd.name !== null && !sw) return fail(MSG.SWITCH_MISSING, `LAN SYSTEM ${cmd.name} does not exist`);
      const docs = (sw ? [sw] : switchesByName(state)).map((s) => switchDoc(state, s, rt));
      const lines = docs.length === 0 ? ['No LANs are defined'] : docs.flatMap((d) => switchLines(d, cmd.details));
      return { ok: true, changes: [], lines, data: { lans: docs.map((d) => ({ type: 'VSWITCH', ...d })) } };
    }
    case 'query-nic': {
      const g = state.guests.get(cmd.userid);
      if (!g) return fail(MSG.GUEST_MISSING, `GUEST ${cmd.userid} does not exist`);
      let nics: Nic[];
      if (cmd.vdev !== null) {
        const n = g.nics.get(cmd.vdev);
        if (!n) return fail(MSG.NIC_MISSING, `NIC ${hex4(cmd.vdev)} does not exist for GUEST ${cmd.userid}`);
        nics = [n];
      } else {
        nics = nicsByVdev(g);
      }
      const docs = nics.map((n) => nicDoc(state, g, n, rt));
      const lines = docs.length === 0 ? [`GUEST ${g.userid} has no NICs`] : docs.flatMap((d) => nicLines(d, cmd.details));
      return { ok: true, changes: [], lines, data: { guest: g.userid, nics: docs } };
    }
    case 'query-guest': {
      let gs: Guest[];
      if (cmd.userid !== null) {
        const g = state.guests.get(cmd.userid);
        if (!g) return fail(MSG.GUEST_MISSING, `GUEST ${cmd.userid} does not exist`);
        gs = [g];
      } else {
        gs = guestsByName(state);
      }
      const docs = gs.map((g) => ({
        userid: g.userid,
        type: g.netns === null ? 'QEMU' : 'NETNS',
        netns: g.netns,
        transport: g.qemu,
        ...(guestOwner(g) !== null ? { owner: guestOwner(g) } : {}),
        nics: [...g.nics.keys()].sort((a, b) => a - b).map(hex4),
      }));
      const lines = docs.length === 0
        ? ['No GUESTs are defined']
        : docs.map((d) => `GUEST ${d.userid.padEnd(8)}  ${d.type === 'QEMU' ? `QEMU ${d.transport}` : netnsWords(d.netns!)}${d.owner !== undefined ? `  OWNER ${d.owner}` : ''}  NICs: ${d.nics.length === 0 ? 'none' : d.nics.join(' ')}`);
      return { ok: true, changes: [], lines, data: { guests: docs } };
    }
    default: {
      const p = hex6Text(state.macPrefix);
      const u = hex6Text(state.userPrefix);
      const macIds: Array<{ guest: string; vdev: string; macId: string; mac: string }> = [];
      for (const g of guestsByName(state)) {
        for (const n of nicsByVdev(g)) if (n.macId !== null) macIds.push({ guest: g.userid, vdev: hex4(n.vdev), macId: hex6Text(n.macId), mac: mac(n.mac) });
      }
      const lines = [
        `VMLAN MACPREFIX: ${p}  USERPREFIX: ${u}`,
        `  MACIDs: ${macIds.length === 0 ? 'none' : macIds.map((m) => `${m.macId} (${m.guest} ${m.vdev})`).join(', ')}`,
      ];
      return { ok: true, changes: [], lines, data: { macPrefix: p, userPrefix: u, macIds } };
    }
  }
}
