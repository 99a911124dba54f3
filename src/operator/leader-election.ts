// Leader election on a coordination.k8s.io/v1 Lease (client-go's algorithm). A candidate takes the
// lease when it is free or when its holder has not renewed it for leaseDuration, measured on OUR clock
// from when we last saw the record change (clocks of two machines are never compared). The leader
// renews every retryPeriod; if no renewal succeeds for renewDeadline it stops leading before anyone
// else may take over (renewDeadline < leaseDuration). Every write carries the resourceVersion read,
// so two candidates never both win. On a clean stop the lease is released for a fast hand-over.
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
  async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.options;
    const now = this.now();
    const lease = await client.get<Lease>(RT.lease, namespace, name);
    const spec: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    try {
      if (!lease) {
        await client.create(RT.lease, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec,
        });
        this.observed = { record: JSON.stringify(spec), at: now };
        return true;
      }
      const current = lease.spec ?? {};
      const record = JSON.stringify(current);
      if (this.observed?.record !== record) this.observed = { record, at: now };
      const holder = current.holderIdentity ?? '';
      const durationMs = (current.leaseDurationSeconds ?? Math.ceil(this.leaseMs / 1000)) * 1000;
      const held = holder !== '' && holder !== identity && (this.observed?.at ?? now) + durationMs > now;
      if (held) return false;
      const next: LeaseSpec =
        holder === identity
          ? { ...current, renewTime: microTime(now), leaseDurationSeconds: spec.leaseDurationSeconds }
          : { ...spec, leaseTransitions: (current.leaseTransitions ?? 0) + 1 };
      await client.replace(RT.lease, { ...lease, spec: next });
      this.observed = { record: JSON.stringify(next), at: now };
      return true;
    } catch (err) {
      if (isConflict(err) || isNotFound(err)) return false;
      throw err;
    }
  }

  private async attempt(): Promise<boolean> {
    try {
      return await this.tryAcquireOrRenew();
    } catch (err) {
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
      if (!(await this.attempt())) {
        await sleep(this.retryMs, signal);
        continue;
      }
      log.info({ lease: name, identity }, 'became leader');
      const leading = new AbortController();
      lead(leading.signal);
      let lastRenew = this.now();
      while (!signal.aborted) {
        await sleep(this.retryMs, signal);
        if (signal.aborted) break;
        if (await this.attempt()) lastRenew = this.now();
        else if (this.now() - lastRenew >= this.renewDeadlineMs) break;
      }
      leading.abort(new Error('leadership lost'));
      if (signal.aborted) {
        await this.release();
        return;
      }
      log.warn({ lease: name, identity }, 'leadership lost');
    }
  }

  /** Gives the lease up (holder emptied) so another candidate need not wait for it to expire. */
  async release(): Promise<void> {
    const { client, namespace, name, identity } = this.options;
    try {
      const lease = await client.get<Lease>(RT.lease, namespace, name);
      if (!lease || lease.spec?.holderIdentity !== identity) return;
      await client.replace(RT.lease, {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(this.now()),
        },
      });
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, 'leader election: release failed');
    }
  }
}
