/**
 * The plugin's side of the switch: CP commands to vswitchd's control socket (src/cli/request.ts),
 * the same commands an operator types, and the facts the plugin reads back from QUERY's JSON.
 *
 * Contract: `run` answers the daemon's reply (ok or refused) or throws CniError TRY_AGAIN_LATER
 * when no daemon answers; `must` throws CniError SWITCH_REFUSED (the reply in details) for a
 * refusal; the queries answer null for a guest or switch that does not exist (message
 * VSW0021E / VSW0011E) and throw for any other refusal.
 */
import { request, type Response } from '../cli/request.js';
import { CNI_CODE, CniError } from './errors.js';

const TIMEOUT_MS = 20_000;

/** What the plugin reads of a NIC (QUERY NIC ... FOR u --json, one element of `nics`). */
export interface NicFacts {
  vdev: string;
  mac: string;
  switch: string | null;
  tap: { name: string; netns: string | null } | null;
}

export interface GuestFacts {
  userid: string;
  netns: string | null;
  nics: NicFacts[];
}

/** What the plugin reads of a switch (QUERY VSWITCH name --json, one element of `switches`). */
export interface SwitchFacts {
  name: string;
  mode: string;
  vlan: { aware: boolean };
  accessList: Array<{ userid: string }>;
}

export class SwitchClient {
  constructor(readonly socket: string) {}

  async run(command: string): Promise<Response> {
    try {
      return await request(this.socket, command, TIMEOUT_MS);
    } catch (e) {
      throw new CniError(CNI_CODE.TRY_AGAIN_LATER, `the vswitch daemon at ${this.socket} does not answer`, (e as Error).message);
    }
  }

  async must(command: string): Promise<string[]> {
    const r = await this.run(command);
    if (!r.ok) throw new CniError(CNI_CODE.SWITCH_REFUSED, `the switch refused ${command.split(' ').slice(0, 2).join(' ')}: ${r.lines.join(' ')}`, command);
    return r.lines;
  }

  /** A guest and its NICs, or null when there is no such guest. */
  async guest(userid: string): Promise<GuestFacts | null> {
    const g = await this.query(`QUERY GUEST ${userid}`, 'VSW0021E');
    if (g === null) return null;
    const doc = (g as { guests: Array<{ userid: string; netns: string | null }> }).guests[0];
    const n = await this.query(`QUERY NIC ALL DETAILS FOR ${userid}`, 'VSW0021E');
    return { userid: doc.userid, netns: doc.netns, nics: n === null ? [] : (n as { nics: NicFacts[] }).nics };
  }

  /** QUERY VSWITCH name's document (what the plugin reads of it), or null when there is no such switch. */
  async vswitch(name: string): Promise<SwitchFacts | null> {
    const d = await this.query(`QUERY VSWITCH ${name}`, 'VSW0011E');
    return d === null ? null : (d as { switches: SwitchFacts[] }).switches[0];
  }

  private async query(command: string, missing: string): Promise<unknown> {
    const r = await this.run(command);
    if (r.ok) return r.data;
    if (r.lines[0]?.startsWith(missing)) return null;
    throw new CniError(CNI_CODE.SWITCH_REFUSED, `the switch refused ${command}: ${r.lines.join(' ')}`);
  }
}
