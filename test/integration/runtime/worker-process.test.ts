// The runtime seen from outside a worker process: a SIGKILLed worker leaves discovery within its
// lease TTL and its streams end `disconnected`; a SIGTERMed one unregisters, drains and exits 0;
// its system server reports health and metrics.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { type Instance, instanceSchema } from '../../../src/api/index.js';
import {
  createRuntime,
  type InstanceEvent,
  isRequestError,
  type Runtime,
} from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const log = createLogger({ level: 'silent' });
const fixtures = join(import.meta.dirname, 'fixtures');
const frame = z.object({ i: z.number().int() });

interface Worker {
  child: ChildProcess;
  systemPort: number;
  /** Resolves with the served instance. */
  ready: Promise<Instance>;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
const runtimes: Runtime[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(runtimes.splice(0).map((r) => r.close()));
});

async function startWorker(namespace: string, env: Record<string, string> = {}): Promise<Worker> {
  const logFile = join(await harnessTempDir('worker'), 'worker.log');
  const child = spawn(
    process.execPath,
    ['--experimental-transform-types', '--no-warnings', '--import', './ts-hooks.mjs', 'worker-process.ts'],
    {
      cwd: fixtures,
      env: { ...process.env, DYN_NAMESPACE: namespace, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  child.stderr?.pipe(createWriteStream(logFile));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error(`worker exited before starting; see ${logFile}`);
  const { systemPort } = z.object({ systemPort: z.number() }).parse(JSON.parse(first.value));
  const ready = lines.next().then((line) => {
    if (line.done) throw new Error(`worker exited before serving; see ${logFile}`);
    return z.object({ instance: instanceSchema }).parse(JSON.parse(line.value)).instance;
  });
  return { child, systemPort, ready, exited };
}

async function caller(): Promise<Runtime> {
  const runtime = await createRuntime({
    log,
    etcdEndpoints: [inject('etcdEndpoint')],
    natsServer: inject('natsUrl'),
  });
  runtimes.push(runtime);
  return runtime;
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function namespace(): string {
  return `proc-${process.pid}-${Date.now().toString(36)}`;
}

describe('a worker process', () => {
  it('leaves discovery within its lease TTL after SIGKILL, and its stream ends disconnected', async () => {
    const ns = namespace();
    const runtime = await caller();
    const events: InstanceEvent[] = [];
    await runtime.discovery.watchInstances({ namespace: ns, component: 'backend' }, (e) => events.push(e));
    const worker = await startWorker(ns);
    const instance = await worker.ready;
    await until(() => events.length === 1, 'the instance to appear');
    expect(events[0]).toMatchObject({ kind: 'added', instance: { instanceId: instance.instanceId } });

    let received = 0;
    const stream = (async () => {
      for await (const f of runtime.requestPlane.call(
        instance,
        { n: 100_000, delayMs: 10 },
        { responseSchema: frame },
      )) {
        expect(f.i).toBe(received);
        received++;
        if (received === 10) worker.child.kill('SIGKILL');
      }
    })().catch((e: unknown) => e);
    const err = await stream;
    expect(isRequestError(err, 'disconnected')).toBe(true);
    expect(received).toBeGreaterThanOrEqual(10);

    // The lease (TTL 10 s) is no longer kept alive: etcd drops the keys and the watcher hears it.
    await until(() => events.length === 2, 'the instance to disappear');
    expect(events[1]).toMatchObject({ kind: 'removed', instance: { instanceId: instance.instanceId } });
    expect(await runtime.discovery.list({ namespace: ns, component: 'backend' })).toEqual([]);
  });

  it('reports health and metrics, and on SIGTERM unregisters, drains in-flight streams and exits 0', async () => {
    const ns = namespace();
    const runtime = await caller();
    const worker = await startWorker(ns, { DYN_SERVE_DELAY_MS: '1500' });
    const base = `http://127.0.0.1:${worker.systemPort}`;
    expect((await fetch(`${base}/live`)).status).toBe(200);
    const before = await fetch(`${base}/health`);
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ status: 'notready' });
    const instance = await worker.ready;
    expect((await fetch(`${base}/health`)).status).toBe(200);

    let frames = 0;
    for await (const _ of runtime.requestPlane.call(instance, { n: 5, delayMs: 0 })) frames++;
    expect(frames).toBe(5);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const labels = `dynamo_namespace="${ns}",dynamo_component="backend",dynamo_endpoint="generate"`;
    expect(metrics).toContain(`dynamo_component_requests_total{${labels}} 1`);
    expect(metrics).toContain(`dynamo_component_inflight_requests{${labels}} 0`);
    expect(metrics).toContain(`dynamo_component_request_duration_seconds_count{${labels}} 1`);
    expect(metrics).toContain('# TYPE dynamo_component_errors_total counter');

    // A stream of 40 frames, 50 ms apart, in flight when SIGTERM arrives: it must finish whole.
    const got: number[] = [];
    const it = runtime.requestPlane
      .call(instance, { n: 40, delayMs: 50 }, { responseSchema: frame })
      [Symbol.asyncIterator]();
    const first = await it.next();
    if (!first.done) got.push(first.value.i);
    worker.child.kill('SIGTERM');
    await until(
      async () => (await runtime.discovery.list({ namespace: ns, component: 'backend' })).length === 0,
      'unregistration',
    );
    const refused = await (async () => {
      for await (const _ of runtime.requestPlane.call(instance, { n: 1, delayMs: 0 })) {
        // nothing: a new request must be refused
      }
    })().catch((e: unknown) => e);
    expect(isRequestError(refused, 'unavailable') || isRequestError(refused, 'no_responders')).toBe(true);
    for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value.i);
    expect(got).toEqual([...Array(40).keys()]);
    expect(await worker.exited).toBe(0);
  });
});
