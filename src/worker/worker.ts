// A worker: one engine served on the runtime (DESIGN §2, §5, §12).
//   - endpoints generate (with the model card), kv_dump and model_files, under one instance id;
//   - its role (--disaggregation-mode) in the card; prefill and agg workers serve their pinned KV blocks
//     on the runtime's KV data plane (address in the card) and answer kv_release; the generate endpoint
//     refuses the phase the role does not serve (agg serves both);
//   - every KV event numbered and published on the event plane; load metrics published periodically.
// Used by `dynamo worker` (etcd + NATS) and in-process by `dynamo run` (a runtime per worker, on a
// shared in-memory hub). The caller owns the runtime: shut it down (draining requests) before close().
import { z } from 'zod';
import {
  type DisaggregationMode,
  ENDPOINTS,
  type GenerateRequest,
  type GenerateResponse,
  generateRequestSchema,
  type InstanceId,
  type KvReleaseRequest,
  kvReleaseRequestSchema,
  type ModelCard,
  type ModelFileRequest,
  modelFileRequestSchema,
} from '../api/index.js';
import type { Engine } from '../engines/engine.js';
import { LOAD_METRICS, type Logger, type Runtime, type ServedKvDataPlane } from '../runtime/index.js';
import { type ParsedWorkerConfig, type WorkerConfig, workerConfigSchema } from './config.js';
import { createEngine } from './engine-factory.js';
import { type EngineGauges, engineGauges } from './engine-metrics.js';
import { KvEventPublisher } from './kv-publisher.js';
import { loadModelFiles, type ModelFiles, modelFileFrames } from './model-files.js';
import { kvTransferObserver } from './transfer-metrics.js';

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

/** Why a worker of role `mode` does not serve `request`'s phase, or undefined when it does. */
export function phaseRefusal(mode: DisaggregationMode, request: GenerateRequest): string | undefined {
  const phase = request.disagg?.phase;
  if (mode === 'prefill' && phase === 'decode')
    return 'this is a prefill worker (--disaggregation-mode prefill): it does not serve the decode phase';
  if (mode === 'decode' && phase === 'prefill')
    return 'this is a decode worker (--disaggregation-mode decode): it does not serve the prefill phase';
  return undefined;
}

async function* refuse(message: string): AsyncIterable<GenerateResponse> {
  yield* [];
  throw new Error(message);
}

/** Passes a response through, telling the gauges how much of its prompt the prefix cache served. */
async function* countCached(
  stream: AsyncIterable<GenerateResponse>,
  prompt: number,
  gauges: EngineGauges,
): AsyncIterable<GenerateResponse> {
  let first = true;
  for await (const frame of stream) {
    if (first && frame.cachedTokens !== undefined) {
      gauges.prompt(prompt, frame.cachedTokens);
      first = false;
    }
    yield frame;
  }
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
  const mode = config.disaggregationMode;
  let timer: NodeJS.Timeout | undefined;
  let dataPlane: ServedKvDataPlane | undefined;
  const gauges: EngineGauges = engineGauges(
    runtime.metrics.registry,
    scope,
    runtime.instanceId,
    engine.card.maxNumSeqs,
  );
  const stop = async () => {
    clearInterval(timer);
    gauges.remove();
    kv.close();
    // Pulls in flight fail (`unreachable`) before the engine releases the pins they read.
    await dataPlane?.close();
    await engine.close();
  };

  let card: ModelCard = { ...engine.card, disaggregationMode: mode };
  try {
    checkCard(engine.card, files);
    // Decode workers only pull; prefill and agg workers (which serve both phases) serve their pins.
    if (mode !== 'decode') {
      dataPlane = await runtime.kvDataPlane.serve(engine.kvProvider);
      card = { ...card, kvDataPlane: dataPlane.address };
    }
    engine.attachDisagg({
      instanceId: runtime.instanceId,
      dataPlane: runtime.kvDataPlane,
      ...(dataPlane === undefined ? {} : { address: dataPlane.address }),
      pinTtlMs: config.kvPinTtlMs,
      observer: kvTransferObserver(runtime.metrics.registry, scope),
    });
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
    if (dataPlane !== undefined) {
      // Unknown handles are no error here: the pin was pulled, expired or released already.
      await runtime.serveEndpoint(
        endpoint(ENDPOINTS.kvRelease),
        async function* kvRelease(request: KvReleaseRequest) {
          engine.releaseKv(request.handle);
          yield* [];
        },
        { requestSchema: kvReleaseRequestSchema },
      );
    }
    // generate last: frontends route to an instance once its card appears.
    await runtime.serveEndpoint(
      endpoint(ENDPOINTS.generate),
      (request: GenerateRequest, context) => {
        const refusal = phaseRefusal(mode, request);
        if (refusal !== undefined) return refuse(refusal);
        return countCached(engine.generate(request, context.signal), request.tokenIds.length, gauges);
      },
      {
        requestSchema: generateRequestSchema,
        card,
        // Admission bound: the engine's running batch plus its waiting queue (bounded by this).
        maxStreams: card.maxNumSeqs + (config.maxWaitingRequests ?? card.maxNumSeqs),
      },
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const publishLoad = () => {
    const load = engine.loadMetrics();
    gauges.update(load);
    runtime.eventPlane.publish(LOAD_METRICS, scope, { workerId: runtime.instanceId, ...load });
  };
  publishLoad();
  timer = setInterval(publishLoad, config.loadMetricsIntervalMs);
  timer.unref();
  log.info(
    {
      instanceId: runtime.instanceId,
      model: engine.card.name,
      engine: engine.card.engine,
      disaggregationMode: mode,
      ...(dataPlane === undefined ? {} : { kvDataPlane: dataPlane.address }),
      namespace: config.namespace,
      component: config.component,
      totalKvBlocks: engine.card.totalKvBlocks,
      blockSize: engine.card.kvCacheBlockSize,
    },
    'worker serving',
  );
  return {
    instanceId: runtime.instanceId,
    card,
    engine,
    get lastEventId() {
      return kv.lastEventId;
    },
    close: stop,
  };
}
