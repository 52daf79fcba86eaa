/**
 * Test-only: a real IPv6 router on a lab's LAN, Debian's radvd, advertising `prefix`/64
 * (on-link, autonomous: SLAAC) on `dev` of namespace `ns` every 3 to 4 s and answering Router
 * Solicitations, with a default-router lifetime of 600 s. The namespace forwards IPv6 (a
 * router). radvd runs in the foreground as a NetLab child: the lab's cleanup ends it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { NetLab } from './netlab.js';

export function startRadvd(lab: NetLab, ns: string, dev: string, prefix: string): void {
  lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  const conf = join(tmpdir(), `${lab.name('radvd')}.conf`);
  writeFileSync(conf, `interface ${dev} {
  AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 4; AdvDefaultLifetime 600;
  prefix ${prefix}/64 { AdvOnLink on; AdvAutonomous on; };
};
`);
  lab.spawn(ns, 'radvd', ['-n', '-C', conf, '-p', `${conf}.pid`, '-m', 'stderr']);
}
