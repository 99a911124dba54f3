// What every fault test shares: continuous streaming traffic through a frontend, each request
// classified (completed, a clean OpenAI-shaped error, or neither), and the leak checks — every gauge
// of work in flight back to zero on the frontend and on the live workers, read from their /metrics
// and from the workers' load reports.
//
//   traffic (N loops) ── POST /v1/completions stream ──► frontend ──► workers
//        │ each request: completed | error (OpenAI shape) | unclean | hung (past its bound)
//        └─ stop() ──► a summary the test asserts on
import { z } from 'zod';
import type { InstanceId, LoadMetrics } from '../../../src/api/index.js';
import { LOAD_METRICS, type Runtime } from '../../../src/runtime/index.js';

export const MODEL = 'mocker';

export type Outcome =
  | { kind: 'completed'; tokens: number }
  | { kind: 'error'; status: number; code: string }
  /** No connection at all (a stopped frontend that no longer listens). */
  | { kind: 'refused' }
  | { kind: 'unclean'; detail: string }
  | { kind: 'hung' };

const openAiError = z.object({
  error: z.object({ message: z.string().min(1), type: z.string(), code: z.string().nullable().optional() }),
});
const chunk = z.object({
  choices: z.array(z.object({ text: z.string(), finish_reason: z.string().nullable() })),
});

export interface StreamOptions {
  maxTokens: number;
  /** A request not finished within this long is `hung` (and aborted). */
  boundMs: number;
}

/** One streamed completion, classified; never throws. */
export async function streamOnce(url: string, options: StreamOptions, prompt: string): Promise<Outcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.boundMs);
  try {
    let res: Response;
    try {
      res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: MODEL,
          prompt,
          max_tokens: options.maxTokens,
          stream: true,
          ignore_eos: true,
        }),
        signal: controller.signal,
      });
    } catch (err) {
      if (controller.signal.aborted) return { kind: 'hung' };
      return isRefused(err) ? { kind: 'refused' } : { kind: 'unclean', detail: `fetch: ${String(err)}` };
    }
    const text = await res.text().catch((err: unknown) => (controller.signal.aborted ? undefined : err));
    if (text === undefined) return { kind: 'hung' };
    if (typeof text !== 'string') return { kind: 'unclean', detail: `body cut: ${String(text)}` };
    if (res.status !== 200) {
      const body = openAiError.safeParse(safeJson(text));
      return body.success
        ? { kind: 'error', status: res.status, code: body.data.error.code ?? body.data.error.type }
        : { kind: 'unclean', detail: `${res.status} not OpenAI-shaped: ${text.slice(0, 200)}` };
    }
    return classifyStream(text);
  } finally {
    clearTimeout(timer);
  }
}

/** An SSE body: chunks, then a finish reason or one error event, then `[DONE]`. */
export function classifyStream(text: string): Outcome {
  const events = text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6));
  if (events.at(-1) !== '[DONE]') return { kind: 'unclean', detail: `no [DONE]: …${text.slice(-200)}` };
  let tokens = 0;
  let finished = false;
  for (const data of events.slice(0, -1)) {
    const json = safeJson(data);
    const error = openAiError.safeParse(json);
    if (error.success)
      return { kind: 'error', status: 200, code: error.data.error.code ?? error.data.error.type };
    const parsed = chunk.safeParse(json);
    if (!parsed.success) return { kind: 'unclean', detail: `bad chunk: ${data.slice(0, 200)}` };
    for (const c of parsed.data.choices) {
      if (c.text !== '') tokens++;
      if (c.finish_reason !== null) finished = true;
    }
  }
  return finished ? { kind: 'completed', tokens } : { kind: 'unclean', detail: 'no finish_reason' };
}

export interface TrafficSummary {
  outcomes: Outcome[];
  completed: number;
  /** Clean errors by status and code, e.g. `200 worker_failed`. */
  errors: Record<string, number>;
  refused: number;
  unclean: string[];
  hung: number;
}

export interface Traffic {
  /** Requests finished so far. */
  readonly finished: number;
  /** Stops starting requests, waits for those in flight, and sums up. */
  stop(): Promise<TrafficSummary>;
}

/** `concurrency` loops, each streaming one request after another until stopped. */
export function startTraffic(
  url: string | (() => string),
  options: StreamOptions & { concurrency: number },
): Traffic {
  const outcomes: Outcome[] = [];
  let running = true;
  let n = 0;
  const loops = Array.from({ length: options.concurrency }, async (_, loop) => {
    while (running) {
      // Prompts differ (no prefix cache hit makes a request trivially short) but stay short.
      const prompt = `fault traffic loop ${loop} request ${n++}: tell me a long story`;
      const outcome = await streamOnce(typeof url === 'string' ? url : url(), options, prompt);
      outcomes.push(outcome);
      // A refused or failed request comes back at once: do not spin on it.
      if (outcome.kind !== 'completed') await sleep(100);
    }
  });
  return {
    get finished() {
      return outcomes.length;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return summarize(outcomes);
    },
  };
}

export function summarize(outcomes: Outcome[]): TrafficSummary {
  const summary: TrafficSummary = { outcomes, completed: 0, errors: {}, refused: 0, unclean: [], hung: 0 };
  for (const o of outcomes) {
    if (o.kind === 'completed') summary.completed++;
    else if (o.kind === 'error') {
      const key = `${o.status} ${o.code}`;
      summary.errors[key] = (summary.errors[key] ?? 0) + 1;
    } else if (o.kind === 'refused') summary.refused++;
    else if (o.kind === 'unclean') summary.unclean.push(o.detail);
    else summary.hung++;
  }
  return summary;
}

/** Waits until `traffic` has finished `count` more requests (it is flowing), within `timeoutMs`. */
export async function flowing(traffic: Traffic, count: number, timeoutMs = 60_000): Promise<void> {
  const target = traffic.finished + count;
  await until(() => traffic.finished >= target, `${count} requests to finish`, timeoutMs);
}

/** `count` requests one after another, every one completed: the system serves normally. */
export async function servesNormally(url: string, count: number, options: StreamOptions): Promise<void> {
  for (let i = 0; i < count; i++) {
    const outcome = await streamOnce(url, options, `after the fault, request ${i}`);
    if (outcome.kind !== 'completed')
      throw new Error(`request ${i} after the fault: ${JSON.stringify(outcome)}`);
  }
}

// ---- leak checks

/** Sum of every sample of `name` in a Prometheus text exposition (0 when absent). */
export function metricSum(exposition: string, name: string): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Gauges of work in flight on the frontend (its /metrics): all must read 0 at rest. */
export const FRONTEND_GAUGES = [
  'dynamo_frontend_inflight_requests',
  'dynamo_frontend_queued_requests',
  'dynamo_frontend_waiting_for_worker',
  'dynamo_router_queued_requests',
] as const;

/** Gauges of work in flight on a worker (its system server's /metrics). */
export const WORKER_GAUGES = [
  'dynamo_component_inflight_requests',
  'dynamo_component_kv_pinned_transfers',
] as const;

/** The latest load report of each worker, from the event plane. */
export class LoadReports {
  readonly latest = new Map<InstanceId, LoadMetrics & { at: number }>();

  static async watch(runtime: Runtime, namespace: string): Promise<LoadReports> {
    const reports = new LoadReports();
    await runtime.eventPlane.subscribe(LOAD_METRICS, { namespace, component: 'backend' }, (m) =>
      reports.latest.set(m.workerId, { ...m, at: Date.now() }),
    );
    return reports;
  }
}

export interface LeakTargets {
  frontendUrl: string;
  /** System ports of the workers that live. */
  workerPorts: number[];
  /** Their instance ids, for their load reports (KV blocks held, sequences running or waiting). */
  workerIds: string[];
  loads: LoadReports;
}

/** What is still held, by name; empty when nothing leaks. */
export async function heldNow(t: LeakTargets): Promise<Record<string, number>> {
  const held: Record<string, number> = {};
  const frontend = await (await fetch(`${t.frontendUrl}/metrics`)).text();
  for (const g of FRONTEND_GAUGES)
    if (metricSum(frontend, g) !== 0) held[`frontend ${g}`] = metricSum(frontend, g);
  for (const port of t.workerPorts) {
    const worker = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const g of WORKER_GAUGES)
      if (metricSum(worker, g) !== 0) held[`worker :${port} ${g}`] = metricSum(worker, g);
  }
  const since = Date.now();
  for (const id of t.workerIds) {
    const m = t.loads.latest.get(id as InstanceId);
    if (m === undefined) {
      held[`worker ${id} load report`] = -1;
      continue;
    }
    for (const key of ['activeBlocks', 'runningRequests', 'waitingRequests'] as const)
      if (m[key] !== 0) held[`worker ${id} ${key}`] = m[key];
    if (since - m.at > 5_000) held[`worker ${id} load report age ms`] = since - m.at;
  }
  return held;
}

/** Waits (bounded) until nothing is held; throws with what still is. */
export async function expectNoLeaks(t: LeakTargets, timeoutMs = 30_000): Promise<void> {
  let held: Record<string, number> = {};
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    held = await heldNow(t).catch((err: unknown) => ({ [`metrics unreadable: ${String(err)}`]: -1 }));
    if (Object.keys(held).length === 0) return;
    await sleep(250);
  }
  throw new Error(`still held after ${timeoutMs} ms: ${JSON.stringify(held)}`);
}

// ---- small things

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRefused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } } | undefined)?.cause;
  return cause?.code === 'ECONNREFUSED';
}
