/**
 * CNI errors (CNI spec 1.0.0 / 1.1.0, "Error"): what the plugin prints on stdout, with a
 * non-zero exit, when a command fails: `{"cniVersion", "code", "msg", "details"}`.
 *
 * Codes 1-99 are the spec's (those used here below); 100 and up are this plugin's own.
 */
export const CNI_CODE = {
  /** Incompatible CNI version. */
  INCOMPATIBLE_VERSION: 1,
  /** Unsupported field in the network configuration (the message names key and value). */
  UNSUPPORTED_FIELD: 2,
  /** Container unknown or does not exist. */
  UNKNOWN_CONTAINER: 3,
  /** Invalid necessary environment variables (CNI_COMMAND, CNI_NETNS, ...). */
  INVALID_ENVIRONMENT: 4,
  /** I/O failure. */
  IO_FAILURE: 5,
  /** Failed to decode content (stdin is not JSON, a result is not). */
  DECODING_FAILURE: 6,
  /** Invalid network configuration. */
  INVALID_CONFIG: 7,
  /** Try again later (the daemon does not answer). */
  TRY_AGAIN_LATER: 11,
  /** STATUS: the plugin is not available (no daemon, no switch). */
  NOT_AVAILABLE: 50,
  /** The switch refused a command; details holds its reply. */
  SWITCH_REFUSED: 100,
  /** ADD of an interface already attached (the same container, network and CNI_IFNAME). */
  ALREADY_ATTACHED: 101,
  /** The delegated IPAM plugin failed; details holds its error. */
  IPAM_FAILED: 102,
  /** Configuring the interface in the container's namespace failed. */
  SANDBOX_FAILED: 103,
  /** CHECK found the attachment not as ADD left it. */
  CHECK_FAILED: 104,
} as const;

export class CniError extends Error {
  constructor(readonly code: number, msg: string, readonly details = '') {
    super(msg);
  }

  /** The error object the spec prints. */
  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details !== '' ? { details: this.details } : {}) };
  }
}
