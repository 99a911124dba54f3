// Two `dynamo worker --engine onnx` processes serving the tiny model on the harness's etcd and NATS:
// the same greedy output on both, a prefix-cache hit that changes nothing in the output, and KV events
// that name the blocks a router will look up. Also `dynamo model tiny` as a command.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ENDPOINTS,
  type GenerateResponse,
  generateResponseSchema,
  type Instance,
  instanceIdSchema,
  type KvEvent,
} from '../../../src/api/index.js';
import { seededRandom } from '../../../src/llm/seeded-random.js';
import { sha256Hex, writeTinyModel } from '../../../src/llm/tiny-model/tiny-model.js';
import { createRuntime, KV_EVENTS, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { computeBlockHashes } from '../../../src/wasm/index.js';
import { sourceCli } from '../../harness/dynamo-process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { tinyModelDir } from '../../harness/tiny-model.js';
import { spawnWorker, type WorkerProcess } from '../../harness/worker-process.js';

const namespace = `onnx${process.pid}`;
const scope = { namespace, component: 'backend' };
const log = createLogger({ level: 'silent' });
let client: Runtime;
let workers: WorkerProcess[] = [];
const events: KvEvent[] = [];

beforeAll(async () => {
  const modelDir = await tinyModelDir();
  client = await createRuntime({
    log,
    etcdEndpoints: [inject('etcdEndpoint')],
    natsServer: inject('natsUrl'),
  });
  await client.eventPlane.subscribe(KV_EVENTS, scope, (e) => events.push(e));
  const args = ['--engine', 'onnx', '--model-dir', modelDir, '--model-name', 'tiny', '--threads', '1'];
  workers = await Promise.all([spawnWorker(namespace, args), spawnWorker(namespace, args)]);
}, 120_000);

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  await client?.close();
});

async function instance(worker: WorkerProcess): Promise<Instance> {
  const found = (await client.discovery.list({ ...scope, endpoint: ENDPOINTS.generate })).find(
    (i) => i.instanceId === worker.instanceId,
  );
  if (!found) throw new Error(`worker ${worker.instanceId} is not in discovery`);
  return found;
}

async function generate(worker: WorkerProcess, tokenIds: number[]): Promise<GenerateResponse[]> {
  const frames: GenerateResponse[] = [];
  const stream = client.requestPlane.call<GenerateResponse>(
    await instance(worker),
    { requestId: 'r', model: 'tiny', tokenIds, sampling: {}, stop: { maxTokens: 10 } },
    { responseSchema: generateResponseSchema },
  );
  for await (const frame of stream) frames.push(frame);
  return frames;
}

const prompt = (seed: number, n: number): number[] => {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(r() * 150_000));
};

describe('dynamo worker --engine onnx', () => {
  it('registers an onnx model card with 16-token blocks', async () => {
    const [a] = workers;
    if (!a) throw new Error('no worker');
    const card = await client.discovery.modelCard(
      { ...scope, endpoint: ENDPOINTS.generate },
      instanceIdSchema.parse(a.instanceId),
    );
    expect(card).toMatchObject({
      name: 'tiny',
      engine: 'onnx',
      kvCacheBlockSize: 16,
      modelTypes: ['chat', 'completions'],
    });
  });

  it('gives the same greedy output on two workers, with and without a cached prefix', async () => {
    const [a, b] = workers;
    if (!a || !b) throw new Error('no workers');
    const shared = prompt(1, 64);
    const first = [...shared, ...prompt(2, 9)];
    const second = [...shared, ...prompt(3, 5)];
    // b computes `second` from scratch, then `first` with their shared 64 tokens from its cache; a
    // computes `first` from scratch, then `second` from its cache. Both pairs must agree.
    const freshSecond = await generate(b, second);
    expect(freshSecond[0]?.cachedTokens).toBe(0);
    const onA = await generate(a, first);
    const onB = await generate(b, first);
    expect(onA[0]?.cachedTokens).toBe(0);
    expect(onB[0]?.cachedTokens).toBe(64);
    expect(onA.flatMap((f) => f.tokenIds)).toHaveLength(10);
    expect(onB.flatMap((f) => f.tokenIds)).toEqual(onA.flatMap((f) => f.tokenIds));
    const cachedSecond = await generate(a, second);
    expect(cachedSecond[0]?.cachedTokens).toBe(64);
    expect(cachedSecond.flatMap((f) => f.tokenIds)).toEqual(freshSecond.flatMap((f) => f.tokenIds));

    // a's KV events name the prompt's blocks as the router hashes them.
    const hashes = computeBlockHashes(first, 16);
    for (let i = 0; i < 100 && events.filter((e) => e.workerId === a.instanceId).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const stored = new Set<string>(
      events
        .filter((e) => e.workerId === a.instanceId)
        .flatMap((e) => (typeof e.data === 'object' && 'stored' in e.data ? e.data.stored.blocks : []))
        .map((bl) => bl.blockHash),
    );
    for (const h of hashes.sequence) expect(stored.has(h)).toBe(true);
  }, 60_000);
});

describe('dynamo model tiny', () => {
  it('writes the same model.onnx as the library for a seed', async () => {
    const out = join(await harnessTempDir('model-tiny'), 'tiny');
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, sourceCli(['model', 'tiny', '--out', out, '--seed', '5']), {
        stdio: 'ignore',
      });
      child.once('exit', resolve);
    });
    expect(code).toBe(0);
    const reference = join(await harnessTempDir('model-tiny-ref'), 'tiny');
    await writeTinyModel({ outDir: reference, seed: 5 });
    const digest = async (dir: string) => sha256Hex(await readFile(join(dir, 'model.onnx')));
    expect(await digest(out)).toBe(await digest(reference));
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect(await readFile(join(out, f), 'utf8')).toBe(await readFile(join(reference, f), 'utf8'));
    }
  }, 60_000);
});
