// Why a loop decided what it did for one service: a string-literal union exported as a metric label
// (`dynamo_planner_decisions_total{loop,service,reason}`), so "why did it (not) scale" is answerable
// from a dashboard. Names follow Dynamo's planner diagnostics where it has one (scale_up, scale_down,
// no_change, scaling_in_progress, no_traffic_data, no_fpm_data → no_load_data, worker_count_mismatch,
// scale_down_capped_by_throughput).

export const DECISION_REASONS = [
  'scale_up',
  'scale_down',
  'no_change',
  /** replicas ≠ readyReplicas: the previous action is not done; no new one. */
  'scaling_in_progress',
  /** The request rate is unknown (Prometheus down, no series for the model). */
  'no_traffic_data',
  /** ISL or OSL (or, for the load loop, their last known values) is unknown while there is traffic. */
  'no_sequence_data',
  /** No fresh load report from any worker of the service. */
  'no_load_data',
  /** Fresh load reports from a different number of workers than the service has ready replicas. */
  'worker_count_mismatch',
  /** A lower proposal kept the replicas where they are: it has not lasted SCALE_DOWN_HOLD intervals yet. */
  'scale_down_held',
  /** The load loop would go below the throughput loop's last target. */
  'scale_down_capped_by_throughput',
  /** The connector could not read the service (missing from the graph, API unreachable, ...). */
  'service_unavailable',
  /** The minimum replicas of the services do not fit the GPU budget: nothing is scaled. */
  'budget_infeasible',
  /** The connector refused or failed the scale call. */
  'scale_failed',
  /**
   * No engine profile to size with: none given (--profile / DYN_PLANNER_PROFILE), or its file is not
   * there (yet: a ConfigMap mounted later is read at the next adjustment interval).
   */
  'no_profile',
  /** The profile file exists but cannot be used (not JSON, a field wrong): the error names both. */
  'profile_invalid',
] as const;
export type DecisionReason = (typeof DECISION_REASONS)[number];

/** What bent a proposal on its way to a target; logged with the decision. */
export const CONSTRAINTS = [
  /** Raised to --min-replicas. */
  'min_replicas',
  /** Lowered to --max-replicas. */
  'max_replicas',
  /** Lowered to fit --max-gpu-budget. */
  'gpu_budget',
  /** Raised by the SLA floor: one replica alone misses the TTFT target at this ISL (Dynamo's floor). */
  'ttft_floor',
  /** Raised for queueing: at 100 % utilisation prompts would wait past the TTFT target (throughput.ts). */
  'ttft_queueing',
  /** Raised for prompt tokens already queued on the workers (their load reports), worked off in an interval. */
  'prefill_backlog',
  /** Kept at the largest of the last SCALE_DOWN_HOLD proposals: a scale-down acts once it lasts. */
  'scale_down_held',
  /** Raised to the current replicas less --scale-down-step: a scale-down releases that many at most. */
  'scale_down_step',
  /** Even one sequence alone misses the ITL target: sized at concurrency 1, SLA not reachable. */
  'itl_unreachable',
  /** The KV hit rate was unknown: the prompt is counted uncached (more prefill, never less). */
  'kv_hit_rate_assumed_zero',
  /** Raised from zero: requests wait in the frontend for a worker of this parked service. */
  'scale_from_zero',
  /**
   * A proposal of zero kept at one: requests are waiting or in flight, or no waiting-request signal is
   * read (nothing could wake the service again).
   */
  'zero_held',
] as const;
export type Constraint = (typeof CONSTRAINTS)[number];

export type Loop = 'throughput' | 'load';
export type Role = 'prefill' | 'decode' | 'agg';
