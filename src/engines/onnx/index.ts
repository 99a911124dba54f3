// The ONNX engine's entry point, imported lazily by `dynamo worker --engine onnx` (so other engines do
// not load onnxruntime).
import { loadModelDir } from '../../llm/model-dir.js';
import type { Logger } from '../../runtime/logger.js';
import type { Engine } from '../engine.js';
import { type Device, ModelSession } from './model-session.js';
import { OnnxEngine, type OnnxEngineConfig } from './onnx-engine.js';

export { ModelGraphError } from './model-session.js';
export { ONNX_BLOCK_SIZE, OnnxEngine } from './onnx-engine.js';

export interface OnnxEngineOptions extends Partial<OnnxEngineConfig> {
  /** A model directory in the layout of DESIGN §8. */
  modelDir: string;
  /** The served model name; the directory's name by default. */
  name?: string;
  device?: Device;
  /** onnxruntime intra-op threads; 0 (default) lets onnxruntime choose. */
  threads?: number;
  log: Logger;
}

export const ONNX_ENGINE_DEFAULTS: OnnxEngineConfig = {
  totalKvBlocks: 4096,
  maxNumSeqs: 64,
  maxNumBatchedTokens: 512,
};

export async function createOnnxEngine(options: OnnxEngineOptions): Promise<Engine & OnnxEngine> {
  const model = await loadModelDir(options.modelDir, options.name);
  const session = await ModelSession.create(model, {
    device: options.device ?? 'cpu',
    threads: options.threads ?? 0,
  });
  const config: OnnxEngineConfig = {
    totalKvBlocks: options.totalKvBlocks ?? ONNX_ENGINE_DEFAULTS.totalKvBlocks,
    maxNumSeqs: options.maxNumSeqs ?? ONNX_ENGINE_DEFAULTS.maxNumSeqs,
    maxNumBatchedTokens: options.maxNumBatchedTokens ?? ONNX_ENGINE_DEFAULTS.maxNumBatchedTokens,
    maxWaiting: options.maxWaiting,
  };
  options.log.info(
    {
      model: model.dir,
      device: options.device ?? 'cpu',
      layers: session.numLayers,
      kvHeads: session.numKvHeads,
      headDim: session.headDim,
      kvDtype: session.kvDtype,
    },
    'onnx engine ready',
  );
  return new OnnxEngine(session, model, config, options.log);
}
