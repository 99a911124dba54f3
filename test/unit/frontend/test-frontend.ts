// A frontend in front of one scripted worker (test-worker.ts) on an in-memory runtime, with the openai
// SDK pointed at it: the setup the frontend's API tests share.
import OpenAI from 'openai';
import { type Frontend, type FrontendConfig, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, MemoryHub } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { serveTestWorker, type TestWorkerOptions } from './test-worker.js';

export interface TestFrontend {
  frontend: Frontend;
  client: OpenAI;
  close(): Promise<void>;
}

/** Starts the worker and the frontend, and waits until the frontend can route to `test-model`. */
export async function startTestFrontend(
  worker: TestWorkerOptions = {},
  config: Partial<FrontendConfig> = {},
): Promise<TestFrontend> {
  const log = createLogger({ level: 'silent' });
  const hub = new MemoryHub();
  const workerRuntime = await createRuntime({ log, memory: hub });
  await serveTestWorker(workerRuntime, worker);
  const runtime = await createRuntime({ log, memory: hub });
  const frontend = await startFrontend(
    {
      host: '127.0.0.1',
      port: 0,
      migrationLimit: 0,
      busyStatusCode: 529,
      bodyLimitBytes: 1 << 20,
      ...config,
    },
    runtime,
    log,
  );
  for (let i = 0; i < 500 && !frontend.app.services.registry.get('test-model')?.routable; i++)
    await new Promise((r) => setTimeout(r, 10));
  const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  return {
    frontend,
    client,
    async close() {
      await frontend.close();
      await workerRuntime.close();
      await runtime.close();
    },
  };
}
