/**
 * Test-only: what a real-daemon test file sets up and tears down. `rig(prefix)` gives `lab()`
 * (a NetLab), `daemon(opts)` (a Daemon, not started) and `controller(name, netns, daemon)`,
 * and registers one `after` hook that stops the controllers, then the daemons (removing their
 * temp dirs, also of daemons that never started), then cleans up the labs.
 */
import { after } from 'node:test';
import { NetLab, run } from './netlab.js';
import { Daemon, type DaemonOptions } from './daemon.js';
import { Controller } from './controller.js';

export interface Rig {
  lab(): NetLab;
  daemon(opts: DaemonOptions): Daemon;
  controller(name: string, netns: string, daemon: Daemon): Controller;
}

export function rig(prefix: string): Rig {
  const labs: NetLab[] = [];
  const daemons: Daemon[] = [];
  const controllers: Controller[] = [];
  after(async () => {
    for (const c of controllers) await c.stop();
    for (const d of daemons) {
      try { await d.stop(); } catch { /* already gone */ }
      run('rm', ['-rf', d.dir]); // also for daemons that never started
    }
    for (const l of labs) l.cleanup();
  });
  return {
    lab: () => { const l = new NetLab(prefix); labs.push(l); return l; },
    daemon: (opts) => { const d = new Daemon(opts); daemons.push(d); return d; },
    controller: (name, netns, daemon) => { const c = new Controller(name, netns, daemon); controllers.push(c); return c; },
  };
}
