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
  NOT_GRANTED: 'VSW0042E',
  GRANT_BAD: 'VSW0043E',
  MACID_TAKEN: 'VSW0035E',
  CONFIG_DUPLICATE: 'VSW0016E',
  NO_UPLINK: 'VSW0050E',
  CONTROLLER_MISSING: 'VSW0051E',
  CONTROLLER_WAIT: 'VSW0052W',
  UPLINK_OP: 'VSW0053E',
  CLUSTER_STORE: 'VSW0060E',
  CLUSTER_HELD: 'VSW0061E',
  CLUSTER_NONE: 'VSW0062E',
  /** VMRELOCATE (src/control/commands/vmrelocate.ts, src/daemon/cluster/relocation.ts): the target member is not one, or not up. */
  RELOCATE_TARGET: 'VSW0063E',
  /** VMRELOCATE: the user is not a guest here, or not active (coupled) here. */
  RELOCATE_USER: 'VSW0064E',
  /** VMRELOCATE MOVE failed on the way (the store, the target's answer); the reply says where the guest is. */
  RELOCATE_FAILED: 'VSW0065E',
  /** VMRELOCATE: information (eligible, relocated, status lines). */
  RELOCATE_INFO: 'VSW0066I',
  JOURNAL: 'VSW0090E',
  INTERNAL: 'VSW0099E',
} as const;
