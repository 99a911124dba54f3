// `dynamo run`: a frontend and N workers in one process, each with a runtime of its own (its own
// instance id) over one in-memory hub — or over etcd + NATS when given, so that more workers can join
// as separate `dynamo worker` processes. This is the one place that composes the frontend and the
// workers: nothing below cli may import both (DESIGN §4).
//
// Workers are kept in one pool per role (agg, or prefill and decode): `scaleWorkers(role, n)` starts
// workers or stops them gracefully (unregister, drain, close), which is what the planner's local
// connector drives with `--planner` (src/planner/local-connector.ts).
import { Registry } from 'prom-client';
import type { DisaggregationMode, LoadMetrics, ModelCard, PlannerProfile } from '../api/index.js';
import { type Frontend, type FrontendConfig, startFrontend } from '../frontend/index.js';
import { ensureTinyModel, userCacheDir } from '../llm/tiny-model/tiny-model.js';
import type { LocalWorkerPool } from '../planner/local-connector.js';
import { type LocalPlanner, startLocalPlanner } from '../planner/local-planner.js';
import type { PlannerConfig } from '../planner/planner.js';
import {
  type ConnectionSecuritySettings,
  createRuntime,
  type Logger,
  MemoryHub,
  type Runtime,
} from '../runtime/index.js';
import { startWorker, type Worker, type WorkerConfig } from '../worker/index.js';

export interface AllInOnePlannerConfig {
  /** The planner's settings (mode and services follow the deployment's roles). */
  planner: Omit<PlannerConfig, 'services' | 'mode'>;
  profile: PlannerProfile;
  /** Where the planner's metrics go (default: the frontend's registry, served on its /metrics). */
  registry?: Registry;
  /** How often the scale-from-zero rule runs (default 1 s). */
  wakeIntervalMs?: number;
}

export interface AllInOneConfig {
  frontend: FrontendConfig;
  /**
   * Frontends (default 1): the others each on a runtime, registry and free port of their own, as
   * separate frontend replicas would be (`dynamo bench --frontends`: router replica sync).
   */
  frontends?: number | undefined;
  /** Aggregated workers; unused when decodeWorkers is set. */
  workers: number;
  /**
   * Disaggregated serving (DESIGN §12): prefill workers (component `prefill`) and decode workers
   * (the worker config's component), on one KV data plane.
   */
  disagg?: { prefillWorkers: number; decodeWorkers: number } | undefined;
  /** The workers' config; an onnx engine without modelDir gets the tiny model (generated once). */
  worker: WorkerConfig;
  etcdEndpoints?: string[] | undefined;
  natsServer?: string | undefined;
  /** TLS and credentials for etcd and NATS (read and checked when the runtime starts). */
  security?: ConnectionSecuritySettings | undefined;
  /**
   * How long the whole stop may take (in-flight requests finish, everything closes), and how long a
   * worker stopped by a scale-down may drain.
   */
  gracefulShutdownMs: number;
  /** Run the SLA planner over the workers (`dynamo run --planner`). */
  planner?: AllInOnePlannerConfig | undefined;
}

export type WorkerRole = DisaggregationMode;

export interface AllInOne {
  readonly frontend: Frontend;
  /** Every frontend, `frontend` first. */
  readonly frontends: readonly Frontend[];
  /** The workers serving now, every role. */
  readonly workers: readonly Worker[];
  readonly modelName: string;
  /** One pool per role this deployment runs (agg, or prefill and decode). */
  readonly pools: readonly WorkerPool[];
  /** The frontend's metrics registry (`dynamo_frontend_*`). */
  readonly metricsRegistry: Registry;
  /** The planner, with --planner. */
  readonly planner: LocalPlanner | undefined;
  /** Starts or gracefully stops workers of a role; resolves once started (stops drain on). */
  scaleWorkers(role: WorkerRole, count: number): Promise<void>;
  /**
   * Graceful stop within gracefulShutdownMs: the planner, then the frontend stops taking requests and
   * lets those in flight finish on the workers, then the workers drain and close.
   */
  stop(): Promise<void>;
}

interface Running {
  worker: Worker;
  runtime: Runtime;
}

/** One role's workers: wanted count, serving workers, and those draining. */
export class WorkerPool implements LocalWorkerPool {
  private readonly serving: Running[] = [];
  private readonly draining = new Set<Promise<void>>();
  private target = 0;
  private chain: Promise<void> = Promise.resolve();
  private lastCard: ModelCard | undefined;
  private closed = false;

  constructor(
    readonly role: WorkerRole,
    readonly namespace: string,
    readonly component: string,
    private readonly launch: (index: number) => Promise<Running>,
    private readonly graceMs: number,
    private readonly log: Logger,
  ) {}

  get replicas(): number {
    return this.target;
  }

  get readyReplicas(): number {
    return this.serving.length;
  }

  get card(): ModelCard | undefined {
    return this.lastCard;
  }

  /** Workers that cost a replica now: wanted or serving, and draining. */
  get provisioned(): number {
    return Math.max(this.target, this.serving.length) + this.draining.size;
  }

  get workers(): Worker[] {
    return this.serving.map((r) => r.worker);
  }

  /** Sets the wanted count; resolves once started workers serve (or failed) and stops have begun. */
  scale(replicas: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`the ${this.role} pool is stopped`));
    this.target = replicas;
    const run = this.chain.then(() => this.reconcile());
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Stops every worker (gracefully, within `graceMs`) and refuses further scaling. */
  async close(graceMs = this.graceMs): Promise<void> {
    this.closed = true;
    await this.chain;
    this.target = 0;
    while (this.serving.length > 0) this.drain(this.serving.pop() as Running, graceMs);
    await Promise.allSettled([...this.draining]);
  }

  private async reconcile(): Promise<void> {
    // The least loaded workers go first (ties: the newest): a stopped worker keeps serving what was
    // routed to it until it has drained, and counts as provisioned meanwhile, so an idle one costs
    // nothing and a busy one would hold its queue (and a replica) for seconds. They leave the count of
    // serving ones at once (no new requests).
    while (this.serving.length > this.target) {
      const i = leastLoaded(this.serving.map((r) => r.worker.engine.loadMetrics()));
      this.drain(this.serving.splice(i, 1)[0] as Running);
    }
    const missing = this.target - this.serving.length;
    if (missing <= 0) return;
    const started = await Promise.allSettled(
      Array.from({ length: missing }, (_, i) => this.launch(this.serving.length + i)),
    );
    const failures: unknown[] = [];
    for (const s of started) {
      if (s.status === 'fulfilled') {
        this.serving.push(s.value);
        this.lastCard = s.value.worker.card;
      } else failures.push(s.reason);
    }
    if (failures.length > 0) {
      // What could not start is no longer wanted: the planner sees replicas = ready and may try again.
      this.target -= failures.length;
      this.log.error(
        { role: this.role, err: failures[0], failed: failures.length },
        'starting workers failed',
      );
      throw failures[0];
    }
  }

  private drain(r: Running, graceMs = this.graceMs): void {
    const done = (async () => {
      await r.runtime.shutdown(graceMs);
      await r.worker.close();
    })().catch((err: unknown) => this.log.warn({ err, role: this.role }, 'stopping a worker failed'));
    this.draining.add(done);
    void done.finally(() => this.draining.delete(done));
  }
}

/** Resolves true once the frontend can route requests for `model`, false after `timeoutMs`. */
async function routable(frontend: Frontend, model: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (frontend.app.services.registry.get(model)?.routable === true) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Index of the least loaded engine (work queued or running, then KV in use); the last on ties. */
export function leastLoaded(
  loads: readonly Pick<
    LoadMetrics,
    'waitingRequests' | 'runningRequests' | 'pendingPrefillTokens' | 'activeBlocks'
  >[],
): number {
  let best = -1;
  let bestKey: [number, number, number] = [Infinity, Infinity, Infinity];
  loads.forEach((l, i) => {
    const key: [number, number, number] = [
      l.waitingRequests + l.runningRequests,
      l.pendingPrefillTokens,
      l.activeBlocks,
    ];
    const better =
      key[0] < bestKey[0] ||
      (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && key[2] <= bestKey[2])));
    if (better) {
      best = i;
      bestKey = key;
    }
  });
  return best;
}

export async function startAllInOne(config: AllInOneConfig, log: Logger): Promise<AllInOne> {
  let worker = config.worker;
  if (worker.engine.kind === 'onnx' && worker.engine.modelDir === '') {
    log.info('no --model-dir: using the tiny random-weight test model (generated on first run)');
    const modelDir = await ensureTinyModel(userCacheDir());
    worker = { modelName: 'tiny', ...worker, engine: { ...worker.engine, modelDir } };
  }
  const memory = new MemoryHub();
  // One registry for the process, served on the frontend's /metrics: the workers' dynamo_component_*
  // series (requests, inflight, errors, KV transfers per endpoint) land next to the frontend's.
  const runtimeOptions = {
    memory,
    registry: new Registry(),
    ...(config.etcdEndpoints?.length ? { etcdEndpoints: config.etcdEndpoints } : {}),
    ...(config.natsServer ? { natsServer: config.natsServer } : {}),
    ...(config.security ? { security: config.security } : {}),
  };
  const roles: { mode: DisaggregationMode; count: number; component?: string }[] = config.disagg
    ? [
        { mode: 'prefill', count: config.disagg.prefillWorkers, component: 'prefill' },
        { mode: 'decode', count: config.disagg.decodeWorkers },
      ]
    : [{ mode: 'agg', count: config.workers }];
  let launched = 0;
  const pools = roles.map((role) => {
    const roleConfig: WorkerConfig = {
      ...worker,
      disaggregationMode: role.mode,
      ...(role.component ? { component: role.component } : {}),
    };
    const launch = async (): Promise<Running> => {
      const workerLog = log.child({ worker: launched++, ...(config.disagg ? { role: role.mode } : {}) });
      const runtime = await createRuntime({ ...runtimeOptions, log: workerLog });
      try {
        return { worker: await startWorker(roleConfig, runtime, workerLog), runtime };
      } catch (err) {
        await runtime.close();
        throw err;
      }
    };
    return new WorkerPool(
      role.mode,
      roleConfig.namespace ?? 'dynamo',
      roleConfig.component ?? 'backend',
      launch,
      config.gracefulShutdownMs,
      log,
    );
  });
  let frontendRuntime: Runtime | undefined;
  let frontend: Frontend | undefined;
  const replicas: { runtime: Runtime; frontend?: Frontend }[] = [];
  let plannerRuntime: Runtime | undefined;
  let planner: LocalPlanner | undefined;
  // One deadline for the whole stop. The planner first (it must not scale what is stopping). Then the
  // frontend stops taking requests (new connections refused, requests on kept-alive ones answered
  // 503) and waits for those in flight, which the workers — still registered and serving — finish.
  // Workers drained first would unregister and leave those requests nowhere to go. Then the workers
  // drain what other frontends sent them (with etcd + NATS) in what is left of the grace period.
  const stop = async () => {
    const deadline = Date.now() + config.gracefulShutdownMs;
    const left = () => Math.max(0, deadline - Date.now());
    await planner?.stop().catch((err: unknown) => log.warn({ err }, 'stopping the planner failed'));
    await plannerRuntime?.close();
    await Promise.all([frontend?.close(left()), ...replicas.map((r) => r.frontend?.close(left()))]);
    await Promise.allSettled(pools.map((p) => p.close(left())));
    await frontendRuntime?.close();
    await Promise.all(replicas.map((r) => r.runtime.close()));
  };
  try {
    for (const [i, role] of roles.entries()) await pools[i]?.scale(role.count);
    // `service`, not `component`: the parts below bind their own `component`, and pino would repeat the key.
    const frontendLog = log.child({ service: 'frontend' });
    frontendRuntime = await createRuntime({ ...runtimeOptions, log: frontendLog });
    frontend = await startFrontend(config.frontend, frontendRuntime, frontendLog);
    for (let i = 1; i < (config.frontends ?? 1); i++) {
      const replicaLog = frontendLog.child({ frontend: i });
      const replica: (typeof replicas)[number] = {
        runtime: await createRuntime({ ...runtimeOptions, registry: new Registry(), log: replicaLog }),
      };
      replicas.push(replica);
      replica.frontend = await startFrontend({ ...config.frontend, port: 0 }, replica.runtime, replicaLog);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const all = () => pools.flatMap((p) => p.workers);
  const modelName = pools.map((p) => p.card?.name).find((n) => n !== undefined) ?? '';
  // Ready means routable: the frontend learns of the workers through discovery, a moment later.
  for (const [i, f] of [frontend, ...replicas.map((r) => r.frontend)].entries()) {
    if (f && all().length > 0 && !(await routable(f, modelName, 10_000)))
      log.warn({ model: modelName, frontend: i }, 'the frontend does not see the workers yet');
  }
  const registry = frontendRuntime.metrics.registry;
  if (config.planner) {
    try {
      const plannerLog = log.child({ service: 'planner' });
      plannerRuntime = await createRuntime({ ...runtimeOptions, log: plannerLog });
      planner = await startLocalPlanner({
        planner: { ...config.planner.planner, mode: config.disagg ? 'disagg' : 'agg' },
        profile: config.planner.profile,
        pools,
        model: modelName,
        frontendRegistry: registry,
        runtime: plannerRuntime,
        transport: config.natsServer ? 'nats' : 'memory',
        registry: config.planner.registry ?? registry,
        log: plannerLog,
        ...(config.planner.wakeIntervalMs !== undefined
          ? { wakeIntervalMs: config.planner.wakeIntervalMs }
          : {}),
      });
    } catch (err) {
      await stop();
      throw err;
    }
  }
  return {
    frontend,
    frontends: [frontend, ...replicas.flatMap((r) => (r.frontend ? [r.frontend] : []))],
    get workers() {
      return all();
    },
    modelName,
    pools,
    metricsRegistry: registry,
    planner,
    async scaleWorkers(role, count) {
      const pool = pools.find((p) => p.role === role);
      if (pool === undefined)
        throw new RangeError(
          `this deployment has no ${role} workers (roles: ${pools.map((p) => p.role).join(', ')})`,
        );
      await pool.scale(count);
    },
    stop,
  };
}
