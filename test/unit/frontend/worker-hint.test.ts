// The endpoint picker's worker hint (x-dynamo-worker-instance-id) at the frontend: with
// trustWorkerHint the request goes to the hinted worker in kv and round-robin modes, recorded by the
// router as any decision (x-dynamo-route names it); a hint naming no live worker, or a busy one, is
// ignored and counted; without trust the header does not pin anything; with a shared secret only a hint
// that carries it (x-dynamo-worker-hint-token) pins, the others are refused and counted.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateRequest, InstanceId } from '../../../src/api/index.js';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import type { RouteExplanation, RouterSettings } from '../../../src/router/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { serveTestWorker, type TestWorkerOptions } from './test-worker.js';

const log = createLogger({ level: 'silent' });
const HINT = 'x-dynamo-worker-instance-id';
const TOKEN = 'x-dynamo-worker-hint-token';

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
  workerHintSecretFile?: string,
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
      workerHintSecretFile,
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

describe('a worker hint guarded by a shared secret', () => {
  const secret = 'a3f1c09e7b5d2468ace0f1e2d3c4b5a697887766554433221100ffeeddccbbaa';
  let dir: string;
  let s: Setup;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dynamo-hint-secret-'));
    // As `echo` writes it: the trailing newline is not part of the secret.
    await writeFile(join(dir, 'token'), `${secret}\n`);
    s = await setUp({ mode: 'round-robin' }, true, [], join(dir, 'token'));
  });
  afterAll(async () => {
    await s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a hint without the token, or with a wrong one: routed as usual, counted', async () => {
    const [target] = s.ids;
    const wrong = [undefined, '', secret.slice(0, -1), `${secret}0`, secret.toUpperCase()];
    for (const token of [...wrong, ...wrong]) {
      const r = await routedTo(s.frontend, {
        [HINT]: target,
        ...(token === undefined ? {} : { [TOKEN]: token }),
      });
      expect(r.ok).toBe(true);
    }
    // Round-robin over both workers: the hint pinned nothing.
    expect([...s.seen.values()]).toEqual([5, 5]);
    expect(await hintMetric(s.frontend, 'refused')).toBe(10);
    expect(await hintMetric(s.frontend, 'honoured')).toBe(0);
  });

  it('honours a hint with the right token', async () => {
    for (const target of s.ids) {
      for (let i = 0; i < 3; i++) {
        const r = await routedTo(s.frontend, { [HINT]: target, [TOKEN]: secret });
        expect(r.route[0]).toMatchObject({ chosen: target });
      }
    }
    expect(await hintMetric(s.frontend, 'honoured')).toBe(6);
  });

  it('will not start on a secret file that is missing or too short, naming the file and not its content', async () => {
    const runtime = await createRuntime({ log, memory: new MemoryHub() });
    const short = join(dir, 'short');
    await writeFile(short, 'tiny');
    const config = {
      host: '127.0.0.1',
      port: 0,
      migrationLimit: 0,
      busyStatusCode: 529,
      bodyLimitBytes: 1 << 20,
    };
    try {
      await expect(
        startFrontend(
          { ...config, trustWorkerHint: true, workerHintSecretFile: join(dir, 'absent') },
          runtime,
          log,
        ),
      ).rejects.toThrow(/--worker-hint-secret-file.*absent: ENOENT/);
      const err = await startFrontend(
        { ...config, trustWorkerHint: true, workerHintSecretFile: short },
        runtime,
        log,
      ).catch((e: Error) => e);
      expect(String(err)).toMatch(/short must hold 16 to 4096 printable/);
      expect(String(err)).not.toContain('tiny');
    } finally {
      await runtime.close();
    }
  });
});
