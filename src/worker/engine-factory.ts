// Builds the engine a worker serves. The ONNX engine is imported lazily, so a mocker worker never
// loads onnxruntime.
import type { Engine } from '../engines/engine.js';
import { MockerEngine } from '../engines/mocker/mocker-engine.js';
import type { Logger } from '../runtime/index.js';
import { DEFAULT_MOCKER_MODEL_NAME, type ParsedWorkerConfig } from './config.js';
import { type ModelFiles, tokenizerFacts } from './model-files.js';

export async function createEngine(
  config: ParsedWorkerConfig,
  files: ModelFiles,
  log: Logger,
): Promise<Engine> {
  const engine = config.engine;
  if (engine.kind === 'mocker') {
    const { kind: _kind, tokenizerDir: _dir, ...options } = engine;
    return new MockerEngine(
      {
        ...options,
        modelName: config.modelName ?? DEFAULT_MOCKER_MODEL_NAME,
        tokenizer: {
          checksum: files.tokenizerChecksum,
          configChecksum: files.tokenizerConfigChecksum,
          ...tokenizerFacts(files),
        },
      },
      { log: log.child({ component: 'mocker' }) },
    );
  }
  const { createOnnxEngine } = await import('../engines/onnx/index.js');
  return createOnnxEngine({
    modelDir: engine.modelDir,
    ...(config.modelName === undefined ? {} : { name: config.modelName }),
    device: engine.device,
    threads: engine.threads,
    ...(engine.totalKvBlocks === undefined ? {} : { totalKvBlocks: engine.totalKvBlocks }),
    ...(engine.maxNumSeqs === undefined ? {} : { maxNumSeqs: engine.maxNumSeqs }),
    ...(engine.maxNumBatchedTokens === undefined ? {} : { maxNumBatchedTokens: engine.maxNumBatchedTokens }),
    log: log.child({ component: 'onnx' }),
  });
}
