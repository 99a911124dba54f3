// `dynamo run`: a frontend and N workers in one process, each with a runtime of its own (its own
// instance id) over one in-memory hub — or over etcd + NATS when given, so that more workers can join
// as separate `dynamo worker` processes. This is the one place that composes the frontend and the
// workers: nothing below cli may import both (DESIGN §4).
import type { DisaggregationMode } from '../api/index.js';
import { type Frontend, type FrontendConfig, startFrontend } from '../frontend/index.js';
import { ensureTinyModel, userCacheDir } from '../llm/tiny-model/tiny-model.js';
import { createRuntime, type Logger, MemoryHub, type Runtime } from '../runtime/index.js';
import { startWorker, type Worker, type WorkerConfig } from '../worker/index.js';

export interface AllInOneConfig {
  frontend: FrontendConfig;
  /** Aggregated workers; unused when decodeWorkers is set. */
  workers: number;
  /**
   * Disaggregated serving (DESIGN §12): prefill workers (component `prefill`) and decode workers
   * (the worker config's component), on one KV data plane.
   */
  disagg?: { prefillWorkers: number; decodeWorkers: number } | undefined;
  /** The workers' config; an onnx engine without modelDir gets the tiny model (generated once). */
  worker: WorkerConfig;
  etcdEndpoints?: string[] | undefined;
  natsServer?: string | undefined;
  /** How long in-flight requests may run on after the stop signal. */
  gracefulShutdownMs: number;
}

export interface AllInOne {
  readonly frontend: Frontend;
  readonly workers: readonly Worker[];
  readonly modelName: string;
  /** Graceful stop: workers unregister and drain, then the frontend closes. */
  stop(): Promise<void>;
}

export async function startAllInOne(config: AllInOneConfig, log: Logger): Promise<AllInOne> {
  let worker = config.worker;
  if (worker.engine.kind === 'onnx' && worker.engine.modelDir === '') {
    log.info('no --model-dir: using the tiny random-weight test model (generated on first run)');
    const modelDir = await ensureTinyModel(userCacheDir());
    worker = { modelName: 'tiny', ...worker, engine: { ...worker.engine, modelDir } };
  }
  const memory = new MemoryHub();
  const runtimeOptions = {
    memory,
    ...(config.etcdEndpoints?.length ? { etcdEndpoints: config.etcdEndpoints } : {}),
    ...(config.natsServer ? { natsServer: config.natsServer } : {}),
  };
  const runtimes: Runtime[] = [];
  const workers: Worker[] = [];
  let frontendRuntime: Runtime | undefined;
  let frontend: Frontend | undefined;
  // Workers drain first (their streams finish through the frontend), then the frontend goes.
  const stop = async () => {
    await Promise.allSettled(runtimes.map((r) => r.shutdown(config.gracefulShutdownMs)));
    await Promise.allSettled(workers.map((w) => w.close()));
    await frontend?.close();
    await frontendRuntime?.close();
  };
  const roles: { mode: DisaggregationMode; count: number; component?: string }[] = config.disagg
    ? [
        { mode: 'prefill', count: config.disagg.prefillWorkers, component: 'prefill' },
        { mode: 'decode', count: config.disagg.decodeWorkers },
      ]
    : [{ mode: 'agg', count: config.workers }];
  try {
    for (const role of roles) {
      for (let i = 0; i < role.count; i++) {
        const workerLog = log.child({
          worker: workers.length,
          ...(config.disagg ? { role: role.mode } : {}),
        });
        const runtime = await createRuntime({ ...runtimeOptions, log: workerLog });
        runtimes.push(runtime);
        const roleConfig: WorkerConfig = {
          ...worker,
          disaggregationMode: role.mode,
          ...(role.component ? { component: role.component } : {}),
        };
        workers.push(await startWorker(roleConfig, runtime, workerLog));
      }
    }
    const frontendLog = log.child({ component: 'frontend' });
    frontendRuntime = await createRuntime({ ...runtimeOptions, log: frontendLog });
    frontend = await startFrontend(config.frontend, frontendRuntime, frontendLog);
  } catch (err) {
    await stop();
    throw err;
  }
  return { frontend, workers, modelName: workers[0]?.card.name ?? '', stop };
}
