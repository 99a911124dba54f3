// Whether onnxruntime's CUDA execution provider really loads here. onnxruntime-node is built with the
// CUDA provider on linux/x64 but ships without its libraries (its install script fetches them from
// NuGet; we install with ONNXRUNTIME_NODE_INSTALL=skip, scripts/gpu-check.sh copies them from the
// onnxruntime-gpu wheel), so the list of backends the package reports says nothing: the probe is a
// session created with the provider on a real graph, as the engine creates its own.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';

export type CudaProviderStatus = { available: true } | { available: false; reason: string };

/** Where onnxruntime-node loads its native libraries from (libonnxruntime.so.1 and the providers). */
export function onnxruntimeNodeLibDir(): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

export const CUDA_PROVIDER_LIBRARY = 'libonnxruntime_providers_cuda.so';

/** Creates (and releases) a session on `modelPath` with only the CUDA provider. */
export async function probeCudaProvider(modelPath: string): Promise<CudaProviderStatus> {
  const lib = join(onnxruntimeNodeLibDir(), CUDA_PROVIDER_LIBRARY);
  if (!existsSync(lib)) {
    return {
      available: false,
      reason: `${lib} is missing (onnxruntime-node installed without its CUDA provider; scripts/gpu-check.sh installs it)`,
    };
  }
  try {
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cuda'] });
    await session.release();
    return { available: true };
  } catch (err) {
    return { available: false, reason: `a session with the CUDA provider fails: ${(err as Error).message}` };
  }
}
