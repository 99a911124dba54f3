// The router's I/O edge: watches the model's instances in discovery, subscribes to the component's KV
// events and load metrics on the event plane, and fetches a worker's kv_dump (request plane) when the
// indexer needs a resync. Everything it learns goes into the (pure) Router; nothing else happens here.
//
//   discovery ── added/removed ──▶ Router.addInstance/removeInstance ──(kv events on)──▶ fetch dump
//   event plane ── kv_events ────▶ Router.onKvEvent ── 'resync' ──▶ fetch dump ──▶ Router.applyDump
//   event plane ── load_metrics ─▶ Router.onLoadMetrics
import { ENDPOINTS, type InstanceId, type KvDump, kvDumpSchema } from '../api/index.js';
import { KV_EVENTS, LOAD_METRICS, type Runtime, type Subscription, type Watch } from '../runtime/index.js';
import type { Logger } from '../runtime/logger.js';
import type { Router } from './router.js';

export type RouterRuntime = Pick<Runtime, 'discovery' | 'requestPlane' | 'eventPlane'>;

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5_000;

export class RouterTransport {
  private readonly subscriptions: Subscription[] = [];
  private watch: Watch | undefined;
  /** Workers whose dump is being fetched (one fetch at a time per worker). */
  private readonly fetching = new Set<InstanceId>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly router: Router,
    private readonly runtime: RouterRuntime,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const { endpoint } = this.router.model;
    const scope = { namespace: endpoint.namespace, component: endpoint.component };
    // Subscribe before watching: events of a worker arriving while its first dump is in flight are
    // then buffered by the indexer, not lost.
    if (this.router.wantsKvEvents) {
      this.subscriptions.push(
        await this.runtime.eventPlane.subscribe(KV_EVENTS, scope, (event) => {
          if (this.router.onKvEvent(event) === 'resync') this.fetchDump(event.workerId);
        }),
      );
    }
    this.subscriptions.push(
      await this.runtime.eventPlane.subscribe(LOAD_METRICS, scope, (m) => this.router.onLoadMetrics(m)),
    );
    this.watch = await this.runtime.discovery.watchInstances(endpoint, (event) => {
      const id = event.instance.instanceId;
      if (event.kind === 'added') {
        this.router.addInstance(id);
        if (this.router.wantsKvEvents) this.fetchDump(id);
      } else {
        this.router.removeInstance(id);
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.watch?.close();
    for (const s of this.subscriptions.splice(0)) s.close();
  }

  /** Fetches the worker's dump and hands it to the router; retries with backoff while the worker lives. */
  private fetchDump(worker: InstanceId, attempt = 0): void {
    if (this.closed || this.fetching.has(worker)) return;
    this.fetching.add(worker);
    this.loadDump(worker).then(
      (dump) => {
        this.fetching.delete(worker);
        const result = this.router.applyDump(dump);
        this.log.debug({ worker, lastEventId: dump.lastEventId, result }, 'kv index resynced from dump');
        if (result === 'resync') this.fetchDump(worker);
      },
      (err: unknown) => {
        this.fetching.delete(worker);
        this.router.dumpFailed(worker);
        if (this.closed || !this.router.instanceIds().includes(worker)) return;
        const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
        this.log.warn({ err, worker, attempt, retryInMs: delay }, 'fetching a kv dump failed');
        const timer = setTimeout(() => {
          this.retryTimers.delete(timer);
          this.fetchDump(worker, attempt + 1);
        }, delay);
        timer.unref();
        this.retryTimers.add(timer);
      },
    );
  }

  private async loadDump(worker: InstanceId): Promise<KvDump> {
    const endpoint = { ...this.router.model.endpoint, endpoint: ENDPOINTS.kvDump };
    const instance = (await this.runtime.discovery.list(endpoint)).find((i) => i.instanceId === worker);
    if (instance === undefined) throw new Error(`worker ${worker} serves no ${ENDPOINTS.kvDump} endpoint`);
    // A large cache comes in several frames with the same lastEventId; their events concatenate.
    let lastEventId: number | undefined;
    const events: KvDump['events'] = [];
    for await (const frame of this.runtime.requestPlane.call(
      instance,
      {},
      { responseSchema: kvDumpSchema },
    )) {
      lastEventId ??= frame.lastEventId;
      for (const e of frame.events) events.push(e);
    }
    if (lastEventId === undefined) throw new Error(`worker ${worker} answered kv_dump with no frame`);
    return { workerId: worker, lastEventId, events };
  }
}
