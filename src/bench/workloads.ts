// Workloads of `dynamo bench`, generated from a seed so that every policy of a comparison sees the same
// requests at the same times. Prompts are token ids (OpenAI completions accept them), so that the
// oracle hit rate is computed exactly on the blocks the workers hash.
//
// shared-prefix (as inference-perf's `shared_prefix`): `groups` system prompts of `systemPromptLen`
// tokens, `promptsPerGroup` questions of `questionLen` tokens each, shuffled, Poisson arrivals at `rate`.
// multi-turn: `sessions` chats of `turns` turns starting at Poisson arrivals; turn t's prompt is the
// conversation so far (system prompt, earlier user turns and assistant replies) plus a new user turn;
// a session sends its next turn when the previous one is answered.
// random (as inference-perf's `random`): `requests` unrelated prompts of `inputLen` tokens, nothing
// shared, Poisson arrivals at `rate` — the long-prompt load of disaggregated serving.
import { z } from 'zod';
import { computeBlockHashes } from '../wasm/index.js';

export const sharedPrefixSchema = z.object({
  kind: z.literal('shared-prefix'),
  groups: z.number().int().positive(),
  promptsPerGroup: z.number().int().positive(),
  systemPromptLen: z.number().int().nonnegative(),
  questionLen: z.number().int().positive(),
  outputLen: z.number().int().positive(),
  /** Requests per second (Poisson). */
  rate: z.number().positive(),
  seed: z.number().int(),
});
export type SharedPrefixWorkload = z.infer<typeof sharedPrefixSchema>;

export const multiTurnSchema = z.object({
  kind: z.literal('multi-turn'),
  sessions: z.number().int().positive(),
  turns: z.number().int().positive(),
  systemPromptLen: z.number().int().nonnegative(),
  /** Tokens of each user turn. */
  questionLen: z.number().int().positive(),
  /** Tokens of each reply (max_tokens), and of the reply replayed in the next turn's prompt. */
  outputLen: z.number().int().positive(),
  /** Sessions started per second (Poisson). */
  rate: z.number().positive(),
  seed: z.number().int(),
});
export type MultiTurnWorkload = z.infer<typeof multiTurnSchema>;

export const randomSchema = z.object({
  kind: z.literal('random'),
  requests: z.number().int().positive(),
  /** Tokens of each prompt. */
  inputLen: z.number().int().positive(),
  outputLen: z.number().int().positive(),
  /** Requests per second (Poisson). */
  rate: z.number().positive(),
  seed: z.number().int(),
});
export type RandomWorkload = z.infer<typeof randomSchema>;

export type Workload = SharedPrefixWorkload | MultiTurnWorkload | RandomWorkload;

/** One request of a workload. `after`: the index of the request whose answer it waits for. */
export interface PlannedRequest {
  index: number;
  /** Offset from the start (ms) of its arrival; for a follow-up turn, the earliest time. */
  atMs: number;
  after: number | null;
  promptTokens: number[];
  maxTokens: number;
  /** Group or session, for reports. */
  group: number;
}

/** xorshift32: fast, seeded, good enough for synthetic token ids and arrival times. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Token ids avoid the low range (special tokens of common vocabularies). */
const tokens = (random: () => number, n: number): number[] =>
  Array.from({ length: n }, () => 1000 + Math.floor(random() * 30000));

function poissonTimes(random: () => number, n: number, rate: number): number[] {
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    times.push(t);
    t += (-Math.log(1 - random()) / rate) * 1000;
  }
  return times;
}

export function planWorkload(w: Workload): PlannedRequest[] {
  const random = rng(w.seed);
  if (w.kind === 'shared-prefix') {
    const systems = Array.from({ length: w.groups }, () => tokens(random, w.systemPromptLen));
    const order: number[] = [];
    for (let g = 0; g < w.groups; g++) for (let p = 0; p < w.promptsPerGroup; p++) order.push(g);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    const times = poissonTimes(random, order.length, w.rate);
    return order.map((group, index) => ({
      index,
      atMs: times[index] as number,
      after: null,
      promptTokens: [...(systems[group] as number[]), ...tokens(random, w.questionLen)],
      maxTokens: w.outputLen,
      group,
    }));
  }
  if (w.kind === 'random') {
    const times = poissonTimes(random, w.requests, w.rate);
    return times.map((atMs, index) => ({
      index,
      atMs,
      after: null,
      promptTokens: tokens(random, w.inputLen),
      maxTokens: w.outputLen,
      group: index,
    }));
  }
  const starts = poissonTimes(random, w.sessions, w.rate);
  const out: PlannedRequest[] = [];
  for (let s = 0; s < w.sessions; s++) {
    let conversation = tokens(random, w.systemPromptLen);
    let previous: number | null = null;
    for (let t = 0; t < w.turns; t++) {
      conversation = [...conversation, ...tokens(random, w.questionLen)];
      const index = out.length;
      out.push({
        index,
        atMs: starts[s] as number,
        after: previous,
        promptTokens: conversation,
        maxTokens: w.outputLen,
        group: s,
      });
      previous = index;
      // The reply as the next turn replays it (synthetic: what matters is the shared prefix).
      conversation = [...conversation, ...tokens(random, w.outputLen)];
    }
  }
  return out;
}

/**
 * The oracle hit rate: the fraction of prompt tokens a router knowing every cache exactly could serve
 * from cache — each request's longest block-aligned prefix already seen (in arrival order), with
 * caches large enough to keep everything. An upper bound for any routing policy.
 */
export function oracleHitRate(requests: readonly PlannedRequest[], blockSize: number): number {
  const seen = new Set<string>();
  let hit = 0;
  let total = 0;
  const ordered = [...requests].sort((a, b) => a.atMs - b.atMs || a.index - b.index);
  for (const r of ordered) {
    const { sequence } = computeBlockHashes(r.promptTokens, blockSize);
    let i = 0;
    while (i < sequence.length && seen.has(sequence[i] as string)) i++;
    hit += i * blockSize;
    total += r.promptTokens.length;
    for (const h of sequence) seen.add(h);
  }
  return total === 0 ? 0 : hit / total;
}
