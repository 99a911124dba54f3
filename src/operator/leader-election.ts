// Leader election on a coordination.k8s.io/v1 Lease (client-go's algorithm). A candidate takes the
// lease when it is free or when its holder has not renewed it for leaseDuration, measured on OUR clock
// from when we last saw the record change (clocks of two machines are never compared). The leader
// renews every retryPeriod; if no renewal succeeds for renewDeadline it stops leading before anyone
// else may take over (renewDeadline < leaseDuration). Every write carries the resourceVersion read,
// so two candidates never both win. On a clean stop the lease is released for a fast hand-over.
//
// A slow API server must not stretch a term: the deadline is a timer armed at each renewal's start
// (the renewTime it writes), not a check made after a call returns, and it aborts the leading signal,
// which aborts the attempt in flight and every API call of the reconciles running under it. So the
// old leader has stopped (timer fired, its requests torn down) at lastRenewStart + renewDeadline, while
// a candidate waits leaseDuration from when it saw that renewal, which is later.
import type { Logger } from '../runtime/logger.js';
import { isConflict, isNotFound, type KubeClient } from './kube/client.js';
import { type KubeObject, RT } from './kube/types.js';
import { sleep } from './sleep.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
type Lease = KubeObject & { spec?: LeaseSpec };

/** metav1.MicroTime wants exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private observed: { record: string; at: number } | undefined;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;

  constructor(private readonly options: LeaderElectionOptions) {
    this.leaseMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryMs = options.retryPeriodMs ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  /** One attempt to take or keep the lease; true when we hold it afterwards. */
  async tryAcquireOrRenew(signal?: AbortSignal): Promise<boolean> {
    const { client, namespace, name, identity } = this.options;
    const now = this.now();
    const lease = await client.get<Lease>(RT.lease, namespace, name, { signal });
    const spec: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    try {
      if (!lease) {
        await client.create(
          RT.lease,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec,
          },
          { signal },
        );
        this.observed = { record: JSON.stringify(spec), at: now };
        return true;
      }
      const current = lease.spec ?? {};
      const record = JSON.stringify(current);
      // Seen when the answer came, not when we asked: a slow GET may return a renewal made meanwhile.
      const seen = this.now();
      if (this.observed?.record !== record) this.observed = { record, at: seen };
      const holder = current.holderIdentity ?? '';
      const durationMs = (current.leaseDurationSeconds ?? Math.ceil(this.leaseMs / 1000)) * 1000;
      const held = holder !== '' && holder !== identity && (this.observed?.at ?? seen) + durationMs > seen;
      if (held) return false;
      const next: LeaseSpec =
        holder === identity
          ? { ...current, renewTime: microTime(now), leaseDurationSeconds: spec.leaseDurationSeconds }
          : { ...spec, leaseTransitions: (current.leaseTransitions ?? 0) + 1 };
      await client.replace(RT.lease, { ...lease, spec: next }, { signal });
      this.observed = { record: JSON.stringify(next), at: now };
      return true;
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return false;
      throw err;
    }
  }

  /** One attempt, bounded: it gives up when `signal` fires or after renewDeadline at most. */
  private async attempt(signal: AbortSignal): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew(
        AbortSignal.any([signal, AbortSignal.timeout(this.renewDeadlineMs)]),
      );
    } catch (err) {
      if (signal.aborted) return false;
      this.options.log.warn({ err: (err as Error).message }, 'leader election: lease request failed');
      return false;
    }
  }

  /**
   * Campaigns until the signal fires; runs `lead(signal)` while leading and aborts that signal when
   * leadership is lost. Returns after the lease is released.
   */
  async run(signal: AbortSignal, lead: (leading: AbortSignal) => void): Promise<void> {
    const { log, identity, name } = this.options;
    while (!signal.aborted) {
      const started = this.now();
      if (!(await this.attempt(signal))) {
        await sleep(this.retryMs, signal);
        continue;
      }
      log.info({ lease: name, identity }, 'became leader');
      const leading = new AbortController();
      // Stop leading renewDeadline after the start of the last successful renewal, whatever is in flight.
      let deadline: NodeJS.Timeout | undefined;
      const armDeadline = (from: number) => {
        clearTimeout(deadline);
        const left = Math.max(0, from + this.renewDeadlineMs - this.now());
        deadline = setTimeout(() => leading.abort(new Error('leadership lost')), left);
      };
      armDeadline(started);
      const stopped = AbortSignal.any([signal, leading.signal]);
      lead(leading.signal);
      while (!stopped.aborted) {
        await sleep(this.retryMs, stopped);
        if (stopped.aborted) break;
        const renewing = this.now();
        // A renewal that returns after the deadline fired counts for nothing: we already stopped.
        if ((await this.attempt(stopped)) && !stopped.aborted) armDeadline(renewing);
      }
      clearTimeout(deadline);
      leading.abort(new Error(signal.aborted ? 'shutting down' : 'leadership lost'));
      if (signal.aborted) {
        await this.release();
        return;
      }
      log.warn({ lease: name, identity }, 'leadership lost');
      await sleep(this.retryMs, signal);
    }
  }

  /** Gives the lease up (holder emptied) so another candidate need not wait for it to expire. */
  async release(): Promise<void> {
    const { client, namespace, name, identity } = this.options;
    // Best effort, bounded: a hanging API server must not hold up a shutdown (the lease then expires).
    const signal = AbortSignal.timeout(this.renewDeadlineMs);
    try {
      const lease = await client.get<Lease>(RT.lease, namespace, name, { signal });
      if (!lease || lease.spec?.holderIdentity !== identity) return;
      await client.replace(
        RT.lease,
        {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: microTime(this.now()),
          },
        },
        { signal },
      );
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, 'leader election: release failed');
    }
  }
}
