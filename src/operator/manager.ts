// The Manager owns what every controller shares and knows nothing of our kinds: the kube client, the
// informer caches (one per kind and selector), leader election, and the health (:8081 /healthz,
// /readyz) and metrics (:8080 /metrics) servers. It starts each Runnable; those that need the leader
// run only while this replica holds the lease and are stopped when it is lost.
//
//   informers (all replicas) ──► controllers' queues ──► workers (leader only)
//   webhook server (all replicas)      health + metrics servers (all replicas)
import { createServer, type Server } from 'node:http';
import type { Logger } from '../runtime/logger.js';
import type { KubeClient } from './kube/client.js';
import { Informer } from './kube/informer.js';
import type { KubeObject, ResourceType } from './kube/types.js';
import type { LeaderElector } from './leader-election.js';
import type { OperatorMetrics } from './metrics.js';

export interface Runnable {
  name: string;
  needsLeader: boolean;
  start(signal: AbortSignal): Promise<void>;
}

export interface ManagerOptions {
  client: KubeClient;
  log: Logger;
  metrics: OperatorMetrics;
  /** Undefined: this replica always leads (no election). */
  elector?: LeaderElector;
  bindAddress: string;
  healthPort: number;
  metricsPort: number;
  resyncMs?: number;
  /** Watch one namespace only (unset: the whole cluster). */
  watchNamespace?: string;
}

export class Manager {
  private readonly informers = new Map<string, Informer>();
  private readonly runnables: Runnable[] = [];
  private readonly readyChecks: (() => boolean)[] = [];
  private synced = false;
  private leading = false;
  private readonly servers: Server[] = [];

  constructor(private readonly options: ManagerOptions) {}

  get client(): KubeClient {
    return this.options.client;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The shared cache of one kind (and label selector). */
  informer<T extends KubeObject = KubeObject>(rt: ResourceType, labelSelector?: string): Informer<T> {
    const id = `${rt.group}/${rt.plural}?${labelSelector ?? ''}`;
    let informer = this.informers.get(id);
    if (!informer) {
      informer = new Informer(this.options.client, rt, {
        namespace: this.options.watchNamespace,
        labelSelector,
        resyncMs: this.options.resyncMs ?? 300_000,
        log: this.options.log,
        onRestart: (cause) => this.options.metrics.watchRestarts.inc({ kind: rt.kind, cause }),
      });
      this.informers.set(id, informer);
    }
    return informer as unknown as Informer<T>;
  }

  add(runnable: Runnable): void {
    this.runnables.push(runnable);
  }

  addReadyCheck(check: () => boolean): void {
    this.readyChecks.push(check);
  }

  private listen(
    port: number,
    handler: (path: string) => Promise<{ status: number; body: string; type?: string }>,
  ) {
    const server = createServer((req, res) => {
      handler((req.url ?? '/').split('?')[0] ?? '/').then(
        (out) => res.writeHead(out.status, { 'content-type': out.type ?? 'text/plain' }).end(out.body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    this.servers.push(server);
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.options.bindAddress, () => resolve());
    });
  }

  private async startServers(): Promise<void> {
    const { metrics } = this.options;
    await this.listen(this.options.healthPort, async (path) => {
      if (path === '/healthz') return { status: 200, body: 'ok' };
      if (path === '/readyz') {
        const ready = this.synced && this.readyChecks.every((c) => c());
        return { status: ready ? 200 : 503, body: ready ? 'ok' : 'not ready' };
      }
      return { status: 404, body: 'not found' };
    });
    await this.listen(this.options.metricsPort, async (path) => {
      if (path !== '/metrics') return { status: 404, body: 'not found' };
      return { status: 200, body: await metrics.registry.metrics(), type: metrics.registry.contentType };
    });
  }

  /**
   * Runs everything until the signal fires, then stops it all (releasing the lease). A runnable that
   * fails stops the whole manager, which then rejects: a replica without its webhook server or a
   * controller must exit (and be restarted), not linger half-working.
   */
  async start(signal: AbortSignal): Promise<void> {
    const { log, elector, metrics } = this.options;
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let failure: Error | undefined;
    try {
      await this.startServers();
    } catch (err) {
      signal.removeEventListener('abort', onAbort);
      await this.closeServers();
      throw err;
    }
    const running: Promise<unknown>[] = [];
    const run = (r: Runnable, s: AbortSignal) =>
      running.push(
        r.start(s).catch((err: unknown) => {
          if (s.aborted) return;
          log.error({ runnable: r.name, err: (err as Error).message }, 'runnable failed: stopping');
          failure ??= new Error(`${r.name}: ${(err as Error).message}`);
          stop.abort(failure);
        }),
      );
    for (const informer of this.informers.values()) {
      run({ name: informer.rt.kind, needsLeader: false, start: (s) => informer.start(s) }, stop.signal);
    }
    Promise.all([...this.informers.values()].map((i) => i.synced)).then(() => {
      this.synced = true;
    });
    for (const r of this.runnables.filter((r) => !r.needsLeader)) run(r, stop.signal);
    const lead = (leading: AbortSignal) => {
      this.leading = true;
      metrics.isLeader.set(1);
      leading.addEventListener(
        'abort',
        () => {
          this.leading = false;
          metrics.isLeader.set(0);
        },
        { once: true },
      );
      for (const r of this.runnables.filter((r) => r.needsLeader)) run(r, leading);
    };
    if (elector) await elector.run(stop.signal, lead);
    else {
      lead(stop.signal);
      await new Promise<void>((resolve) =>
        stop.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    await Promise.allSettled(running);
    signal.removeEventListener('abort', onAbort);
    await this.closeServers();
    if (failure) throw failure;
  }

  private async closeServers(): Promise<void> {
    const closed = this.servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of this.servers) s.closeAllConnections();
    await Promise.all(closed);
  }
}
