// `dynamo worker --engine mocker` as its own process on the harness's etcd and NATS, seen from a
// client runtime as a frontend and a router see it: discovery (instance + card), generate over NATS,
// numbered KV events and a kv_dump that agrees with them, model files in slices under the NATS payload
// limit, load metrics, the system server, and a graceful stop on SIGTERM.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ENDPOINTS,
  type GenerateResponse,
  generateResponseSchema,
  type Instance,
  instanceIdSchema,
  type KvDump,
  type KvEvent,
  type KvEventData,
  kvDumpSchema,
  type LoadMetrics,
  type ModelFile,
  modelFileSchema,
} from '../../../src/api/index.js';
import { createRuntime, KV_EVENTS, LOAD_METRICS, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir } from '../../../src/worker/index.js';
import { spawnWorker } from '../../harness/worker-process.js';

const log = createLogger({ level: 'silent' });
const namespace = `wtest${process.pid}`;
const scope = { namespace, component: 'backend' };

let child: ChildProcess;
let exited: Promise<number | null>;
let client: Runtime;
let systemPort = 0;
let workerId = '';
const events: KvEvent[] = [];
const load: LoadMetrics[] = [];

beforeAll(async () => {
  client = await createRuntime({
    log,
    etcdEndpoints: [inject('etcdEndpoint')],
    natsServer: inject('natsUrl'),
  });
  await client.eventPlane.subscribe(KV_EVENTS, scope, (e) => events.push(e));
  await client.eventPlane.subscribe(LOAD_METRICS, scope, (m) => load.push(m));
  ({
    child,
    exited,
    systemPort,
    instanceId: workerId,
  } = await spawnWorker(namespace, [
    ...['--engine', 'mocker', '--num-gpu-blocks', '64', '--block-size', '4', '--speedup-ratio', '1000'],
    ...['--load-metrics-interval-ms', '50', '--graceful-shutdown-ms', '5000'],
  ]));
}, 120_000);

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  await client?.close();
});

async function instanceOf(endpoint: string): Promise<Instance> {
  const instance = (await client.discovery.list({ ...scope, endpoint })).find(
    (i) => i.instanceId === workerId,
  );
  if (!instance) throw new Error(`no instance of ${endpoint}`);
  return instance;
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function cacheOf(data: readonly KvEventData[]): Set<string> {
  const set = new Set<string>();
  for (const e of data) {
    if (e === 'cleared') set.clear();
    else if ('stored' in e) for (const b of e.stored.blocks) set.add(b.blockHash);
    else for (const h of e.removed.blockHashes) set.delete(h);
  }
  return set;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

describe('dynamo worker --engine mocker (etcd + NATS)', () => {
  it('registers its instance and model card in etcd', async () => {
    const card = await client.discovery.modelCard(
      { ...scope, endpoint: ENDPOINTS.generate },
      instanceIdSchema.parse(workerId),
    );
    const tokenizer = await readFile(join(defaultTokenizerDir(), 'tokenizer.json'), 'utf8');
    expect(card).toMatchObject({ name: 'mocker', engine: 'mocker', kvCacheBlockSize: 4, totalKvBlocks: 64 });
    expect(card?.tokenizerChecksum).toBe(sha256(tokenizer));
  });

  it('serves the tokenizer in slices, each under the NATS payload limit', async () => {
    const frames = await collect(
      client.requestPlane.call<ModelFile>(
        await instanceOf(ENDPOINTS.modelFiles),
        { file: 'tokenizer.json' },
        {
          responseSchema: modelFileSchema,
        },
      ),
    );
    expect(frames.length).toBeGreaterThan(1);
    const content = frames.map((f) => f.content).join('');
    expect(sha256(content)).toBe(frames[0]?.checksum);
    for (const f of frames) expect(Buffer.byteLength(JSON.stringify(f))).toBeLessThan(1024 * 1024);
  });

  it('generates over NATS; KV events are numbered and kv_dump agrees with them', async () => {
    const generate = await instanceOf(ENDPOINTS.generate);
    const call = (requestId: string, tokenIds: number[]) =>
      collect(
        client.requestPlane.call<GenerateResponse>(
          generate,
          { requestId, model: 'mocker', tokenIds, sampling: {}, stop: { maxTokens: 5 } },
          { responseSchema: generateResponseSchema },
        ),
      );
    const first = await call('a', range(1, 12));
    expect(first.flatMap((f) => f.tokenIds)).toHaveLength(5);
    expect(first.at(-1)?.finishReason).toBe('length');
    const second = await call('b', [...range(1, 8), 90, 91, 92, 93]);
    expect(second[0]?.cachedTokens).toBe(8);

    await until(() => events.length > 0 && cacheOf(events.map((e) => e.data)).size >= 5, 'KV events');
    expect(events.map((e) => e.eventId)).toEqual(range(0, events.length));
    for (const e of events) expect(e.workerId).toBe(workerId);

    const dump = await collect(
      client.requestPlane.call<KvDump>(
        await instanceOf(ENDPOINTS.kvDump),
        {},
        { responseSchema: kvDumpSchema },
      ),
    );
    expect(dump[0]?.lastEventId).toBe(events.length - 1);
    expect(cacheOf(dump.flatMap((d) => d.events))).toEqual(cacheOf(events.map((e) => e.data)));
  });

  it('publishes load metrics and answers its system server', async () => {
    await until(() => load.some((m) => m.workerId === workerId), 'load metrics');
    expect(load.at(-1)).toMatchObject({ workerId, totalBlocks: 64 });
    expect((await fetch(`http://127.0.0.1:${systemPort}/live`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${systemPort}/health`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${systemPort}/metrics`)).text();
    expect(metrics).toMatch(/dynamo_component_requests_total\{[^}]*dynamo_endpoint="generate"[^}]*\} [1-9]/);
  });

  it('leaves discovery and exits 0 on SIGTERM', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await client.discovery.list({ ...scope, endpoint: ENDPOINTS.generate })).toEqual([]);
  });
});
