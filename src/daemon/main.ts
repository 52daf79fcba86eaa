/**
 * vswitchd: the daemon. `vswitchd [--config FILE] [--socket PATH] [--state-dir DIR] [--busy-poll-us N] [--compact-after N]`
 * `vswitchd --recover-journal [--state-dir DIR]`: with the daemon stopped, keep the history's
 * records before the first damaged one and set the damaged file aside (src/control/history.ts).
 * (defaults /etc/vswitch/system.config, which may be absent; /run/vswitch/vswitchd.sock;
 * /var/lib/vswitch; busy polling off, or the environment's VSWITCH_BUSY_POLL_US).
 * --busy-poll-us N: after frames arrive the data plane keeps polling for N microseconds before
 * it sleeps again: lower latency (no wake-up per frame) for one CPU kept busy under traffic.
 *
 * Start-up, in order: read SYSTEM CONFIG (every statement parsed and checked first; a bad one
 * stops start-up with its line number, nothing applied); replay the history on top, snapshot
 * then journal (records that no longer apply are logged and skipped; a damaged record stops
 * start-up, naming its file and line; --compact-after N: journal records that start a
 * compaction, default 10000); start the data-plane worker; reconcile (then persistent TAPs
 * no NIC of the state has any more are removed, in the background, and the daemon's own VXLAN
 * devices of no switch: src/daemon/orphan-taps.ts); listen on the
 * control socket (which also takes controller connections: vswitch-controller), and the trace
 * socket beside it (src/daemon/trace.ts). Logs are pino JSON lines on stderr. SIGTERM/SIGINT stop cleanly: the socket
 * closes, the worker closes its ports; persistent TAPs (and the guests' addresses) stay.
 * QEMU guests' NIC sockets are in the directory `qemu` next to the control socket (made mode
 * 2770 if missing; see src/control/qemu-nics.ts). Before the history is read, the state
 * directory (mode 0700) and the QEMU socket directory are made or verified: a directory not
 * the daemon's own, a symlink, or one others may write stops the start (src/host/own-dir.ts). Guests whose namespace was given by path
 * are removed when it disappears (src/control/netns-watch.ts).
 * A worker that dies unexpectedly is fatal (exit 1) so a supervisor restarts the daemon, which
 * then finds everything in its journal.
 * --metrics ADDR:PORT / --http ADDR:PORT (off by default; PORT alone: loopback): Prometheus
 * metrics and the live page (src/daemon/http; the page only for root and the administrators'
 * group unless --http-open). Under systemd (Type=notify) it sends READY=1
 * once the journal is replayed, the data plane is up and everything listens, STATUS= lines,
 * and WATCHDOG=1 when WatchdogSec is set (src/daemon/sd-notify.ts).
 * --admin-group NAME (default vswitch): besides root, the members of this group are the system
 * (class B: switches, guests, grants, controllers, traces); a guest's OWNER may command its NICs
 * (class G); anyone else is refused (src/control/privilege.ts, src/daemon/peer.ts). The group
 * need not exist (then only root is the system).
 * --cluster URL,URL,... --member NAME: a member of a cluster whose store is that etcd
 * (src/daemon/cluster): shared system definitions, user ids and addresses unique in the
 * cluster, QUERY SSI. Without --cluster nothing of it runs. --member alone names this system
 * for SYSTEM CONFIG's record qualifiers (`NAME: statement`); statements qualified for another
 * name are skipped with a note.
 * --vtep ADDR: this host's VXLAN tunnel endpoint (a local IPv4 address on the underlay), the
 * local address of the VXLAN devices of switches defined with VXLAN vni (src/host/vxlan.ts,
 * src/control/reconcile/overlay.ts); in a cluster it is published in the store under the
 * member (src/daemon/cluster/overlay.ts). Without it no overlay is made.
 */
import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import { dirname, join } from 'node:path';
import { parseArgs as parseArgv } from 'node:util';
import { pino, type Logger } from 'pino';
import { ClaimBook } from '../control/claim-book.js';
import { ControlPlane, StartUp } from '../control/controlplane.js';
import { format, unicastVtep } from '../control/grammar.js';
import { DEFAULT_COMPACT_AFTER, History, recoverHistory } from '../control/history.js';
import { systemClock } from '../control/clock.js';
import { NetnsWatch } from '../control/netns-watch.js';
import { Reconciler } from '../control/reconcile.js';
import { State } from '../control/state.js';
import { readConfig } from '../control/sysconfig.js';
import { DataPlane } from '../host/dataplane.js';
import * as devices from '../host/devices.js';
import { AddressWatcher } from '../host/address-watcher.js';
import { listen } from './server.js';
import { ensureOwnDir } from '../host/own-dir.js';
import { QEMU_DIR_MODE } from '../control/qemu-nics.js';
import { DEFAULT_ADMIN_GROUP } from './peer.js';
import { serveController } from './controller-link.js';
import { OBSERVE_OPTIONS, observeOptions, type ObserveOptions } from './http/listen-address.js';
import { startObserving, type Observing } from './http/index.js';
import { SdNotify } from './sd-notify.js';
import { removeOrphanOverlays, removeOrphanTaps } from './orphan-taps.js';
import { TRACE_SOCKET_SUFFIX, listenTrace, type TraceServer } from './trace.js';
import { Cluster, JoinRefused } from './cluster/cluster.js';
import { SYSTEM } from '../control/privilege.js';
import { memberName } from './cluster/keys.js';
import { OverlayDirectory } from './cluster/overlay.js';
import { formatIpv4, parseIpv4 } from '../wire/addr.js';
import { overlayMark, VxlanDevices } from '../host/vxlan.js';

export const DEFAULTS = {
  config: '/etc/vswitch/system.config',
  socket: '/run/vswitch/vswitchd.sock',
  stateDir: '/var/lib/vswitch',
};

const USAGE = 'usage: vswitchd [--config FILE] [--socket PATH] [--state-dir DIR] [--admin-group NAME] [--busy-poll-us N] [--compact-after N] [--metrics ADDR:PORT] [--http ADDR:PORT [--http-open]]\n'
  + '                [--cluster URL,URL,... --member NAME] [--vtep ADDR]\n'
  + '       vswitchd --recover-journal [--state-dir DIR]';

interface Options { config: string; configGiven: boolean; socket: string; stateDir: string; adminGroup: string; busyPollUs: number; compactAfter: number; recoverJournal: boolean; observe: ObserveOptions; cluster: string[] | null; member: string | null; vtep: string | null }

function parseArgs(argv: string[]): Options {
  let v: { config?: string; socket?: string; 'state-dir'?: string; 'admin-group'?: string; 'busy-poll-us'?: string; 'compact-after'?: string; 'recover-journal'?: boolean; help?: boolean; metrics?: string; http?: string; 'http-open'?: boolean; cluster?: string; member?: string; vtep?: string };
  try {
    v = parseArgv({ args: argv, strict: true, allowPositionals: false, options: {
      config: { type: 'string' }, socket: { type: 'string' }, 'state-dir': { type: 'string' }, 'admin-group': { type: 'string' },
      'busy-poll-us': { type: 'string' }, 'compact-after': { type: 'string' }, 'recover-journal': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      cluster: { type: 'string' }, member: { type: 'string' }, vtep: { type: 'string' },
      ...OBSERVE_OPTIONS,
    } }).values;
  } catch (e) {
    die(`${(e as Error).message}\n${USAGE}`, 2);
  }
  if (v.help) { process.stdout.write(`${USAGE}\n`); process.exit(0); }
  for (const [flag, value] of Object.entries(v)) if (value === '') die(`--${flag} needs a value\n${USAGE}`, 2);
  const env = process.env.VSWITCH_BUSY_POLL_US;
  const busy = v['busy-poll-us'] ?? (env !== undefined && env !== '' ? env : '0');
  return {
    config: v.config ?? DEFAULTS.config,
    configGiven: v.config !== undefined,
    socket: v.socket ?? DEFAULTS.socket,
    stateDir: v['state-dir'] ?? DEFAULTS.stateDir,
    adminGroup: groupName(v['admin-group'] ?? DEFAULT_ADMIN_GROUP),
    busyPollUs: microseconds(busy, v['busy-poll-us'] !== undefined ? '--busy-poll-us' : 'VSWITCH_BUSY_POLL_US'),
    observe: observeArgs(v),
    compactAfter: records(v['compact-after'] ?? String(DEFAULT_COMPACT_AFTER)),
    recoverJournal: v['recover-journal'] ?? false,
    ...clusterArgs(v),
    vtep: vtepArg(v.vtep),
  };
}

/** --vtep ADDR: a unicast IPv4 address, dotted. */
function vtepArg(text: string | undefined): string | null {
  if (text === undefined) return null;
  const ip = parseIpv4(text);
  if (!unicastVtep(ip)) die(`--vtep takes this host's unicast IPv4 address on the underlay, not '${text}'\n${USAGE}`, 2);
  return formatIpv4(ip);
}

/** --cluster (etcd client URLs, comma-separated) and --member (this system's name; --cluster needs it). */
function clusterArgs(v: { cluster?: string; member?: string }): { cluster: string[] | null; member: string | null } {
  const member = v.member === undefined ? null : memberName(v.member);
  if (v.member !== undefined && member === null) die(`--member takes a system name of 1 to 8 letters, digits, @, # or $, not '${v.member}'\n${USAGE}`, 2);
  if (v.cluster === undefined) return { cluster: null, member };
  if (member === null) die(`--cluster needs --member NAME\n${USAGE}`, 2);
  const urls = v.cluster.split(',').map((u) => u.trim()).filter((u) => u !== '');
  for (const u of urls) if (!/^https?:\/\/[^/\s]+\/?$/.test(u)) die(`--cluster takes etcd client URLs (http://HOST:PORT,...), not '${u}'\n${USAGE}`, 2);
  if (urls.length === 0) die(`--cluster needs at least one URL\n${USAGE}`, 2);
  return { cluster: urls, member };
}

/** --metrics and --http. */
function observeArgs(v: { metrics?: string; http?: string; 'http-open'?: boolean }): ObserveOptions {
  try {
    return observeOptions(v);
  } catch (e) {
    die(`${(e as Error).message}\n${USAGE}`, 2);
  }
}

/** A busy-poll window: a whole number of microseconds, 0 to 1,000,000. */
function microseconds(v: string, what: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 1_000_000) die(`${what} takes a whole number of microseconds from 0 to 1000000, not '${v}'\n${USAGE}`, 2);
  return n;
}

/** --admin-group: a group name as Linux takes it (its existence is looked up at each connection). */
function groupName(v: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(v)) die(`--admin-group takes a group name, not '${v}'\n${USAGE}`, 2);
  return v;
}

/** --compact-after: a whole number of records, 1 to 10,000,000. */
function records(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 10_000_000) die(`--compact-after takes a whole number of records from 1 to 10000000, not '${v}'\n${USAGE}`, 2);
  return n;
}

function die(msg: string, code = 1): never {
  process.stderr.write(`vswitchd: ${msg}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.recoverJournal) {
    try {
      for (const line of recoverHistory(opts.stateDir)) process.stdout.write(`vswitchd: ${line}\n`);
    } catch (e) {
      die(`cannot recover the journal in ${opts.stateDir}: ${(e as Error).message}`);
    }
    process.exit(0);
  }
  const log: Logger = pino({ name: 'vswitchd', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  const notify = SdNotify.fromEnv();
  notify.onError = (err) => log.warn({ err, socket: process.env.NOTIFY_SOCKET }, 'sd_notify failed');
  notify.status('starting: reading SYSTEM CONFIG and the journal');
  const state = new State();
  let cluster: Cluster | null = null;
  const env = { interfaceExists: (n: string) => devices.interfaceExists(n), cluster: () => cluster?.view() ?? null };
  const startUp = new StartUp(state, env, log);

  // 1. SYSTEM CONFIG: parse everything, then check and apply to the (still private) state.
  if (existsSync(opts.config)) {
    let text: string;
    try {
      text = readFileSync(opts.config, 'utf8');
    } catch (e) {
      die(`cannot read SYSTEM CONFIG ${opts.config}: ${(e as Error).message}`);
    }
    const r = readConfig(text, opts.member);
    if (!r.ok) die(`SYSTEM CONFIG ${opts.config} line ${r.line}: ${r.message}; not started`);
    for (const q of r.skipped) log.info({ config: opts.config, line: q.line, member: q.member, self: opts.member }, `SYSTEM CONFIG line ${q.line} is for member ${q.member}; skipped`);
    for (const s of r.statements) {
      const err = startUp.configure(s.cmd, s.line);
      if (err !== null) die(`SYSTEM CONFIG ${opts.config} line ${s.line}: ${format(s.cmd)}: ${err}; not started`);
    }
    log.info({ config: opts.config, statements: r.statements.length }, 'SYSTEM CONFIG read');
  } else if (opts.configGiven) {
    die(`SYSTEM CONFIG ${opts.config} does not exist`);
  } else {
    log.info({ config: opts.config }, 'no SYSTEM CONFIG; starting empty');
  }

  // 2. The history of dynamic commands: snapshot and journal (src/control/history.ts), in a
  // directory of the daemon's own that no one else may read (src/host/own-dir.ts); the QEMU
  // socket directory likewise (the daemon connects to what is in it).
  const qemuDir = join(dirname(opts.socket), 'qemu');
  // The socket's directory first: everyone may reach the control socket (mode 0755 if made here).
  try { mkdirSync(dirname(opts.socket), { recursive: true, mode: 0o755 }); } catch (e) { die(`cannot make ${dirname(opts.socket)}: ${(e as Error).message}`); }
  for (const [dir, mode, what] of [[opts.stateDir, 0o700, 'state directory'], [qemuDir, QEMU_DIR_MODE, 'QEMU socket directory']] as const) {
    const r = ensureOwnDir(dir, mode);
    if (!r.ok) die(`the ${what} cannot be trusted: ${r.error}; not started`);
    if (r.note !== null) log.info({ dir, note: r.note }, what);
  }
  let history: History;
  try {
    history = History.open(opts.stateDir, startUp, log, { compactAfter: opts.compactAfter }).history;
  } catch (e) {
    die(`cannot open the journal in ${opts.stateDir}: ${(e as Error).message}; not started`);
  }

  // 2b. Who held which address before the restart (src/control/claim-book.ts), before any guest's address is seen.
  const claims = ClaimBook.start(opts.stateDir, state, systemClock, log);

  // 2c. The cluster (vswitchd --cluster): its store, the claims, the shared definitions.
  if (opts.cluster !== null) {
    try {
      cluster = new Cluster({ endpoints: opts.cluster, member: opts.member!, stateDir: opts.stateDir, state, log });
    } catch (e) {
      die(`cannot be member ${opts.member}: ${(e as Error).message}; not started`);
    }
  }

  // 3. The data plane and the reconciler.
  const dp = await DataPlane.start({ busyPollUs: opts.busyPollUs });
  const watcher = new AddressWatcher();
  // QEMU guests' NIC sockets live next to the control socket (src/control/qemu-nics.ts).
  const c0 = cluster as Cluster | null;
  const overlayDir = c0 !== null && opts.vtep !== null
    ? new OverlayDirectory(c0.store, c0.member, opts.vtep, state, () => c0.addressesHeld(), log) : null;
  const vxlan = new VxlanDevices(log, overlayMark(opts.stateDir));
  const rec = new Reconciler({
    state, dataPlane: dp, devices, watcher, log, retryMs: 1000, qemuDir, vhostNet: devices.hostHasVhostNet(),
    ...(cluster ? { addressClaims: cluster } : {}),
    overlay: {
      devices: { ensure: (s) => vxlan.ensure(s), remove: (n) => vxlan.remove(n), program: (n, w) => vxlan.program(n, w),
        entries: (n) => vxlan.entries(n), openUplink: (n) => devices.openUplink(n) },
      localVtep: opts.vtep, source: overlayDir,
    },
  });
  watcher.on('watch-error', (key: string, message: string) => log.warn({ nic: key, err: message }, 'address watch failed'));
  dp.on('error', (e: Error) => {
    log.fatal({ err: String(e) }, 'data plane failed; exiting');
    process.exit(1);
  });
  const cp = new ControlPlane(state, env, log, { journal: history, effects: rec, runtime: rec, ...(cluster ? { store: cluster } : {}) });
  rec.sync();
  if (cluster !== null) {
    cluster.attach({
      applyShared: (t) => cp.applyShared(t),
      execute: (t, alloc) => cp.execute(t, SYSTEM, false, alloc ? { replay: { alloc } } : undefined),
      relocatedAddress: (u, v, ip) => rec.relocatedAddress(u, v, ip),
      uplinkMacs: () => [...state.switches.keys()].map((n) => rec.uplink(n).mac).filter((m): m is number => m !== null),
    });
    try {
      await cluster.join();
    } catch (e) {
      if (!(e instanceof JoinRefused)) throw e;
      log.fatal({ err: e.message }, 'cluster: cannot join');
      await dp.stop();
      die(`cannot join the cluster as member ${opts.member}: ${e.message}; not started`);
    }
    cluster.start();
    overlayDir?.start();
  }
  const netnsWatch = new NetnsWatch({ state, clock: systemClock, log, execute: (command) => cp.execute(command) });
  netnsWatch.start();
  void removeOrphanTaps(state, devices, log);
  removeOrphanOverlays(state, vxlan, log);

  // 3b. Metrics and the live page (src/daemon/http).
  let observing: Observing;
  try {
    observing = await startObserving({ ...opts.observe, adminGroup: opts.adminGroup, state, runtime: rec, controllers: rec.controllers, log });
  } catch (e) {
    log.fatal({ err: String(e) }, 'cannot listen for HTTP');
    await dp.stop();
    die(`cannot listen for --metrics / --http: ${(e as Error).message}`);
  }

  // 4. The control socket.
  let server: Server;
  try {
    server = await listen(opts.socket, (command, who) => cp.submit(command, who), log,
      (sock, first, rest, who, pid) => serveController(sock, first, rest, rec.controllers, log, { who, pid }), undefined, { adminGroup: opts.adminGroup });
  } catch (e) {
    log.fatal({ err: String(e) }, 'cannot listen');
    await dp.stop();
    die(`cannot listen on ${opts.socket}: ${(e as Error).message}`);
  }
  // Trace sessions (vswitch trace) on a socket of their own next to the control socket.
  let traces: TraceServer | null = null;
  try {
    traces = await listenTrace(opts.socket + TRACE_SOCKET_SUFFIX, { state, runtime: rec, openTrace: (f) => dp.openTrace(f), log, adminGroup: opts.adminGroup });
  } catch (e) {
    log.error({ err: String(e) }, 'cannot listen for traces; vswitch trace will not work');
  }
  log.info({ socket: opts.socket, adminGroup: opts.adminGroup, stateDir: opts.stateDir, switches: state.switches.size, guests: state.guests.size }, 'vswitchd ready');
  notify.ready(`ready: switches ${state.switches.size}, guests ${state.guests.size}; ${[observing.urls.page, observing.urls.metrics].filter((u) => u !== null).join(' ') || 'no HTTP'}`);

  let stopping = false;
  const stop = async (sig: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping');
    notify.stopping(`stopping (${sig})`);
    await observing.close();
    server.close();
    try { unlinkSync(opts.socket); } catch { /* already gone */ }
    netnsWatch.stop();
    overlayDir?.stop();
    await cluster?.stop();
    rec.stop();
    await traces?.close();
    await watcher.close();
    await dp.stop();
    claims.close();
    history.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e) => die(`start-up failed: ${(e as Error).stack ?? String(e)}`));
