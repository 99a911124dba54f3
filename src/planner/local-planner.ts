// `dynamo run --planner`: the same Planner as `dynamo planner`, over in-process workers. Inputs are
// local — the frontend's metrics registry (local-traffic.ts) and the workers' load reports on the
// in-memory event plane — and the connector scales `dynamo run`'s worker pools (local-connector.ts).
// The planner holds a runtime of its own: its load-report subscriptions and its standby cards (scale
// to zero) live under its registration, as a `dynamo planner` process's would under its lease.
import type { Registry } from 'prom-client';
import type { PlannerProfile } from '../api/index.js';
import type { Logger, Runtime } from '../runtime/index.js';
import { engineModelFromProfile } from './engine-model.js';
import { type LoadSource, subscribeLoadReports } from './load-reports.js';
import { LocalConnector, type LocalWorkerPool } from './local-connector.js';
import { LocalDemand, LocalTraffic } from './local-traffic.js';
import { Planner, type PlannerConfig, type PlannerTimers } from './planner.js';
import { PlannerMetrics } from './planner-metrics.js';

export interface LocalPlannerOptions {
  /** The planner's settings; `services` are derived from the pools (name = role). */
  planner: Omit<PlannerConfig, 'services'>;
  profile: PlannerProfile;
  pools: readonly LocalWorkerPool[];
  /** The served model whose traffic is read. */
  model: string;
  /** The frontend's metrics registry (its `dynamo_frontend_*` series). */
  frontendRegistry: Registry;
  /** The planner's own runtime (in-memory hub of `dynamo run`, or etcd/NATS when given). */
  runtime: Runtime;
  transport: 'memory' | 'nats';
  /** Where the planner's `dynamo_planner_*` metrics go. */
  registry: Registry;
  log: Logger;
  /** How often the wake rule of scale to zero runs (default planner.ts WAKE_INTERVAL_MS). */
  wakeIntervalMs?: number;
  timers?: PlannerTimers;
}

export interface LocalPlanner {
  readonly planner: Planner;
  readonly connector: LocalConnector;
  stop(): Promise<void>;
}

export async function startLocalPlanner(options: LocalPlannerOptions): Promise<LocalPlanner> {
  const { log, runtime } = options;
  const services = options.pools.map((p) => ({ role: p.role, name: p.role, component: p.component }));
  const config: PlannerConfig = { ...options.planner, services };
  let loads: LoadSource | undefined;
  if (config.loadIntervalMs > 0) {
    const namespace = options.pools[0]?.namespace ?? 'dynamo';
    loads = await subscribeLoadReports({
      eventPlane: runtime.eventPlane,
      namespace,
      components: services.map((s) => s.component),
      staleAfterMs: Math.max(3 * config.loadIntervalMs, 3_000),
    });
  }
  const connector = new LocalConnector({
    pools: options.pools,
    standby: { discovery: runtime.discovery, holder: runtime.instanceId, transport: options.transport },
    log,
  });
  const traffic = await LocalTraffic.start(options.frontendRegistry, options.model);
  const planner = new Planner(config, {
    connector,
    engine: engineModelFromProfile(options.profile),
    traffic,
    ...(loads ? { loads } : {}),
    demand: new LocalDemand(options.frontendRegistry, options.model, options.wakeIntervalMs),
    metrics: new PlannerMetrics(options.registry),
    log,
    ...(options.timers ? { timers: options.timers } : {}),
  });
  planner.start();
  log.info(
    {
      mode: config.mode,
      scaling: config.scaling,
      services: services.map((s) => s.name),
      targets: config.targets,
      limits: config.limits,
      predictor: config.predictor.kind,
    },
    'planner running over the local workers',
  );
  return {
    planner,
    connector,
    async stop() {
      await planner.stop();
      loads?.close();
      await connector.close();
    },
  };
}
