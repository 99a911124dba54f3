// Picks the next token from one row of logits: logit_bias, penalties, min_tokens' ban on stop ids and
// structured output's grammar mask, then greedy or temperature / min-p / top-k / top-p sampling with the
// request's own seeded generator (the same seed and prompt give the same tokens, alone or batched).
// logprobs, when asked, are those of the row as the model gave it.
import type { SamplingOptions, TokenLogprob } from '../../api/index.js';
import { seededRandom } from '../../llm/seeded-random.js';
import type { LogitsArena } from '../../wasm/index.js';
import type { GrammarMask } from '../grammar/grammar-mask.js';

/** Tokens whose probability is below this fraction of the top one are dropped before top-p: their
 * total mass is at most vocab·1e-12, far below any top_p step, and sorting them is the slow part. */
const NEGLIGIBLE = 1e-12;

/** min_tokens: these ids (EOS and stop ids) cannot be sampled before `untilOutputs` tokens. */
export interface StopBan {
  readonly ids: ReadonlySet<number>;
  readonly untilOutputs: number;
}

export class Sampler {
  readonly #opts: SamplingOptions;
  readonly #random: () => number;
  /** Generated-token counts (frequency / presence penalties). */
  readonly #counts = new Map<number, number>();
  /** Prompt and generated tokens (repetition penalty). */
  readonly #seen: Set<number>;
  readonly #greedy: boolean;
  /** The vocabulary-wide passes (argmax, max, the grammar mask) run in WebAssembly, on logits in its memory. */
  readonly #kernels: LogitsArena;
  readonly #ban: StopBan | undefined;
  /** Tokens observed so far (min_tokens). */
  #outputs = 0;
  /** The last sampled token's logprobs, when the request asked for them. */
  #logprob: TokenLogprob | undefined;
  /** Structured output: only tokens the grammar allows are sampled. */
  readonly #grammar: GrammarMask | undefined;

  constructor(
    opts: SamplingOptions,
    prompt: readonly number[],
    kernels: LogitsArena,
    ban?: StopBan,
    grammar?: GrammarMask,
  ) {
    this.#opts = opts;
    this.#grammar = grammar;
    this.#kernels = kernels;
    this.#ban = ban !== undefined && ban.untilOutputs > 0 && ban.ids.size > 0 ? ban : undefined;
    this.#random = opts.seed === undefined ? Math.random : seededRandom(opts.seed);
    this.#greedy = (opts.temperature ?? 0) === 0 || opts.topK === 1;
    this.#seen =
      opts.repetitionPenalty !== undefined && opts.repetitionPenalty !== 1 ? new Set(prompt) : new Set();
  }

  /** Records a token the sequence produced (also one replayed after a preemption). */
  observe(token: number): void {
    this.#outputs++;
    this.#counts.set(token, (this.#counts.get(token) ?? 0) + 1);
    if (this.#opts.repetitionPenalty !== undefined && this.#opts.repetitionPenalty !== 1)
      this.#seen.add(token);
  }

  /** The next token from logits[offset, offset + vocab); the row may be modified in place. */
  sample(logits: Float32Array, offset: number, vocab: number): number {
    const top = this.#opts.logprobs;
    // The model's own distribution: copied before penalties, bias, bans and the grammar change the row.
    const raw = top === undefined ? undefined : logits.slice(offset, offset + vocab);
    const token = this.#pick(logits, offset, vocab);
    if (raw !== undefined && top !== undefined) this.#logprob = logprobsOf(raw, token, top);
    this.#grammar?.accept(token);
    return token;
  }

  /** Structured output: settles when the grammar's mask for the next token is known (await before sample). */
  ready(): Promise<void> | undefined {
    return this.#grammar?.ready();
  }

  /** The logprobs of the token `sample` returned last (once), if the request asked for them. */
  takeLogprob(): TokenLogprob | undefined {
    const l = this.#logprob;
    this.#logprob = undefined;
    return l;
  }

  #pick(logits: Float32Array, offset: number, vocab: number): number {
    const row = logits.subarray(offset, offset + vocab);
    this.#penalize(row);
    if (this.#ban !== undefined && this.#outputs < this.#ban.untilOutputs) {
      for (const id of this.#ban.ids) if (id < vocab) row[id] = Number.NEGATIVE_INFINITY;
    }
    const mask = this.#grammar?.bitmask();
    if (this.#greedy) {
      return mask === undefined
        ? this.#kernels.argmax(logits, offset, vocab)
        : this.#kernels.maskedArgmax(logits, offset, vocab, mask);
    }
    if (mask !== undefined) this.#kernels.applyMask(logits, offset, vocab, mask);
    const temperature = this.#opts.temperature ?? 1;
    const max = this.#kernels.max(logits, offset, vocab);
    // Candidates: probabilities (unnormalized) above the negligible floor, or min_p's if higher
    // (p/p_max >= min_p  <=>  logit >= max + temperature·ln(min_p)).
    const floor = Math.log(Math.max(NEGLIGIBLE, this.#opts.minP ?? 0)) * temperature + max;
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
    // logit_bias first, then the penalties on the biased logits (vLLM v1's order).
    for (const [id, bias] of this.#opts.logitBias ?? []) {
      const l = row[id];
      if (l !== undefined) row[id] = l + bias;
    }
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

/** vLLM reports −∞ (a banned or impossible token) as this. */
const LOGPROB_FLOOR = -9999;
const finite = (x: number) => Math.max(x, LOGPROB_FLOOR);

/** log-softmax of `row` at `token`, and the `k` most likely tokens (plain loops: only when asked for). */
export function logprobsOf(row: Float32Array, token: number, k: number): TokenLogprob {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) if ((row[i] as number) > max) max = row[i] as number;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp((row[i] as number) - max);
  const lse = max + Math.log(sum);
  // The k best, kept sorted (k <= 20): a row value enters only when it beats the worst kept.
  const best: number[] = [];
  for (let i = 0; i < row.length && k > 0; i++) {
    const x = row[i] as number;
    if (best.length === k && x <= (row[best[k - 1] as number] as number)) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && (row[best[at - 1] as number] as number) < x) {
      best[at] = best[at - 1] as number;
      at--;
    }
    best[at] = i;
  }
  return {
    logprob: finite((row[token] as number) - lse),
    top: best.map((id) => [id, finite((row[id] as number) - lse)]),
  };
}
