// The mocker's scheduler, modelled on vLLM's (v1) and Dynamo's mocker: a waiting and a running queue,
// a token budget per step, chunked prefill, and preemption by recompute when KV blocks run out. Pure:
// the engine asks for a step, lets the simulated time pass, then completes it.
//
//   add ──▶ waiting ──admit (budget, max seqs, blocks)──▶ running ──done──▶ freed
//              ▲                                            │
//              └────── preempted (blocks freed, recompute) ◀┘
//
// A request's `computed` tokens have KV; each step computes up to its remaining tokens (the prompt,
// in chunks, then one token per decode step). When all its tokens are computed it samples one more.
import type { FinishReason } from '../../api/index.js';
import type { BlockManager } from '../block-manager.js';
import type { HashedSequence } from '../hashed-sequence.js';

export interface RequestSink {
  /** A sampled token; `cachedTokens` comes with the first. */
  token(tokenId: number, cachedTokens: number | undefined): void;
  finish(reason: FinishReason, message?: string): void;
}

export interface SchedulerRequest {
  readonly id: string;
  /** Prompt, then the sampled tokens. */
  readonly seq: HashedSequence;
  readonly promptLength: number;
  /** Tokens to sample at most (max_tokens, or what the context length leaves). */
  readonly maxOutputs: number;
  /** Token ids that end the sequence (stop ids, plus EOS unless ignore_eos). */
  readonly stopIds: ReadonlySet<number>;
  /** The next token, given how many were sampled before: deterministic, so a recompute changes nothing. */
  readonly sample: (index: number) => number;
  readonly sink: RequestSink;
}

interface Entry {
  readonly req: SchedulerRequest;
  computed: number;
  outputs: number;
  /** Prompt tokens found in the prefix cache at first admission. */
  cachedTokens: number | undefined;
  state: 'waiting' | 'running' | 'finished';
}

export interface StepEntry {
  readonly entry: Entry;
  readonly tokens: number;
  readonly decode: boolean;
}

export interface Step {
  readonly entries: readonly StepEntry[];
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
  maxNumBatchedTokens: number;
}

export class Scheduler {
  readonly #blocks: BlockManager;
  readonly #options: SchedulerOptions;
  readonly #waiting: Entry[] = [];
  readonly #running: Entry[] = [];
  readonly #entries = new Map<string, Entry>();

  constructor(blocks: BlockManager, options: SchedulerOptions) {
    this.#blocks = blocks;
    this.#options = options;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  get running(): number {
    return this.#running.length;
  }

  /** Prompt (or recompute) tokens admitted or waiting but not yet computed. */
  get pendingPrefillTokens(): number {
    let n = 0;
    for (const e of this.#entries.values()) {
      const left = e.req.seq.length - e.computed;
      if (e.outputs === 0 || left > 1) n += left;
    }
    return n;
  }

  /** Queues a request; its id must be new. */
  add(req: SchedulerRequest): void {
    const entry: Entry = { req, computed: 0, outputs: 0, cachedTokens: undefined, state: 'waiting' };
    this.#entries.set(req.id, entry);
    this.#waiting.push(entry);
  }

  /** Ends a request now (cancelled or engine closing): its blocks are freed at once. */
  cancel(id: string, reason: FinishReason = 'cancelled'): void {
    const entry = this.#entries.get(id);
    if (entry !== undefined) this.#finish(entry, reason);
  }

  cancelAll(reason: FinishReason = 'cancelled'): void {
    for (const entry of [...this.#entries.values()]) this.#finish(entry, reason);
  }

  /** Plans the next step; undefined when there is nothing to do. */
  schedule(): Step | undefined {
    const B = this.#blocks.blockSize;
    let budget = this.#options.maxNumBatchedTokens;
    const entries: StepEntry[] = [];
    let preempted = 0;

    for (let i = 0; i < this.#running.length && budget > 0; i++) {
      const entry = this.#running[i] as Entry;
      const tokens = Math.min(entry.req.seq.length - entry.computed, budget);
      let fits = this.#blocks.allocate(entry.req.id, entry.computed + tokens, entry.req.seq);
      // Preempt from the back of the queue (the latest admitted) until this one fits.
      while (!fits) {
        const victim = this.#running.pop();
        if (victim === undefined) break;
        if (victim === entry) {
          if (this.#running.length === 0) {
            // Alone and still short: it needs more blocks than the whole cache has.
            this.#finish(entry, 'error', 'the sequence needs more KV blocks than the cache holds');
          } else {
            this.#preempt(entry);
            preempted++;
          }
          break;
        }
        this.#preempt(victim);
        preempted++;
        fits = this.#blocks.allocate(entry.req.id, entry.computed + tokens, entry.req.seq);
      }
      if (!fits) break;
      const decode = entry.outputs > 0 && tokens === 1;
      entries.push({ entry, tokens, decode });
      budget -= tokens;
    }

    // Admit waiting requests (oldest first) unless this step had to preempt.
    while (preempted === 0 && budget > 0 && this.#running.length < this.#options.maxNumSeqs) {
      const entry = this.#waiting[0];
      if (entry === undefined) break;
      const length = entry.req.seq.length;
      // Cached leading blocks need no compute; at least one token is computed to sample from.
      const cached = Math.min(this.#blocks.matchPrefix(entry.req.seq.sequence) * B, length - 1);
      const tokens = Math.min(length - cached, budget);
      if (!this.#blocks.allocate(entry.req.id, cached + tokens, entry.req.seq)) {
        if (this.#running.length === 0) {
          this.#finish(entry, 'error', 'the sequence needs more KV blocks than the cache holds');
          continue;
        }
        break; // wait for blocks, keeping arrival order
      }
      this.#waiting.shift();
      entry.computed = cached;
      entry.cachedTokens ??= cached;
      entry.state = 'running';
      this.#running.push(entry);
      entries.push({ entry, tokens, decode: false });
      budget -= tokens;
    }

    if (entries.length === 0) return undefined;
    let prefillTokens = 0;
    let decodes = 0;
    for (const e of entries) {
      if (e.decode) decodes++;
      else prefillTokens += e.tokens;
    }
    const activeRatio = this.#blocks.activeBlocks / this.#blocks.totalBlocks;
    return { entries, prefillTokens, decodes, activeRatio, preempted };
  }

  /** Applies a step once its time has passed: computed tokens advance, finished prompts sample. */
  complete(step: Step): void {
    for (const { entry, tokens } of step.entries) {
      if (entry.state !== 'running') continue; // cancelled or preempted meanwhile
      entry.computed += tokens;
      const { req } = entry;
      if (entry.computed < req.seq.length) continue; // a prefill chunk
      const token = req.sample(entry.outputs);
      entry.outputs++;
      req.seq.push(token);
      req.sink.token(token, entry.outputs === 1 ? entry.cachedTokens : undefined);
      if (req.stopIds.has(token)) this.#finish(entry, 'stop');
      else if (entry.outputs >= req.maxOutputs) this.#finish(entry, 'length');
    }
  }

  #preempt(entry: Entry): void {
    this.#blocks.free(entry.req.id);
    entry.computed = 0;
    entry.state = 'waiting';
    this.#waiting.unshift(entry);
  }

  #finish(entry: Entry, reason: FinishReason, message?: string): void {
    if (entry.state === 'finished') return;
    const queue = entry.state === 'running' ? this.#running : this.#waiting;
    const i = queue.indexOf(entry);
    if (i >= 0) queue.splice(i, 1);
    entry.state = 'finished';
    this.#entries.delete(entry.req.id);
    this.#blocks.free(entry.req.id);
    entry.req.sink.finish(reason, message);
  }
}
