// The endpoint picker's worker hint (x-dynamo-worker-instance-id) at the frontend: with
// trustWorkerHint the request goes to the hinted worker in kv and round-robin modes, recorded by the
// router as any decision (x-dynamo-route names it); a hint naming no live worker, or a busy one, is
// ignored and counted; without trust the header does not pin anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateRequest, InstanceId } from '../../../src/api/index.js';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import type { RouteExplanation, RouterSettings } from '../../../src/router/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { serveTestWorker, type TestWorkerOptions } from './test-worker.js';

const log = createLogger({ level: 'silent' });
const HINT = 'x-dynamo-worker-instance-id';

interface Setup {
  frontend: Frontend;
  ids: [InstanceId, InstanceId];
  /** Requests each worker received, by instance id. */
  seen: Map<InstanceId, number>;
  close(): Promise<void>;
}

async function setUp(
  router: Partial<RouterSettings>,
  trustWorkerHint: boolean,
  workerOptions: TestWorkerOptions[] = [],
): Promise<Setup> {
  const hub = new MemoryHub();
  const seen = new Map<InstanceId, number>();
  const workers: Runtime[] = [];
  for (let i = 0; i < 2; i++) {
    const w = await createRuntime({ log, memory: hub });
    seen.set(w.instanceId, 0);
    await serveTestWorker(w, {
      ...workerOptions[i],
      onRequest: (_req: GenerateRequest) => seen.set(w.instanceId, (seen.get(w.instanceId) ?? 0) + 1),
    });
    workers.push(w);
  }
  const runtime = await createRuntime({ log, memory: hub });
  const frontend = await startFrontend(
    {
      host: '127.0.0.1',
      port: 0,
      migrationLimit: 0,
      busyStatusCode: 529,
      bodyLimitBytes: 1 << 20,
      router: { useKvEvents: false, routeDebug: true, ...router },
      trustWorkerHint,
    },
    runtime,
    log,
  );
  // Both workers known to the model's router.
  for (let i = 0; i < 300; i++) {
    const res = await fetch(`${frontend.url}/v1/models`);
    const body = (await res.json()) as { data: unknown[] };
    if (body.data.length > 0 && (await routedTo(frontend, {})).ok) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  for (const id of seen.keys()) seen.set(id, 0);
  return {
    frontend,
    ids: workers.map((w) => w.instanceId) as [InstanceId, InstanceId],
    seen,
    async close() {
      await frontend.close();
      for (const w of workers) await w.close();
      await runtime.close();
    },
  };
}

async function routedTo(
  frontend: Frontend,
  headers: Record<string, string>,
): Promise<{ ok: boolean; route: RouteExplanation[] }> {
  const res = await fetch(`${frontend.url}/v1/completions`, {
    method: 'POST',
    signal: AbortSignal.timeout(60_000),
    headers: { 'content-type': 'application/json', 'x-dynamo-route-debug': '1', ...headers },
    body: JSON.stringify({
      model: 'test-model',
      prompt: 'a prompt shared by every request here',
      max_tokens: 2,
    }),
  });
  await res.arrayBuffer();
  return { ok: res.ok, route: JSON.parse(res.headers.get('x-dynamo-route') ?? '[]') as RouteExplanation[] };
}

async function hintMetric(frontend: Frontend, result: string): Promise<number> {
  const text = await (await fetch(`${frontend.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`dynamo_frontend_worker_hint_total{model="test-model",result="${result}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe.each([
  ['kv', { mode: 'kv' }],
  ['round-robin', { mode: 'round-robin' }],
] as const)('a trusted worker hint in %s mode', (mode, router: Partial<RouterSettings>) => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp(router, true);
  });
  afterAll(() => s?.close());

  it('sends every request to the hinted worker, recorded as a decision of the router', async () => {
    for (const target of s.ids) {
      for (let i = 0; i < 4; i++) {
        const r = await routedTo(s.frontend, { [HINT]: target.toUpperCase() });
        expect(r.ok).toBe(true);
        expect(r.route).toHaveLength(1);
        expect(r.route[0]).toMatchObject({ mode, chosen: target });
      }
    }
    expect([...s.seen.values()]).toEqual([4, 4]);
    expect(await hintMetric(s.frontend, 'honoured')).toBe(8);
  });

  it('ignores (and counts) a hint naming no live worker: routed as usual', async () => {
    const r = await routedTo(s.frontend, { [HINT]: 'feedfacefeedface' });
    expect(r.ok).toBe(true);
    expect(s.ids).toContain(r.route[0]?.chosen);
    expect(r.route[0]?.candidates).toHaveLength(2);
    expect(await hintMetric(s.frontend, 'ignored')).toBe(1);
  });
});

describe('an untrusted worker hint', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({ mode: 'round-robin' }, false);
  });
  afterAll(() => s?.close());

  it('pins nothing: round-robin spreads the requests over both workers', async () => {
    for (let i = 0; i < 6; i++) expect((await routedTo(s.frontend, { [HINT]: s.ids[0] })).ok).toBe(true);
    expect([...s.seen.values()]).toEqual([3, 3]);
    expect(await hintMetric(s.frontend, 'honoured')).toBe(0);
  });
});

describe('a trusted hint naming a busy worker', () => {
  let s: Setup;
  beforeAll(async () => {
    // One running request makes a worker busy; worker 0 is slow (a second per token).
    s = await setUp({ mode: 'kv', busyThreshold: 0.01 }, true, [
      { tokenDelayMs: 1000, reply: 'one more word '.repeat(30) },
      {},
    ]);
  });
  afterAll(() => s?.close());

  it('is ignored while the worker is busy: the request goes to the other worker, counted', async () => {
    const [busy, free] = s.ids;
    const hang = new AbortController();
    const first = fetch(`${s.frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [HINT]: busy },
      // Holds worker 0 for ~60 s, far past the test: aborted at its end.
      body: JSON.stringify({ model: 'test-model', prompt: 'hold the worker', max_tokens: 60, stream: true }),
      signal: hang.signal,
    }).then(
      async (res) => res.body?.pipeTo(new WritableStream()).catch(() => {}),
      () => {},
    );
    for (let i = 0; i < 500 && s.seen.get(busy) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(s.seen.get(busy)).toBe(1);
    const r = await routedTo(s.frontend, { [HINT]: busy });
    expect(r.ok).toBe(true);
    expect(r.route[0]).toMatchObject({ chosen: free, busy: [busy] });
    expect(await hintMetric(s.frontend, 'honoured')).toBe(1);
    expect(await hintMetric(s.frontend, 'ignored')).toBe(1);
    hang.abort();
    await first;
  });
});
