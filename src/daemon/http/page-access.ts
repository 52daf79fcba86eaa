/**
 * Who may see the live page (--http): it shows every guest's addresses, rates and the switch's
 * events, which CP shows only to class B (QUERY VSWITCH ALL). So by default the page is for the
 * system only, as the control socket decides it (src/daemon/peer.ts: root or a member of the
 * administrators' group), the peer identified by the owner of its loopback TCP socket
 * (src/sys/tcp-owner.ts). A browser elsewhere reaches it through a tunnel that ends on this host
 * as its user (`ssh -L 9465:127.0.0.1:9465 host`). `--http-open` serves the page to anyone who
 * can connect (the daemon logs a warning at start). /metrics is not guarded: it carries names
 * and counts, never addresses.
 *
 * Contract: `pageAccess(open, adminGroup)` returns a guard; `guard(req)` is null when the
 * request may be answered, else the text of the 403 answer saying why and what to do. The
 * decision is made once per connection (kept for its keep-alive requests) and read from the
 * kernel's tables, never from anything the client sends.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { tcpPeerUid } from '../../sys/tcp-owner.js';
import { principalOf } from '../peer.js';

export type PageGuard = (req: IncomingMessage) => string | null;

export function pageAccess(open: boolean, adminGroup: string): PageGuard {
  if (open) return () => null;
  const decided = new WeakMap<Socket, string | null>();
  const decide = (s: Socket): string | null => {
    const uid = tcpPeerUid({ localAddress: s.localAddress ?? '', localPort: s.localPort ?? 0, remoteAddress: s.remoteAddress ?? '', remotePort: s.remotePort ?? 0 });
    if (uid === null) {
      return `the live page is shown to this host's administrators only, and ${s.remoteAddress ?? 'this peer'} is not a local connection: `
        + 'connect from this host (a tunnel such as ssh -L PORT:127.0.0.1:PORT ends here as your user), or start vswitchd with --http-open\n';
    }
    const who = principalOf(uid, null, adminGroup);
    if (who.system) return null;
    return `the live page is shown to root and the members of group ${adminGroup} only, not to ${who.user ?? `uid ${uid}`} `
      + `(vswitchd --admin-group names the group; --http-open shows the page to anyone who can connect)\n`;
  };
  return (req) => {
    const s = req.socket;
    if (!decided.has(s)) decided.set(s, decide(s));
    return decided.get(s)!;
  };
}
