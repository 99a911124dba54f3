// Picks the next token from one row of logits: penalties, then greedy or temperature / top-k / top-p
// sampling with the request's own seeded generator (the same seed and prompt give the same tokens,
// alone or batched).
import type { SamplingOptions } from '../../api/index.js';
import { seededRandom } from '../../llm/seeded-random.js';
import type { LogitsArena } from '../../wasm/index.js';

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
  /** The vocabulary-wide passes (argmax, max) run in WebAssembly, on logits in its memory. */
  readonly #kernels: LogitsArena;

  constructor(opts: SamplingOptions, prompt: readonly number[], kernels: LogitsArena) {
    this.#opts = opts;
    this.#kernels = kernels;
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
    if (this.#greedy) return this.#kernels.argmax(logits, offset, vocab);
    const temperature = this.#opts.temperature ?? 1;
    const max = this.#kernels.max(logits, offset, vocab);
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
