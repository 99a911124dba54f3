// `dynamo profile`: measures what one engine can do and writes the profile the planner reads
// (src/api/planner-profile.ts, DESIGN §13). The engine is built as `dynamo worker` builds it and driven
// in-process through the Engine API (no runtime). After Dynamo's pre-deployment profiling:
//
//   prefill  for each ISL: TTFT of a lone prompt on an idle engine (median of a few), then prompts of
//            that ISL submitted together so that every step's budget is full: prompt tokens/s.
//            Prompts are random tokens, fresh for each request, so nothing hits the prefix cache.
//   decode   for each context length: the prompts are prefilled once (one token each) to warm the
//            prefix cache, then for each concurrency c the first c of them run again together. Their
//            prefill is then at most a block each, so the window — from the `skip`-th token of the last
//            sequence to start until the first sequence ends — holds decode steps of all c sequences
//            only: ITL = window / tokens of a sequence in it; tokens/s = all tokens in it / window.
//            The prompt is contextLength − skip − window/2 tokens, so the mean context in the window
//            is the point's contextLength.
//
// Times are the wall clock's: a mocker at --speedup-ratio k yields figures k times smaller, valid for
// mockers run at that ratio.
import { randomInt } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import {
  type DecodePoint,
  type GenerateRequest,
  PLANNER_PROFILE_VERSION,
  type PlannerProfile,
  type PrefillPoint,
  plannerProfileSchema,
} from '../api/index.js';
import type { Engine } from '../engines/engine.js';
import { seededRandom } from '../llm/seeded-random.js';
import type { Logger } from '../runtime/index.js';
import { type WorkerConfig, workerConfigSchema } from './config.js';
import { createEngine } from './engine-factory.js';
import { loadModelFiles, tokenizerFacts } from './model-files.js';
import { WorkerConfigError } from './worker.js';

const sortedCounts = z
  .array(z.number().int().positive())
  .min(1)
  .transform((xs) => [...new Set(xs)].sort((a, b) => a - b));

/** What to measure; unset lists are derived from the engine's limits (see defaultIsls, ...). */
export const profileGridSchema = z.strictObject({
  /** Prompt lengths of the prefill grid (default: 128, 256, ... up to the context length). */
  isls: sortedCounts.optional(),
  /** Context lengths of the decode grid (default: 3, geometric, up to half the context length). */
  decodeContexts: sortedCounts.optional(),
  /** Concurrencies at every context (default: geometric, 1 up to what KV and max seqs allow). */
  concurrencies: sortedCounts.optional(),
  /** How many concurrencies per context when `concurrencies` is unset. */
  concurrencyPoints: z.number().int().min(1).max(64).default(5),
  /** Lone prompts per ISL; the median TTFT is kept. */
  prefillRepeats: z.number().int().min(1).max(100).default(3),
  /** Prefill budgets' worth of prompt tokens for the throughput measurement at each ISL. */
  prefillBudgets: z.number().int().min(1).max(64).default(4),
  /** Tokens of each sequence skipped before the decode window. */
  decodeSkipTokens: z.number().int().min(0).max(4096).default(4),
  /** Tokens of each sequence inside the decode window (about). */
  decodeWindowTokens: z.number().int().min(2).max(4096).default(32),
  /** Seed of the random prompts (default: a fresh one per run). */
  seed: z.number().int().nonnegative().optional(),
});
export type ProfileGrid = z.input<typeof profileGridSchema>;
type Grid = z.output<typeof profileGridSchema>;

/** A grid that does not fit the engine; `field` is the grid's key (the CLI maps it to its flag). */
export class ProfileGridError extends Error {
  override name = 'ProfileGridError';
  constructor(
    readonly field: keyof Grid,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export interface ProfileProgress {
  readonly phase: 'prefill' | 'decode';
  /** Points done, of `total` (prefill ISLs and decode points together). */
  readonly done: number;
  readonly total: number;
  /** The point just measured, e.g. `isl 4096` or `context 2896 × 64`. */
  readonly label: string;
  /** Its figures in words, e.g. `ttft 180.2 ms, 48110 tok/s`. */
  readonly result: string;
}

export interface MeasureOptions {
  /** Token ids of the random prompts are drawn from [0, vocabSize). */
  vocabSize: number;
  /** Mocker only: recorded in the profile's settings. */
  speedupRatio?: number;
  onProgress?: (progress: ProfileProgress) => void;
  signal?: AbortSignal;
  log?: Logger;
}

/** The figures a point's window yields, for the progress line. */
const fmt = (x: number, digits = 1) => x.toFixed(digits);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** `n` integers from 1 (or `lo`) to `hi`, geometric, without repeats. */
export function geometric(lo: number, hi: number, n: number): number[] {
  if (hi <= lo || n <= 1) return [Math.max(1, Math.round(hi))];
  const out = new Set<number>();
  for (let i = 0; i < n; i++) out.add(Math.round(lo * (hi / lo) ** (i / (n - 1))));
  return [...out].sort((a, b) => a - b);
}

/** 128, 256, ... below the context length, then the longest prompt that leaves room for one token. */
export function defaultIsls(contextLength: number): number[] {
  const out: number[] = [];
  for (let isl = Math.min(128, contextLength - 1); isl < contextLength - 1; isl *= 2) out.push(isl);
  out.push(contextLength - 1);
  return out.filter((x) => x >= 1);
}

/** Three context lengths, geometric, from 512 (or an eighth of the context) to half the context. */
export function defaultDecodeContexts(contextLength: number): number[] {
  const hi = Math.floor(contextLength / 2);
  return geometric(Math.min(512, Math.max(1, Math.floor(contextLength / 8))), hi, 3);
}

/** Measures `engine` (idle, its prefix cache holding nothing the random prompts could hit). */
export async function measureProfile(
  engine: Engine,
  gridInput: ProfileGrid,
  options: MeasureOptions,
): Promise<PlannerProfile> {
  const grid = profileGridSchema.parse(gridInput);
  const card = engine.card;
  const started = performance.now();
  const signal = options.signal ?? new AbortController().signal;
  const random = seededRandom(grid.seed ?? randomInt(2 ** 31));
  const prompt = (length: number) => Array.from({ length }, () => Math.floor(random() * options.vocabSize));
  let nextId = 0;
  const request = (tokenIds: number[], maxTokens: number): GenerateRequest => ({
    requestId: `profile-${nextId++}`,
    model: card.name,
    tokenIds,
    sampling: {},
    stop: { maxTokens, ignoreEos: true },
  });

  /** Runs one request to its end; the arrival time of each token (a frame's tokens share one). */
  async function run(
    tokenIds: number[],
    maxTokens: number,
    onFrame?: (now: number) => void,
  ): Promise<{ times: number[]; cached: number }> {
    const times: number[] = [];
    let cached = 0;
    for await (const frame of engine.generate(request(tokenIds, maxTokens), signal)) {
      const now = performance.now();
      if (frame.cachedTokens !== undefined) cached = frame.cachedTokens;
      for (let i = 0; i < frame.tokenIds.length; i++) times.push(now);
      onFrame?.(now);
      if (frame.finishReason === 'cancelled' || frame.finishReason === 'error') {
        signal.throwIfAborted();
        throw new Error(`profile: the engine ended a request with '${frame.finishReason}'`);
      }
    }
    if (times.length === 0) throw new Error('profile: the engine answered no token');
    return { times, cached };
  }

  const contextLength = card.contextLength;
  const isls = grid.isls ?? defaultIsls(contextLength);
  const tooLong = isls.find((isl) => isl >= contextLength);
  if (tooLong !== undefined) {
    throw new ProfileGridError(
      'isls',
      `${tooLong} leaves no room for a token in the engine's context length ${contextLength}`,
    );
  }

  // Decode plan per context: prompt length, tokens to generate, how many sequences fit.
  const budget = card.maxNumBatchedTokens;
  const blockSize = card.kvCacheBlockSize;
  const skip = grid.decodeSkipTokens;
  const window = grid.decodeWindowTokens;
  /** Steps the first sequence of a wave may lead the last by: the wave's prefill of ≤ 1 block each. */
  const lead = (c: number) => Math.ceil((c * (blockSize + 1)) / budget) + 2;
  const plans = (grid.decodeContexts ?? defaultDecodeContexts(contextLength)).flatMap((ctx) => {
    const promptLength = ctx - skip - Math.floor(window / 2);
    const worstTokens = lead(card.maxNumSeqs) + skip + window;
    if (promptLength < 1 || promptLength + worstTokens > contextLength) {
      if (grid.decodeContexts === undefined) return [];
      throw new ProfileGridError(
        'decodeContexts',
        `${ctx} is outside ${skip + Math.floor(window / 2) + 1}..${contextLength - worstTokens + skip + Math.floor(window / 2)} (the skipped tokens and half the window before it, the tokens decoded after it, within the engine's context length ${contextLength})`,
      );
    }
    const blocksPerSeq = Math.ceil((promptLength + worstTokens) / blockSize) + 1;
    const fit = Math.min(card.maxNumSeqs, Math.floor(card.totalKvBlocks / blocksPerSeq));
    if (fit < 1) {
      if (grid.decodeContexts === undefined) return [];
      throw new ProfileGridError(
        'decodeContexts',
        `${ctx}: one sequence needs ${blocksPerSeq} KV blocks, the engine has ${card.totalKvBlocks}`,
      );
    }
    const wanted = grid.concurrencies ?? geometric(1, fit, grid.concurrencyPoints);
    const concurrencies = wanted.filter((c) => c <= fit);
    if (concurrencies.length < wanted.length) {
      options.log?.warn(
        { contextLength: ctx, dropped: wanted.filter((c) => c > fit), limit: fit },
        'concurrencies beyond what KV blocks and max sequences hold at this context are not measured',
      );
    }
    if (concurrencies.length === 0) concurrencies.push(fit);
    return [{ ctx, promptLength, concurrencies }];
  });
  if (plans.length === 0) {
    throw new ProfileGridError(
      'decodeContexts',
      `no default context length fits the engine (context length ${contextLength}, ${card.totalKvBlocks} blocks of ${blockSize}): give some`,
    );
  }

  const total = isls.length + plans.reduce((n, p) => n + p.concurrencies.length, 0);
  let done = 0;
  const progress = (phase: ProfileProgress['phase'], label: string, result: string) =>
    options.onProgress?.({ phase, done: ++done, total, label, result });

  // One throwaway request first: an engine's first run pays for lazy set-up (onnxruntime's kernels).
  await run(prompt(isls[0] as number), 2);
  const prefill: PrefillPoint[] = [];
  let cacheHits = 0;
  for (const isl of isls) {
    const ttfts: number[] = [];
    for (let i = 0; i < grid.prefillRepeats; i++) {
      const t0 = performance.now();
      const { times, cached } = await run(prompt(isl), 1);
      if (cached > 0) cacheHits++;
      ttfts.push((times[0] as number) - t0);
    }
    // Enough prompts to fill `prefillBudgets` step budgets, and at least two so chunks can pack.
    const n = Math.max(2, Math.ceil((grid.prefillBudgets * budget) / isl));
    const t0 = performance.now();
    const runs = await Promise.all(Array.from({ length: n }, () => run(prompt(isl), 1)));
    const elapsed = performance.now() - t0;
    cacheHits += runs.filter((r) => r.cached > 0).length;
    const point: PrefillPoint = {
      isl,
      ttftMs: Math.max(median(ttfts), 1e-3),
      tokensPerSecond: (n * isl * 1000) / Math.max(elapsed, 1e-3),
    };
    prefill.push(point);
    progress(
      'prefill',
      `isl ${isl}`,
      `ttft ${fmt(point.ttftMs)} ms, ${fmt(point.tokensPerSecond, 0)} prompt tok/s`,
    );
  }
  if (cacheHits > 0) {
    options.log?.warn({ requests: cacheHits }, 'random prefill prompts hit the prefix cache');
  }

  async function decodePoint(ctx: number, prompts: number[][], maxTokens: number): Promise<DecodePoint> {
    // KV usage, sampled at each frame of one sequence (in the window all decode in every step); the
    // samples inside the window are kept.
    const kvSamples: { at: number; usage: number }[] = [];
    const sampleKv = (at: number) => {
      const load = engine.loadMetrics();
      kvSamples.push({ at, usage: load.activeBlocks / load.totalBlocks });
    };
    const runs = await Promise.all(prompts.map((p, i) => run(p, maxTokens, i === 0 ? sampleKv : undefined)));
    const firsts = runs.map((r) => r.times[0] as number);
    const last = runs[firsts.indexOf(Math.max(...firsts))] as { times: number[] };
    let from = last.times[Math.min(skip, last.times.length - 1)] as number;
    const to = Math.min(...runs.map((r) => r.times[r.times.length - 1] as number));
    const within = (start: number) => runs.map((r) => r.times.filter((t) => t > start && t <= to).length);
    let counts = within(from);
    if (to <= from || counts.some((n) => n === 0)) {
      // The first sequence ended before the skipped tokens were over: measure from the last start.
      from = Math.max(...firsts);
      counts = within(from);
    }
    if (to <= from || counts.some((n) => n === 0)) {
      throw new Error(
        `profile: no decode window at context ${ctx} × ${prompts.length} (the sequences did not decode together)`,
      );
    }
    const span = to - from;
    const itlMs = counts.reduce((s, n) => s + span / n, 0) / counts.length;
    const tokens = counts.reduce((s, n) => s + n, 0);
    const kv = kvSamples.filter((k) => k.at >= from && k.at <= to).map((k) => k.usage);
    const kvUsage = kv.length > 0 ? Math.min(1, Math.max(0, median(kv))) : undefined;
    return {
      contextLength: ctx,
      concurrency: prompts.length,
      itlMs,
      tokensPerSecond: (tokens * 1000) / span,
      ...(kvUsage === undefined ? {} : { kvUsage }),
    };
  }

  const decode: DecodePoint[] = [];
  for (const plan of plans) {
    const cmax = plan.concurrencies[plan.concurrencies.length - 1] as number;
    const prompts = Array.from({ length: cmax }, () => prompt(plan.promptLength));
    // Warm the prefix cache with every prompt of this context, so the waves below barely prefill.
    await Promise.all(prompts.map((p) => run(p, 1)));
    for (const c of plan.concurrencies) {
      const point = await decodePoint(plan.ctx, prompts.slice(0, c), lead(c) + skip + window);
      decode.push(point);
      progress(
        'decode',
        `context ${plan.ctx} × ${c}`,
        `itl ${fmt(point.itlMs, 2)} ms, ${fmt(point.tokensPerSecond, 0)} tok/s, kv ${fmt((point.kvUsage ?? 0) * 100, 0)}%`,
      );
    }
  }

  return plannerProfileSchema.parse({
    version: PLANNER_PROFILE_VERSION,
    engine: card.engine,
    model: card.name,
    createdAt: new Date().toISOString(),
    settings: {
      blockSize,
      maxNumSeqs: card.maxNumSeqs,
      maxNumBatchedTokens: budget,
      totalKvBlocks: card.totalKvBlocks,
      contextLength,
      ...(options.speedupRatio === undefined ? {} : { speedupRatio: options.speedupRatio }),
    },
    prefill,
    decode,
    measurement: {
      prefillRepeats: grid.prefillRepeats,
      decodeSkipTokens: skip,
      decodeWindowTokens: window,
      durationMs: performance.now() - started,
    },
  } satisfies PlannerProfile);
}

export interface ProfileEngineOptions {
  /** The engine and model, as `dynamo worker` takes them (namespace, component, ... are not used). */
  worker: WorkerConfig;
  grid: ProfileGrid;
  log: Logger;
  signal?: AbortSignal;
  onProgress?: (progress: ProfileProgress) => void;
}

/** Builds the engine as a worker would, measures it, closes it. */
export async function profileEngine(options: ProfileEngineOptions): Promise<PlannerProfile> {
  const parsed = workerConfigSchema.safeParse(options.worker);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new WorkerConfigError(`worker config: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const config = parsed.data;
  if (config.engine.kind === 'mocker' && config.engine.noDelay === true) {
    throw new WorkerConfigError('engine.noDelay: a mocker without delays has no capacity to measure');
  }
  const files = await loadModelFiles(
    config.engine.kind === 'mocker' ? config.engine.tokenizerDir : config.engine.modelDir,
  );
  // The profile offers its load to the engine directly (no router, no stream bound): it must queue it
  // all, not refuse the excess as a serving worker does.
  const engine = await createEngine(
    { ...config, maxWaitingRequests: config.maxWaitingRequests ?? Number.MAX_SAFE_INTEGER },
    files,
    options.log,
  );
  try {
    return await measureProfile(engine, options.grid, {
      vocabSize: tokenizerFacts(files).vocabSize,
      ...(config.engine.kind === 'mocker' ? { speedupRatio: config.engine.speedupRatio ?? 1 } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      log: options.log,
    });
  } finally {
    await engine.close();
  }
}

export interface WriteProfileOptions extends ProfileEngineOptions {
  /** Where the profile's JSON goes. */
  out: string;
  /** Where the SVG of its curves goes, if anywhere. */
  svg?: string;
}

/** `dynamo profile`: measures, then writes the profile (and the SVG). */
export async function writeProfile(options: WriteProfileOptions): Promise<PlannerProfile> {
  const profile = await profileEngine(options);
  await mkdir(dirname(options.out), { recursive: true });
  await writeFile(options.out, `${JSON.stringify(profile, null, 2)}\n`);
  if (options.svg !== undefined) {
    await mkdir(dirname(options.svg), { recursive: true });
    await writeFile(options.svg, profileSvg(profile));
  }
  return profile;
}

/**
 * Progress on a stream: on a terminal one line redrawn in place (a bar, the point, its figures); else
 * one line per point, for logs.
 */
export function progressReporter(stream: NodeJS.WritableStream & { isTTY?: boolean }): {
  update(progress: ProfileProgress): void;
  end(): void;
} {
  const tty = stream.isTTY === true;
  let drawn = false;
  return {
    update(p) {
      const width = 24;
      const filled = Math.round((p.done / p.total) * width);
      const text = `${p.done}/${p.total} ${p.phase} ${p.label}: ${p.result}`;
      if (tty) {
        stream.write(`\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`);
        drawn = true;
      } else {
        stream.write(`profile ${text}\n`);
      }
    },
    end() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}

// ---- SVG: four panels (prefill TTFT and throughput over ISL; decode ITL and throughput over
// concurrency, one curve per context length), in the style of src/bench/ttft-plot.ts. ----

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const escapeXml = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

interface Series {
  readonly name: string;
  readonly points: readonly { x: number; y: number }[];
}

/** One panel at (ox, oy): x on a log scale, y linear from 0; a polyline with dots per series. */
function panel(
  ox: number,
  oy: number,
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
): string[] {
  const W = 440;
  const H = 300;
  const m = { left: 60, right: 20, top: 30, bottom: 45 };
  const xs = series.flatMap((s) => s.points.map((p) => p.x)).filter((v) => v > 0);
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter((v) => Number.isFinite(v));
  const lx0 = Math.floor(Math.log10(Math.max(1, Math.min(...xs))));
  const lx1 = Math.max(lx0 + 1, Math.ceil(Math.log10(Math.max(...xs, 10))));
  const yMax = niceCeil(Math.max(...ys, 1e-9));
  const x = (v: number) =>
    ox + m.left + ((Math.log10(Math.max(v, 10 ** lx0)) - lx0) / (lx1 - lx0)) * (W - m.left - m.right);
  const y = (v: number) => oy + H - m.bottom - (v / yMax) * (H - m.top - m.bottom);
  const parts = [
    `<text x="${ox + m.left}" y="${oy + 18}" font-size="13">${escapeXml(title)}</text>`,
    `<line x1="${x(10 ** lx0)}" y1="${y(0)}" x2="${x(10 ** lx1)}" y2="${y(0)}" stroke="black"/>`,
    `<line x1="${x(10 ** lx0)}" y1="${y(0)}" x2="${x(10 ** lx0)}" y2="${y(yMax)}" stroke="black"/>`,
    `<text x="${(x(10 ** lx0) + x(10 ** lx1)) / 2}" y="${oy + H - 10}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text x="${ox + 12}" y="${y(yMax / 2)}" text-anchor="middle" transform="rotate(-90 ${ox + 12} ${y(yMax / 2)})">${escapeXml(yLabel)}</text>`,
  ];
  for (let e = lx0; e <= lx1; e++) {
    const px = x(10 ** e);
    parts.push(`<line x1="${px}" y1="${y(0)}" x2="${px}" y2="${y(yMax)}" stroke="#ddd"/>`);
    parts.push(`<text x="${px}" y="${y(0) + 16}" text-anchor="middle">${shortNumber(10 ** e)}</text>`);
  }
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const v = f * yMax;
    parts.push(`<line x1="${x(10 ** lx0)}" y1="${y(v)}" x2="${x(10 ** lx1)}" y2="${y(v)}" stroke="#eee"/>`);
    parts.push(
      `<text x="${x(10 ** lx0) - 5}" y="${y(v) + 4}" font-size="10" text-anchor="end">${shortNumber(v)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const pts = s.points.map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    for (const p of s.points) {
      parts.push(`<circle cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    if (series.length > 1) {
      const ly = oy + m.top + 14 * i;
      parts.push(`<rect x="${ox + m.left + 8}" y="${ly}" width="10" height="10" fill="${color}"/>`);
      parts.push(`<text x="${ox + m.left + 22}" y="${ly + 9}" font-size="11">${escapeXml(s.name)}</text>`);
    }
  });
  return parts;
}

function niceCeil(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  const f = v / e;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
}

function shortNumber(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toPrecision(3)}`;
}

/** The profile's curves as a standalone SVG (opens in any browser). */
export function profileSvg(profile: PlannerProfile): string {
  const W = 900;
  const H = 650;
  const contexts = [...new Set(profile.decode.map((p) => p.contextLength))];
  const decodeSeries = (y: (p: DecodePoint) => number): Series[] =>
    contexts.map((ctx) => ({
      name: `context ${ctx}`,
      points: profile.decode
        .filter((p) => p.contextLength === ctx)
        .map((p) => ({ x: p.concurrency, y: y(p) })),
    }));
  const s = profile.settings;
  const title = `${profile.model} (${profile.engine}): ${s.totalKvBlocks}×${s.blockSize} KV, ${s.maxNumSeqs} seqs, ${s.maxNumBatchedTokens} tokens/step${s.speedupRatio === undefined ? '' : `, speedup ${s.speedupRatio}`}`;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="20" y="24" font-size="14">${escapeXml(title)}</text>`,
    ...panel(10, 40, 'prefill: TTFT of a lone prompt', 'ISL (tokens, log)', 'TTFT (ms)', [
      { name: 'ttft', points: profile.prefill.map((p) => ({ x: p.isl, y: p.ttftMs })) },
    ]),
    ...panel(450, 40, 'prefill: throughput, budget full', 'ISL (tokens, log)', 'prompt tokens/s', [
      { name: 'tokens/s', points: profile.prefill.map((p) => ({ x: p.isl, y: p.tokensPerSecond })) },
    ]),
    ...panel(
      10,
      345,
      'decode: ITL',
      'concurrency (log)',
      'ITL (ms)',
      decodeSeries((p) => p.itlMs),
    ),
    ...panel(
      450,
      345,
      'decode: throughput',
      'concurrency (log)',
      'output tokens/s',
      decodeSeries((p) => p.tokensPerSecond),
    ),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}
