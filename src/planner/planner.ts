// The SLA planner's two loops (DESIGN §13), as Dynamo's pipeline OBSERVE → PREDICT → PROPOSE →
// CONSTRAIN → EXECUTE; only the first and last touch the world (a TrafficSource and a LoadSource in, a
// PlannerConnector out), so the same Planner drives Kubernetes (`dynamo planner`) and in-process workers
// (`dynamo run --planner`), each caller passing its own connector and sources.
//
//   every --adjustment-interval   throughput loop: traffic → predictors → replicas each role needs
//                                 (throughput.ts) → min/max/GPU budget (budget.ts) → scale
//   every --load-interval         load loop: workers' load reports → per-engine TTFT/ITL estimates
//                                 (load-rule.ts) → ±1 → same constraints → scale; never below the
//                                 throughput loop's last target
//
// Invariants: a service whose replicas ≠ readyReplicas gets no new action (its previous one is not
// done); an unknown input decides nothing it would need to justify, and the decision says why; in
// advisory mode every decision is made, logged and exported, and nothing is scaled. The two loops never
// run at the same time. A failing input (Prometheus down, a service missing) is logged, counted and
// retried at the next tick: the loops never stop on it.
import type { LoadMetrics } from '../api/index.js';
import type { Logger } from '../runtime/index.js';
import { constrainReplicas, type ReplicaLimits, type ServiceWant } from './budget.js';
import { ConnectorError, type PlannerConnector, type ServiceState } from './connector.js';
import type { EngineModel } from './engine-model.js';
import type { LoadSource } from './load-reports.js';
import { type EngineEstimate, estimateEngine, loadVerdict, type SequenceShape } from './load-rule.js';
import { describeMetric, known, knownValue, type Metric, unknown } from './metric.js';
import type { PlannerMetrics } from './planner-metrics.js';
import { createPredictor, type Predictor, type PredictorConfig } from './predictors.js';
import { PrefillCorrection, withPrefillCorrection } from './prefill-correction.js';
import type { Constraint, DecisionReason, Loop, Role } from './reasons.js';
import {
  heldReplicas,
  type PredictedLoad,
  proposeReplicas,
  RAMP_WINDOW,
  type RoleProposal,
  rampForecast,
  SCALE_DOWN_HOLD,
  type SlaTargets,
  WORKER_START_S,
} from './throughput.js';
import type { TrafficSource } from './traffic.js';

export type PlannerMode = 'agg' | 'disagg';
export type ScalingMode = 'active' | 'advisory';

/** One service the planner sizes. */
export interface PlannedService {
  role: Role;
  /** The connector's name (a DGD service, or a worker role locally). */
  name: string;
  /** The Dynamo component its workers register as (their load reports' scope). */
  component: string;
}

export interface PlannerConfig {
  mode: PlannerMode;
  scaling: ScalingMode;
  /** agg: one service with role 'agg'; disagg: one 'prefill' and one 'decode'. */
  services: readonly PlannedService[];
  targets: SlaTargets;
  adjustmentIntervalMs: number;
  /** 0 disables the load loop. */
  loadIntervalMs: number;
  predictor: PredictorConfig;
  limits: ReplicaLimits;
  /** The load loop removes a replica when every engine is below this share of its targets. */
  scaleDownRatio: number;
  /** Observed rates the ramp forecast fits (throughput.ts RAMP_WINDOW by default); below 2: no forecast. */
  trendWindow?: number;
  /** Proposals in a row that must be lower before a scale-down (throughput.ts SCALE_DOWN_HOLD by default). */
  scaleDownHold?: number;
  /** Most replicas the throughput loop releases per decision; 0 or absent: no limit. */
  scaleDownStep?: number;
}

export interface PlannerTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The engine model, or why there is none: `dynamo planner` re-reads its profile file every adjustment
 * interval and has no model until a valid one is read (serve.ts). Without one both loops decide nothing,
 * with this reason.
 */
export type EngineAvailability =
  | { kind: 'ready'; engine: EngineModel }
  | { kind: 'unavailable'; reason: 'no_profile' | 'profile_invalid'; detail: string };

export interface PlannerDeps {
  connector: PlannerConnector;
  /** A fixed model, or a function answering the current one (read at each tick). */
  engine: EngineModel | (() => EngineAvailability);
  /** The throughput loop's input; without it that loop does not run. */
  traffic?: TrafficSource;
  /** The load loop's input; without it that loop does not run. */
  loads?: LoadSource;
  /** Scale to zero's input (requests waiting for a worker); see "Scale to zero" at the end. */
  demand?: DemandSource;
  metrics: PlannerMetrics;
  log: Logger;
  timers?: PlannerTimers;
}

export interface ServiceDecision {
  loop: Loop;
  service: string;
  role: Role;
  /** Replicas / ready replicas when decided (undefined when the service could not be read). */
  current?: number;
  ready?: number;
  /** The replicas decided; undefined when the loop decided nothing for this service. */
  target?: number;
  reason: DecisionReason;
  constraints: Constraint[];
  detail?: string;
  /** Whether connector.scale was called (never in advisory mode). */
  scaled: boolean;
}

type Want =
  | { kind: 'want'; replicas: number; constraints: Constraint[]; reason?: DecisionReason; detail?: string }
  | { kind: 'none'; reason: DecisionReason; detail?: string };

const REAL_TIMERS: PlannerTimers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

// Which reason a loop's state gauge shows when its services differ: the most telling one.
const PRIORITY: readonly DecisionReason[] = [
  'budget_infeasible',
  'profile_invalid',
  'no_profile',
  'service_unavailable',
  'scale_failed',
  'scale_up',
  'scale_down',
  'scale_down_capped_by_throughput',
  'no_traffic_data',
  'no_sequence_data',
  'no_load_data',
  'worker_count_mismatch',
  'scaling_in_progress',
  'no_change',
];

export class Planner {
  private readonly timers: PlannerTimers;
  private readonly predictors: Record<keyof PredictedLoad, Predictor>;
  /** The last known ISL / OSL / KV hit rate, for the load loop's estimates. */
  private shape: { isl?: number; osl?: number; kvHitRate?: number } = {};
  /** The throughput loop's last target per service: the load loop's floor. */
  private readonly throughputTargets = new Map<string, number>();
  /** Observed request rates, one per throughput interval (the last trendWindow), for rampForecast. */
  private readonly rates: number[] = [];
  /** Per prefill (agg) service: the profile's prefill corrected by what its workers achieve. */
  private readonly corrections = new Map<string, PrefillCorrection>();
  private readonly trendWindow: number;
  private readonly scaleDownHold: number;
  private readonly scaleDownStep: number;
  /** The throughput loop's last proposals per role (the last scaleDownHold), for heldReplicas. */
  private readonly proposed = new Map<Role, number[]>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly handles = new Set<unknown>();
  private stopped = false;
  private lastGpuTick: number | undefined;

  constructor(
    readonly config: PlannerConfig,
    private readonly deps: PlannerDeps,
  ) {
    this.timers = deps.timers ?? REAL_TIMERS;
    this.trendWindow = config.trendWindow ?? RAMP_WINDOW;
    this.scaleDownHold = Math.max(1, config.scaleDownHold ?? SCALE_DOWN_HOLD);
    this.scaleDownStep = Math.max(0, config.scaleDownStep ?? 0);
    const expected: Role[] = config.mode === 'agg' ? ['agg'] : ['prefill', 'decode'];
    const roles = config.services.map((s) => s.role).sort();
    if (roles.join() !== [...expected].sort().join())
      throw new RangeError(
        `mode ${config.mode} sizes ${expected.join(' and ')} services, got ${roles.join(', ')}`,
      );
    this.predictors = {
      requestRate: createPredictor(config.predictor),
      isl: createPredictor(config.predictor),
      osl: createPredictor(config.predictor),
      kvHitRate: createPredictor(config.predictor),
    };
    deps.metrics.setAdvisory(config.scaling === 'advisory');
  }

  /** Starts both loops (each one's first tick after one period). */
  start(): void {
    const every = (ms: number, tick: () => Promise<unknown>) => {
      const schedule = () => {
        if (this.stopped) return;
        const handle = this.timers.setTimeout(() => {
          this.handles.delete(handle);
          void tick().finally(schedule);
        }, ms);
        this.handles.add(handle);
      };
      schedule();
    };
    if (this.deps.traffic) every(this.config.adjustmentIntervalMs, () => this.throughputTick());
    if (this.deps.loads && this.config.loadIntervalMs > 0)
      every(this.config.loadIntervalMs, () => this.loadTick());
    if (this.deps.demand) every(this.deps.demand.wakeIntervalMs ?? WAKE_INTERVAL_MS, () => this.wakeTick());
  }

  /** Stops the loops; resolves once a tick in progress has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const h of this.handles) this.timers.clearTimeout(h);
    this.handles.clear();
    await this.queue.catch(() => undefined);
  }

  /** One throughput-loop iteration (serialised with the load loop). */
  throughputTick(): Promise<ServiceDecision[]> {
    return this.serialised(() => this.throughput());
  }

  /** One load-loop iteration (serialised with the throughput loop). */
  loadTick(): Promise<ServiceDecision[]> {
    return this.serialised(() => this.load());
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async throughput(): Promise<ServiceDecision[]> {
    const { traffic, metrics, log } = this.deps;
    if (traffic === undefined) return [];
    const windowSeconds = this.config.adjustmentIntervalMs / 1000;
    const observed = await traffic.observe(windowSeconds);
    metrics.observedTraffic({
      rate: observed.requestRate,
      isl: observed.isl,
      osl: observed.osl,
      ttft: observed.ttftMs,
      itl: observed.itlMs,
      kvHitRate: observed.kvHitRate,
    });
    const feed: [keyof PredictedLoad, Metric][] = [
      ['requestRate', observed.requestRate],
      ['isl', observed.isl],
      ['osl', observed.osl],
      ['kvHitRate', observed.kvHitRate],
    ];
    for (const [key, m] of feed) if (m.kind === 'known') this.predictors[key].observe(m.value);
    if (observed.requestRate.kind === 'known') {
      this.rates.push(observed.requestRate.value);
      if (this.rates.length > this.trendWindow) this.rates.shift();
    }
    const predictedRate = this.predictors.requestRate.predict();
    // On a rising ramp the past window's rate is already short by the time a new worker serves: size
    // for the rate the trend gives at the end of the next interval plus a worker's start (never below
    // the predictor's forecast, so a falling trend does not scale down early).
    const ramp = rampForecast(this.rates, windowSeconds, WORKER_START_S, this.trendWindow);
    const predicted: PredictedLoad = {
      requestRate:
        ramp !== undefined && predictedRate.kind === 'known' && ramp > predictedRate.value
          ? known(ramp)
          : predictedRate,
      isl: this.predictors.isl.predict(),
      osl: this.predictors.osl.predict(),
      kvHitRate: this.predictors.kvHitRate.predict(),
    };
    metrics.predictedTraffic({
      rate: predicted.requestRate,
      isl: predicted.isl,
      osl: predicted.osl,
      kvHitRate: predicted.kvHitRate,
    });
    if (observed.isl.kind === 'known') this.shape.isl = observed.isl.value;
    if (observed.osl.kind === 'known') this.shape.osl = observed.osl.value;
    if (observed.kvHitRate.kind === 'known') this.shape.kvHitRate = observed.kvHitRate.value;
    log.info(
      {
        observed: Object.fromEntries(Object.entries(observed).map(([k, m]) => [k, describeMetric(m)])),
        predicted: Object.fromEntries(Object.entries(predicted).map(([k, m]) => [k, describeMetric(m)])),
      },
      'planner: throughput inputs',
    );

    const engine = this.engineNow();
    if (engine.kind === 'unavailable')
      return this.decide('throughput', () => ({
        kind: 'none',
        reason: engine.reason,
        detail: engine.detail,
      }));
    const proposals = new Map<Role, RoleProposal>();
    for (const service of this.config.services) {
      // The prefill (agg) workers' load reports: their queued prompt tokens, and what they really compute.
      const reports = service.role === 'decode' ? [] : (this.deps.loads?.reports(service.component) ?? []);
      const model = this.correctPrefill(service, reports, engine.engine, predicted);
      const backlogTokens = reports.reduce((n, r) => n + r.pendingPrefillTokens, 0);
      const [p] = proposeReplicas(
        [service.role],
        predicted,
        model,
        this.config.targets,
        backlogTokens > 0
          ? { tokens: backlogTokens, drainS: windowSeconds, engines: reports.length }
          : undefined,
      );
      if (p) proposals.set(service.role, p);
    }
    // Scale down only once scaleDownHold proposals in a row are lower: a drain counts as provisioned
    // and the next ramp would start the worker again (docs/architecture.md, r14–r16).
    for (const [role, p] of proposals) {
      if (p.kind !== 'sized') continue;
      const history = this.proposed.get(role) ?? [];
      history.push(p.replicas);
      if (history.length > this.scaleDownHold) history.shift();
      this.proposed.set(role, history);
      const held = heldReplicas(history, this.scaleDownHold);
      proposals.set(role, {
        ...p,
        replicas: held,
        constraints: held > p.replicas ? [...p.constraints, 'scale_down_held'] : p.constraints,
      });
    }
    for (const p of proposals.values())
      if (p.kind === 'sized' && Number.isFinite(p.capacityRps)) metrics.capacity(p.role, p.capacityRps);
    const zero = await this.zeroDemand();
    const decisions = await this.decide('throughput', (service, state) => {
      const p = proposals.get(service.role);
      if (p === undefined || p.kind === 'unknown')
        return { kind: 'none', reason: p?.reason ?? 'no_traffic_data', detail: p?.detail ?? 'no proposal' };
      const held = p.constraints.includes('scale_down_held');
      // Release at most scaleDownStep replicas at a time (HPA's scale-down policy): one noisy interval
      // then costs one replica's worth of SLA, not the drop of a whole window's noise.
      const floor = this.scaleDownStep > 0 ? state.replicas - this.scaleDownStep : 0;
      const replicas = Math.max(p.replicas, floor);
      return holdZero(
        service,
        {
          kind: 'want',
          replicas,
          constraints: replicas > p.replicas ? [...p.constraints, 'scale_down_step'] : [...p.constraints],
          // Kept where it is only because the lower proposal has not lasted: say so, not no_change.
          ...(held ? { reason: 'scale_down_held' as const } : {}),
        },
        zero,
      );
    });
    for (const d of decisions) if (d.target !== undefined) this.throughputTargets.set(d.service, d.target);
    return decisions;
  }

  private async load(): Promise<ServiceDecision[]> {
    const { loads, metrics } = this.deps;
    if (loads === undefined) return [];
    const available = this.engineNow();
    if (available.kind === 'unavailable')
      return this.decide('load', () => ({
        kind: 'none',
        reason: available.reason,
        detail: available.detail,
      }));
    const engine = available.engine;
    let maxTtft: number | undefined;
    let maxItl: number | undefined;
    const zero = await this.zeroDemand();
    const decisions = await this.decide('load', (service, state) => {
      const reports = loads.reports(service.component);
      if (reports.length === 0)
        return {
          kind: 'none',
          reason: 'no_load_data',
          detail: `no fresh load report from component ${service.component}`,
        };
      if (reports.length !== state.readyReplicas)
        return {
          kind: 'none',
          reason: 'worker_count_mismatch',
          detail: `${reports.length} workers report, ${state.readyReplicas} ready replicas`,
        };
      const { isl, osl, kvHitRate } = this.shape;
      if (isl === undefined || (osl === undefined && service.role !== 'prefill'))
        return { kind: 'none', reason: 'no_sequence_data', detail: 'no ISL/OSL observed yet' };
      const shape: SequenceShape = { isl, osl: osl ?? 0, kvHitRate: kvHitRate ?? 0 };
      const model = this.correctedForLoad(service, engine);
      const estimates: EngineEstimate[] = reports.map((r) => estimateEngine(service.role, r, shape, model));
      for (const e of estimates) {
        if (e.ttftMs !== undefined) maxTtft = Math.max(maxTtft ?? 0, e.ttftMs);
        if (e.itlMs !== undefined) maxItl = Math.max(maxItl ?? 0, e.itlMs);
      }
      const verdict = loadVerdict(estimates, this.config.targets, this.config.scaleDownRatio);
      const detail = estimates
        .map(
          (e) =>
            `${e.workerId}: ttft ${e.ttftMs?.toFixed(1) ?? '-'} ms, itl ${e.itlMs?.toFixed(1) ?? '-'} ms`,
        )
        .join('; ');
      if (verdict === 'up') return { kind: 'want', replicas: state.replicas + 1, constraints: [], detail };
      if (verdict === 'down') {
        const floor = this.throughputTargets.get(service.name) ?? 0;
        if (state.replicas - 1 < floor)
          return {
            kind: 'want',
            replicas: Math.max(state.replicas, floor),
            constraints: [],
            reason: 'scale_down_capped_by_throughput',
            detail,
          };
        return holdZero(
          service,
          { kind: 'want', replicas: state.replicas - 1, constraints: [], detail },
          zero,
        );
      }
      return { kind: 'want', replicas: state.replicas, constraints: [], detail };
    });
    metrics.estimates(maxTtft, maxItl);
    return decisions;
  }

  /** CONSTRAIN and EXECUTE, shared by both loops. */
  private async decide(
    loop: Loop,
    wantOf: (service: PlannedService, state: ServiceState) => Want,
  ): Promise<ServiceDecision[]> {
    const { connector, metrics, log } = this.deps;
    const services = this.config.services;
    let states: ServiceState[];
    try {
      states = await connector.services(services.map((s) => s.name));
    } catch (err) {
      const detail = err instanceof ConnectorError ? err.message : `connector: ${(err as Error).message}`;
      log.error({ loop, err: detail }, 'planner: cannot read the services; retrying next interval');
      return this.record(
        loop,
        services.map((s) => ({
          loop,
          service: s.name,
          role: s.role,
          reason: 'service_unavailable',
          constraints: [],
          detail,
          scaled: false,
        })),
      );
    }
    const byName = new Map(states.map((s) => [s.name, s]));
    const now = this.timers.now();
    if (loop === 'throughput') {
      if (this.lastGpuTick !== undefined)
        metrics.addGpuSeconds(
          ((now - this.lastGpuTick) / 1000) * states.reduce((g, s) => g + s.replicas * s.gpusPerReplica, 0),
        );
      this.lastGpuTick = now;
    }

    const decisions: ServiceDecision[] = [];
    const wants: ServiceWant[] = [];
    const pending = new Map<string, { want: Want & { kind: 'want' }; decision: ServiceDecision }>();
    for (const service of services) {
      const state = byName.get(service.name);
      const base = {
        loop,
        service: service.name,
        role: service.role,
        constraints: [] as Constraint[],
        scaled: false,
      };
      if (state === undefined) {
        decisions.push({
          ...base,
          reason: 'service_unavailable',
          detail: `connector returned no service ${service.name}`,
        });
        continue;
      }
      metrics.services([
        {
          name: state.name,
          role: service.role,
          replicas: state.replicas,
          readyReplicas: state.readyReplicas,
        },
      ]);
      const current = { current: state.replicas, ready: state.readyReplicas };
      // No action for this service: it keeps its count, and the budget counts it as fixed.
      const keep = (reason: DecisionReason, detail: string | undefined) => {
        decisions.push({ ...base, ...current, reason, ...(detail ? { detail } : {}) });
        wants.push({
          name: state.name,
          wanted: state.replicas,
          gpusPerReplica: state.gpusPerReplica,
          fixed: true,
        });
      };
      if (state.replicas !== state.readyReplicas) {
        keep('scaling_in_progress', `${state.readyReplicas}/${state.replicas} ready`);
        continue;
      }
      const want = wantOf(service, state);
      if (want.kind === 'none') {
        keep(want.reason, want.detail);
        continue;
      }
      const decision: ServiceDecision = {
        ...base,
        ...current,
        reason: 'no_change',
        constraints: want.constraints,
      };
      if (want.detail) decision.detail = want.detail;
      decisions.push(decision);
      pending.set(state.name, { want, decision });
      wants.push({ name: state.name, wanted: want.replicas, gpusPerReplica: state.gpusPerReplica });
    }

    if (pending.size > 0) {
      const outcome = constrainReplicas(wants, this.config.limits);
      if (outcome.kind === 'infeasible') {
        log.error({ loop, cause: outcome.message }, 'planner: budget cannot be met; scaling nothing');
        for (const { decision } of pending.values()) {
          decision.reason = 'budget_infeasible';
          decision.detail = outcome.message;
        }
      } else {
        for (const [name, { want, decision }] of pending) {
          const t = outcome.targets.get(name);
          const current = decision.current ?? 0;
          if (t === undefined) continue;
          decision.target = t.replicas;
          decision.constraints.push(...t.constraints);
          decision.reason =
            t.replicas > current
              ? 'scale_up'
              : t.replicas < current
                ? 'scale_down'
                : (want.reason ?? 'no_change');
          metrics.target(name, decision.role, t.replicas);
          if (t.replicas === current) continue;
          const change = {
            loop,
            service: name,
            from: current,
            to: t.replicas,
            reason: decision.reason,
            constraints: decision.constraints,
            detail: decision.detail,
          };
          if (this.config.scaling === 'advisory') {
            log.info(change, 'planner (advisory): would scale');
            continue;
          }
          try {
            await connector.scale(name, t.replicas);
            decision.scaled = true;
            log.info(change, 'planner: scaled');
          } catch (err) {
            decision.reason = 'scale_failed';
            decision.detail = (err as Error).message;
            log.error(
              { loop, service: name, to: t.replicas, err: decision.detail },
              'planner: scale failed; retrying next interval',
            );
          }
        }
      }
    }
    for (const d of decisions)
      if (d.reason !== 'scale_up' && d.reason !== 'scale_down' && d.reason !== 'no_change')
        log.info({ loop, service: d.service, reason: d.reason, detail: d.detail }, 'planner: no action');
    return this.record(loop, decisions);
  }

  /** The prefill correction of a service now (prefill-correction.ts); undefined before a measurement. */
  prefillCorrection(service: string): number | undefined {
    return this.corrections.get(service)?.factor;
  }

  /**
   * The engine model a prefill (agg) service is sized with: the profile's prefill scaled by what its
   * workers achieved since the last interval (prefill-correction.ts). Called once per throughput
   * interval per service (it takes the counters' differences); the profile as is until a measurement.
   */
  private correctPrefill(
    service: PlannedService,
    reports: readonly LoadMetrics[],
    engine: EngineModel,
    load: PredictedLoad,
  ): EngineModel {
    if (service.role === 'decode') return engine;
    let correction = this.corrections.get(service.name);
    if (correction === undefined) {
      correction = new PrefillCorrection();
      this.corrections.set(service.name, correction);
    }
    const isl = knownValue(load.isl) ?? this.shape.isl;
    const hitRate = Math.min(1, Math.max(0, knownValue(load.kvHitRate) ?? 0));
    const factor =
      isl === undefined
        ? correction.factor
        : correction.update(reports, engine.prefillCapacity(isl * (1 - hitRate)));
    this.deps.metrics.prefillCorrection(service.role, factor);
    return factor === undefined ? engine : withPrefillCorrection(engine, factor);
  }

  /** The load loop's engine model for a service: the throughput loop's last prefill correction applied. */
  private correctedForLoad(service: PlannedService, engine: EngineModel): EngineModel {
    const factor = service.role === 'decode' ? undefined : this.corrections.get(service.name)?.factor;
    return factor === undefined ? engine : withPrefillCorrection(engine, factor);
  }

  private engineNow(): EngineAvailability {
    const { engine } = this.deps;
    return typeof engine === 'function' ? engine() : { kind: 'ready', engine };
  }

  // Scale to zero (issue 17 item 5; rules in the section at the end of this file).

  /** One wake check, serialised with the loops: a parked service that requests wait for gets a replica. */
  wakeTick(): Promise<ServiceDecision[]> {
    return this.serialised(async () => {
      const zero = await this.zeroDemand();
      const waiting = zero === undefined ? undefined : knownValue(zero.waiting);
      if (zero === undefined || waiting === undefined || waiting <= 0) return [];
      return this.decide('throughput', (service, state) => wakeWant(service, state, zero));
    });
  }

  /** The demand signal now; undefined without a source; unknown (never zero) when it cannot be read. */
  private async zeroDemand(): Promise<ZeroDemand | undefined> {
    const source = this.deps.demand;
    if (source === undefined) return undefined;
    try {
      return await source.demand();
    } catch (err) {
      const m = unknown('unreachable', (err as Error).message);
      return { waiting: m, inflight: m };
    }
  }

  private record(loop: Loop, decisions: ServiceDecision[]): ServiceDecision[] {
    const { metrics } = this.deps;
    for (const d of decisions) metrics.decision(loop, d.service, d.reason);
    const top = PRIORITY.find((r) => decisions.some((d) => d.reason === r));
    if (top !== undefined) metrics.loopState(loop, top);
    return decisions;
  }
}

/** The predicted load's values for logs and reports (undefined where unknown). */
export function predictedValues(load: PredictedLoad): Record<keyof PredictedLoad, number | undefined> {
  return {
    requestRate: knownValue(load.requestRate),
    isl: knownValue(load.isl),
    osl: knownValue(load.osl),
    kvHitRate: knownValue(load.kvHitRate),
  };
}

// ---------------------------------------------------------------------------------------------------
// Scale to zero that stays routable (issue 17 item 5; docs/architecture.md, "Scale to zero").
//
// With --min-replicas 0 a service may go to zero, its model kept listed by a standby card (src/runtime/
// standby.ts) and its requests waiting in the frontend. Two rules, both about the services that decode
// (agg, decode; a prefill service at zero only means decode workers prefill locally):
//   wake   every wakeIntervalMs: requests wait for a worker and the service has none → 1 replica
//          (constraint scale_from_zero); the usual gating applies (nothing new until it is ready).
//   hold   a loop proposing 0 gets 1 (constraint zero_held) while requests wait or run, and whenever
//          the signal is unknown or absent: going to zero with nothing able to wake it is unjustified.

/** Requests of the planned model waiting for a worker, and in flight, now (frontend gauges). */
export interface ZeroDemand {
  /** `dynamo_frontend_waiting_for_worker{model}`. */
  waiting: Metric;
  /** `dynamo_frontend_inflight_requests{model}`. */
  inflight: Metric;
}

export interface DemandSource {
  /** Never throws by contract (a throw counts as unknown). */
  demand(): Promise<ZeroDemand>;
  /** How often the wake rule runs (default WAKE_INTERVAL_MS). */
  readonly wakeIntervalMs?: number;
}

export const WAKE_INTERVAL_MS = 1000;

const decodes = (service: PlannedService) => service.role !== 'prefill';

/** The hold rule: a want of 0 replicas for a service that decodes, unless nothing waits or runs. */
export function holdZero(service: PlannedService, want: Want, zero: ZeroDemand | undefined): Want {
  if (want.kind !== 'want' || want.replicas > 0 || !decodes(service)) return want;
  const waiting = zero === undefined ? undefined : knownValue(zero.waiting);
  const inflight = zero === undefined ? undefined : knownValue(zero.inflight);
  if (waiting === 0 && inflight === 0) return want;
  const detail =
    waiting === undefined || inflight === undefined
      ? `kept at 1: no waiting-request signal (${zero === undefined ? 'no demand source' : `waiting ${describeMetric(zero.waiting)}, in flight ${describeMetric(zero.inflight)}`}): nothing could wake it from zero`
      : `kept at 1: ${waiting} waiting and ${inflight} in flight`;
  return {
    ...want,
    replicas: 1,
    constraints: [...want.constraints, 'zero_held'],
    detail: want.detail ? `${want.detail}; ${detail}` : detail,
  };
}

/** The wake rule for one service, when requests wait for a worker. */
export function wakeWant(service: PlannedService, state: ServiceState, zero: ZeroDemand): Want {
  if (!decodes(service) || state.replicas > 0) return { kind: 'none', reason: 'no_change' };
  return {
    kind: 'want',
    replicas: 1,
    constraints: ['scale_from_zero'],
    detail: `${describeMetric(zero.waiting)} requests wait for a worker of a service at zero`,
  };
}
