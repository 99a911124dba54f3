// A worker: one engine served on the runtime (DESIGN §2, §5).
//   - endpoints generate (with the model card), kv_dump and model_files, under one instance id;
//   - every KV event numbered and published on the event plane; load metrics published periodically.
// Used by `dynamo worker` (etcd + NATS) and in-process by `dynamo run` (a runtime per worker, on a
// shared in-memory hub). The caller owns the runtime: shut it down (draining requests) before close().
import { z } from 'zod';
import {
  ENDPOINTS,
  type GenerateRequest,
  generateRequestSchema,
  type InstanceId,
  type ModelCard,
  type ModelFileRequest,
  modelFileRequestSchema,
} from '../api/index.js';
import type { Engine } from '../engines/engine.js';
import { LOAD_METRICS, type Logger, type Runtime } from '../runtime/index.js';
import { type ParsedWorkerConfig, type WorkerConfig, workerConfigSchema } from './config.js';
import { createEngine } from './engine-factory.js';
import { KvEventPublisher } from './kv-publisher.js';
import { loadModelFiles, type ModelFiles, modelFileFrames } from './model-files.js';

export interface Worker {
  readonly instanceId: InstanceId;
  readonly card: ModelCard;
  readonly engine: Engine;
  /** eventId of the last KV event published; -1 before the first. */
  readonly lastEventId: number;
  /** Stops publishing and closes the engine (its streams end 'cancelled'). */
  close(): Promise<void>;
}

export class WorkerConfigError extends Error {
  override name = 'WorkerConfigError';
}

/** The card must name the files this worker serves, or frontends would cache the wrong tokenizer. */
function checkCard(card: ModelCard, files: ModelFiles): void {
  if (card.tokenizerChecksum !== files.tokenizerChecksum) {
    throw new WorkerConfigError(
      `the engine's card names tokenizer.json ${card.tokenizerChecksum}, ${files.dir} holds ${files.tokenizerChecksum}`,
    );
  }
  if (card.tokenizerConfigChecksum !== files.tokenizerConfigChecksum) {
    throw new WorkerConfigError(
      `the engine's card names tokenizer_config.json ${card.tokenizerConfigChecksum}, ${files.dir} holds ${files.tokenizerConfigChecksum}`,
    );
  }
}

export async function startWorker(input: WorkerConfig, runtime: Runtime, log: Logger): Promise<Worker> {
  const parsed = workerConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new WorkerConfigError(`worker config: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const config: ParsedWorkerConfig = parsed.data;
  const filesDir = config.engine.kind === 'mocker' ? config.engine.tokenizerDir : config.engine.modelDir;
  const files = await loadModelFiles(filesDir);
  const engine = await createEngine(config, files, log);
  const scope = { namespace: config.namespace, component: config.component };
  const endpoint = (name: string) => ({ ...scope, endpoint: name });
  const kv = new KvEventPublisher(runtime.instanceId, engine, runtime.eventPlane, scope);
  let timer: NodeJS.Timeout | undefined;
  const stop = async () => {
    clearInterval(timer);
    kv.close();
    await engine.close();
  };

  try {
    checkCard(engine.card, files);
    await runtime.serveEndpoint(
      endpoint(ENDPOINTS.kvDump),
      async function* kvDump() {
        yield* kv.dumpFrames();
      },
      { requestSchema: z.object({}) },
    );
    await runtime.serveEndpoint(
      endpoint(ENDPOINTS.modelFiles),
      async function* modelFiles(request: ModelFileRequest) {
        const served = files.files.get(request.file);
        if (served === undefined) throw new Error(`${request.file}: this model has none`);
        yield* modelFileFrames(request.file, served);
      },
      { requestSchema: modelFileRequestSchema },
    );
    // generate last: frontends route to an instance once its card appears.
    await runtime.serveEndpoint(
      endpoint(ENDPOINTS.generate),
      (request: GenerateRequest, context) => engine.generate(request, context.signal),
      { requestSchema: generateRequestSchema, card: engine.card },
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const publishLoad = () =>
    runtime.eventPlane.publish(LOAD_METRICS, scope, {
      workerId: runtime.instanceId,
      ...engine.loadMetrics(),
    });
  publishLoad();
  timer = setInterval(publishLoad, config.loadMetricsIntervalMs);
  timer.unref();
  log.info(
    {
      instanceId: runtime.instanceId,
      model: engine.card.name,
      engine: engine.card.engine,
      namespace: config.namespace,
      component: config.component,
      totalKvBlocks: engine.card.totalKvBlocks,
      blockSize: engine.card.kvCacheBlockSize,
    },
    'worker serving',
  );
  return {
    instanceId: runtime.instanceId,
    card: engine.card,
    engine,
    get lastEventId() {
      return kv.lastEventId;
    },
    close: stop,
  };
}
