// The load generator of `dynamo bench`: plays a planned workload against any OpenAI-compatible endpoint
// (POST /v1/completions, token-id prompts, streamed, usage included) and measures, per request, the
// time to first token, the end-to-end latency, the prompt tokens served from cache and the gaps between
// streamed chunks (inter-token latency as vLLM's benchmark_serving measures it: one gap per SSE chunk
// that carries text after the first; a server that coalesces tokens sends fewer, larger chunks).
//
// Open loop: a request is sent at its planned time whether or not earlier ones finished (a follow-up
// chat turn waits for its predecessor's answer instead). A progress bar goes to stderr.
import type { PlannedRequest } from './workloads.js';

export interface RequestResult {
  index: number;
  group: number;
  ok: boolean;
  error?: string;
  ttftMs: number;
  e2eMs: number;
  promptTokens: number;
  cachedTokens: number;
  outputTokens: number;
  /** ms between consecutive text-carrying chunks after the first one. */
  itlMs?: number[];
}

export interface RunOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8000 (the /v1 path is appended). */
  url: string;
  /** Several frontends of one deployment: request i goes to urls[i mod n] (url is then unused). */
  urls?: readonly string[];
  model: string;
  /** Most requests in flight; later arrivals wait (their TTFT includes the wait). */
  maxConcurrency: number;
  /** Label of the progress bar. */
  label: string;
  /** Where the progress bar goes; none when absent. */
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
}

export interface Summary {
  requests: number;
  errors: number;
  ttftMs: Stats;
  e2eMs: Stats;
  /** Prompt tokens served from cache / prompt tokens (the workers' own count, from usage). */
  hitRate: number;
  outputTokensPerSec: number;
  durationS: number;
}

export interface Stats {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

const usageSchemaKeys = ['prompt_tokens', 'completion_tokens'] as const;

interface StreamChunk {
  choices?: { text?: string }[];
  usage?: {
    prompt_tokens?: number;
    completion_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
  } | null;
  error?: { message?: string };
}

function isChunk(v: unknown): v is StreamChunk {
  return typeof v === 'object' && v !== null;
}

/** One streamed completion; never throws (failures are results with ok: false). */
async function send(options: RunOptions, r: PlannedRequest, queuedAt: number): Promise<RequestResult> {
  const result: RequestResult = {
    index: r.index,
    group: r.group,
    ok: false,
    ttftMs: Number.NaN,
    e2eMs: Number.NaN,
    promptTokens: r.promptTokens.length,
    cachedTokens: 0,
    outputTokens: 0,
  };
  const gaps: number[] = [];
  result.itlMs = gaps;
  let lastChunkAt = Number.NaN;
  try {
    const base = options.urls?.length ? (options.urls[r.index % options.urls.length] as string) : options.url;
    const response = await fetch(`${base}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: options.model,
        prompt: r.promptTokens,
        max_tokens: r.maxTokens,
        ignore_eos: true,
        stream: true,
        stream_options: { include_usage: true },
      }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!response.ok || response.body === null) {
      result.error = `HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`;
      return result;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const bytes of response.body) {
      buffer += decoder.decode(bytes as Uint8Array, { stream: true });
      let cut = buffer.indexOf('\n\n');
      while (cut >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        cut = buffer.indexOf('\n\n');
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') continue;
          const chunk: unknown = JSON.parse(data);
          if (!isChunk(chunk)) continue;
          if (chunk.error) throw new Error(chunk.error.message ?? 'error event');
          const now = performance.now();
          if (Number.isNaN(result.ttftMs) && (chunk.choices?.length ?? 0) > 0) {
            result.ttftMs = now - queuedAt;
          }
          if (chunk.choices?.some((c) => c.text !== undefined && c.text !== '')) {
            if (!Number.isNaN(lastChunkAt)) gaps.push(now - lastChunkAt);
            lastChunkAt = now;
          }
          const usage = chunk.usage;
          if (usage) {
            for (const k of usageSchemaKeys)
              if (typeof usage[k] !== 'number') throw new Error(`usage.${k} missing`);
            result.promptTokens = usage.prompt_tokens ?? result.promptTokens;
            result.outputTokens = usage.completion_tokens ?? 0;
            result.cachedTokens = usage.prompt_tokens_details?.cached_tokens ?? 0;
          }
        }
      }
    }
    result.e2eMs = performance.now() - queuedAt;
    result.ok = !Number.isNaN(result.ttftMs);
    if (!result.ok) result.error = 'the stream ended without a token';
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
  }
  return result;
}

class ProgressBar {
  private done = 0;
  private failed = 0;
  private last = 0;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly out: (NodeJS.WritableStream & { isTTY?: boolean }) | undefined,
  ) {}

  tick(ok: boolean): void {
    this.done++;
    if (!ok) this.failed++;
    const now = performance.now();
    if (this.done < this.total && now - this.last < 200) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((width * this.done) / this.total);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const line = `${this.label.padEnd(12)} [${bar}] ${this.done}/${this.total}${this.failed ? ` (${this.failed} failed)` : ''}`;
    if (this.out?.isTTY) this.out.write(`\r${line}${this.done === this.total ? '\n' : ''}`);
    else if (this.done === this.total || this.done % Math.max(1, Math.floor(this.total / 10)) === 0) {
      this.out?.write(`${line}\n`);
    }
  }
}

/** Plays the workload; resolves with one result per request, in request order. */
export async function runWorkload(
  plan: readonly PlannedRequest[],
  options: RunOptions,
): Promise<RequestResult[]> {
  const results = new Array<RequestResult>(plan.length);
  const answered = new Map<number, Promise<void>>();
  const bar = new ProgressBar(plan.length, options.label, options.progress);
  let inFlight = 0;
  const slotWaiters: (() => void)[] = [];
  const acquire = async () => {
    while (inFlight >= options.maxConcurrency) await new Promise<void>((r) => slotWaiters.push(r));
    inFlight++;
  };
  const releaseSlot = () => {
    inFlight--;
    slotWaiters.shift()?.();
  };
  const start = performance.now();
  const sleepUntil = async (offsetMs: number) => {
    const wait = start + offsetMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  };
  const one = async (r: PlannedRequest) => {
    await sleepUntil(r.atMs);
    if (r.after !== null) await answered.get(r.after);
    const queuedAt = performance.now();
    await acquire();
    try {
      results[r.index] = await send(options, r, queuedAt);
    } finally {
      releaseSlot();
    }
    bar.tick((results[r.index] as RequestResult).ok);
  };
  // Requests are created in index order, so a follow-up's predecessor is registered before it.
  for (const r of plan) answered.set(r.index, one(r));
  await Promise.all(answered.values());
  return results;
}

export function stats(values: readonly number[]): Stats {
  if (values.length === 0) return { mean: Number.NaN, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    mean: round(values.reduce((s, v) => s + v, 0) / values.length),
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
  };
}

export function summarize(results: readonly RequestResult[], durationS: number): Summary {
  const ok = results.filter((r) => r.ok);
  const prompt = ok.reduce((s, r) => s + r.promptTokens, 0);
  const cached = ok.reduce((s, r) => s + r.cachedTokens, 0);
  return {
    requests: results.length,
    errors: results.length - ok.length,
    ttftMs: stats(ok.map((r) => r.ttftMs)),
    e2eMs: stats(ok.map((r) => r.e2eMs)),
    hitRate: prompt === 0 ? 0 : Math.round((cached / prompt) * 10_000) / 10_000,
    outputTokensPerSec: Math.round(ok.reduce((s, r) => s + r.outputTokens, 0) / durationS),
    durationS: Math.round(durationS * 100) / 100,
  };
}
