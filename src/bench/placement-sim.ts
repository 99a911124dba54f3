// Routing placement on simulated time: the real Router in front of real mocker engines sharing one
// discrete-event clock, with closed-loop clients (a new request as soon as one ends, as aiperf's
// --concurrency does) playing prefix-sharing workloads shaped like aiperf's synthesis. TTFT is the
// mocker's simulated time, so a comparison of routing policies is deterministic and free of CPU noise
// (tests, and quick what-ifs before the real `npm run bench:aiperf`).
import type { InstanceId } from '../api/index.js';
import type { Clock } from '../engines/mocker/clock.js';
import { MockerEngine } from '../engines/mocker/mocker-engine.js';
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
  seed: number;
  log: Logger;
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
  for (let i = 0; i < o.workers; i++) {
    const id = (i + 1).toString(16).padStart(16, '0') as InstanceId;
    const engine = new MockerEngine(
      { modelName: 'sim', blockSize: o.blockSize, tokenizer: TOKENIZER },
      { clock, onStep: () => router.onLoadMetrics({ workerId: id, ...engine.loadMetrics() }) },
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

  const client = async (slot: number) => {
    let previous: Turn | undefined;
    while (issued < o.requests) {
      const requestId = `r${issued++}`;
      const prompt = next(slot, previous);
      await clock.sleep(random() * o.jitterMs);
      const start = clock.now();
      const outcome = await router.route({ requestId, tokenIds: prompt });
      if (outcome.kind !== 'routed') throw new Error(`request ${requestId} not routed: ${outcome.kind}`);
      perWorker.set(outcome.instance, (perWorker.get(outcome.instance) ?? 0) + 1);
      const engine = engines.get(outcome.instance) as MockerEngine;
      const answer: number[] = [];
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
          ttfts.push(clock.now() - start);
          router.firstToken(requestId);
        }
        if (frame.cachedTokens !== undefined) cachedTokens += frame.cachedTokens;
        answer.push(...frame.tokenIds);
      }
      promptTokens += prompt.length;
      router.complete(requestId);
      finished++;
      previous = { prompt, answer };
    }
  };
  const clients = Array.from({ length: o.concurrency }, (_, slot) => client(slot));
  await clock.run(() => finished >= o.requests);
  await Promise.all(clients);
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
