// Builds the engine a worker serves. The ONNX engine is imported lazily, so a mocker worker never
// loads onnxruntime.
import type { Engine } from '../engines/engine.js';
import { GrammarCompiler } from '../engines/grammar/grammar-mask.js';
import { MOCKER_DEFAULT_MAX_NUM_SEQS, MockerEngine } from '../engines/mocker/mocker-engine.js';
import { timingModelSchema } from '../engines/mocker/timing.js';
import type { Logger } from '../runtime/index.js';
import { DEFAULT_MOCKER_MODEL_NAME, type ParsedWorkerConfig } from './config.js';
import { type ModelFiles, tokenizerFacts } from './model-files.js';

/** `{ key: value }`, or nothing when the value is unset (so the engine's default applies). */
function defined<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
}

export async function createEngine(
  config: ParsedWorkerConfig,
  files: ModelFiles,
  log: Logger,
): Promise<Engine> {
  const engine = config.engine;
  if (engine.kind === 'mocker') {
    const timing = timingModelSchema.parse({
      ...defined('prefill', engine.prefillCoefficients),
      ...defined('decode', engine.decodeCoefficients),
      ...defined('speedupRatio', engine.speedupRatio),
    });
    const facts = tokenizerFacts(files);
    return new MockerEngine(
      {
        modelName: config.modelName ?? DEFAULT_MOCKER_MODEL_NAME,
        timing,
        ...defined('numGpuBlocks', engine.numGpuBlocks),
        ...defined('blockSize', engine.blockSize),
        ...defined('maxNumSeqs', engine.maxNumSeqs),
        // The waiting bound defaults to one batch, as the generate endpoint's stream bound (worker.ts).
        maxWaiting: config.maxWaitingRequests ?? engine.maxNumSeqs ?? MOCKER_DEFAULT_MAX_NUM_SEQS,
        ...defined('maxNumBatchedTokens', engine.maxNumBatchedTokens),
        ...defined('contextLength', engine.contextLength),
        ...defined('noDelay', engine.noDelay),
        ...defined('kvTransferBandwidth', engine.kvTransferBandwidth),
        kvLayout: {
          ...defined('numLayers', engine.kvLayers),
          ...defined('numKvHeads', engine.kvHeads),
          ...defined('headDim', engine.kvHeadDim),
        },
        tokenizer: {
          checksum: files.tokenizerChecksum,
          configChecksum: files.tokenizerConfigChecksum,
          ...facts,
        },
      },
      {
        log: log.child({ component: 'mocker' }),
        // Compiled on the first structured-output request only.
        grammars: new GrammarCompiler(
          files.files.get('tokenizer.json')?.content ?? '',
          facts.idLimit,
          facts.eosTokenIds,
        ),
      },
    );
  }
  const { createOnnxEngine, ONNX_ENGINE_DEFAULTS } = await import('../engines/onnx/index.js');
  return createOnnxEngine({
    modelDir: engine.modelDir,
    ...defined('name', config.modelName),
    device: engine.device,
    threads: engine.threads,
    ...defined('totalKvBlocks', engine.totalKvBlocks),
    ...defined('maxNumSeqs', engine.maxNumSeqs),
    maxWaiting: config.maxWaitingRequests ?? engine.maxNumSeqs ?? ONNX_ENGINE_DEFAULTS.maxNumSeqs,
    ...defined('maxNumBatchedTokens', engine.maxNumBatchedTokens),
    log: log.child({ component: 'onnx' }),
  });
}
