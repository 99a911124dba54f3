// "Unknown" is a value, not zero (STYLE: control loops). Every input the planner reads — a Prometheus
// query, a worker's load report, a prediction — is a Metric: either a number it can justify acting on,
// or unknown with the reason it is not, which the loops carry into their decisions and logs.

/** Why an input is unknown; also a label value of `dynamo_planner_input_unknown_total`. */
export const UNKNOWN_REASONS = [
  /** Prometheus did not answer (connection refused, timeout, DNS). */
  'unreachable',
  /** Prometheus answered with an HTTP error or `status: "error"`. */
  'http_error',
  /** The answer was not the shape the query API documents. */
  'malformed_response',
  /** No series matched (the metric was never scraped, or not for this model). */
  'no_data',
  /** Series exist but the window saw no event to average over (0 / 0). */
  'no_samples',
  /** A value that cannot be a measurement (NaN, ±Inf, negative count). */
  'not_finite',
  /** A predictor has seen nothing yet. */
  'no_history',
  /** Derived from another input that is unknown. */
  'depends_on_unknown',
] as const;
export type UnknownReason = (typeof UNKNOWN_REASONS)[number];

export type Metric =
  | { readonly kind: 'known'; readonly value: number }
  | { readonly kind: 'unknown'; readonly reason: UnknownReason; readonly detail?: string };

export const known = (value: number): Metric => ({ kind: 'known', value });

export const unknown = (reason: UnknownReason, detail?: string): Metric =>
  detail === undefined ? { kind: 'unknown', reason } : { kind: 'unknown', reason, detail };

/** The value when known, else undefined (for gauges and logs, never for arithmetic that decides). */
export function knownValue(metric: Metric): number | undefined {
  return metric.kind === 'known' ? metric.value : undefined;
}

/** Applies `f` to known values; the first unknown input makes the result unknown, its reason kept. */
export function combine(inputs: readonly Metric[], f: (...values: number[]) => number): Metric {
  const values: number[] = [];
  for (const m of inputs) {
    if (m.kind === 'unknown') return m;
    values.push(m.value);
  }
  const value = f(...values);
  return Number.isFinite(value) ? known(value) : unknown('not_finite', String(value));
}

/** Short text for logs: `12.5` or `unknown (no_data: ...)`. */
export function describeMetric(metric: Metric): string {
  if (metric.kind === 'known') return String(Math.round(metric.value * 1000) / 1000);
  return `unknown (${metric.reason}${metric.detail === undefined ? '' : `: ${metric.detail}`})`;
}
