// Real Python clients against `dynamo run --engine mocker` (in process): the openai SDK as a user
// calls it (extension fields as extra_body, streaming with usage on every chunk, the Responses
// helpers) and guidellm, a benchmark client whose streamed requests carry
// stream_options.continuous_usage_stats and ignore_eos (issue 21 item 5: they used to 400). Each
// venv comes from scripts/python-env.sh (pinned in test/python/*.txt); when one cannot be created
// (no network to PyPI), its test is skipped with the reason printed.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AllInOne, startAllInOne } from '../../../src/cli/all-in-one.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir } from '../../../src/worker/index.js';

const run = promisify(execFile);

/** The venv's bin directory, or why there is none. */
function venv(requirements: string): { bin: string } | { skip: string } {
  const r = spawnSync('scripts/python-env.sh', [requirements], { encoding: 'utf8', timeout: 900_000 });
  if (r.status === 0) return { bin: r.stdout.trim() };
  const reason = `${requirements}: the venv could not be created (${(r.stderr || String(r.error)).trim().slice(-300)})`;
  console.warn(`skipped: ${reason}`);
  return { skip: reason };
}

const openaiEnv = venv('test/python/openai-sdk.txt');
const guidellmEnv = venv('test/python/guidellm.txt');

describe('Python clients against dynamo run --engine mocker', () => {
  let d: AllInOne;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dynamo-pyclients-'));
    d = await startAllInOne(
      {
        workers: 2,
        worker: { engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), speedupRatio: 10 } },
        frontend: {
          host: '127.0.0.1',
          port: 0,
          migrationLimit: 0,
          busyStatusCode: 529,
          bodyLimitBytes: 1 << 20,
        },
        gracefulShutdownMs: 1000,
      },
      createLogger({ level: 'silent' }),
    );
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf('skip' in openaiEnv)(
    'the openai SDK: chat with extra_body, streamed usage, completions, responses, errors',
    async () => {
      const bin = (openaiEnv as { bin: string }).bin;
      const { stdout } = await run(
        join(bin, 'python'),
        ['test/integration/frontend/python/openai_client.py', `${d.frontend.url}/v1`, d.modelName],
        { timeout: 120_000 },
      );
      const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
      expect(out.chat).toEqual({
        finish_reason: 'length',
        completion_tokens: 8,
        request_id: 'py-1',
        ignored: 'guided_choice',
      });
      // Every chunk carries usage: the role chunk, each with tokens, the finish and the usage chunk.
      expect(out.stream.chunks).toBeGreaterThan(3);
      expect(out.stream.with_usage).toBe(out.stream.chunks);
      expect(out.completion).toEqual({ tokens: 5 });
      expect(out.responses).toEqual({ status: 'incomplete', output_tokens: 6 });
      expect(out.responses_stream).toEqual({
        deltas: 6,
        last: 'response.incomplete',
        status: 'incomplete',
        output_tokens: 6,
      });
      expect(out.not_found).toBe(404);
    },
    180_000,
  );

  it.skipIf('skip' in guidellmEnv)(
    'guidellm: a short streamed benchmark completes every request',
    async () => {
      const bin = (guidellmEnv as { bin: string }).bin;
      const report = join(dir, 'guidellm.json');
      await run(
        join(bin, 'guidellm'),
        [
          'run',
          '--backend',
          `kind=openai_http,target=${d.frontend.url}`,
          '--profile',
          'kind=concurrent,streams=2',
          '--constraint',
          'kind=max_requests,count=6',
          '--data',
          'kind=synthetic_text,prompt_tokens=32,output_tokens=8',
          '--tokenizer',
          `kind=huggingface_auto,model=${defaultTokenizerDir()}`,
          '--disable-console',
          '--output',
          `kind=json,path=${report}`,
        ],
        { timeout: 170_000, cwd: dir, env: { ...process.env, HF_HUB_OFFLINE: '1' } },
      );
      const json = JSON.parse(await readFile(report, 'utf8'));
      const bench = json.benchmarks[0];
      expect(bench.scheduler_metrics.requests_made).toMatchObject({
        successful: 6,
        errored: 0,
        incomplete: 0,
      });
      // ignore_eos: every request ran to its output_tokens.
      expect(bench.metrics.output_token_count.successful.total_sum).toBe(48);
      expect(bench.metrics.time_to_first_token_ms.successful.mean).toBeGreaterThan(0);
    },
    180_000,
  );
});
