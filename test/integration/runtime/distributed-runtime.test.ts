import { describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { createRuntime, isRequestError } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { describeRuntimeContract } from '../../unit/runtime/runtime-contract.js';

const log = createLogger({ level: 'silent' });

describeRuntimeContract('etcd + NATS', async () => {
  const options = { log, etcdEndpoints: [inject('etcdEndpoint')], natsServer: inject('natsUrl') };
  return { worker: await createRuntime(options), caller: await createRuntime(options) };
});

describe('NATS request plane limits', () => {
  it('ends a stream whose response frame is over the payload limit with payload_too_large', async () => {
    const options = { log, natsServer: inject('natsUrl'), maxPayloadBytes: 64 * 1024 };
    const worker = await createRuntime(options);
    const caller = await createRuntime(options);
    try {
      const ep = { namespace: `limits-${process.pid}`, component: 'backend', endpoint: 'generate' };
      let stopped = false;
      const served = await worker.serveEndpoint(
        ep,
        async function* () {
          try {
            yield { i: 0 };
            yield { pad: 'x'.repeat(100 * 1024) };
            yield { i: 2 };
          } finally {
            stopped = true;
          }
        },
        { requestSchema: z.unknown() },
      );
      const got: unknown[] = [];
      const err = await (async () => {
        for await (const f of caller.requestPlane.call(served.instance, {})) got.push(f);
      })().catch((e: unknown) => e);
      expect(got).toEqual([{ i: 0 }]);
      expect(isRequestError(err, 'payload_too_large')).toBe(true);
      expect(String(err)).toMatch(/limit is/);
      expect(stopped).toBe(true);
    } finally {
      await Promise.all([worker.close(), caller.close()]);
    }
  });
});
