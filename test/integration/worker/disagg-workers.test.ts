// Disaggregated serving across processes (DESIGN §12): `dynamo worker --engine onnx` as a prefill worker
// and as a decode worker on the harness's etcd and NATS, KV bytes moving over the TCP data plane; the
// same greedy output as an aggregated worker, and a typed error when the prefill worker is gone.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ENDPOINTS,
  type GenerateRequest,
  type GenerateResponse,
  generateResponseSchema,
  type Instance,
  type KvTransferDescriptor,
} from '../../../src/api/index.js';
import { seededRandom } from '../../../src/llm/seeded-random.js';
import { createRuntime, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { tinyModelDir } from '../../harness/tiny-model.js';
import { spawnWorker, type WorkerProcess } from '../../harness/worker-process.js';

const namespace = `disagg${process.pid}`;
const log = createLogger({ level: 'silent' });
let client: Runtime;
let agg: WorkerProcess;
let prefill: WorkerProcess;
let decode: WorkerProcess;

beforeAll(async () => {
  const modelDir = await tinyModelDir();
  client = await createRuntime({
    log,
    etcdEndpoints: [inject('etcdEndpoint')],
    natsServer: inject('natsUrl'),
  });
  const args = ['--engine', 'onnx', '--model-dir', modelDir, '--model-name', 'tiny', '--threads', '1'];
  [agg, prefill, decode] = await Promise.all([
    spawnWorker(namespace, [...args, '--component', 'agg'], 'agg'),
    spawnWorker(
      namespace,
      [...args, '--component', 'prefill', '--disaggregation-mode', 'prefill'],
      'prefill',
    ),
    spawnWorker(namespace, [...args, '--component', 'decode', '--disaggregation-mode', 'decode'], 'decode'),
  ]);
}, 120_000);

afterAll(async () => {
  for (const w of [agg, prefill, decode]) if (w && w.child.exitCode === null) w.child.kill('SIGKILL');
  await client?.close();
});

async function instance(component: string): Promise<Instance> {
  const [found] = await client.discovery.list({ namespace, component, endpoint: ENDPOINTS.generate });
  if (!found) throw new Error(`${component} is not in discovery`);
  return found;
}

async function call(component: string, request: GenerateRequest): Promise<GenerateResponse[]> {
  const frames: GenerateResponse[] = [];
  const stream = client.requestPlane.call(await instance(component), request, {
    responseSchema: generateResponseSchema,
  });
  for await (const frame of stream) frames.push(frame);
  return frames;
}

function request(tokenIds: number[], disagg?: GenerateRequest['disagg']): GenerateRequest {
  return {
    requestId: `r${Math.random()}`,
    model: 'tiny',
    tokenIds,
    sampling: {},
    stop: { maxTokens: 8 },
    ...(disagg === undefined ? {} : { disagg }),
  };
}

const prompt = (seed: number, n: number): number[] => {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(r() * 150_000));
};
const tokensOf = (frames: readonly GenerateResponse[]) => frames.flatMap((f) => f.tokenIds);

describe('dynamo worker --disaggregation-mode (onnx, TCP data plane)', () => {
  it('prefill and decode workers give the aggregated greedy output; a dead prefill worker is a typed error', async () => {
    const card = await client.discovery.modelCard(
      { namespace, component: 'prefill', endpoint: ENDPOINTS.generate },
      (await instance('prefill')).instanceId,
    );
    expect(card).toMatchObject({
      disaggregationMode: 'prefill',
      kvDataPlane: { kind: 'tcp', host: '127.0.0.1' },
    });
    for (const p of [prompt(1, 70), prompt(2, 33)]) {
      const expected = tokensOf(await call('agg', request(p)));
      const pre = await call('prefill', request(p, { phase: 'prefill' }));
      const last = pre.at(-1) as GenerateResponse;
      const descriptor = last.transfer as KvTransferDescriptor;
      expect(descriptor.address.kind).toBe('tcp');
      const first = last.tokenIds[0] as number;
      const dec = await call('decode', request(p, { phase: 'decode', firstTokenId: first, descriptor }));
      expect([first, ...tokensOf(dec)]).toEqual(expected);
    }
    const orphan = (await call('prefill', request(prompt(3, 50), { phase: 'prefill' }))).at(
      -1,
    ) as GenerateResponse;
    prefill.child.kill('SIGKILL');
    await prefill.exited;
    const failed = await call(
      'decode',
      request(prompt(3, 50), {
        phase: 'decode',
        firstTokenId: orphan.tokenIds[0] as number,
        descriptor: orphan.transfer as KvTransferDescriptor,
      }),
    );
    expect(failed).toEqual([
      {
        tokenIds: [],
        finishReason: 'error',
        transferError: expect.objectContaining({ code: 'unreachable' }),
      },
    ]);
  }, 60_000);
});
