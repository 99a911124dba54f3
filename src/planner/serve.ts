// `dynamo planner` as a process: reads the profile, subscribes to the workers' load reports on the event
// plane, queries Prometheus, serves /health, /live and /metrics, and runs the Planner until `signal`
// aborts. The connector is passed in (Kubernetes here; `dynamo run --planner` builds its own Planner
// from planner.ts with a local connector and in-process sources).
//
// Bad input never stops the process (issue 17): a profile that is not given, not there yet or malformed,
// an unreachable Prometheus, a graph without the named services, a budget below the minimum. Each is
// logged once when it starts (and once when it ends), named in every decision's reason
// (`dynamo_planner_decisions_total`, the loops' state gauges) and retried every interval; meanwhile
// nothing is scaled. The profile file is read again every adjustment interval, so one mounted later
// (a ConfigMap volume) is picked up without a restart.
//
// Scale to zero (--min-replicas 0): the connector is wrapped (kube-connector.ts, withStandby) so that a
// service goes to zero only with its model parked under this process's lease (etcd given), and the
// wake rule reads the frontends' waiting requests from Prometheus (traffic.ts, PrometheusDemand).
import { readFile } from 'node:fs/promises';
import { Registry } from 'prom-client';
import { type PlannerProfile, ProfileError, parseProfile } from '../api/index.js';
import {
  type ConnectionSecuritySettings,
  createRuntime,
  type Logger,
  type Runtime,
} from '../runtime/index.js';
import { startSystemServer } from '../runtime/system-server.js';
import type { PlannerConnector } from './connector.js';
import { type EngineModel, engineModelFromProfile } from './engine-model.js';
import { withStandby } from './kube-connector.js';
import { type LoadSource, subscribeLoadReports } from './load-reports.js';
import { type EngineAvailability, Planner, type PlannerConfig } from './planner.js';
import { PlannerMetrics, type ProfileStatus } from './planner-metrics.js';
import { PrometheusClient } from './prometheus.js';
import {
  PrometheusDemand,
  PrometheusTraffic,
  type TrafficObservation,
  type TrafficSource,
} from './traffic.js';

export interface ServePlannerOptions {
  planner: PlannerConfig;
  /** undefined: no profile; the planner runs and decides nothing (`no_profile`) until given one. */
  profilePath: string | undefined;
  prometheusEndpoint: string;
  /** undefined: no model filter (a graph's frontend serves one model). */
  model: string | undefined;
  /** Dynamo namespace of the workers (their load reports' scope). */
  namespace: string;
  etcdEndpoints?: string[] | undefined;
  natsServer?: string | undefined;
  /** TLS and credentials for etcd and NATS (read and checked when the runtime starts). */
  security?: ConnectionSecuritySettings | undefined;
  systemPort: number;
  /** Load reports older than this are ignored (a worker gone or stuck). */
  loadStaleAfterMs: number;
}

type Problem = { reason: 'no_profile' | 'profile_invalid'; detail: string };

/**
 * The engine profile, read again at each `refresh()`. The last valid one stays in use when the file
 * later goes missing or bad (as Prometheus keeps its last good config on a failed reload): the engine
 * did not change, only the file; the status says so. Never throws.
 */
export class ProfileSource {
  private engine: EngineModel | undefined;
  private profile: PlannerProfile | undefined;
  private text: string | undefined;
  private problem: Problem | undefined;
  private logged: string | undefined;

  constructor(
    private readonly path: string | undefined,
    private readonly options: { log: Logger; metrics?: PlannerMetrics; model?: string | undefined },
  ) {}

  /** The model in use, or why there is none (for the Planner's `engine`). */
  current(): EngineAvailability {
    if (this.engine !== undefined) return { kind: 'ready', engine: this.engine };
    return { kind: 'unavailable', ...(this.problem ?? { reason: 'no_profile', detail: 'not read yet' }) };
  }

  get status(): ProfileStatus {
    if (this.problem === undefined) return this.engine === undefined ? 'no_profile' : 'loaded';
    return this.engine === undefined ? this.problem.reason : 'kept_previous';
  }

  /** The problem with the file now, if any (also while a previous profile is kept). */
  get cause(): string | undefined {
    return this.problem?.detail;
  }

  async refresh(): Promise<ProfileStatus> {
    this.problem = await this.read();
    const status = this.status;
    this.options.metrics?.profileStatus(status);
    this.logChange(status);
    return status;
  }

  private async read(): Promise<Problem | undefined> {
    const path = this.path;
    if (path === undefined)
      return {
        reason: 'no_profile',
        detail:
          'no profile given (--profile or DYN_PLANNER_PROFILE): measure one with `dynamo profile` and mount it',
      };
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        return {
          reason: 'no_profile',
          detail: `profile ${path}: no such file (yet: it is read again every adjustment interval; write one with \`dynamo profile --out\`)`,
        };
      return { reason: 'profile_invalid', detail: `profile ${path}: ${(err as Error).message}` };
    }
    if (text === this.text && this.engine !== undefined) return undefined;
    let profile: PlannerProfile;
    try {
      profile = parseProfile(text, path);
    } catch (err) {
      if (err instanceof ProfileError) return { reason: 'profile_invalid', detail: err.message };
      throw err;
    }
    this.profile = profile;
    this.engine = engineModelFromProfile(profile);
    this.text = text;
    const { log, model } = this.options;
    log.info(
      { path, engine: profile.engine, model: profile.model, createdAt: profile.createdAt },
      'planner: profile loaded',
    );
    if (model !== undefined && profile.model !== model)
      log.warn(
        { profileModel: profile.model, model },
        'planner: the profile was measured for another model name',
      );
    return undefined;
  }

  /** One log line per change of status or cause, not one per interval. */
  private logChange(status: ProfileStatus): void {
    const key = `${status}\u0000${this.problem?.detail ?? ''}`;
    if (key === this.logged) return;
    const first = this.logged === undefined;
    this.logged = key;
    const { log } = this.options;
    const cause = this.problem?.detail;
    if (status === 'no_profile' || status === 'profile_invalid')
      log.error(
        { reason: status, cause },
        'planner: no usable profile; deciding and scaling nothing until one is read (every adjustment interval)',
      );
    else if (status === 'kept_previous')
      log.error(
        { cause, model: this.profile?.model },
        'planner: the profile file cannot be used any more; keeping the last valid one',
      );
    else if (!first && this.profile !== undefined) log.info({ path: this.path }, 'planner: profile in use');
  }
}

/**
 * The traffic source, logging when the frontends' traffic becomes unknown (Prometheus unreachable, an
 * API error, no series yet) and when it is known again: once per change, not per interval.
 */
export class LoggedTraffic implements TrafficSource {
  private last: string | undefined;

  constructor(
    private readonly inner: TrafficSource,
    private readonly log: Logger,
    private readonly prometheus: string,
  ) {}

  async observe(windowSeconds: number): Promise<TrafficObservation> {
    const observed = await this.inner.observe(windowSeconds);
    const m = observed.requestRate;
    const key = m.kind === 'known' ? 'known' : m.reason;
    if (key !== this.last) {
      const where = { prometheus: this.prometheus };
      if (m.kind === 'known') {
        if (this.last !== undefined)
          this.log.info(where, 'planner: frontend traffic readable from Prometheus');
      } else if (m.reason === 'no_data') {
        this.log.warn(
          { ...where, reason: m.reason },
          'planner: Prometheus holds no dynamo_frontend_* series (not scraping the frontends, or no request yet); the throughput loop decides nothing',
        );
      } else {
        this.log.error(
          { ...where, reason: m.reason, cause: m.detail },
          'planner: cannot read the frontend traffic from Prometheus; the throughput loop decides nothing until it can',
        );
      }
      this.last = key;
    }
    return observed;
  }
}

export async function servePlanner(
  options: ServePlannerOptions,
  connector: PlannerConnector,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const registry = new Registry();
  const metrics = new PlannerMetrics(registry);
  const profiles = new ProfileSource(options.profilePath, { log, metrics, model: options.model });
  await profiles.refresh();
  const { minReplicas, maxReplicas } = options.planner.limits;
  if (minReplicas > maxReplicas)
    log.error(
      { minReplicas, maxReplicas },
      'planner: --min-replicas is above --max-replicas; every decision is budget_infeasible and nothing is scaled',
    );
  let runtime: Runtime | undefined;
  let loads: LoadSource | undefined;
  let planner: Planner | undefined;
  let scaled: PlannerConnector = connector;
  let reread: NodeJS.Timeout | undefined;
  const system = await startSystemServer({
    port: options.systemPort,
    registry,
    ready: () => planner !== undefined,
    log,
  });
  // Shared discovery: the workers' cards are readable and a standby card is seen by the frontends.
  const etcd = options.etcdEndpoints?.some((e) => e.trim() !== '') ?? false;
  try {
    if (options.planner.loadIntervalMs > 0 || etcd)
      runtime = await createRuntime({
        log,
        ...(etcd && options.etcdEndpoints ? { etcdEndpoints: options.etcdEndpoints } : {}),
        ...(options.natsServer ? { natsServer: options.natsServer } : {}),
        ...(options.security ? { security: options.security } : {}),
      });
    // Scale to zero parks the model under this process's lease (kube-connector.ts, withStandby).
    scaled = withStandby(connector, {
      services: options.planner.services,
      namespace: options.namespace,
      runtime:
        runtime && etcd
          ? {
              discovery: runtime.discovery,
              instanceId: runtime.instanceId,
              transport: options.natsServer ? 'nats' : 'memory',
            }
          : undefined,
      log,
    });
    if (runtime && options.planner.loadIntervalMs > 0) {
      loads = await subscribeLoadReports({
        eventPlane: runtime.eventPlane,
        namespace: options.namespace,
        components: options.planner.services.map((s) => s.component),
        staleAfterMs: options.loadStaleAfterMs,
      });
    }
    const prometheus = new PrometheusClient({ endpoint: options.prometheusEndpoint });
    const traffic = new LoggedTraffic(
      new PrometheusTraffic(prometheus, options.model),
      log,
      options.prometheusEndpoint,
    );
    // Re-read before the loops' first tick (both run every adjustment interval from now, this first).
    reread = setInterval(() => void profiles.refresh(), options.planner.adjustmentIntervalMs);
    reread.unref();
    planner = new Planner(options.planner, {
      connector: scaled,
      engine: () => profiles.current(),
      traffic,
      ...(loads ? { loads } : {}),
      demand: new PrometheusDemand(prometheus, options.model),
      metrics,
      log,
    });
    planner.start();
    log.info(
      {
        mode: options.planner.mode,
        scaling: options.planner.scaling,
        services: options.planner.services,
        targets: options.planner.targets,
        prometheus: options.prometheusEndpoint,
        model: options.model ?? '(any: no model filter)',
        profile: options.profilePath ?? '(none)',
        profileStatus: profiles.status,
      },
      'planner running',
    );
    if (!signal.aborted)
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  } finally {
    if (reread !== undefined) clearInterval(reread);
    await planner?.stop();
    loads?.close();
    // Before the runtime: the standby cards are removed through its discovery.
    await scaled.close();
    await runtime?.close();
    await system.close();
  }
}
