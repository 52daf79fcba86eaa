/**
 * /metrics: the Prometheus text format, built with prom-client from one ObservedView (view.ts,
 * the documents QUERY answers) and the EventLog (events.ts), read at each scrape.
 *
 * Names follow Prometheus's rules: the `vswitch_` prefix, base units (bytes, frames), `_total`
 * on counters; label values are names (vswitch, userid, vdev, rdev, reason, kind, state,
 * controller), never an IP address or a MAC. Direction is the switch's: `receive` is what the
 * switch took in from the port (what the guest sent, what came in from the LAN), `transmit`
 * what it sent out of the port.
 *
 *   vswitch_switch_info{vswitch,mode}                              gauge 1
 *   vswitch_nic_{receive,transmit}_{frames,bytes}_total{vswitch,userid,vdev}   counter
 *   vswitch_nic_transmit_drops_total, vswitch_nic_receive_errors_total          counter
 *   vswitch_nic_up{vswitch,userid,vdev}                            gauge: 1 with a data-plane port
 *   vswitch_uplink_{receive,transmit}_{frames,bytes}_total{vswitch,rdev}, ..._transmit_drops_total,
 *     ..._receive_errors_total                                     counter (rdev: the one whose data device is open)
 *   vswitch_uplink_up{vswitch}                                     gauge: 1 while the data device is open
 *   vswitch_uplink_rdev_ready / _active / _carrier{vswitch,rdev}   gauge 0/1 (from the controller's RDEV status)
 *   vswitch_uplink_failovers_total{vswitch}                        counter
 *   vswitch_events_total{vswitch,kind}                             counter (kinds: events.ts)
 *   vswitch_drops_total{vswitch,reason}                            counter (reason: DROP_REASON_NAMES)
 *   vswitch_lan_ip_table_entries{vswitch}                          gauge
 *   vswitch_addresses{vswitch,state="registered"|"local_only"}     gauge
 *   vswitch_multicast_groups{vswitch,state="registered"|"not_registered"}     gauge
 *   vswitch_controller_state{vswitch,state="ready"|"initializing"|"none"}     gauge 0/1
 *   vswitch_controllers                                            gauge: controllers connected
 *   vswitch_controller_switches{controller}                        gauge
 *   vswitch_controller_registrations_refused_total                 counter
 *   vswitch_dataplane_wakeups_total                                counter: epoll_wait returns with ready fds
 *   vswitch_dataplane_loop_batches_total                           counter: receive batches that read frames
 *   vswitch_dataplane_empty_polls_total                            counter: busy/adaptive polls that found nothing
 *   vswitch_dataplane_sleeps_total                                 counter: epoll_waits that may block
 *   vswitch_dataplane_cpu_seconds_total                            counter: the worker thread's CPU time (about 1 s behind)
 *   vswitch_dataplane_poll_predictions_total{outcome="hit"|"miss"} counter: adaptive polling's predicted arrivals (about 1 s behind)
 * plus prom-client's process and Node.js metrics (process_*, nodejs_*) under their usual names.
 * A counter restarts from 0 when its port is made anew (a NIC re-coupled, an uplink after a
 * failover); Prometheus's rate() takes that as a reset.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventLog } from './events.js';
import type { ObservedView } from './view.js';

type Labels<N extends string> = Record<N, string>;

const PORT_COUNTERS = [
  ['receive_frames_total', 'rxFrames', 'Frames the switch received from'],
  ['receive_bytes_total', 'rxBytes', 'Bytes (Ethernet frames) the switch received from'],
  ['transmit_frames_total', 'txFrames', 'Frames the switch sent out of'],
  ['transmit_bytes_total', 'txBytes', 'Bytes (Ethernet frames) the switch sent out of'],
  ['transmit_drops_total', 'txDrops', 'Frames dropped at the egress of'],
  ['receive_errors_total', 'rxErrors', 'Receive errors on'],
] as const;

type PortCounterKey = (typeof PORT_COUNTERS)[number][1];

const CONTROLLER_STATES = ['ready', 'initializing', 'none'] as const;

export class Metrics {
  readonly registry = new Registry();
  /** Every vswitch_ metric, reset before each fill. */
  private readonly own: Array<{ reset(): void }> = [];
  private readonly switchInfo = this.gauge('vswitch_switch_info', 'A defined switch and its mode (always 1).', ['vswitch', 'mode']);
  private readonly nic = PORT_COUNTERS.map(([suffix, key, help]) =>
    [key, this.counter(`vswitch_nic_${suffix}`, `${help} a guest's NIC.`, ['vswitch', 'userid', 'vdev'])] as const);
  private readonly nicUp = this.gauge('vswitch_nic_up', 'A coupled NIC: 1 while it has a data-plane port.', ['vswitch', 'userid', 'vdev']);
  private readonly uplink = PORT_COUNTERS.map(([suffix, key, help]) =>
    [key, this.counter(`vswitch_uplink_${suffix}`, `${help} the uplink (the RDEV whose data device is open).`, ['vswitch', 'rdev'])] as const);
  private readonly uplinkUp = this.gauge('vswitch_uplink_up', 'A switch with RDEVs: 1 while the data device of its active RDEV is open.', ['vswitch']);
  private readonly rdevReady = this.gauge('vswitch_uplink_rdev_ready', 'An RDEV the controller reports ready (1) or not (0).', ['vswitch', 'rdev']);
  private readonly rdevActive = this.gauge('vswitch_uplink_rdev_active', 'The active RDEV of a switch (1), the backups (0).', ['vswitch', 'rdev']);
  private readonly rdevCarrier = this.gauge('vswitch_uplink_rdev_carrier', 'An RDEV with carrier (1) or without (0).', ['vswitch', 'rdev']);
  private readonly failovers = this.counter('vswitch_uplink_failovers_total', 'Completed failovers of the uplink to a backup RDEV.', ['vswitch']);
  private readonly events = this.counter('vswitch_events_total', 'Control events of a switch (as QUERY VSWITCH DETAILS lists them) and refused registrations, by kind.', ['vswitch', 'kind']);
  private readonly drops = this.counter('vswitch_drops_total', 'Frames the switch discarded, by reason.', ['vswitch', 'reason']);
  private readonly lanIp = this.gauge('vswitch_lan_ip_table_entries', 'Entries of the LAN IP table (IP mode).', ['vswitch']);
  private readonly addresses = this.gauge('vswitch_addresses', 'Guest addresses in the LAN IP table, registered with the adapter or local only.', ['vswitch', 'state']);
  private readonly groups = this.gauge('vswitch_multicast_groups', 'Multicast groups guests joined (IP mode), registered with the adapter or not.', ['vswitch', 'state']);
  private readonly controllerState = this.gauge('vswitch_controller_state', "A switch's controller: 1 for its current state.", ['vswitch', 'state']);
  private readonly controllers = this.gauge('vswitch_controllers', 'Controllers connected to the daemon.', []);
  private readonly controllerSwitches = this.gauge('vswitch_controller_switches', 'Switches a connected controller controls.', ['controller']);
  private readonly dpWakeups = this.counter('vswitch_dataplane_wakeups_total', 'Data-plane loop: epoll_wait returns that reported ready fds.', []);
  private readonly dpBatches = this.counter('vswitch_dataplane_loop_batches_total', 'Data-plane loop: receive batches that read at least one frame.', []);
  private readonly dpEmptyPolls = this.counter('vswitch_dataplane_empty_polls_total', 'Data-plane loop: non-blocking polls (busy or adaptive polling) that found nothing.', []);
  private readonly dpSleeps = this.counter('vswitch_dataplane_sleeps_total', 'Data-plane loop: epoll_wait calls that may block (with a timeout; they return at once when fds are ready).', []);
  private readonly dpCpu = this.counter('vswitch_dataplane_cpu_seconds_total', "The data-plane worker thread's CPU time (its thread CPU clock, updated about once a second).", []);
  private readonly dpPredictions = this.counter('vswitch_dataplane_poll_predictions_total', "Adaptive polling's predicted arrivals: frames that came in time (hit) and predictions that passed without one (miss).", ['outcome']);
  private readonly controllerRefusals = this.counter('vswitch_controller_registrations_refused_total', "Controllers' Register refused (the name was taken).", []);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for one view and the event counts. */
  async text(v: ObservedView, log: EventLog): Promise<string> {
    this.fill(v, log);
    return this.registry.metrics();
  }

  private fill(v: ObservedView, log: EventLog): void {
    for (const m of this.own) m.reset();
    for (const sw of v.switches) {
      const vswitch = sw.name;
      this.switchInfo.set({ vswitch, mode: sw.mode }, 1);
      for (const n of sw.nics) {
        const labels = { vswitch, userid: n.guest, vdev: n.vdev };
        this.nicUp.set(labels, n.port === null ? 0 : 1);
        if (n.counters !== null) this.ports(this.nic, labels, n.counters);
      }
      const u = sw.uplink;
      if (u.rdevs.length > 0) this.uplinkUp.set({ vswitch }, u.port === null ? 0 : 1);
      if (u.counters !== null && u.active !== null) this.ports(this.uplink, { vswitch, rdev: u.active }, u.counters);
      for (const r of sw.control?.rdevs ?? []) {
        const labels = { vswitch, rdev: r.rdev };
        this.rdevReady.set(labels, r.ok ? 1 : 0);
        this.rdevActive.set(labels, r.rdev === sw.control?.active ? 1 : 0);
        this.rdevCarrier.set(labels, r.carrier ? 1 : 0);
      }
      const counts = log.counts().get(vswitch);
      if (u.rdevs.length > 0) this.failovers.inc({ vswitch }, counts?.get('failover') ?? 0);
      for (const [kind, n] of counts ?? []) this.events.inc({ vswitch, kind }, n);
      for (const [reason, n] of Object.entries(sw.drops)) this.drops.inc({ vswitch, reason }, n);
      if (sw.mode === 'IP') {
        const local = sw.ipTable.filter((e) => e.localOnly).length;
        this.lanIp.set({ vswitch }, sw.ipTable.length);
        this.addresses.set({ vswitch, state: 'registered' }, sw.ipTable.length - local);
        this.addresses.set({ vswitch, state: 'local_only' }, local);
        const registered = sw.groups.filter((g) => g.registered).length;
        this.groups.set({ vswitch, state: 'registered' }, registered);
        this.groups.set({ vswitch, state: 'not_registered' }, sw.groups.length - registered);
      }
      if (sw.control !== null) {
        // READY, INITIALIZING or NONE (why): the first word is the state.
        const now = sw.control.state.split(' ')[0].toLowerCase();
        for (const state of CONTROLLER_STATES) this.controllerState.set({ vswitch, state }, state === now ? 1 : 0);
      }
    }
    this.controllers.set(v.controllers.length);
    for (const c of v.controllers) this.controllerSwitches.set({ controller: c.name }, c.switches.length);
    this.controllerRefusals.inc(log.controllerRefusals);
    const dp = v.dataplane;
    if (dp !== null) {
      this.dpWakeups.inc(dp.wakeups);
      this.dpBatches.inc(dp.batches);
      this.dpEmptyPolls.inc(dp.emptyPolls);
      this.dpSleeps.inc(dp.sleeps);
      this.dpCpu.inc(dp.cpuSeconds);
      this.dpPredictions.inc({ outcome: 'hit' }, dp.predictHits);
      this.dpPredictions.inc({ outcome: 'miss' }, dp.predictMisses);
    }
  }

  private ports<N extends string>(family: ReadonlyArray<readonly [PortCounterKey, Counter<N>]>, labels: Labels<N>, c: Record<PortCounterKey, number>): void {
    for (const [key, counter] of family) counter.inc(labels as never, c[key]);
  }

  private gauge<N extends string>(name: string, help: string, labelNames: N[]): Gauge<N> {
    const g = new Gauge({ name, help, labelNames, registers: [this.registry] });
    this.own.push(g);
    return g;
  }

  private counter<N extends string>(name: string, help: string, labelNames: N[]): Counter<N> {
    const c = new Counter({ name, help, labelNames, registers: [this.registry] });
    this.own.push(c);
    return c;
  }
}
