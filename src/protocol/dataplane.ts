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

export type PortKind = 'tap' | 'afpacket' | 'qemu-stream' | 'qemu-dgram';

export type ToWorker =
  | { op: 'switch-add'; sw: number; mode: 'IP' | 'ETHERNET'; queueBytes: number }
  | { op: 'switch-remove'; sw: number }
  /**
   * role: 'nic' or 'uplink'. mac: 48-bit number. vnet: the fd carries a 10-byte virtio-net header
   * (must be false for the QEMU kinds). peer: for 'qemu-dgram', QEMU's socket path (the port's
   * sendto destination and the only accepted source); unused by the other kinds.
   */
  | { op: 'port-add'; port: number; sw: number; role: 'nic' | 'uplink'; kind: PortKind; fd: number; mac: number; vnet: boolean; name: string; peer?: string }
  | { op: 'port-remove'; port: number }
  | { op: 'ip-set'; sw: number; ip: number; port: number; localOnly: boolean }
  | { op: 'ip-clear'; sw: number; ip: number }
  | { op: 'announce'; sw: number; ip: number }
  /** IP mode: ARP-probe the LAN for `ip` out the uplink (forwarder probe); answers come as 'lan-holder'. */
  | { op: 'probe'; sw: number; ip: number }
  | { op: 'stop' };

export type FromWorker =
  | { ev: 'ready' }
  /** The port's fd failed (read/write error other than EAGAIN, or hang-up); the worker has removed and closed it. */
  | { ev: 'port-down'; port: number; errno: number; reason: string }
  /** IP mode: a NIC used an address it does not hold yet (forwarder sawAddress). */
  | { ev: 'saw-address'; sw: number; port: number; ip: number }
  /** IP mode: NIC `port` joined IPv4 `group` (uint32; its IGMP report; forwarder joinedGroup). */
  | { ev: 'group-join'; sw: number; port: number; group: number }
  /** IP mode: NIC `port` left `group` (its leave, aging, or the port removed; forwarder leftGroup). */
  | { ev: 'group-leave'; sw: number; port: number; group: number }
  /** IP mode: the LAN holds `ip` (ARP from host `mac`) while it is probed or in the LAN IP table (forwarder lanHolder). */
  | { ev: 'lan-holder'; sw: number; ip: number; mac: number }
  | { ev: 'stopped' };
