/**
 * The port kinds the data plane can run, one entry each (as Open vSwitch registers its netdev
 * classes): what a `port-add` of that kind must carry, and how the port is built over its fd.
 * Adding a kind is its name in PortKind (src/protocol/dataplane.ts), its file here in
 * src/dataplane, and one entry in PORT_KINDS (the Record type refuses a kind without one).
 *
 * openPort() is the one place a port-add's fields are checked against its kind: a `vnet` fd for
 * a kind that carries no virtio-net header, a missing `peer` for a kind that needs one, or a
 * constructor that throws gives a refusal (a sentence for the 'port-down' reason) and no port;
 * the caller then closes the fd. A kind that queues output gets its switch's queueBytes
 * (QUEUESTORAGE) as the queue's bound; the others get 0. `peer` is passed only to a kind that
 * takes one. Runs on the control path (a port-add), never per frame.
 */
import type { PortKind, ToWorker } from '../protocol/dataplane.js';
import type { Port } from './port.js';
import { TapPort } from './tap-port.js';
import { AfPacketPort } from './afpacket-port.js';
import { QemuStreamPort } from './qemu-stream-port.js';
import { QemuDgramPort } from './qemu-dgram-port.js';
import { HostTapPort } from './host-tap-port.js';

/** What a kind's constructor gets: the port-add's fields, checked, and its switch's queue bound. */
export interface PortArgs {
  readonly id: number;
  readonly sw: number;
  readonly name: string;
  readonly fd: number;
  readonly vnet: boolean;
  /** port-add's `peer`: a string for a kind with `peer`, else undefined. */
  readonly peer: string | undefined;
  /** The output-queue bound in bytes for a kind with `queued`, else 0. */
  readonly queueBytes: number;
}

export interface PortKindEntry {
  /** May the fd carry a 10-byte virtio-net header (port-add `vnet: true`)? */
  readonly vnetAllowed: boolean;
  /** What port-add's `peer` names for this kind, which then requires it; null: the kind takes none. */
  readonly peer: string | null;
  /** Does the port queue output (bounded by its switch's queueBytes)? */
  readonly queued: boolean;
  /** The port over the fd (the port owns it from then on). May throw; its message is the refusal. */
  open(a: PortArgs): Port;
}

export const PORT_KINDS: Readonly<Record<PortKind, PortKindEntry>> = {
  /** A guest NIC's TAP, with or without a virtio-net header. */
  'tap': { vnetAllowed: true, peer: null, queued: false, open: (a) => new TapPort(a.id, a.sw, a.name, a.fd, a.vnet) },
  /** An uplink's AF_PACKET socket, with or without PACKET_VNET_HDR. */
  'afpacket': { vnetAllowed: true, peer: null, queued: false, open: (a) => new AfPacketPort(a.id, a.sw, a.name, a.fd, a.vnet) },
  /** The kernel side of a host TAP QEMU holds: an AF_PACKET socket on it, with PACKET_VNET_HDR. */
  'host-tap': { vnetAllowed: true, peer: null, queued: false, open: (a) => new HostTapPort(a.id, a.sw, a.name, a.fd, a.vnet) },
  /** A QEMU `-netdev stream` connection (plain frames behind a length prefix). */
  'qemu-stream': { vnetAllowed: false, peer: null, queued: true, open: (a) => new QemuStreamPort(a.id, a.sw, a.name, a.fd, a.queueBytes) },
  /** A QEMU `-netdev dgram` socket, connected to QEMU's own socket path. */
  'qemu-dgram': {
    vnetAllowed: false, peer: 'QEMU\'s socket path', queued: true,
    open: (a) => new QemuDgramPort(a.id, a.sw, a.name, a.fd, a.peer!, a.queueBytes),
  },
};

/**
 * The port a port-add asks for, on a switch whose queue bound is `queueBytes`; or, when it
 * cannot be built, the reason in words (the fd is then still the caller's to close).
 */
export function openPort(m: Extract<ToWorker, { op: 'port-add' }>, queueBytes: number): Port | string {
  const kind = m.kind as string;
  if (!Object.hasOwn(PORT_KINDS, kind)) return `port kind ${kind} not supported by this data plane`;
  const entry = PORT_KINDS[m.kind];
  if (m.vnet && !entry.vnetAllowed) return `${kind} ports carry no virtio-net header (vnet must be false)`;
  if (entry.peer !== null && typeof m.peer !== 'string') return `${kind} port-add needs peer (${entry.peer})`;
  try {
    return entry.open({
      id: m.port, sw: m.sw, name: m.name, fd: m.fd, vnet: m.vnet,
      peer: entry.peer !== null ? m.peer : undefined,
      queueBytes: entry.queued ? queueBytes : 0,
    });
  } catch (e) {
    return `${kind}: ${(e as Error).message}`;
  }
}
