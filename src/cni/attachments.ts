/**
 * Which switch guest belongs to which container, and which of its NICs each network attached:
 * the plugin's records, kept in its data directory (the configuration's dataDir) so that DEL
 * and CHECK find what ADD made (even without CNI_NETNS, even after the daemon restarted) and a
 * guest is never taken for another container's.
 *
 * A container's guest has a user id derived from its container id: "C" and 7 characters of
 * A-Z 0-9 from sha256(containerId) (candidate 0), or from sha256(containerId + "#" + i) for
 * candidate i when an earlier one is claimed by another container (a collision): stable for a
 * container, 8 characters of the z/VM name alphabet.
 *
 * Layout, per daemon (the socket path's hash, so two daemons do not share user ids):
 *   DATADIR/<socket hash>/<USERID>/container          the owning container id
 *   DATADIR/<socket hash>/<USERID>/att-<network>-<ifname>.json   { network, ifname, vdev, netns }
 * A claim is made atomically (a directory prepared aside, then renamed into place: of two
 * containers racing for a user id exactly one wins); an attachment file is created exclusively.
 * A claim with no attachment left is released (renamed aside, then removed), so a racing ADD
 * that wrote into it fails and claims again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How many candidate user ids a container may try before giving up. */
export const CANDIDATES = 64;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export interface Attachment {
  network: string;
  ifname: string;
  /** The NIC's vdev, 4 hex digits. */
  vdev: string;
  netns: string;
}

/** Candidate `i` of a container's user id. */
export function candidateUserid(containerId: string, i: number): string {
  const h = createHash('sha256').update(i === 0 ? containerId : `${containerId}#${i}`).digest();
  let id = 'C';
  for (let k = 0; k < 7; k++) id += ALPHABET[h[k] % ALPHABET.length];
  return id;
}

export class Attachments {
  readonly dir: string;

  constructor(dataDir: string, socket: string) {
    this.dir = join(dataDir, createHash('sha256').update(socket).digest('hex').slice(0, 16));
  }

  /** The user id this container holds, or null. */
  find(containerId: string): string | null {
    for (let i = 0; i < CANDIDATES; i++) {
      const u = candidateUserid(containerId, i);
      const owner = this.owner(u);
      if (owner === containerId) return u;
    }
    return null;
  }

  /**
   * The container's user id: the one it holds, else the first free candidate, claimed now.
   * `usable(u)` may refuse a free candidate (a guest of that name that is not this
   * container's exists on the switch). Returns the user id and whether this call claimed it.
   */
  async claim(containerId: string, usable: (userid: string) => Promise<boolean>): Promise<{ userid: string; claimed: boolean }> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (let i = 0; i < CANDIDATES; i++) {
      const u = candidateUserid(containerId, i);
      const owner = this.owner(u);
      if (owner === containerId) return { userid: u, claimed: false };
      if (owner !== null) continue; // another container's: a collision
      if (!(await usable(u))) continue;
      const tmp = mkdtempSync(join(this.dir, '.new-'));
      writeFileSync(join(tmp, 'container'), containerId);
      try {
        renameSync(tmp, join(this.dir, u));
        return { userid: u, claimed: true };
      } catch (e) {
        rmSync(tmp, { recursive: true, force: true });
        const code = (e as { code?: string }).code;
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
        if (this.owner(u) === containerId) return { userid: u, claimed: false };
      }
    }
    throw new Error(`no free user id among ${CANDIDATES} candidates for container ${containerId}`);
  }

  /** Give the user id up if no attachment is left in it. */
  releaseIfEmpty(userid: string): void {
    if (this.list(userid).length > 0) return;
    const gone = join(this.dir, `.gone-${userid}-${process.pid}`);
    try {
      renameSync(join(this.dir, userid), gone);
    } catch {
      return; // already released
    }
    rmSync(gone, { recursive: true, force: true });
  }

  /** Record an attachment; false when this network already attached this interface. */
  add(userid: string, a: Attachment): boolean {
    try {
      writeFileSync(this.file(userid, a.network, a.ifname), JSON.stringify(a), { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'EEXIST') return false;
      throw e;
    }
  }

  get(userid: string, network: string, ifname: string): Attachment | null {
    try {
      return JSON.parse(readFileSync(this.file(userid, network, ifname), 'utf8')) as Attachment;
    } catch {
      return null;
    }
  }

  remove(userid: string, network: string, ifname: string): void {
    try {
      unlinkSync(this.file(userid, network, ifname));
    } catch {
      // Already gone.
    }
  }

  /** The attachments recorded under a user id. */
  list(userid: string): Attachment[] {
    let names: string[];
    try {
      names = readdirSync(join(this.dir, userid));
    } catch {
      return [];
    }
    const out: Attachment[] = [];
    for (const n of names) {
      if (!n.startsWith('att-')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, userid, n), 'utf8')) as Attachment);
      } catch {
        // A torn record: ignored (its NIC, if any, is found by the switch's own state).
      }
    }
    return out;
  }

  /** Every claimed user id and its container. */
  claims(): Array<{ userid: string; containerId: string }> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: Array<{ userid: string; containerId: string }> = [];
    for (const u of names) {
      if (u.startsWith('.')) continue;
      const c = this.owner(u);
      if (c !== null) out.push({ userid: u, containerId: c });
    }
    return out;
  }

  private owner(userid: string): string | null {
    try {
      return readFileSync(join(this.dir, userid, 'container'), 'utf8');
    } catch {
      return null;
    }
  }

  private file(userid: string, network: string, ifname: string): string {
    return join(this.dir, userid, `att-${encodeURIComponent(network)}-${encodeURIComponent(ifname)}.json`);
  }
}
