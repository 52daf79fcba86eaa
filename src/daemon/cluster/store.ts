/**
 * The member's connection to etcd (the etcd3 client over gRPC), on the daemon's main thread;
 * never in the data path.
 *
 * Contract:
 * - Every call has a deadline (CALL_MS; one retry on another endpoint when the first is
 *   unreachable), so nothing waits for a store that lost its quorum: it fails, and the caller
 *   refuses what needed the store.
 * - `lease()`: the member's lease (LEASE_TTL_S, kept alive by the client). When it is lost
 *   (the store was away longer than the TTL) a new one is granted once the store answers, and
 *   `onLease` listeners re-take their claims under it.
 * - Health: a quorum read every PROBE_MS. `health` turns bad after PROBE_FAILURES probes in a
 *   row failed (one failure can be an endpoint that is down: the client tries another next
 *   time), good at the first that answers (or any call that does: `setHealth`); with the time
 *   of the change and the last error. `onHealthy` listeners hear each return to health.
 * - `close()` revokes nothing (a member that stops lets its lease run out, as a crash would,
 *   unless `leave()` revoked it first).
 */
import { Etcd3, isRecoverableError, type Lease } from 'etcd3';
import { ConstantBackoff, handleWhen, retry } from 'cockatiel';
import type { Logger } from 'pino';
import { DEFS_LAST, LEASE_TTL_S } from './keys.js';

export const CALL_MS = 2000;
export const PROBE_MS = 1000;
export const PROBE_FAILURES = 2;

export interface Health {
  ok: boolean;
  since: number;
  error: string | null;
}

export class Store {
  readonly client: Etcd3;
  health: Health = { ok: false, since: Date.now(), error: 'not yet reached' };
  private current: Lease | null = null;
  private leaseId: string | null = null;
  private granting: Promise<string> | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly leaseListeners: Array<(id: string) => void> = [];
  private readonly healthyListeners: Array<() => void> = [];
  private closed = false;
  private failures = 0;

  constructor(readonly endpoints: string[], private readonly log: Logger) {
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: CALL_MS,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_MS }),
      faultHandling: { global: retry(handleWhen(isRecoverableError), { maxAttempts: 1, backoff: new ConstantBackoff(50) }) },
    });
  }

  onLease(fn: (id: string) => void): void {
    this.leaseListeners.push(fn);
  }

  onHealthy(fn: () => void): void {
    this.healthyListeners.push(fn);
  }

  /** The member's lease id (granted now if there is none). Rejects while the store does not answer. */
  lease(): Promise<string> {
    if (this.leaseId !== null) return Promise.resolve(this.leaseId);
    if (this.granting) return this.granting;
    const l = this.client.lease(LEASE_TTL_S, { autoKeepAlive: true });
    l.on('lost', (err) => {
      this.log.warn({ err: String(err) }, 'cluster: the member lease was lost; its claims are taken again under a new one');
      if (this.current === l) { this.current = null; this.leaseId = null; }
      if (!this.closed) setTimeout(() => void this.lease().catch(() => { /* the probe retries */ }), 200).unref();
    });
    this.granting = l.grant().then((id) => {
      this.current = l;
      this.leaseId = id;
      this.granting = null;
      for (const fn of this.leaseListeners) fn(id);
      return id;
    }, (e: unknown) => {
      this.granting = null;
      l.release();
      throw e;
    });
    return this.granting;
  }

  /** Start the health probe (and re-grant a lost lease once the store answers). */
  startProbe(): void {
    const probe = async (): Promise<void> => {
      try {
        await this.client.get(DEFS_LAST).string();
        if (this.leaseId === null) await this.lease();
        this.failures = 0;
        this.setHealth(true, null);
      } catch (e) {
        if (++this.failures >= PROBE_FAILURES) this.setHealth(false, errText(e));
        else this.health.error = errText(e);
      }
      if (!this.closed) this.probeTimer = setTimeout(() => void probe(), PROBE_MS);
    };
    void probe();
  }

  /** Record the store's answer (or failure) to any call. */
  setHealth(ok: boolean, error: string | null): void {
    if (ok === this.health.ok) {
      if (!ok) this.health.error = error;
      return;
    }
    this.health = { ok, since: Date.now(), error };
    if (ok) {
      this.log.info('cluster: the store answers again');
      for (const fn of this.healthyListeners) fn();
    } else {
      this.log.warn({ err: error }, 'cluster: the store does not answer (no quorum?); traffic goes on, definitions are refused');
    }
  }

  /** Revoke the lease: the member's claims go at once (a clean stop). */
  async leave(): Promise<void> {
    const l = this.current;
    this.current = null;
    this.leaseId = null;
    if (l) await l.revoke({ deadline: Date.now() + CALL_MS }).catch(() => { /* it runs out */ });
  }

  close(): void {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.current?.release();
    this.client.close();
  }
}

export function errText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
