// Which predictors earn their place: one-step-ahead mean absolute error on synthetic load series
// (constant, linear trend, step, sinusoid; multiplicative Gaussian noise; 20 seeds each), measured
// against a Kalman local-linear-trend filter (Dynamo's `kalman`) kept here as the reference that lost.
// Figures are printed (docs/architecture.md quotes them); assertions are on orderings only.
import { describe, expect, it } from 'vitest';
import {
  ConstantPredictor,
  HoltPredictor,
  MovingAveragePredictor,
  type Predictor,
  SeasonalPredictor,
} from '../../../src/planner/predictors.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());

type Shape = 'constant' | 'trend' | 'step' | 'sine';
const N = 120;
function series(shape: Shape, noise: number, period: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: N }, (_, t) => {
    const v =
      shape === 'constant'
        ? 50
        : shape === 'trend'
          ? 20 + 0.5 * t
          : shape === 'step'
            ? t < 60
              ? 20
              : 80
            : 50 - 30 * Math.cos((2 * Math.PI * t) / period);
    return Math.max(0, v * (1 + noise * gauss(r)));
  });
}

/** Kalman filter on [level, slope] with Dynamo's default variances (q 1, 0.1; r 10). */
class KalmanReference implements Predictor {
  readonly kind = 'holt';
  private x: [number, number] | undefined;
  private p = [1000, 0, 1000] as [number, number, number];
  observe(z: number): void {
    if (this.x === undefined) {
      this.x = [z, 0];
      return;
    }
    const [l, s] = this.x;
    const [a, b, d] = this.p;
    const pa = a + 2 * b + d + 1;
    const pb = b + d;
    const pd = d + 0.1;
    const k0 = pa / (pa + 10);
    const k1 = pb / (pa + 10);
    const inn = z - (l + s);
    this.x = [l + s + k0 * inn, s + k1 * inn];
    this.p = [(1 - k0) * pa, (1 - k0) * pb, pd - k1 * pb];
  }
  predict() {
    return this.x === undefined
      ? ({ kind: 'unknown', reason: 'no_history' } as const)
      : ({ kind: 'known', value: Math.max(0, this.x[0] + this.x[1]) } as const);
  }
}

function mae(make: () => Predictor, shape: Shape, noise: number, period: number): number {
  let total = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const ys = series(shape, noise, period, seed);
    const p = make();
    let err = 0;
    let n = 0;
    ys.forEach((y, t) => {
      const f = p.predict();
      if (t >= 10 && f.kind === 'known') {
        err += Math.abs(f.value - y);
        n++;
      }
      p.observe(y);
    });
    total += err / n / 20;
  }
  return total;
}

const PERIOD = 24;
const CANDIDATES: Record<string, () => Predictor> = {
  constant: () => new ConstantPredictor(),
  'moving-average': () => new MovingAveragePredictor(2),
  holt: () => new HoltPredictor(),
  seasonal: () => new SeasonalPredictor({ seasonLength: PERIOD }),
  kalman: () => new KalmanReference(),
};

describe('predictors on noise-free series', () => {
  it('constant and holt are exact on a constant; holt is exact on a line; seasonal on a sinusoid', () => {
    const last = (p: Predictor, ys: number[]) => {
      for (const y of ys) p.observe(y);
      const f = p.predict();
      return f.kind === 'known' ? f.value : Number.NaN;
    };
    const flat = Array.from({ length: 30 }, () => 7);
    expect(last(new ConstantPredictor(), flat)).toBe(7);
    expect(last(new HoltPredictor(), flat)).toBeCloseTo(7, 9);
    const line = Array.from({ length: 30 }, (_, t) => 10 + 2 * t);
    expect(last(new HoltPredictor(), line)).toBeCloseTo(70, 6);
    expect(last(new ConstantPredictor(), line)).toBe(68);
    expect(last(new MovingAveragePredictor(2), flat)).toBe(7);
    expect(last(new MovingAveragePredictor(2), line)).toBe(67);
    expect(() => new MovingAveragePredictor(0)).toThrow(/window must be an integer ≥ 1/);
    const sine = Array.from({ length: 5 * PERIOD }, (_, t) => 50 - 30 * Math.cos((2 * Math.PI * t) / PERIOD));
    const next = 50 - 30 * Math.cos((2 * Math.PI * sine.length) / PERIOD);
    expect(last(new SeasonalPredictor({ seasonLength: PERIOD }), sine)).toBeCloseTo(next, 1);
    expect(new HoltPredictor().predict()).toEqual({ kind: 'unknown', reason: 'no_history' });
  });

  it('never predicts below zero; ignores non-finite observations', () => {
    const h = new HoltPredictor();
    for (const y of [100, 50, 10, Number.NaN, 0]) h.observe(y);
    const f = h.predict();
    expect(f.kind === 'known' && f.value).toBe(0);
  });
});

describe('predictors on noisy series (one-step MAE, 20 seeds)', () => {
  const table: Record<string, Record<string, number>> = {};
  for (const noise of [0.03, 0.1])
    for (const shape of ['constant', 'trend', 'step', 'sine'] as const)
      table[`${shape} σ=${noise}`] = Object.fromEntries(
        Object.entries(CANDIDATES).map(([name, make]) => [
          name,
          Math.round(mae(make, shape, noise, PERIOD) * 100) / 100,
        ]),
      );

  it('prints the comparison', () => {
    console.log(
      `one-step MAE (level 20..80, sine period ${PERIOD} intervals)\n${JSON.stringify(table, null, 1)}`,
    );
  });

  it('holt beats constant on a trend; seasonal beats both clearly on a sinusoid', () => {
    const t = (k: string) => table[k] as Record<string, number>;
    expect(t('trend σ=0.03').holt).toBeLessThan(t('trend σ=0.03').constant as number);
    for (const noise of [0.03, 0.1]) {
      const sine = t(`sine σ=${noise}`);
      expect(sine.seasonal).toBeLessThan(0.85 * (sine.constant as number));
      expect(sine.seasonal).toBeLessThan(0.85 * (sine.holt as number));
    }
  });

  it('moving-average (2) beats constant on a noisy level, as its halved variance says', () => {
    for (const noise of [0.03, 0.1]) {
      const flat = table[`constant σ=${noise}`] as Record<string, number>;
      expect(flat['moving-average']).toBeLessThan(0.95 * (flat.constant as number));
    }
  });

  it('the Kalman reference is at most a few % better anywhere, and far worse on waves and steps', () => {
    for (const row of Object.values(table)) {
      const best = Math.min(row.constant as number, row.holt as number, row.seasonal as number);
      expect(row.kalman).toBeGreaterThanOrEqual(best * 0.95);
    }
    for (const noise of [0.03, 0.1]) {
      const sine = table[`sine σ=${noise}`] as Record<string, number>;
      expect(sine.kalman).toBeGreaterThan(1.5 * (sine.seasonal as number));
    }
  });
});
