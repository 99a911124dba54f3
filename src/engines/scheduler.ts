// The scheduler both engines drive, modelled on vLLM's (v1) and Dynamo's mocker: a waiting and a running
// queue, a token budget per step, chunked prefill, prefix-cache reuse through the shared BlockManager,
// and preemption by recompute when KV blocks run out. Pure: the engine asks for a step, executes it (the
// mocker lets simulated time pass, the ONNX engine runs the model), then completes it with the sampled
// tokens. Engines differ in how a step runs, never in who is admitted, chunked or preempted.
//
//   add ─▶ waiting ──admit (FCFS: max seqs, budget, blocks)──▶ running ──stop, length──▶ finished (freed)
//          ▲  │                                                ▲  │  │
//          │  └─admit (importKv)─▶ importing ──importDone──────┘  │  └─prefillOnly, 1st token─▶ pinned
//          └──────────── preempted (blocks freed, recompute) ◀────┘           (blocks held until releasePin)
//
// A request's `computed` tokens have KV; each step computes up to its remaining tokens (the prompt, in
// chunks, then one token per decode step). When all its tokens are computed the engine samples one more.
//
// Disaggregated serving (DESIGN §12) adds two paths. A prefill-only request finishes at its first token
// but keeps its blocks, pinned under its id, until releasePin: the engine serves their KV to a decode
// worker meanwhile. An importKv request (decode side) gets blocks for its prompt's FULL blocks at
// admission; those this worker lacks are reported in the step (`imports`) and allocated pending in the
// BlockManager (unannounced, never a prefix hit) until the engine has filled them and calls importDone.
// Only full blocks move: the prompt's partial tail and the prefill worker's first token are then
// computed here, in the request's next ordinary step, which samples the second token (no partial block
// crosses the wire, and greedy output is the same as aggregated serving).
import type { FinishReason } from '../api/index.js';
import type { BlockManager } from './block-manager.js';
import type { HashedSequence } from './hashed-sequence.js';

export interface RequestSink {
  /** A sampled token; `cachedTokens` comes with the first. */
  token(tokenId: number, cachedTokens: number | undefined): void;
  finish(reason: FinishReason, message?: string): void;
}

export interface SchedulerRequest {
  /** Unique among the scheduler's requests and pins (engines key by their own counter). */
  readonly id: string;
  /** Prompt, then the sampled tokens. */
  readonly seq: HashedSequence;
  readonly promptLength: number;
  /** Tokens to sample at most (max_tokens, or what the context length leaves). */
  readonly maxOutputs: number;
  /** Token ids that end the sequence (stop ids, plus EOS unless ignore_eos). */
  readonly stopIds: ReadonlySet<number>;
  readonly sink: RequestSink;
  /**
   * Finish once the first token is sampled ('stop' for a stop id, else 'length'), keeping the prompt's
   * blocks pinned under `id` until releasePin(id).
   */
  readonly prefillOnly?: boolean;
  /** The prompt's KV comes from another worker, which sampled `firstToken`. */
  readonly importKv?: { readonly firstToken: number };
}

export interface StepEntry<R extends SchedulerRequest = SchedulerRequest> {
  readonly req: R;
  /** Tokens with KV before the step: the step computes req.seq.tokens[computed, computed + tokens). */
  readonly computed: number;
  readonly tokens: number;
  /** One token of a request that has output already: a decode step (timing). */
  readonly decode: boolean;
  /** The step computes the sequence's last token: the engine samples the next one. */
  readonly samples: boolean;
}

/** An importKv request admitted in this step: the engine fills the listed blocks, then calls importDone. */
export interface ImportAdmission<R extends SchedulerRequest = SchedulerRequest> {
  readonly req: R;
  /** Indices of the prompt's full blocks this worker lacks (held pending, not yet in the prefix cache). */
  readonly missing: readonly number[];
  /** Their sequence hashes (DESIGN §6), in the same order. */
  readonly missingHashes: readonly string[];
  /**
   * Tokens of the prompt's trailing partial block (its index: the number of full blocks): not imported,
   * computed here with the first token after importDone.
   */
  readonly tailTokens: number;
  /** Prompt tokens whose KV this worker had cached. */
  readonly cachedTokens: number;
}

export interface Step<R extends SchedulerRequest = SchedulerRequest> {
  readonly entries: readonly StepEntry<R>[];
  readonly imports: readonly ImportAdmission<R>[];
  /** Uncached prompt (or recomputed) tokens computed in this step. */
  readonly prefillTokens: number;
  readonly decodes: number;
  /** Active KV blocks / total blocks once the step's blocks are allocated. */
  readonly activeRatio: number;
  /** Requests preempted to make room in this step. */
  readonly preempted: number;
}

export interface SchedulerOptions {
  maxNumSeqs: number;
  /** Tokens computed per step, prefill chunks and decodes together (before any padding). */
  maxNumBatchedTokens: number;
  /**
   * New requests that may wait for admission (preempted ones go back regardless): `full` says when
   * the engine must refuse one (as overloaded) instead of queueing it. Unbounded when absent.
   */
  maxWaiting?: number | undefined;
}

/**
 * Called right after the scheduler changes what the BlockManager holds for a request, so that engine
 * state keyed by blocks (the ONNX engine's KV slots) stays in step with it.
 */
export interface BlockHooks<R extends SchedulerRequest = SchedulerRequest> {
  /** `req` holds blocks for its first `numTokens` tokens; `pending`: indices of blocks held pending. */
  allocated?(req: R, numTokens: number, pending: readonly number[]): void;
  /** importDone committed `req`'s pending blocks; `cached`: the indices now in the prefix cache. */
  committed?(req: R, cached: readonly number[]): void;
  /** `req`'s blocks were released (finished, preempted, import failed, pin released). */
  freed?(req: R): void;
}

const NONE: readonly number[] = [];

type State = 'waiting' | 'running' | 'importing' | 'finished';

interface Entry<R extends SchedulerRequest> {
  readonly req: R;
  computed: number;
  outputs: number;
  /** Prompt tokens found in the prefix cache at first admission. */
  cachedTokens: number | undefined;
  state: State;
}

export class Scheduler<R extends SchedulerRequest = SchedulerRequest> {
  readonly #blocks: BlockManager;
  readonly #options: SchedulerOptions;
  readonly #hooks: BlockHooks<R>;
  readonly #waiting: Entry<R>[] = [];
  readonly #running: Entry<R>[] = [];
  readonly #importing = new Set<Entry<R>>();
  readonly #entries = new Map<string, Entry<R>>();
  readonly #pins = new Map<string, R>();

  constructor(blocks: BlockManager, options: SchedulerOptions, hooks: BlockHooks<R> = {}) {
    this.#blocks = blocks;
    this.#options = options;
    this.#hooks = hooks;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  get running(): number {
    return this.#running.length;
  }

  /** Admitted importKv requests whose blocks the engine is still filling. */
  get importing(): number {
    return this.#importing.size;
  }

  /** Prompt (or recompute) tokens admitted or waiting but not yet computed. */
  get pendingPrefillTokens(): number {
    let n = 0;
    for (const e of this.#entries.values()) {
      if (e.state === 'importing' || (e.req.importKv !== undefined && e.outputs === 0)) continue;
      const left = e.req.seq.length - e.computed;
      if (e.outputs === 0 || left > 1) n += left;
    }
    return n;
  }

  /** Ids of the pins held (prefill-only requests whose blocks wait for releasePin). */
  pinIds(): string[] {
    return [...this.#pins.keys()];
  }

  /** The request a pin holds blocks for: its sequence hashes and the engine's own state (KV slots). */
  pinned(id: string): R | undefined {
    return this.#pins.get(id);
  }

  /** The waiting queue holds `maxWaiting` requests: `add` would refuse another. */
  get full(): boolean {
    const bound = this.#options.maxWaiting;
    return bound !== undefined && this.#waiting.length >= bound;
  }

  /** Queues a request; throws when `full` (engines check it first and refuse as overloaded). */
  add(req: R): void {
    if (this.full) throw new Error(`scheduler: ${this.#waiting.length} requests wait already (maxWaiting)`);
    if (this.#entries.has(req.id) || this.#pins.has(req.id)) {
      throw new Error(`scheduler: request id ${req.id} is in use`);
    }
    if (req.importKv !== undefined && (req.prefillOnly === true || req.seq.length !== req.promptLength)) {
      throw new Error(`scheduler: request ${req.id} imports KV, so it is neither prefill-only nor resumed`);
    }
    const entry: Entry<R> = { req, computed: 0, outputs: 0, cachedTokens: undefined, state: 'waiting' };
    this.#entries.set(req.id, entry);
    this.#waiting.push(entry);
  }

  /** Ends a request now (cancelled, failed, engine closing): its blocks are freed at once. */
  cancel(id: string, reason: FinishReason = 'cancelled', message?: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#finish(entry, reason, message);
    return true;
  }

  /** Ends every request (pins stay: releasePin each of pinIds()). */
  cancelAll(reason: FinishReason = 'cancelled', message?: string): void {
    for (const entry of [...this.#entries.values()]) this.#finish(entry, reason, message);
  }

  /** Frees a pin's blocks. False when there is no such pin (released already, or never made). */
  releasePin(id: string): boolean {
    const req = this.#pins.get(id);
    if (req === undefined) return false;
    this.#pins.delete(id);
    this.#free(req);
    return true;
  }

  /**
   * The engine filled an importing request's missing blocks: they join the prefix cache, the request
   * runs with its full blocks computed, and the prefill worker's first token is its first output
   * (sent to the sink, stop and length checks included), so the next step computes the prompt's tail
   * and that token, and samples the second. False when the request is not importing (cancelled
   * meanwhile, or unknown).
   */
  importDone(id: string): boolean {
    const entry = this.#entries.get(id);
    const first = entry?.req.importKv?.firstToken;
    if (entry === undefined || entry.state !== 'importing' || first === undefined) return false;
    const cached = this.#blocks.commit(id);
    this.#hooks.committed?.(entry.req, cached);
    this.#importing.delete(entry);
    entry.state = 'running';
    entry.computed = Math.floor(entry.req.promptLength / this.#blocks.blockSize) * this.#blocks.blockSize;
    this.#running.push(entry);
    this.#emit(entry, first);
    return true;
  }

  /** The blocks could not be filled: they are freed and the request finishes with 'error'. */
  importFailed(id: string, message: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.state !== 'importing') return false;
    this.#finish(entry, 'error', message);
    return true;
  }

  /** Plans the next step; undefined when nothing can change until a request is added or released. */
  schedule(): Step<R> | undefined {
    const B = this.#blocks.blockSize;
    const total = this.#blocks.totalBlocks;
    let budget = this.#options.maxNumBatchedTokens;
    const entries: StepEntry<R>[] = [];
    const imports: ImportAdmission<R>[] = [];
    let preempted = 0;
    // Blocks this step fills: cached as soon as allocated, but their KV exists only once the step ran,
    // so nothing admitted in this step may count them as computed.
    const filling = new Set<string>();
    const plan = (entry: Entry<R>, tokens: number): void => {
      const { req, computed } = entry;
      const end = computed + tokens;
      for (let i = Math.floor(computed / B); i < Math.floor(end / B); i++) {
        filling.add(req.seq.sequence[i] as string);
      }
      const decode = entry.outputs > 0 && tokens === 1;
      entries.push({ req, computed, tokens, decode, samples: end === req.seq.length });
      budget -= tokens;
    };

    for (let i = 0; i < this.#running.length && budget > 0; i++) {
      const entry = this.#running[i] as Entry<R>;
      const tokens = Math.min(entry.req.seq.length - entry.computed, budget);
      const end = entry.computed + tokens;
      if (Math.ceil(end / B) > total) {
        this.#finish(entry, 'error', tooLarge(end, B, total));
        i--;
        continue;
      }
      // Preemption rule: the latest admitted running request goes first (vLLM's rule), possibly this
      // one. FCFS: the oldest requests keep their progress, so every request finishes eventually; the
      // latest has the least computed, and its prefix usually stays cached for the recompute.
      let fits = this.#allocate(entry, end);
      while (!fits) {
        const victim = this.#running.pop() as Entry<R>; // at least `entry` itself is left
        this.#preempt(victim);
        preempted++;
        if (victim === entry) break;
        fits = this.#allocate(entry, end);
      }
      if (!fits) break; // it was the last one
      plan(entry, tokens);
    }

    // Admit waiting requests, oldest first, unless this step had to preempt.
    while (preempted === 0 && this.#running.length + this.#importing.size < this.#options.maxNumSeqs) {
      const entry = this.#waiting[0];
      if (entry === undefined) break;
      const { req } = entry;
      const length = req.seq.length;
      // Only a request that needs more blocks than the cache has fails; one that does not fit now
      // waits, for running requests to finish, pins to be released or imports to end.
      if (Math.ceil(length / B) > total) {
        this.#finish(entry, 'error', tooLarge(length, B, total));
        continue;
      }
      if (req.importKv !== undefined && entry.outputs === 0) {
        const admitted = this.#admitImport(entry, filling);
        if (admitted === undefined) break;
        imports.push(admitted);
        continue;
      }
      if (budget <= 0) break;
      // Whole cached blocks need no compute (vLLM's rule), but at least one token is computed to
      // sample from; blocks this step fills do not count.
      const limit = Math.min(this.#blocks.matchPrefix(req.seq.sequence), Math.floor((length - 1) / B));
      let reuse = 0;
      while (reuse < limit && !filling.has(req.seq.sequence[reuse] as string)) reuse++;
      const cached = reuse * B;
      const tokens = Math.min(length - cached, budget);
      if (!this.#allocate(entry, cached + tokens)) break; // wait for blocks, keeping arrival order
      this.#waiting.shift();
      entry.computed = cached;
      entry.cachedTokens ??= cached;
      entry.state = 'running';
      this.#running.push(entry);
      plan(entry, tokens);
    }

    if (entries.length === 0 && imports.length === 0 && preempted === 0) return undefined;
    let prefillTokens = 0;
    let decodes = 0;
    for (const e of entries) {
      if (e.decode) decodes++;
      else prefillTokens += e.tokens;
    }
    const activeRatio = this.#blocks.activeBlocks / total;
    return { entries, imports, prefillTokens, decodes, activeRatio, preempted };
  }

  /**
   * Applies an executed step: computed tokens advance, and each request whose tokens are all computed
   * gets `sample(entry)` as its next token. Requests cancelled while the step ran are skipped.
   */
  complete(step: Step<R>, sample: (entry: StepEntry<R>) => number): void {
    for (const e of step.entries) {
      const entry = this.#entries.get(e.req.id);
      if (entry === undefined || entry.req !== e.req || entry.state !== 'running') continue;
      entry.computed = e.computed + e.tokens;
      if (entry.computed < e.req.seq.length) continue; // a prefill chunk
      this.#emit(entry, sample(e));
    }
  }

  #admitImport(entry: Entry<R>, filling: ReadonlySet<string>): ImportAdmission<R> | undefined {
    const { req } = entry;
    const length = req.seq.length;
    const B = this.#blocks.blockSize;
    const fullTokens = Math.floor(length / B) * B;
    const missing = this.#blocks.allocateForImport(req.id, fullTokens, req.seq, filling);
    if (missing === undefined) return undefined;
    this.#hooks.allocated?.(req, fullTokens, missing);
    this.#waiting.shift();
    entry.state = 'importing';
    this.#importing.add(entry);
    entry.cachedTokens = fullTokens - missing.length * B;
    return {
      req,
      missing,
      missingHashes: missing.map((i) => req.seq.sequence[i] as string),
      tailTokens: length % B,
      cachedTokens: entry.cachedTokens,
    };
  }

  #emit(entry: Entry<R>, token: number): void {
    const { req } = entry;
    entry.outputs++;
    req.seq.push(token);
    req.sink.token(token, entry.outputs === 1 ? entry.cachedTokens : undefined);
    const reason: FinishReason | undefined = req.stopIds.has(token)
      ? 'stop'
      : entry.outputs >= req.maxOutputs || req.prefillOnly === true
        ? 'length'
        : undefined;
    if (reason === undefined) return;
    if (req.prefillOnly === true) this.#pin(entry, reason);
    else this.#finish(entry, reason);
  }

  #allocate(entry: Entry<R>, numTokens: number): boolean {
    if (!this.#blocks.allocate(entry.req.id, numTokens, entry.req.seq)) return false;
    this.#hooks.allocated?.(entry.req, numTokens, NONE);
    return true;
  }

  #free(req: R): void {
    this.#blocks.free(req.id);
    this.#hooks.freed?.(req);
  }

  /** `entry` is already out of the running queue. */
  #preempt(entry: Entry<R>): void {
    this.#free(entry.req);
    entry.computed = 0;
    entry.state = 'waiting';
    this.#waiting.unshift(entry);
  }

  #detach(entry: Entry<R>): void {
    if (entry.state === 'importing') this.#importing.delete(entry);
    else {
      const queue = entry.state === 'running' ? this.#running : this.#waiting;
      const i = queue.indexOf(entry);
      if (i >= 0) queue.splice(i, 1);
    }
    entry.state = 'finished';
    this.#entries.delete(entry.req.id);
  }

  /** A prefill-only request ends, its blocks stay held under its id. */
  #pin(entry: Entry<R>, reason: FinishReason): void {
    this.#detach(entry);
    this.#pins.set(entry.req.id, entry.req);
    entry.req.sink.finish(reason);
  }

  #finish(entry: Entry<R>, reason: FinishReason, message?: string): void {
    if (entry.state === 'finished') return;
    this.#detach(entry);
    this.#free(entry.req);
    entry.req.sink.finish(reason, message);
  }
}

function tooLarge(tokens: number, B: number, total: number): string {
  return `the sequence needs ${Math.ceil(tokens / B)} KV blocks for ${tokens} tokens; the cache holds ${total}`;
}
