// The frontend's Prometheus metrics, under Dynamo's names (`dynamo_frontend_*`) so its dashboards
// apply. Label children are bound once per (model, endpoint, request type) and reused per request.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type ApiEndpoint = 'chat_completions' | 'completions' | 'responses';
export type RequestType = 'stream' | 'unary';
export type RequestStatus = 'success' | 'error' | 'cancelled';
/**
 * Why a model with decode workers prefilled a request on its decode worker instead of a prefill worker
 * (DESIGN §12): the uncached prompt was short, no prefill worker served the model, or the KV transfer
 * failed (the prefill worker died or its pin was gone) and the decode worker recomputed the prompt.
 */
export const LOCAL_PREFILL_REASONS = ['short_prompt', 'no_prefill_worker', 'transfer_failed'] as const;
export type LocalPrefillReason = (typeof LOCAL_PREFILL_REASONS)[number];

const PREFIX = 'dynamo_frontend_';
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144];

/** How a wait for a worker of a parked model (scale to zero) ended. */
export type WorkerWaitOutcome = 'served' | 'timeout' | 'rejected' | 'gone' | 'cancelled';

/** One request's observations; `finish` is called once. */
export interface RequestObserver {
  firstToken(): void;
  tokens(count: number): void;
  finish(
    status: RequestStatus,
    usage?: { promptTokens: number; completionTokens: number; cachedTokens: number },
  ): void;
}

export class FrontendMetrics {
  private readonly requests: Counter<'model' | 'endpoint' | 'request_type' | 'status'>;
  private readonly inflight: Gauge<'model'>;
  private readonly duration: Histogram<'model'>;
  private readonly ttft: Histogram<'model'>;
  private readonly itl: Histogram<'model'>;
  private readonly isl: Histogram<'model'>;
  private readonly osl: Histogram<'model'>;
  private readonly cached: Histogram<'model'>;
  readonly migrations: Counter<'model' | 'migration_type'>;
  readonly overloadRetries: Counter<'model'>;
  readonly disconnects: Counter<'model'>;
  private readonly remotePrefills: Counter<'model'>;
  private readonly localPrefills: Counter<'model' | 'reason'>;
  private readonly workerWaits: Counter<'model' | 'outcome'>;
  private readonly workerHints: Counter<'model' | 'result'>;
  private readonly workerWaitSeconds: Histogram<'model'>;
  /** The same counts as localPrefills, for /health (prom-client counters are not meant to be read). */
  private readonly localPrefillCounts = new Map<string, Record<LocalPrefillReason, number>>();

  /**
   * @param queues the requests each model's routers hold back, read at scrape time (`_queued_requests`).
   * @param waiting the requests waiting for a worker of a parked model (`_waiting_for_worker`).
   */
  constructor(
    readonly registry: Registry,
    queues: () => Iterable<{ model: string; depth: number }>,
    waiting: () => Iterable<{ model: string; depth: number }> = () => [],
  ) {
    const registers = [registry];
    this.requests = new Counter({
      name: `${PREFIX}requests_total`,
      help: 'HTTP requests by model, endpoint, request type and outcome',
      labelNames: ['model', 'endpoint', 'request_type', 'status'],
      registers,
    });
    this.inflight = new Gauge({
      name: `${PREFIX}inflight_requests`,
      help: 'Requests being served',
      labelNames: ['model'],
      registers,
    });
    new Gauge({
      name: `${PREFIX}queued_requests`,
      help: 'Requests waiting for a worker that is not busy',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const q of queues()) this.labels(q.model).set(q.depth);
      },
    });
    // Scale to zero (waiting-room.ts): the planner wakes a parked service on this gauge.
    new Gauge({
      name: `${PREFIX}waiting_for_worker`,
      help: 'Requests waiting for a worker of a model that has none (scaled to zero)',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const w of waiting()) this.labels(w.model).set(w.depth);
      },
    });
    this.workerWaits = new Counter({
      name: `${PREFIX}worker_wait_total`,
      help: 'Requests that waited for a worker of a model scaled to zero, by outcome',
      labelNames: ['model', 'outcome'],
      registers,
    });
    this.workerWaitSeconds = new Histogram({
      name: `${PREFIX}worker_wait_seconds`,
      help: 'How long served requests waited for a worker of a model scaled to zero',
      labelNames: ['model'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const hist = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name: `${PREFIX}${name}`, help, labelNames: ['model'], buckets, registers });
    this.duration = hist('request_duration_seconds', 'Time from request to last byte', LATENCY_BUCKETS);
    this.ttft = hist('time_to_first_token_seconds', 'Time from request to first token', LATENCY_BUCKETS);
    this.itl = hist('inter_token_latency_seconds', 'Mean time between tokens, per request', LATENCY_BUCKETS);
    this.isl = hist('input_sequence_tokens', 'Prompt tokens per request', TOKEN_BUCKETS);
    this.osl = hist('output_sequence_tokens', 'Generated tokens per request', TOKEN_BUCKETS);
    this.cached = hist(
      'cached_tokens',
      'Prompt tokens served from a prefix cache, per request',
      TOKEN_BUCKETS,
    );
    this.migrations = new Counter({
      name: `${PREFIX}model_migration_total`,
      help: 'Requests moved to another worker after theirs failed',
      labelNames: ['model', 'migration_type'],
      registers,
    });
    this.overloadRetries = new Counter({
      name: `${PREFIX}overload_retries_total`,
      help: 'Requests a worker refused as overloaded (at its admission bound), tried on another worker',
      labelNames: ['model'],
      registers,
    });
    this.disconnects = new Counter({
      name: `${PREFIX}disconnected_clients`,
      help: 'Clients that went away before their response ended',
      labelNames: ['model'],
      registers,
    });
    this.remotePrefills = new Counter({
      name: `${PREFIX}disagg_remote_prefill_total`,
      help: 'Prompts prefilled on a prefill worker and decoded on a decode worker',
      labelNames: ['model'],
      registers,
    });
    this.localPrefills = new Counter({
      name: `${PREFIX}disagg_local_prefill_total`,
      help: 'Prompts of a disaggregated model prefilled on the decode worker, by reason',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.workerHints = new Counter({
      name: `${PREFIX}worker_hint_total`,
      help: 'Requests with a worker hint, with --trust-worker-hint: honoured, ignored (the worker was gone, busy or excluded) or refused (no or a wrong x-dynamo-worker-hint-token), the last two routed as usual',
      labelNames: ['model', 'result'],
      registers,
    });
  }

  workerHint(model: string, result: 'honoured' | 'ignored' | 'refused'): void {
    this.workerHints.labels(model, result).inc();
  }

  workerWait(model: string, outcome: WorkerWaitOutcome, seconds: number): void {
    this.workerWaits.labels(model, outcome).inc();
    if (outcome === 'served') this.workerWaitSeconds.labels(model).observe(seconds);
  }

  remotePrefill(model: string): void {
    this.remotePrefills.labels(model).inc();
  }

  localPrefill(model: string, reason: LocalPrefillReason): void {
    this.localPrefills.labels(model, reason).inc();
    let counts = this.localPrefillCounts.get(model);
    if (counts === undefined) {
      counts = { short_prompt: 0, no_prefill_worker: 0, transfer_failed: 0 };
      this.localPrefillCounts.set(model, counts);
    }
    counts[reason]++;
  }

  /** Local prefills of a model so far, by reason. */
  localPrefillsOf(model: string): Readonly<Record<LocalPrefillReason, number>> {
    return (
      this.localPrefillCounts.get(model) ?? { short_prompt: 0, no_prefill_worker: 0, transfer_failed: 0 }
    );
  }

  /** Requests whose outcome an observer counts; the others are counted when refused. */
  readonly observed = new WeakSet<object>();

  /**
   * A request refused before it reached a worker (invalid body, unknown model, ...). `model` must be
   * one that exists, or 'unknown': a client must not be able to mint label values.
   */
  refused(model: string, endpoint: ApiEndpoint, type: RequestType): void {
    this.requests.labels(model, endpoint, type, 'error').inc();
  }

  start(request: object, model: string, endpoint: ApiEndpoint, type: RequestType): RequestObserver {
    this.observed.add(request);
    const startNs = process.hrtime.bigint();
    let firstNs = 0n;
    let count = 0;
    let done = false;
    const inflight = this.inflight.labels(model);
    inflight.inc();
    return {
      firstToken: () => {
        if (firstNs !== 0n) return;
        firstNs = process.hrtime.bigint();
        this.ttft.labels(model).observe(Number(firstNs - startNs) / 1e9);
      },
      tokens: (n) => {
        count += n;
      },
      finish: (status, usage) => {
        if (done) return;
        done = true;
        const endNs = process.hrtime.bigint();
        inflight.dec();
        this.requests.labels(model, endpoint, type, status).inc();
        this.duration.labels(model).observe(Number(endNs - startNs) / 1e9);
        if (firstNs !== 0n && count > 1)
          this.itl.labels(model).observe(Number(endNs - firstNs) / 1e9 / (count - 1));
        if (usage) {
          this.isl.labels(model).observe(usage.promptTokens);
          this.osl.labels(model).observe(usage.completionTokens);
          this.cached.labels(model).observe(usage.cachedTokens);
        }
      },
    };
  }
}
