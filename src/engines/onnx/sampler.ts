// Picks the next token from one row of logits: penalties, then greedy or temperature / top-k / top-p
// sampling with the request's own seeded generator (the same seed and prompt give the same tokens,
// alone or batched).
import type { SamplingOptions } from '../../api/index.js';
import { seededRandom } from '../../llm/seeded-random.js';

/** Tokens whose probability is below this fraction of the top one are dropped before top-p: their
 * total mass is at most vocab·1e-12, far below any top_p step, and sorting them is the slow part. */
const NEGLIGIBLE = 1e-12;

export class Sampler {
  readonly #opts: SamplingOptions;
  readonly #random: () => number;
  /** Generated-token counts (frequency / presence penalties). */
  readonly #counts = new Map<number, number>();
  /** Prompt and generated tokens (repetition penalty). */
  readonly #seen: Set<number>;
  readonly #greedy: boolean;

  constructor(opts: SamplingOptions, prompt: readonly number[]) {
    this.#opts = opts;
    this.#random = opts.seed === undefined ? Math.random : seededRandom(opts.seed);
    this.#greedy = (opts.temperature ?? 0) === 0 || opts.topK === 1;
    this.#seen =
      opts.repetitionPenalty !== undefined && opts.repetitionPenalty !== 1 ? new Set(prompt) : new Set();
  }

  /** Records a token the sequence produced (also one replayed after a preemption). */
  observe(token: number): void {
    this.#counts.set(token, (this.#counts.get(token) ?? 0) + 1);
    if (this.#opts.repetitionPenalty !== undefined && this.#opts.repetitionPenalty !== 1)
      this.#seen.add(token);
  }

  /** The next token from logits[offset, offset + vocab); the row may be modified in place. */
  sample(logits: Float32Array, offset: number, vocab: number): number {
    const row = logits.subarray(offset, offset + vocab);
    this.#penalize(row);
    if (this.#greedy) return argmax(logits, offset, vocab);
    const temperature = this.#opts.temperature ?? 1;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < vocab; i++) if ((row[i] as number) > max) max = row[i] as number;
    // Candidates: probabilities (unnormalized) above the negligible floor.
    const floor = Math.log(NEGLIGIBLE) * temperature + max;
    let ids: number[] = [];
    for (let i = 0; i < vocab; i++) if ((row[i] as number) >= floor) ids.push(i);
    ids.sort((a, b) => (row[b] as number) - (row[a] as number));
    const topK = this.#opts.topK ?? 0;
    if (topK > 0 && ids.length > topK) ids = ids.slice(0, topK);
    const probs = ids.map((id) => Math.exp(((row[id] as number) - max) / temperature));
    let total = probs.reduce((a, b) => a + b, 0);
    const topP = this.#opts.topP ?? 1;
    if (topP < 1) {
      let mass = 0;
      let keep = 0;
      while (keep < probs.length && mass < topP * total) mass += probs[keep++] as number;
      probs.length = keep;
      total = mass;
    }
    let u = this.#random() * total;
    for (let i = 0; i < probs.length; i++) {
      u -= probs[i] as number;
      if (u <= 0) return ids[i] as number;
    }
    return ids[probs.length - 1] as number;
  }

  #penalize(row: Float32Array): void {
    const rep = this.#opts.repetitionPenalty;
    if (rep !== undefined && rep !== 1) {
      for (const id of this.#seen) {
        const l = row[id];
        if (l !== undefined) row[id] = l > 0 ? l / rep : l * rep;
      }
    }
    const freq = this.#opts.frequencyPenalty ?? 0;
    const pres = this.#opts.presencePenalty ?? 0;
    if (freq !== 0 || pres !== 0) {
      for (const [id, count] of this.#counts) {
        const l = row[id];
        if (l !== undefined) row[id] = l - freq * count - pres;
      }
    }
  }
}

/**
 * Index of the largest of data[offset, offset + length). Four running maxima, then a search for the
 * value: about twice as fast as one compare-and-branch loop over a 152k vocabulary.
 */
function argmax(data: Float32Array, offset: number, length: number): number {
  const end = offset + length;
  let m0 = Number.NEGATIVE_INFINITY;
  let m1 = m0;
  let m2 = m0;
  let m3 = m0;
  let i = offset;
  for (; i + 3 < end; i += 4) {
    const x0 = data[i] as number;
    const x1 = data[i + 1] as number;
    const x2 = data[i + 2] as number;
    const x3 = data[i + 3] as number;
    if (x0 > m0) m0 = x0;
    if (x1 > m1) m1 = x1;
    if (x2 > m2) m2 = x2;
    if (x3 > m3) m3 = x3;
  }
  let max = Math.max(m0, m1, m2, m3);
  for (; i < end; i++) if ((data[i] as number) > max) max = data[i] as number;
  for (let j = offset; j < end; j++) if (data[j] === max) return j - offset;
  return 0;
}
