// Routing placement on simulated time: the real Router in front of real mocker engines sharing one
// discrete-event clock, with closed-loop clients (a new request as soon as one ends, as aiperf's
// --concurrency does) playing prefix-sharing workloads shaped like aiperf's synthesis. TTFT is the
// mocker's simulated time, so a comparison of routing policies is deterministic and free of CPU noise
// (tests, and quick what-ifs before the real `npm run bench:aiperf`).
import type { InstanceId } from '../api/index.js';
import type { Clock } from '../engines/mocker/clock.js';
import { MockerEngine } from '../engines/mocker/mocker-engine.js';
import { decodeMs, prefillMs, type TimingModel, timingModelSchema } from '../engines/mocker/timing.js';
import { Router, type RouterSettings } from '../router/router.js';
import type { Logger } from '../runtime/logger.js';

/** Sleeps resolve in time order; the clock jumps to the next one once nothing else can run. */
class EventClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly timers: { at: number; seq: number; resolve: () => void }[] = [];

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timers.push({ at: this.time + Math.max(0, ms), seq: this.seq++, resolve });
    });
  }

  /** Fires timers in order until `done()`; throws if everything waits and no timer is left. */
  async run(done: () => boolean): Promise<void> {
    for (;;) {
      // Let every continuation of the last timer run (a few turns: promise chains, setImmediate).
      for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
      if (done()) return;
      if (this.timers.length === 0) throw new Error('simulation stalled: nothing scheduled');
      let next = 0;
      for (let i = 1; i < this.timers.length; i++) {
        const t = this.timers[i] as (typeof this.timers)[number];
        const n = this.timers[next] as (typeof this.timers)[number];
        if (t.at < n.at || (t.at === n.at && t.seq < n.seq)) next = i;
      }
      const [timer] = this.timers.splice(next, 1);
      if (timer === undefined) continue;
      this.time = timer.at;
      timer.resolve();
    }
  }
}

/** aiperf's prefix-sharing synthesis, in token ids (sizes in tokens). */
export type SimWorkload =
  | { kind: 'prefix-pool'; prefixes: number; prefixLen: number; userLen: number }
  | { kind: 'system-context'; systemLen: number; contextLen: number; entries: number; userLen: number }
  | { kind: 'multi-turn'; systemLen: number; sessions: number; turns: number; userLen: number };

/** The shapes of aiperf's syntheses that `npm run bench:aiperf` runs (aiperf-bench.ts). */
export const SIM_WORKLOADS = {
  'prefix-pool': { kind: 'prefix-pool', prefixes: 4, prefixLen: 1024, userLen: 256 },
  'system-context': { kind: 'system-context', systemLen: 1024, contextLen: 512, entries: 32, userLen: 128 },
  'multi-turn': { kind: 'multi-turn', systemLen: 512, sessions: 32, turns: 4, userLen: 128 },
} as const satisfies Record<string, SimWorkload>;
export type SimWorkloadName = keyof typeof SIM_WORKLOADS;

export interface SimOptions {
  workload: SimWorkload;
  workers: number;
  concurrency: number;
  requests: number;
  outputLen: number;
  blockSize: number;
  /**
   * Each request leaves its client after a uniform 0..jitterMs (the client's and the network's time):
   * without it, closed-loop clients fall into a lockstep no real deployment keeps, in which
   * round-robin pipelines perfectly.
   */
  jitterMs: number;
  router: RouterSettings;
  /**
   * 'oracle': the sim itself sends each request to the worker with the least predicted TTFT, seen
   * from inside the engines (the step in progress and when it ends, the requests waiting for the
   * next one, the cache) with the mocker's timing model — a reference no router can see; the router
   * only records it (its candidates narrowed to that worker).
   */
  policy?: 'router' | 'oracle';
  seed: number;
  /**
   * Requests sent first and left out of the figures, all finished before the measured ones start —
   * aiperf's warm-up (`--warmup-request-count`), which then starts its clients together (default 0;
   * `perWorker` and `onRequest` still see them).
   */
  warmup?: number;
  log: Logger;
  /** Told of every request once it ends (traces of the decisions). */
  onRequest?: (r: SimRequest) => void;
}

export interface SimRequest {
  requestId: string;
  /** Worker index, in worker order. */
  worker: number;
  isl: number;
  cachedTokens: number;
  /** Simulated ms: when it was routed, and its TTFT. */
  routedAt: number;
  ttftMs: number;
}

export interface SimResult {
  ttftMs: { mean: number; p50: number; p90: number };
  /** Requests per worker, in worker order. */
  perWorker: number[];
  cachedTokenShare: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const TOKENIZER = { checksum: 'a'.repeat(64), configChecksum: null, vocabSize: 50_000, eosTokenIds: [] };

interface Turn {
  prompt: number[];
  answer: number[];
}

/** The next prompt of a client slot, given the slot's previous request (multi-turn continues it). */
type PromptSource = (slot: number, previous: Turn | undefined) => number[];

function promptSource(w: SimWorkload, random: () => number): PromptSource {
  const tokens = (n: number) => Array.from({ length: n }, () => 1 + Math.floor(random() * 49_000));
  if (w.kind === 'prefix-pool') {
    const pool = Array.from({ length: w.prefixes }, () => tokens(w.prefixLen));
    return () => [...(pool[Math.floor(random() * pool.length)] as number[]), ...tokens(w.userLen)];
  }
  if (w.kind === 'system-context') {
    const system = tokens(w.systemLen);
    const entries = Array.from({ length: w.entries }, () => [...tokens(w.contextLen), ...tokens(w.userLen)]);
    let next = 0;
    // aiperf walks its dataset entries in order; an entry's context and user prompt are fixed.
    return () => [...system, ...(entries[next++ % w.entries] as number[])];
  }
  // Multi-turn: a slot plays one session at a time, each turn its history, the answer and a new question.
  const system = tokens(w.systemLen);
  const turnsLeft: number[] = [];
  return (slot, previous) => {
    if (previous !== undefined && (turnsLeft[slot] ?? 0) > 0) {
      turnsLeft[slot] = (turnsLeft[slot] ?? 0) - 1;
      return [...previous.prompt, ...previous.answer, ...tokens(w.userLen)];
    }
    turnsLeft[slot] = w.turns - 1;
    return [...system, ...tokens(w.userLen)];
  };
}

/** One worker as the oracle sees it: the mocker's step in progress, its requests, its cache. */
class OracleView {
  stepStart = 0;
  stepEnd = 0;
  /** Requests without a first token yet, and when they were routed. */
  readonly pending = new Map<string, { routedAt: number; uncached: number }>();
  active = 0;
  readonly cached = new Set<number>();

  constructor(
    private readonly clock: EventClock,
    private readonly blockSize: number,
  ) {}

  /** The engine's clock: its sleeps are its steps. */
  get engineClock(): Clock {
    return {
      now: () => this.clock.now(),
      sleep: (ms) => {
        this.stepStart = this.clock.now();
        this.stepEnd = this.stepStart + Math.max(0, ms);
        return this.clock.sleep(ms);
      },
    };
  }

  /** Chained keys of a sequence's full blocks. */
  blockKeys(tokens: readonly number[]): number[] {
    const keys: number[] = [];
    let h = 0x811c9dc5;
    for (let i = 0; i < tokens.length; i++) {
      h = Math.imul(h ^ (tokens[i] as number), 0x01000193) >>> 0;
      if ((i + 1) % this.blockSize === 0) keys.push(h);
    }
    return keys;
  }

  /** Uncached prompt tokens here (vLLM's rule: at least one token is computed). */
  uncached(prompt: readonly number[]): number {
    const keys = this.blockKeys(prompt);
    const limit = Math.floor((prompt.length - 1) / this.blockSize);
    let hit = 0;
    while (hit < limit && this.cached.has(keys[hit] as number)) hit++;
    return prompt.length - hit * this.blockSize;
  }

  /**
   * The rest of the step in progress, then one step prefilling the requests waiting for it and this
   * one's uncached tokens, with a decode if anything decodes by then (the mocker's timing model).
   */
  predictTtft(prompt: readonly number[], timing: TimingModel): number {
    const now = this.clock.now();
    let queued = 0;
    let inStep = 0;
    for (const p of this.pending.values()) {
      if (now < this.stepEnd && p.routedAt <= this.stepStart) inStep++;
      else queued += p.uncached;
    }
    const decoding = this.active - this.pending.size + inStep > 0;
    return (
      Math.max(0, this.stepEnd - now) +
      prefillMs(timing, queued + this.uncached(prompt)) +
      (decoding ? decodeMs(timing, 0) : 0)
    );
  }
}

const percentile = (sorted: number[], q: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);

/** Plays the workload against `workers` mockers behind one router; TTFT in simulated ms. */
export async function simulatePlacement(o: SimOptions): Promise<SimResult> {
  const clock = new EventClock();
  const random = rng(o.seed);
  const router = new Router(
    o.router,
    {
      name: 'sim',
      endpoint: { namespace: 'sim', component: 'backend', endpoint: 'generate' },
      blockSize: o.blockSize,
      totalKvBlocks: 16_384,
      maxNumSeqs: 256,
    },
    { log: o.log, random: rng(o.seed ^ 0x5bd1e995), now: () => clock.now() },
  );
  const ids: InstanceId[] = [];
  const engines = new Map<InstanceId, MockerEngine>();
  const views: OracleView[] = [];
  const timing = timingModelSchema.parse({});
  for (let i = 0; i < o.workers; i++) {
    const id = (i + 1).toString(16).padStart(16, '0') as InstanceId;
    const view = new OracleView(clock, o.blockSize);
    views.push(view);
    const engine = new MockerEngine(
      { modelName: 'sim', blockSize: o.blockSize, tokenizer: TOKENIZER, timing },
      {
        clock: view.engineClock,
        onStep: () => router.onLoadMetrics({ workerId: id, ...engine.loadMetrics() }),
      },
    );
    let eventId = 0;
    engine.onKvEvent((data) => router.onKvEvent({ workerId: id, eventId: eventId++, data }));
    router.addInstance(id);
    router.applyDump({ workerId: id, lastEventId: -1, events: [] });
    ids.push(id);
    engines.set(id, engine);
  }
  const next = promptSource(o.workload, random);
  const ttfts: number[] = [];
  const perWorker = new Map<InstanceId, number>(ids.map((id) => [id, 0]));
  let issued = 0;
  let finished = 0;
  let promptTokens = 0;
  let cachedTokens = 0;

  const warmup = o.warmup ?? 0;
  // Per client, its last turn (multi-turn chats go on across the warm-up).
  const previous: (Turn | undefined)[] = [];
  const client = async (slot: number, limit: number, measured: boolean) => {
    while (issued < limit) {
      const requestId = `r${issued++}`;
      await clock.sleep(random() * o.jitterMs);
      // Drawn as it is sent, as aiperf does: its dataset order is then the order the router sees
      // (round-robin over an even worker count keeps each system-context entry on one worker).
      const prompt = next(slot, previous[slot]);
      const start = clock.now();
      let exclude: Set<InstanceId> | undefined;
      if (o.policy === 'oracle') {
        const predicted = views.map((v) => v.predictTtft(prompt, timing));
        const best = predicted.indexOf(Math.min(...predicted));
        exclude = new Set(ids.filter((_, i) => i !== best));
      }
      const outcome = await router.route({ requestId, tokenIds: prompt, ...(exclude ? { exclude } : {}) });
      if (outcome.kind !== 'routed') throw new Error(`request ${requestId} not routed: ${outcome.kind}`);
      const view = views[ids.indexOf(outcome.instance)] as OracleView;
      view.pending.set(requestId, { routedAt: start, uncached: view.uncached(prompt) });
      view.active++;
      perWorker.set(outcome.instance, (perWorker.get(outcome.instance) ?? 0) + 1);
      const engine = engines.get(outcome.instance) as MockerEngine;
      const answer: number[] = [];
      let ttft = 0;
      let cached = 0;
      const stream = engine.generate(
        {
          requestId,
          model: 'sim',
          tokenIds: prompt,
          sampling: {},
          stop: { maxTokens: o.outputLen, ignoreEos: true },
        },
        new AbortController().signal,
      );
      for await (const frame of stream) {
        if (answer.length === 0 && frame.tokenIds.length > 0) {
          ttft = clock.now() - start;
          router.firstToken(requestId);
          view.pending.delete(requestId);
          for (const key of view.blockKeys(prompt)) view.cached.add(key);
        }
        if (frame.cachedTokens !== undefined) cached += frame.cachedTokens;
        answer.push(...frame.tokenIds);
      }
      view.active--;
      for (const key of view.blockKeys([...prompt, ...answer])) view.cached.add(key);
      if (measured) {
        ttfts.push(ttft);
        promptTokens += prompt.length;
        cachedTokens += cached;
      }
      router.complete(requestId);
      o.onRequest?.({
        requestId,
        worker: ids.indexOf(outcome.instance),
        isl: prompt.length,
        cachedTokens: cached,
        routedAt: start,
        ttftMs: ttft,
      });
      finished++;
      previous[slot] = { prompt, answer };
    }
  };
  const phase = async (limit: number, measured: boolean) => {
    const clients = Array.from({ length: o.concurrency }, (_, slot) => client(slot, limit, measured));
    await clock.run(() => finished >= limit);
    await Promise.all(clients);
  };
  if (warmup > 0) await phase(warmup, false);
  await phase(warmup + o.requests, true);
  await router.close();
  for (const engine of engines.values()) await engine.close();
  const sorted = [...ttfts].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return {
    ttftMs: { mean, p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9) },
    perWorker: ids.map((id) => perWorker.get(id) ?? 0),
    cachedTokenShare: promptTokens === 0 ? 0 : cachedTokens / promptTokens,
  };
}
