// The endpoint picker's decision for one request: the pool's Ready endpoints (pool.ts), the model's
// routers (the frontend's ModelRegistry: discovery, KV events, load metrics), and what the pool's pods
// are. Two modes:
// - `frontends` (the operator's): the pool's pods are frontends. The router picks among all the model's
//   workers; the answer is the Ready frontend with the fewest requests in flight through this picker
//   (ties taken in turn), and the worker rides along as the hint header the frontend routes to.
// - `workers` (engines that serve HTTP themselves): a worker is a pool endpoint when the pod IP of the
//   pod it runs in (the host its KV data plane announces, $POD_IP under the operator) is a Ready
//   endpoint of the pool.
//
//   body ─▶ JSON ─▶ model ─▶ chat template + tokenizer ─▶ router.route(workers: exclude those not in the pool)
//        ─▶ worker ─▶ frontends: least-busy frontend `ip:port` + worker hint | workers: its pod `ip:port`
//
// Errors the client caused (bad JSON, unknown model, a prompt the model cannot take) are answered at
// once; when KV routing cannot decide (no worker of the pool serves the model, every worker busy, the
// tokenizer could not be fetched) `failOpen` sends the request to a Ready endpoint without a worker
// (the least busy frontend, or a random worker pod; counted, logged once per reason), else it is
// answered 503 / 429.
import { z } from 'zod';
import type { InstanceId } from '../api/index.js';
import {
  type ChatCompletionRequest,
  type CompletionRequest,
  chatCompletionRequestSchema,
  completionRequestSchema,
} from '../api/openai.js';
import type { InstanceSet, ModelRegistry, ServedModel } from '../frontend/model-registry.js';
import { PromptError, preprocessChat, preprocessCompletion } from '../llm/preprocessor.js';
import type { Discovery, Logger } from '../runtime/index.js';
import type { EppMetrics } from './metrics.js';
import type { PoolEndpoint } from './pool.js';

export type PickErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'body_too_large'
  | 'model_not_found'
  | 'no_ready_endpoints'
  | 'no_worker'
  | 'busy';

const STATUS: Record<PickErrorCode, number> = {
  invalid_json: 400,
  invalid_request: 400,
  body_too_large: 413,
  model_not_found: 404,
  no_ready_endpoints: 503,
  no_worker: 503,
  busy: 429,
};

export class PickError extends Error {
  override name = 'PickError';
  readonly status: number;
  constructor(
    readonly code: PickErrorCode,
    message: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

export type FallbackReason = 'no_body' | 'no_worker' | 'busy' | 'resources';

export type PickOutcome =
  | {
      kind: 'routed';
      endpoint: PoolEndpoint;
      instance: InstanceId;
      /** The worker's first response bytes arrived (its prefill is done). */
      firstToken(): void;
      /** The request ended, however: frees what the router and the endpoint count track. Idempotent. */
      release(): void;
    }
  | {
      kind: 'fallback';
      endpoint: PoolEndpoint;
      reason: FallbackReason;
      /** The request ended: frees its endpoint's in-flight count. Idempotent. */
      release(): void;
    }
  | { kind: 'error'; error: PickError };

/** What the pool's pods are: frontends (the picked worker goes as a hint) or the workers themselves. */
export const POOL_ENDPOINT_KINDS = ['frontends', 'workers'] as const;
export type PoolEndpointKind = (typeof POOL_ENDPOINT_KINDS)[number];

export interface PickRequest {
  requestId: string;
  /** The whole request body; undefined for a request without one. */
  body: Buffer | undefined;
  headers: Readonly<Record<string, string>>;
  /** The proxy's subset hint (envoy.lb.subset_hint): pick only among these `ip:port`. */
  subset: readonly string[] | undefined;
}

export interface PickerOptions {
  failOpen: boolean;
  maxBodyBytes: number;
  poolEndpoints: PoolEndpointKind;
}

/** Enough of a body to find its model; the full schema is applied once the kind is known. */
const envelopeSchema = z.looseObject({ model: z.string().min(1, 'must not be empty') });

export class EndpointPicker {
  /** Worker instance → the pod IP its card announces (null: announces none, it cannot be picked). */
  private readonly podIps = new Map<InstanceId, string | null>();
  private readonly loggedFallbacks = new Set<FallbackReason>();
  /** Requests picked to each endpoint (`ip:port`) and not yet ended. */
  private readonly inflight = new Map<string, number>();
  private turn = 0;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly discovery: Pick<Discovery, 'modelCard'>,
    private readonly endpoints: () => ReadonlyMap<string, PoolEndpoint>,
    private readonly options: PickerOptions,
    private readonly metrics: EppMetrics,
    private readonly log: Logger,
  ) {}

  /** A model's instances changed: learn the pod IPs of the new ones (their cards). */
  refresh(modelName: string): void {
    // Frontends mode never maps a worker to a pod.
    if (this.options.poolEndpoints === 'frontends') return;
    // Forget instances no set holds any more (ids are never reused).
    const live = new Set<InstanceId>();
    for (const m of this.registry.list()) for (const id of m.instances.keys()) live.add(id);
    for (const id of this.podIps.keys()) if (!live.has(id)) this.podIps.delete(id);
    const model = this.registry.get(modelName);
    if (model === undefined) return;
    for (const set of model.sets.values()) {
      for (const id of set.instances.keys()) {
        if (this.podIps.has(id)) continue;
        this.podIps.set(id, null);
        this.discovery.modelCard(set.endpoint, id).then(
          (card) => {
            const dp = card?.kvDataPlane;
            // In-process runtimes (`dynamo run`, the benchmark) have no pod IP: their data plane's name
            // stands in for it.
            this.podIps.set(id, dp === undefined ? null : dp.kind === 'tcp' ? dp.host : dp.address);
          },
          (err: unknown) => {
            this.podIps.delete(id);
            this.log.warn({ err, instance: id }, 'reading a model card failed');
          },
        );
      }
    }
  }

  async pick(req: PickRequest): Promise<PickOutcome> {
    try {
      return await this.decide(req);
    } catch (err) {
      if (err instanceof PickError) return { kind: 'error', error: err };
      throw err;
    }
  }

  private async decide(req: PickRequest): Promise<PickOutcome> {
    const ready = this.candidates(req.subset);
    if (ready.size === 0) {
      throw new PickError(
        'no_ready_endpoints',
        req.subset === undefined
          ? 'the InferencePool has no Ready pod'
          : 'no Ready pod of the InferencePool is in the subset hint',
      );
    }
    if (req.body === undefined || req.body.length === 0) return this.fallback(ready, 'no_body');
    if (req.body.length > this.options.maxBodyBytes) {
      throw new PickError(
        'body_too_large',
        `the body has ${req.body.length} bytes; the endpoint picker takes at most ${this.options.maxBodyBytes}`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(req.body.toString('utf8'));
    } catch (err) {
      throw new PickError('invalid_json', `the body is not JSON: ${(err as Error).message}`);
    }
    const envelope = envelopeSchema.safeParse(json);
    if (!envelope.success) throw invalid(envelope.error);
    const model = this.registry.get(envelope.data.model);
    if (model === undefined) {
      throw new PickError('model_not_found', `model ${JSON.stringify(envelope.data.model)} is not served`);
    }
    const tokenIds = await this.tokenize(model, json, ready);
    if (tokenIds === undefined) return this.fallback(ready, 'resources');
    return this.route(model, tokenIds, req, ready);
  }

  /** The Ready endpoints by pod IP, within the subset hint when there is one. */
  private candidates(subset: readonly string[] | undefined): ReadonlyMap<string, PoolEndpoint> {
    const all = this.endpoints();
    if (subset === undefined) return all;
    const allowed = new Set(subset);
    return new Map([...all].filter(([, e]) => allowed.has(e.address)));
  }

  /**
   * The prompt's token ids (none for a body that is neither chat nor completions); undefined when the
   * model's tokenizer cannot be had (fail-open decides).
   */
  private async tokenize(
    model: ServedModel,
    json: unknown,
    ready: ReadonlyMap<string, PoolEndpoint>,
  ): Promise<number[] | undefined> {
    const isChat = typeof json === 'object' && json !== null && 'messages' in json;
    // Neither chat nor completions (the Responses API, say): routed on load alone, no prompt to match.
    if (!isChat && !(typeof json === 'object' && json !== null && 'prompt' in json)) return [];
    const parsed = (isChat ? chatCompletionRequestSchema : completionRequestSchema).safeParse(json);
    if (!parsed.success) throw invalid(parsed.error);
    let resources: Awaited<ReturnType<ModelRegistry['resourcesOf']>>;
    try {
      resources = await this.registry.resourcesOf(model);
    } catch (err) {
      if (!this.options.failOpen || ready.size === 0) {
        throw new PickError(
          'no_worker',
          `the tokenizer of model ${model.name} is not available: ${String(err)}`,
        );
      }
      this.log.warn({ err, model: model.name }, 'fetching the tokenizer failed');
      return undefined;
    }
    try {
      return isChat
        ? preprocessChat(parsed.data as ChatCompletionRequest, model.card, resources).tokenIds
        : preprocessCompletion(parsed.data as CompletionRequest, model.card, resources).tokenIds;
    } catch (err) {
      if (err instanceof PromptError) {
        throw new PickError('invalid_request', err.param ? `${err.param}: ${err.message}` : err.message);
      }
      throw err;
    }
  }

  private async route(
    model: ServedModel,
    tokenIds: number[],
    req: PickRequest,
    ready: ReadonlyMap<string, PoolEndpoint>,
  ): Promise<PickOutcome> {
    let busy: string | undefined;
    const frontends = this.options.poolEndpoints === 'frontends';
    // Sets that decode (agg, decode): where requests are sent (the hinted worker, or the pool's pods).
    const sets = [...model.sets.values()].filter((s) => s.mode !== 'prefill');
    for (const set of sets) {
      const exclude = frontends ? new Set<InstanceId>() : this.outsidePool(set, ready);
      if (exclude.size === set.instances.size) continue;
      const outcome = await set.router.route({
        requestId: req.requestId,
        tokenIds,
        exclude,
        headers: req.headers,
      });
      if (outcome.kind === 'routed') {
        const ip = this.podIps.get(outcome.instance);
        const endpoint = frontends ? this.leastBusy(ready) : ip == null ? undefined : ready.get(ip);
        if (endpoint === undefined) {
          // Left the pool between the exclusion and the decision.
          set.router.complete(req.requestId);
          continue;
        }
        return this.routed(set, outcome.instance, endpoint, req.requestId);
      }
      if (outcome.kind === 'rejected' && outcome.code === 'busy') busy = outcome.reason;
      else if (outcome.kind === 'queued') busy = 'every worker is busy';
    }
    if (busy !== undefined) {
      if (this.options.failOpen) return this.fallback(ready, 'busy');
      throw new PickError('busy', busy);
    }
    if (this.options.failOpen) return this.fallback(ready, 'no_worker');
    throw new PickError(
      'no_worker',
      frontends
        ? `no worker serves model ${model.name}`
        : `no worker of model ${model.name} runs in a Ready pod of the InferencePool`,
    );
  }

  /** Instances of the set whose pod is not a candidate endpoint (or not known yet). */
  private outsidePool(set: InstanceSet, ready: ReadonlyMap<string, PoolEndpoint>): Set<InstanceId> {
    const out = new Set<InstanceId>();
    for (const id of set.instances.keys()) {
      const ip = this.podIps.get(id);
      if (ip == null || !ready.has(ip)) out.add(id);
    }
    return out;
  }

  private routed(
    set: InstanceSet,
    instance: InstanceId,
    endpoint: PoolEndpoint,
    requestId: string,
  ): PickOutcome {
    let released = false;
    const free = this.hold(endpoint);
    return {
      kind: 'routed',
      endpoint,
      instance,
      firstToken: () => {
        if (!released) set.router.firstToken(requestId);
      },
      release: () => {
        if (released) return;
        released = true;
        free();
        set.router.complete(requestId);
      },
    };
  }

  /** Counts a request in flight to `endpoint`; the returned function (idempotent) ends it. */
  private hold(endpoint: PoolEndpoint): () => void {
    const key = endpoint.address;
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const n = (this.inflight.get(key) ?? 1) - 1;
      if (n > 0) this.inflight.set(key, n);
      else this.inflight.delete(key);
    };
  }

  /** The endpoint with the fewest requests in flight; ties go in turn (round-robin start). */
  private leastBusy(ready: ReadonlyMap<string, PoolEndpoint>): PoolEndpoint {
    const all = [...ready.values()];
    const start = this.turn++ % all.length;
    let best = all[start] as PoolEndpoint;
    let bestCount = Number.POSITIVE_INFINITY;
    for (let i = 0; i < all.length; i++) {
      const e = all[(start + i) % all.length] as PoolEndpoint;
      const n = this.inflight.get(e.address) ?? 0;
      if (n < bestCount) {
        best = e;
        bestCount = n;
      }
    }
    return best;
  }

  private fallback(ready: ReadonlyMap<string, PoolEndpoint>, reason: FallbackReason): PickOutcome {
    const all = [...ready.values()];
    // Frontends route on their own: spread by load. Workers: a random one.
    const endpoint =
      this.options.poolEndpoints === 'frontends'
        ? this.leastBusy(ready)
        : (all[Math.floor(Math.random() * all.length)] as PoolEndpoint);
    // A request without a body has nothing to route on: not a fallback from KV routing.
    if (reason !== 'no_body') {
      this.metrics.fallbacks.labels(reason).inc();
      if (!this.loggedFallbacks.has(reason)) {
        this.loggedFallbacks.add(reason);
        this.log.warn(
          { reason },
          'KV routing could not decide: --fail-open sends requests to a Ready pod without a worker hint',
        );
      }
    }
    return { kind: 'fallback', endpoint, reason, release: this.hold(endpoint) };
  }
}

function invalid(error: z.ZodError): PickError {
  const issue = error.issues[0];
  const path = issue?.path.join('.') || 'body';
  return new PickError('invalid_request', `${path}: ${issue?.message ?? 'invalid'}`);
}
