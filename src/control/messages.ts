/**
 * Message ids of the replies, after z/VM's HCPnnnnx style: VSW + 4 digits + severity
 * (I information, W warning, E error). One table, so the ids stay unique and documented.
 */
export const MSG = {
  SYNTAX: 'VSW0001E',
  NOT_HERE: 'VSW0002E',
  /** The peer may not issue this command (its privilege class, or not the guest's OWNER): src/control/privilege.ts. */
  NOT_AUTHORIZED: 'VSW0003E',
  SWITCH_EXISTS: 'VSW0010E',
  SWITCH_MISSING: 'VSW0011E',
  SWITCH_BUSY: 'VSW0012E',
  RDEV_MISSING: 'VSW0013W',
  SWITCH_LIMIT: 'VSW0014E',
  RDEV_TAKEN: 'VSW0015E',
  GUEST_EXISTS: 'VSW0020E',
  GUEST_MISSING: 'VSW0021E',
  GUEST_BUSY: 'VSW0022E',
  NETNS_TAKEN: 'VSW0023E',
  NIC_CLASH: 'VSW0030E',
  NIC_MISSING: 'VSW0031E',
  NIC_UNSUPPORTED: 'VSW0032E',
  NIC_EXHAUSTED: 'VSW0033E',
  NIC_DEVICE: 'VSW0034E',
  NIC_COUPLED: 'VSW0040E',
  NIC_NOT_COUPLED: 'VSW0041E',
  NO_UPLINK: 'VSW0050E',
  CONTROLLER_MISSING: 'VSW0051E',
  CONTROLLER_WAIT: 'VSW0052W',
  UPLINK_OP: 'VSW0053E',
  CLUSTER_STORE: 'VSW0060E',
  CLUSTER_HELD: 'VSW0061E',
  CLUSTER_NONE: 'VSW0062E',
  JOURNAL: 'VSW0090E',
  INTERNAL: 'VSW0099E',
} as const;
