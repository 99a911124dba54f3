import { inject } from 'vitest';
import { createRuntime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { describeRuntimeContract } from '../../unit/runtime/runtime-contract.js';

const log = createLogger({ level: 'silent' });

describeRuntimeContract('etcd + NATS', async () => {
  const options = { log, etcdEndpoints: [inject('etcdEndpoint')], natsServer: inject('natsUrl') };
  return { worker: await createRuntime(options), caller: await createRuntime(options) };
});
