import { createRuntime, MemoryHub } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { describeRuntimeContract } from './runtime-contract.js';

const log = createLogger({ level: 'silent' });

describeRuntimeContract('in-memory', async () => {
  const memory = new MemoryHub();
  return {
    worker: await createRuntime({ log, memory }),
    caller: await createRuntime({ log, memory }),
  };
});
