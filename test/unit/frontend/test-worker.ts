// A scripted worker for the frontend's tests: serves `generate` and `model_files` on a runtime, with
// the real Qwen3 tokenizer files. It answers each request with a fixed text, one token per frame, and
// can be told to die after some tokens (to test migration) or to stall (to test disconnects).
import { createHash } from 'node:crypto';
import {
  DEFAULT_NAMESPACE,
  DEFAULT_WORKER_COMPONENT,
  ENDPOINTS,
  type GenerateRequest,
  type GenerateResponse,
  generateRequestSchema,
  type ModelCard,
  type ModelFile,
  modelFileRequestSchema,
  type TokenLogprob,
} from '../../../src/api/index.js';
import { loadTokenizer } from '../../../src/llm/tokenizer.js';
import type { Runtime } from '../../../src/runtime/index.js';
import { tokenizerFiles } from '../llm/fixtures.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export const QWEN = tokenizerFiles('qwen3');
export const qwenTokenizer = loadTokenizer(QWEN.tokenizerJson, QWEN.tokenizerConfigJson);
const IM_END = 151645;

export interface TestWorkerOptions {
  name?: string;
  reply?: string;
  contextLength?: number;
  /** Time between tokens (default: the next turn of the event loop). */
  tokenDelayMs?: number;
  /** Stop producing (and hang) after this many tokens of each request. */
  stallAfter?: number;
  /** Called with every request the worker receives. */
  onRequest?: (request: GenerateRequest) => void;
  /** Called when a request's signal aborts. */
  onCancel?: (requestId: string) => void;
  /** Wait before the first token (a long prefill). */
  firstTokenDelayMs?: number;
  /** The generate endpoint's stream bound (refuses more with `overloaded`). */
  maxStreams?: number;
  /** Per request: another reply, or a failure (the handler throws) after this many tokens. */
  script?: (request: GenerateRequest) => { reply?: string; failAfter?: number } | undefined;
}

/** One past the largest token id of the Qwen3 tokenizer (its vocabulary and added tokens). */
export const QWEN_ID_LIMIT = (() => {
  const json = JSON.parse(QWEN.tokenizerJson) as {
    model: { vocab: Record<string, number> };
    added_tokens: { id: number }[];
  };
  let max = 0;
  for (const id of Object.values(json.model.vocab)) max = Math.max(max, id);
  for (const t of json.added_tokens) max = Math.max(max, t.id);
  return max + 1;
})();

export function testCard(name: string, contextLength = 4096): ModelCard {
  return {
    name,
    modelTypes: ['chat', 'completions'],
    engine: 'mocker',
    contextLength,
    kvCacheBlockSize: 16,
    totalKvBlocks: 1024,
    maxNumSeqs: 64,
    maxNumBatchedTokens: 8192,
    vocabSize: QWEN_ID_LIMIT,
    eosTokenIds: [IM_END],
    tokenizerChecksum: sha256(QWEN.tokenizerJson),
    tokenizerConfigChecksum: sha256(QWEN.tokenizerConfigJson),
    disaggregationMode: 'agg',
  };
}

/** The logprobs the scripted worker reports for a token: the token first among `k` alternatives. */
export function scriptedLogprob(token: number, k: number): TokenLogprob {
  const logprob = -((token % 7) + 1) / 8;
  return { logprob, top: Array.from({ length: k }, (_, i) => [token + i, logprob - i] as [number, number]) };
}

/** Serves the endpoints on `runtime`; the reply continues from wherever the prompt's reply left off. */
export async function serveTestWorker(runtime: Runtime, options: TestWorkerOptions = {}): Promise<void> {
  const name = options.name ?? 'test-model';
  const card = testCard(name, options.contextLength);
  const defaultIds = [
    ...qwenTokenizer.encode(options.reply ?? 'Hello there, how are you today?', false),
    IM_END,
  ];
  const ep = (endpoint: string) => ({
    namespace: DEFAULT_NAMESPACE,
    component: DEFAULT_WORKER_COMPONENT,
    endpoint,
  });

  await runtime.serveEndpoint(
    ep(ENDPOINTS.modelFiles),
    async function* (req): AsyncIterable<ModelFile> {
      const content = req.file === 'tokenizer.json' ? QWEN.tokenizerJson : QWEN.tokenizerConfigJson;
      yield { file: req.file, checksum: sha256(content), content };
    },
    { requestSchema: modelFileRequestSchema },
  );
  await runtime.serveEndpoint(
    ep(ENDPOINTS.generate),
    async function* (req, ctx): AsyncIterable<GenerateResponse> {
      options.onRequest?.(req);
      ctx.signal.addEventListener('abort', () => options.onCancel?.(req.requestId), { once: true });
      const script = options.script?.(req);
      const replyIds =
        script?.reply === undefined ? defaultIds : [...qwenTokenizer.encode(script.reply, false), IM_END];
      // A migrated request carries the reply so far at the end of its prompt: continue after it.
      let start = 0;
      for (let k = Math.min(replyIds.length, req.tokenIds.length); k > 0; k--) {
        if (req.tokenIds.slice(-k).every((t, i) => t === replyIds[i])) {
          start = k;
          break;
        }
      }
      if (options.firstTokenDelayMs !== undefined && start === 0)
        await new Promise((resolve) => setTimeout(resolve, options.firstTokenDelayMs));
      const max = req.stop.maxTokens ?? Number.POSITIVE_INFINITY;
      const ids = req.stop.ignoreEos ? replyIds.slice(0, -1) : replyIds;
      let produced = 0;
      for (let i = start; ; i++) {
        if (options.stallAfter !== undefined && produced >= options.stallAfter) {
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
          return;
        }
        if (script?.failAfter !== undefined && produced >= script.failAfter)
          throw new Error('scripted failure');
        const token = ids[i % ids.length] as number;
        produced++;
        const last = token === IM_END || produced >= max;
        const frame: GenerateResponse = { tokenIds: [token] };
        if (i === start) frame.cachedTokens = 0;
        if (req.sampling.logprobs !== undefined)
          frame.logprobs = [scriptedLogprob(token, req.sampling.logprobs)];
        if (last) frame.finishReason = token === IM_END ? 'stop' : 'length';
        yield frame;
        if (last) return;
        await new Promise((resolve) =>
          options.tokenDelayMs === undefined
            ? setImmediate(resolve)
            : setTimeout(resolve, options.tokenDelayMs),
        );
      }
    },
    {
      requestSchema: generateRequestSchema,
      card,
      ...(options.maxStreams === undefined ? {} : { maxStreams: options.maxStreams }),
    },
  );
}
