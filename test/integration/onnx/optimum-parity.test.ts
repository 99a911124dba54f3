// Models as users export them (issue 24): random-weight Qwen2, Qwen3 and Llama 3 models exported by
// `optimum-cli export onnx --task text-generation-with-past`, fp32 and fp16 (test/fixtures/optimum,
// made by scripts/make-optimum-fixtures.py with PyTorch's greedy outputs beside them). Our engine must
// produce PyTorch's tokens exactly — alone, from the prefix cache, batched with chunked prefill, and
// preempted — and `dynamo run` on such a directory must serve /v1/chat/completions with the chat
// template transformers saved as chat_template.jinja, rendered as transformers renders it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { z } from 'zod';
import type { GenerateRequest } from '../../../src/api/index.js';
import { startAllInOne } from '../../../src/cli/all-in-one.js';
import {
  createOnnxEngine,
  type OnnxEngine,
  type OnnxEngineOptions,
} from '../../../src/engines/onnx/index.js';
import { Scheduler } from '../../../src/engines/scheduler.js';
import { createLogger } from '../../../src/runtime/logger.js';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'optimum');
const MODELS = ['qwen2', 'qwen3', 'llama3'] as const;
const DTYPES = ['fp32', 'fp16'] as const;
const log = createLogger({ level: 'silent' });

const greedySchema = z.object({ alone: z.array(z.array(z.number())), batched: z.array(z.array(z.number())) });
const fixtureSchema = z.object({
  prompts: z.array(z.object({ tokenIds: z.array(z.number()), maxTokens: z.number() })),
  sharedPrefixTokens: z.number(),
  chat: z.object({
    messages: z.array(z.object({ role: z.string(), content: z.string() })),
    promptTokenIds: z.array(z.number()),
    maxTokens: z.number(),
    tokenIds: z.array(z.number()),
    text: z.string(),
  }),
  fp32: greedySchema,
  fp16: greedySchema,
});
type Fixture = z.infer<typeof fixtureSchema>;

async function fixture(model: string): Promise<Fixture> {
  const path = join(FIXTURES, model, 'pytorch-greedy.json');
  return fixtureSchema.parse(JSON.parse(await readFile(path, 'utf8')));
}

const engines: OnnxEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

async function engine(modelDir: string, options: Partial<OnnxEngineOptions> = {}): Promise<OnnxEngine> {
  const e = await createOnnxEngine({ modelDir, log, threads: 1, ...options });
  engines.push(e);
  return e;
}

/** Greedy, EOS ignored (as the fixture's PyTorch loop): the tokens and how many prompt tokens were cached. */
async function run(
  e: OnnxEngine,
  tokenIds: number[],
  maxTokens: number,
): Promise<{ tokens: number[]; cached: number }> {
  const request: GenerateRequest = {
    requestId: 'r',
    model: 'm',
    tokenIds,
    sampling: {},
    stop: { maxTokens, ignoreEos: true },
  };
  const tokens: number[] = [];
  let cached = -1;
  for await (const frame of e.generate(request, new AbortController().signal)) {
    if (cached < 0) cached = frame.cachedTokens ?? 0;
    tokens.push(...frame.tokenIds);
  }
  return { tokens, cached };
}

describe.each(MODELS)('optimum export of %s', (model) => {
  test.each(DTYPES)(
    '%s: greedy output equals PyTorch alone, from the prefix cache, batched with chunked prefill, and preempted',
    async (dtype) => {
      const f = await fixture(model);
      const dir = join(FIXTURES, model, dtype);
      const expected = f[dtype];

      // Alone, one after the other: the last two prompts share a prefix, so the last one starts from
      // the prefix cache (whole 16-token blocks of it).
      const e1 = await engine(dir);
      const alone = [];
      for (const p of f.prompts) alone.push(await run(e1, p.tokenIds, p.maxTokens));
      expect(alone.map((r) => r.tokens)).toEqual(expected.alone);
      expect(alone.at(-1)?.cached).toBe(f.sharedPrefixTokens);

      // All at once; a 32-token step budget chunks the long prompts' prefill across steps.
      const e2 = await engine(dir, { maxNumBatchedTokens: 32 });
      const batched = await Promise.all(f.prompts.map((p) => run(e2, p.tokenIds, p.maxTokens)));
      expect(batched.map((r) => r.tokens)).toEqual(expected.batched);

      // Together they need ~30 blocks of 16 tokens; with 8, and prompts admitted 16 tokens at a time, the
      // running ones outgrow the cache: the newest are preempted and recompute (counted from the steps).
      const e3 = await engine(dir, { totalKvBlocks: 8, maxNumBatchedTokens: 16 });
      const schedule = vi.spyOn(Scheduler.prototype, 'schedule');
      let preemptions = 0;
      const preempted = await Promise.all(f.prompts.map((p) => run(e3, p.tokenIds, p.maxTokens))).finally(
        () => {
          for (const r of schedule.mock.results) {
            if (r.type === 'return')
              preemptions += (r.value as { preempted?: number } | undefined)?.preempted ?? 0;
          }
          schedule.mockRestore();
        },
      );
      expect(preemptions).toBeGreaterThan(0);
      expect(preempted.map((r) => r.tokens)).toEqual(expected.alone);
    },
    120_000,
  );

  test('dynamo run serves /v1/chat/completions with chat_template.jinja, as transformers renders it', async () => {
    const f = await fixture(model);
    // As transformers saves it: the template only in chat_template.jinja.
    const dir = join(FIXTURES, model, 'fp32');
    const tokenizerConfig = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
    expect(tokenizerConfig.chat_template).toBeUndefined();
    expect((await readFile(join(dir, 'chat_template.jinja'), 'utf8')).length).toBeGreaterThan(0);
    const d = await startAllInOne(
      {
        workers: 1,
        worker: { modelName: model, engine: { kind: 'onnx', modelDir: dir } },
        frontend: {
          host: '127.0.0.1',
          port: 0,
          migrationLimit: 0,
          busyStatusCode: 529,
          bodyLimitBytes: 1 << 20,
        },
        gracefulShutdownMs: 1000,
      },
      log,
    );
    try {
      const res = await fetch(`${d.frontend.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model,
          messages: f.chat.messages,
          max_tokens: f.chat.maxTokens,
          temperature: 0,
        }),
      });
      const body = (await res.json()) as {
        error?: { code?: string };
        choices?: { message: { content: string } }[];
        usage?: { prompt_tokens: number; completion_tokens: number };
      };
      expect(body.error?.code).not.toBe('model_type_not_supported');
      expect(res.status).toBe(200);
      // The same prompt tokens as transformers' apply_chat_template, and PyTorch's greedy reply.
      expect(body.usage?.prompt_tokens).toBe(f.chat.promptTokenIds.length);
      expect(body.usage?.completion_tokens).toBe(f.chat.tokenIds.length);
      expect(body.choices?.[0]?.message.content).toBe(f.chat.text);
    } finally {
      await d.stop();
    }
  }, 60_000);
});
