/**
 * Test-only readers of `vswitch --json QUERY VSWITCH ... DETAILS` documents (shape documented
 * in src/control/commands/query.ts): { switches: [{ name, uplink: { mac, state, ... },
 * ipTable: [{ ip, guest, vdev, localOnly }], drops: { <reason>: n }, ... }] }.
 */

export interface LanEntry { ip: string; guest: string; vdev: string; localOnly: boolean }

function sw(doc: any, name: string): any {
  const s = (doc?.switches ?? []).find((x: { name: string }) => x.name === name.toUpperCase());
  if (!s) throw new Error(`VSWITCH ${name} not in the QUERY answer`);
  return s;
}

/** The switch's LAN IP table. */
export function lanTable(doc: any, name: string): LanEntry[] {
  return sw(doc, name).ipTable as LanEntry[];
}

/** The switch's drop counter for a reason name (DROP_REASON_NAMES). */
export function dropCount(doc: any, name: string, reason: string): number {
  const n = sw(doc, name).drops?.[reason];
  if (typeof n !== 'number') throw new Error(`no drop reason ${reason}`);
  return n;
}

/** The uplink's MAC ("aa:bb:cc:dd:ee:ff") or null while it has none. */
export function uplinkMac(doc: any, name: string): string | null {
  return sw(doc, name).uplink.mac as string | null;
}
