// The planner's own Prometheus metrics, under Dynamo's `dynamo_planner_*` names where Dynamo has one
// (replica counts, observed / predicted load, estimated TTFT/ITL, engine capacity, GPU hours, the two
// decision "enums"), plus per-service series Dynamo lacks: replicas by service and decisions by reason.
// An unknown input is exported as NaN, never as 0.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Metric } from './metric.js';
import { DECISION_REASONS, type DecisionReason, type Loop, type Role } from './reasons.js';

/**
 * Where the planner's engine profile stands (serve.ts re-reads the file every adjustment interval):
 * `loaded` in use; `kept_previous` the file became missing or invalid after a valid one was read, which
 * stays in use; `no_profile` none given or no file yet; `profile_invalid` the file cannot be used.
 * Without a profile in use both loops decide nothing (reason `no_profile` / `profile_invalid`).
 */
export const PROFILE_STATUSES = ['loaded', 'kept_previous', 'no_profile', 'profile_invalid'] as const;
export type ProfileStatus = (typeof PROFILE_STATUSES)[number];

const P = 'dynamo_planner_';

export class PlannerMetrics {
  private readonly replicas: Gauge<'service'>;
  private readonly readyReplicas: Gauge<'service'>;
  private readonly targetReplicas: Gauge<'service'>;
  private readonly numPrefill: Gauge;
  private readonly numDecode: Gauge;
  private readonly predictedPrefill: Gauge;
  private readonly predictedDecode: Gauge;
  private readonly observed: Record<'rate' | 'isl' | 'osl' | 'ttft' | 'itl' | 'kvHitRate', Gauge>;
  private readonly predicted: Record<'rate' | 'isl' | 'osl' | 'kvHitRate', Gauge>;
  private readonly estimatedTtft: Gauge;
  private readonly estimatedItl: Gauge;
  private readonly capacityPrefill: Gauge;
  private readonly capacityDecode: Gauge;
  private readonly prefillCorrectionFactor: Gauge<'role'>;
  private readonly gpuHours: Gauge;
  private readonly decisionState: Record<Loop, Gauge<string>>;
  private readonly decisions: Counter<'loop' | 'service' | 'reason'>;
  private readonly unknownInputs: Counter<'input' | 'reason'>;
  private readonly advisory: Gauge;
  private readonly profile: Gauge<string>;
  private gpuHoursTotal = 0;

  constructor(readonly registry: Registry) {
    const registers = [registry];
    const gauge = (name: string, help: string) => new Gauge({ name: `${P}${name}`, help, registers });
    const byService = (name: string, help: string) =>
      new Gauge({ name: `${P}${name}`, help, labelNames: ['service'], registers });
    this.replicas = byService('replicas', 'Desired replicas of a service now (the connector)');
    this.readyReplicas = byService('ready_replicas', 'Ready replicas of a service now');
    this.targetReplicas = byService('target_replicas', 'Replicas the planner last decided for a service');
    this.numPrefill = gauge('num_prefill_replicas', 'Current number of prefill replicas');
    this.numDecode = gauge('num_decode_replicas', 'Current number of decode (or aggregated) replicas');
    this.predictedPrefill = gauge('predicted_num_prefill_replicas', 'Decided number of prefill replicas');
    this.predictedDecode = gauge(
      'predicted_num_decode_replicas',
      'Decided number of decode (or aggregated) replicas',
    );
    this.observed = {
      rate: gauge('observed_requests_per_second', 'Observed request rate (req/s)'),
      isl: gauge('observed_input_sequence_tokens', 'Observed average input sequence length (tokens)'),
      osl: gauge('observed_output_sequence_tokens', 'Observed average output sequence length (tokens)'),
      ttft: gauge('observed_ttft_ms', 'Observed time to first token (ms)'),
      itl: gauge('observed_itl_ms', 'Observed inter-token latency (ms)'),
      kvHitRate: gauge('observed_kv_hit_rate', 'Observed share of prompt tokens served from prefix caches'),
    };
    this.predicted = {
      rate: gauge('predicted_requests_per_second', 'Predicted request rate for next interval (req/s)'),
      isl: gauge('predicted_input_sequence_tokens', 'Predicted input sequence length for next interval'),
      osl: gauge('predicted_output_sequence_tokens', 'Predicted output sequence length for next interval'),
      kvHitRate: gauge('predicted_kv_hit_rate', 'Predicted KV hit rate for next interval'),
    };
    this.estimatedTtft = gauge('estimated_ttft_ms', 'Max estimated TTFT across engines (ms), load loop');
    this.estimatedItl = gauge('estimated_itl_ms', 'Max estimated ITL across engines (ms), load loop');
    this.capacityPrefill = gauge(
      'engine_prefill_capacity_requests_per_second',
      'Single prefill (or aggregated) engine capacity under SLA (req/s)',
    );
    this.capacityDecode = gauge(
      'engine_decode_capacity_requests_per_second',
      'Single decode (or aggregated) engine capacity under SLA (req/s)',
    );
    this.prefillCorrectionFactor = new Gauge({
      name: `${P}prefill_correction_factor`,
      help: "Prompt tokens per second the workers achieve over the profile's (1: as profiled; NaN: not measured yet)",
      labelNames: ['role'],
      registers,
    });
    this.gpuHours = gauge('gpu_hours', 'Cumulative GPU hours of the sized services');
    // Dynamo exports these as prometheus_client Enums: name{name="<state>"} 1 for the current state.
    const enumGauge = (name: string, help: string) =>
      new Gauge({ name: `${P}${name}`, help, labelNames: [`${P}${name}`], registers });
    this.decisionState = {
      throughput: enumGauge('throughput_scaling_decision', 'Throughput-based scaling decision reason'),
      load: enumGauge('load_scaling_decision', 'Load-based scaling decision reason'),
    };
    this.decisions = new Counter({
      name: `${P}decisions_total`,
      help: 'Decisions per loop and service, by reason',
      labelNames: ['loop', 'service', 'reason'],
      registers,
    });
    this.unknownInputs = new Counter({
      name: `${P}input_unknown_total`,
      help: 'Inputs the planner could not read (Prometheus down, no series, ...), by input and reason',
      labelNames: ['input', 'reason'],
      registers,
    });
    this.advisory = gauge('advisory_mode', '1 when the planner only advises (scales nothing), 0 when active');
    this.profile = enumGauge(
      'profile_status',
      'Engine profile: loaded, kept_previous (file now unusable), no_profile or profile_invalid',
    );
  }

  /** The profile's status, as an Enum: 1 for it, 0 for every other. */
  profileStatus(status: ProfileStatus): void {
    for (const s of PROFILE_STATUSES) this.profile.labels(s).set(s === status ? 1 : 0);
  }

  setAdvisory(advisory: boolean): void {
    this.advisory.set(advisory ? 1 : 0);
  }

  services(states: readonly { name: string; role: Role; replicas: number; readyReplicas: number }[]): void {
    for (const s of states) {
      this.replicas.labels(s.name).set(s.replicas);
      this.readyReplicas.labels(s.name).set(s.readyReplicas);
      (s.role === 'prefill' ? this.numPrefill : this.numDecode).set(s.replicas);
    }
  }

  target(service: string, role: Role, replicas: number): void {
    this.targetReplicas.labels(service).set(replicas);
    (role === 'prefill' ? this.predictedPrefill : this.predictedDecode).set(replicas);
  }

  observedTraffic(o: Record<keyof PlannerMetrics['observed'], Metric>): void {
    for (const key of Object.keys(this.observed) as (keyof PlannerMetrics['observed'])[]) {
      const m = o[key];
      this.observed[key].set(m.kind === 'known' ? m.value : Number.NaN);
      if (m.kind === 'unknown') this.unknownInputs.labels(key, m.reason).inc();
    }
  }

  predictedTraffic(p: Record<keyof PlannerMetrics['predicted'], Metric>): void {
    for (const key of Object.keys(this.predicted) as (keyof PlannerMetrics['predicted'])[]) {
      const m = p[key];
      this.predicted[key].set(m.kind === 'known' ? m.value : Number.NaN);
    }
  }

  prefillCorrection(role: Role, factor: number | undefined): void {
    this.prefillCorrectionFactor.labels(role).set(factor ?? Number.NaN);
  }

  capacity(role: Role, requestsPerSecond: number): void {
    if (role !== 'decode') this.capacityPrefill.set(requestsPerSecond);
    if (role !== 'prefill') this.capacityDecode.set(requestsPerSecond);
  }

  estimates(ttftMs: number | undefined, itlMs: number | undefined): void {
    if (ttftMs !== undefined) this.estimatedTtft.set(ttftMs);
    if (itlMs !== undefined) this.estimatedItl.set(itlMs);
  }

  addGpuSeconds(seconds: number): void {
    this.gpuHoursTotal += seconds / 3600;
    this.gpuHours.set(this.gpuHoursTotal);
  }

  decision(loop: Loop, service: string, reason: DecisionReason): void {
    this.decisions.labels(loop, service, reason).inc();
  }

  /** The loop's latest overall reason, as Dynamo's Enum: 1 for it, 0 for every other. */
  loopState(loop: Loop, reason: DecisionReason): void {
    for (const r of DECISION_REASONS) this.decisionState[loop].labels(r).set(r === reason ? 1 : 0);
  }
}
