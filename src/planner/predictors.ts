// Load predictors: one value per adjustment interval in (request count, mean ISL, mean OSL, KV hit
// rate), the next interval's value out. Pure and deterministic: no clock, no I/O. An unknown
// observation is not fed (a scrape gap is not a zero), so a predictor's history has gaps, not lies.
//
// Kept by measurement (test/unit/planner/predictors-compare.test.ts; figures in docs/architecture.md):
// `constant` (next = last: the most robust without knowledge of the load's shape), `moving-average`
// (the mean of the last n: a short interval's count is noisy — Poisson at 50 req/s over 1 s varies by
// ±14 % — and sizing on the noise provisions for its peaks; measured in bench --planner, r29), `holt`
// (level + trend: wins on ramps) and `seasonal` (Holt-Winters with a known season length: wins clearly
// on periodic load). A Kalman filter on a local linear trend (Dynamo's `kalman`, its default variances) was
// measured too and dropped: in steady state it is Holt with other gains; it beat Holt by ≤ 4 % on flat
// and trending series and lost by 2× on a sinusoid and on a step, and its variances are absolute, so
// one setting cannot fit request counts and token lengths alike.
import { known, type Metric, unknown } from './metric.js';

export const PREDICTOR_KINDS = ['constant', 'moving-average', 'holt', 'seasonal'] as const;
export type PredictorKind = (typeof PREDICTOR_KINDS)[number];

export interface Predictor {
  readonly kind: PredictorKind;
  /** One observation per interval, in order; non-finite values are ignored. */
  observe(value: number): void;
  /** The forecast for the next interval (never negative); unknown before any observation. */
  predict(): Metric;
}

/** next = last observation. */
export class ConstantPredictor implements Predictor {
  readonly kind = 'constant';
  private last: number | undefined;

  observe(value: number): void {
    if (Number.isFinite(value)) this.last = value;
  }

  predict(): Metric {
    return this.last === undefined ? unknown('no_history') : known(Math.max(0, this.last));
  }
}

/** next = the mean of the last `window` observations (window 1: constant). */
export class MovingAveragePredictor implements Predictor {
  readonly kind = 'moving-average';
  private readonly recent: number[] = [];

  constructor(private readonly window: number) {
    if (!Number.isInteger(window) || window < 1)
      throw new RangeError(`moving-average: the window must be an integer ≥ 1, got ${window}`);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.recent.push(value);
    if (this.recent.length > this.window) this.recent.shift();
  }

  predict(): Metric {
    const n = this.recent.length;
    if (n === 0) return unknown('no_history');
    return known(Math.max(0, this.recent.reduce((s, v) => s + v, 0) / n));
  }
}

export interface HoltOptions {
  /** Level smoothing, 0 < α ≤ 1: how fast the level follows new observations. */
  alpha?: number;
  /** Trend smoothing, 0 < β ≤ 1: how fast the slope follows changes of level. */
  beta?: number;
}

/**
 * Holt's linear (double exponential) smoothing:
 *   level_t = α·y_t + (1−α)·(level_{t−1} + trend_{t−1})
 *   trend_t = β·(level_t − level_{t−1}) + (1−β)·trend_{t−1}
 *   forecast = level_t + trend_t
 * Initialised with level = y_0, trend = y_1 − y_0 at the second observation.
 */
export class HoltPredictor implements Predictor {
  readonly kind = 'holt';
  private readonly alpha: number;
  private readonly beta: number;
  private level: number | undefined;
  private trend = 0;
  private count = 0;

  constructor(options: HoltOptions = {}) {
    this.alpha = options.alpha ?? 0.5;
    this.beta = options.beta ?? 0.1;
    if (!(this.alpha > 0 && this.alpha <= 1 && this.beta > 0 && this.beta <= 1))
      throw new RangeError(`holt: alpha and beta must lie in (0, 1], got ${this.alpha}, ${this.beta}`);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.count++;
    if (this.level === undefined) {
      this.level = value;
      return;
    }
    if (this.count === 2) {
      this.trend = value - this.level;
      this.level = value;
      return;
    }
    const previous = this.level;
    this.level = this.alpha * value + (1 - this.alpha) * (previous + this.trend);
    this.trend = this.beta * (this.level - previous) + (1 - this.beta) * this.trend;
  }

  predict(): Metric {
    if (this.level === undefined) return unknown('no_history');
    return known(Math.max(0, this.level + this.trend));
  }
}

export interface SeasonalOptions extends HoltOptions {
  /** Intervals per season (e.g. 24 for a daily cycle at 1 h intervals); at least 2. */
  seasonLength: number;
  /** Seasonal smoothing, 0 < γ ≤ 1. */
  gamma?: number;
}

/**
 * Holt-Winters additive smoothing: Holt's level and trend plus one offset per phase of a season of
 * known length m.
 *   level_t  = α·(y_t − s_{t mod m}) + (1−α)·(level_{t−1} + trend_{t−1})
 *   trend_t  = β·(level_t − level_{t−1}) + (1−β)·trend_{t−1}
 *   s_{t mod m} ← γ·(y_t − level_t) + (1−γ)·s_{t mod m}
 *   forecast = level_t + trend_t + s_{(t+1) mod m}
 * Initialised from the first two seasons (their means give level and trend, the detrended
 * deviations the offsets); until then it forecasts as `constant` (Holt lags a wave badly, see the
 * comparison).
 */
export class SeasonalPredictor implements Predictor {
  readonly kind = 'seasonal';
  private readonly m: number;
  private readonly alpha: number;
  private readonly beta: number;
  private readonly gamma: number;
  private readonly warmup = new ConstantPredictor();
  private readonly history: number[] = [];
  private readonly offsets: number[];
  private level: number | undefined;
  private trend = 0;
  private count = 0;

  constructor(options: SeasonalOptions) {
    if (!Number.isInteger(options.seasonLength) || options.seasonLength < 2)
      throw new RangeError(`seasonal: season length must be an integer ≥ 2, got ${options.seasonLength}`);
    this.m = options.seasonLength;
    this.alpha = options.alpha ?? 0.5;
    this.beta = options.beta ?? 0.1;
    this.gamma = options.gamma ?? 0.3;
    this.offsets = new Array<number>(this.m).fill(0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const t = this.count++;
    const m = this.m;
    if (this.level === undefined) {
      this.warmup.observe(value);
      this.history.push(value);
      if (this.count === 2 * m) this.initialise();
      return;
    }
    const phase = t % m;
    const offset = this.offsets[phase] ?? 0;
    const previous = this.level;
    this.level = this.alpha * (value - offset) + (1 - this.alpha) * (previous + this.trend);
    this.trend = this.beta * (this.level - previous) + (1 - this.beta) * this.trend;
    this.offsets[phase] = this.gamma * (value - this.level) + (1 - this.gamma) * offset;
  }

  private initialise(): void {
    const m = this.m;
    const h = this.history;
    const mean = (from: number) => h.slice(from, from + m).reduce((a, b) => a + b, 0) / m;
    const m1 = mean(0);
    const m2 = mean(m);
    this.trend = (m2 - m1) / m;
    // m2 is the level at the middle of the second season; the last observation is (m−1)/2 later.
    this.level = m2 + (this.trend * (m - 1)) / 2;
    for (let i = 0; i < m; i++) {
      const drift = this.trend * (i - (m - 1) / 2);
      this.offsets[i] = ((h[i] ?? 0) - (m1 + drift) + ((h[m + i] ?? 0) - (m2 + drift))) / 2;
    }
    this.history.length = 0;
  }

  predict(): Metric {
    if (this.level === undefined) return this.warmup.predict();
    const offset = this.offsets[this.count % this.m] ?? 0;
    return known(Math.max(0, this.level + this.trend + offset));
  }
}

export interface PredictorConfig {
  kind: PredictorKind;
  /** `seasonal` only: intervals per season. */
  seasonLength?: number;
  /** `moving-average` only: observations averaged (DEFAULT_AVERAGE_WINDOW when not given). */
  window?: number;
}

export const DEFAULT_AVERAGE_WINDOW = 2;

export function createPredictor(config: PredictorConfig): Predictor {
  switch (config.kind) {
    case 'constant':
      return new ConstantPredictor();
    case 'moving-average':
      return new MovingAveragePredictor(config.window ?? DEFAULT_AVERAGE_WINDOW);
    case 'holt':
      return new HoltPredictor();
    case 'seasonal':
      if (config.seasonLength === undefined)
        throw new RangeError('the seasonal predictor needs a season length (--load-predictor-season)');
      return new SeasonalPredictor({ seasonLength: config.seasonLength });
  }
}
