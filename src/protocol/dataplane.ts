/**
 * Messages between the control plane (daemon main thread) and the data-plane worker.
 *
 * Main -> worker messages travel on a MessagePort; after each post the main thread writes 1 to
 * the worker's wake eventfd (in the worker's epoll set), and the worker drains the port with
 * receiveMessageOnPort. Worker -> main messages are ordinary postMessage.
 *
 * Ownership: a file descriptor sent in `port-add` belongs to the worker from then on; the
 * worker closes it on `port-remove`, on `stop`, or when the port fails.
 * Ports are numbered by the control plane, unique across switches, below MAX_PORTS.
 * Switches are numbered by the control plane, below MAX_SWITCHES (their counter slots).
 */

export type PortKind = 'tap' | 'afpacket' | 'qemu-stream' | 'qemu-dgram' | 'host-tap';

/** VLAN ids are 1..4094 (802.1Q); 0 means "none" where a field allows it. */
export const VLAN_NONE = 0;

/**
 * A switch's layer-2 policy (DEFINE VSWITCH ... VLAN / NATIVE / ISOLATION, SET VSWITCH).
 * vlanAware false (VLAN UNAWARE): tags pass untouched and no port has a VLAN. vlanAware true: the
 * uplink is a trunk carrying every VLAN of the switch's NICs tagged and `nativeVid` untagged
 * (VLAN_NONE: untagged LAN frames are dropped). isolation: no NIC-to-NIC delivery (unicast,
 * broadcast, multicast); NICs reach only the uplink.
 */
export interface SwitchPolicy {
  vlanAware: boolean;
  nativeVid: number;
  isolation: boolean;
}

/**
 * A NIC port's layer-2 policy (its grant on the switch, SET NIC). ACCESS: the port carries VLAN
 * `pvid` untagged and nothing else (a tagged frame from it is dropped). TRUNK: it carries `vlans`
 * tagged and `pvid` untagged (VLAN_NONE: untagged frames from it are dropped). On a VLAN-unaware
 * switch pvid is VLAN_NONE and vlans empty. promiscuous: the port also receives a copy of every
 * frame of the switch in its VLANs, both directions. macProtect: frames whose source MAC is not
 * the port's assigned MAC are dropped (spoofed-mac).
 */
export interface PortPolicy {
  portType: 'ACCESS' | 'TRUNK';
  pvid: number;
  vlans: readonly number[];
  promiscuous: boolean;
  macProtect: boolean;
}

/** The policy of a NIC on a VLAN-unaware switch with no extra rights. */
export const OPEN_PORT_POLICY: PortPolicy = { portType: 'ACCESS', pvid: VLAN_NONE, vlans: [], promiscuous: false, macProtect: false };
export const OPEN_SWITCH_POLICY: SwitchPolicy = { vlanAware: false, nativeVid: VLAN_NONE, isolation: false };

export type ToWorker =
  /** policy absent: OPEN_SWITCH_POLICY. */
  | { op: 'switch-add'; sw: number; mode: 'IP' | 'ETHERNET'; queueBytes: number; policy?: SwitchPolicy }
  /** The switch's policy changed (SET VSWITCH ISOLATION, ...): applies from the next frame. */
  | { op: 'switch-policy'; sw: number; policy: SwitchPolicy }
  | { op: 'switch-remove'; sw: number }
  /**
   * role: 'nic', 'uplink' or 'overlay' (IP mode: the switch's VXLAN device, src/forward/overlay.ts). mac: 48-bit number. vnet: the fd carries a 10-byte virtio-net header
   * (must be false for the QEMU kinds). peer: for 'qemu-dgram', QEMU's socket path (the port's
   * sendto destination and the only accepted source); unused by the other kinds. policy: the
   * NIC's layer-2 policy (absent: OPEN_PORT_POLICY; the uplink's VLANs follow the switch's).
   */
  | { op: 'port-add'; port: number; sw: number; role: 'nic' | 'uplink' | 'overlay'; kind: PortKind; fd: number; mac: number; vnet: boolean; name: string; peer?: string; policy?: PortPolicy }
  /** A NIC's policy changed (GRANT, SET NIC): applies from the next frame. */
  | { op: 'port-policy'; port: number; policy: PortPolicy }
  | { op: 'port-remove'; port: number }
  /** IP mode: the LAN IP table entry for `ip` in VLAN `vid` (absent or VLAN_NONE on a VLAN-unaware switch). */
  | { op: 'ip-set'; sw: number; vid?: number; ip: number; port: number; localOnly: boolean }
  | { op: 'ip-clear'; sw: number; vid?: number; ip: number }
  | { op: 'announce'; sw: number; vid?: number; ip: number }
  /**
   * IP mode, the VXLAN overlay: `ip` (uint32), or else `ip6` (32 hex digits, as ip6-set's), is
   * a remote member's guest under `mac` (48-bit); overlay-clear forgets it. One of ip, ip6.
   */
  | { op: 'overlay-set'; sw: number; ip?: number; ip6?: string; mac: number }
  | { op: 'overlay-clear'; sw: number; ip?: number; ip6?: string }
  /**
   * Open trace session `trace` (a small number the main thread chooses, unique while open):
   * copy the frames of switch `sw` into a ring the main thread allocated (`ring`: address of
   * `ringBytes` bytes of foreign memory, a power of two; `ctl`: TRACE_CTL_BYTES shared bytes,
   * zeroed), with the layout below. port >= 0: only that port; uplink: only the switch's uplink
   * (whatever its port number); vlan >= 0: only frames with an 802.1Q tag of that VLAN id;
   * snaplen: bytes kept of each frame. Answered with 'trace-stopped' only if refused.
   */
  | { op: 'trace-start'; trace: number; sw: number; port: number; uplink: boolean; vlan: number; snaplen: number;
      ring: number; ringBytes: number; ctl: SharedArrayBuffer }
  /** Close trace session `trace`; the worker stops touching its ring and answers 'trace-stopped'. */
  | { op: 'trace-stop'; trace: number }
  /** IP mode: ARP-probe the LAN for `ip` out the uplink (forwarder probe); answers come as 'lan-holder'. vid: the VLAN to probe in (as ip-set's). */
  | { op: 'probe'; sw: number; vid?: number; ip: number }
  | { op: 'stop' }
  /**
   * ETHERNET mode: what switch `sw`'s MAC table has learned now; answered with 'fdb' carrying the
   * same `req` (a number the main thread chooses). The main thread asks about once a second per
   * ETHERNET switch (src/control/reconcile/mac-tables.ts) for QUERY VSWITCH DETAILS.
   */
  | { op: 'fdb-query'; sw: number; req: number }
  /**
   * IP mode, IPv6: the LAN IP table entry for `ip6` (32 lower-case hex digits, wire/ipv6.ts
   * ip6Hex) in VLAN `vid` (absent: VLAN_NONE); ip6-clear removes it; announce6 sends an
   * unsolicited Neighbor Advertisement for it out the uplink.
   */
  | { op: 'ip6-set'; sw: number; vid?: number; ip6: string; port: number; localOnly: boolean }
  | { op: 'ip6-clear'; sw: number; vid?: number; ip6: string }
  | { op: 'announce6'; sw: number; vid?: number; ip6: string };

/**
 * One learned MAC table entry: mac a 48-bit number, vid the VLAN it was learned in (VLAN_NONE on
 * a VLAN-unaware switch), port the data-plane port it was learned on (a NIC's or the uplink's),
 * ageMs the time since a frame from it was last seen.
 */
export interface FdbEntry { mac: number; vid: number; port: number; ageMs: number }

export type FromWorker =
  | { ev: 'ready' }
  /** The port's fd failed (read/write error other than EAGAIN, or hang-up); the worker has removed and closed it. */
  | { ev: 'port-down'; port: number; errno: number; reason: string }
  /** IP mode: a NIC used an address it does not hold yet (forwarder sawAddress), in VLAN vid (0: VLAN-unaware). */
  | { ev: 'saw-address'; sw: number; port: number; ip: number; vid: number }
  /** IP mode: NIC `port` joined IPv4 `group` (uint32; its IGMP report; forwarder joinedGroup). */
  | { ev: 'group-join'; sw: number; port: number; group: number }
  /** IP mode: NIC `port` left `group` (its leave, aging, or the port removed; forwarder leftGroup). */
  | { ev: 'group-leave'; sw: number; port: number; group: number }
  /** Trace session `trace` is closed (or was refused: `reason`); its ring may be freed now. */
  | { ev: 'trace-stopped'; trace: number; reason?: string }
  /** IP mode: the LAN holds `ip` in VLAN vid (ARP from host `mac`) while it is probed or in the LAN IP table there (forwarder lanHolder; vid 0: VLAN-unaware). */
  | { ev: 'lan-holder'; sw: number; ip: number; mac: number; vid: number }
  | { ev: 'stopped' }
  /** The answer to 'fdb-query' `req`: switch `sw`'s learned entries (empty for an unknown or IP-mode switch). */
  | { ev: 'fdb'; sw: number; req: number; entries: FdbEntry[] }
  /** IP mode: a NIC used (or probed, DAD) an IPv6 address no NIC holds in VLAN vid (`ip6`: 32 hex digits; forwarder sawAddress6; vid 0: VLAN-unaware). */
  | { ev: 'saw-address6'; sw: number; port: number; ip6: string; vid: number }
  /** IP mode: NIC `port` joined / left IPv6 group `group6` (32 hex digits; its MLD report or done, aging). */
  | { ev: 'group6-join'; sw: number; port: number; group6: string }
  | { ev: 'group6-leave'; sw: number; port: number; group6: string };

// ---- the trace ring (trace-start) -----------------------------------------------------------
//
// One producer (the worker), one consumer (the main thread). ctl as Int32Array: [TRACE_HEAD]
// bytes ever written and published, [TRACE_TAIL] bytes ever consumed, both wrapping uint32
// (used = (head - tail) >>> 0); as Float64Array: [TRACE_RECORDS] records written,
// [TRACE_LOST] frames not copied because the ring was full (the reader too slow). The worker
// writes a record at head & (ringBytes - 1), then publishes head with Atomics.store; the main
// thread reads records up to head and then stores tail. A record never wraps: when it would not
// fit before the end of the ring, a padding record (type TRACE_PAD) fills the rest and the
// record starts at offset 0. Record, little-endian, TRACE_RECORD_HEADER bytes, then the frame:
//   u32 length of the record (a multiple of 8, header and padding included)
//   u8 type (TRACE_PAD, TRACE_FRAME)   u8 direction (TRACE_IN, TRACE_OUT of the port)
//   u8 drop: 0 not dropped, DropReason + 1, or TRACE_REFUSED (the kernel refused the write)
//   u8 0   u32 port   u32 original length   u32 captured length   u32 0
//   f64 time in microseconds since the epoch

export const TRACE_CTL_BYTES = 32;
export const TRACE_HEAD = 0;
export const TRACE_TAIL = 1;
export const TRACE_RECORDS = 2;
export const TRACE_LOST = 3;
export const TRACE_RECORD_HEADER = 32;
export const TRACE_PAD = 0;
export const TRACE_FRAME = 1;
export const TRACE_IN = 1;
export const TRACE_OUT = 2;
export const TRACE_REFUSED = 255;
