import { nameSchema } from '../../api/index.js';
import { serveFrontend } from '../../frontend/serve.js';
import { defineCommand } from '../command.js';
import { FRONTEND_OPTIONS, frontendConfig } from '../frontend-options.js';
import { WORKER_WAIT_OPTIONS, workerWaitSettings } from '../planner-options.js';
import { ROUTER_OPTIONS } from '../router-options.js';
import {
  connectionSecurity,
  gracefulShutdownOption,
  HTTP_OPTIONS,
  RUNTIME_OPTIONS,
} from '../shared-options.js';

export const command = defineCommand({
  name: 'frontend',
  summary: 'serve the OpenAI-compatible HTTP API for the models that workers register',
  details: [
    'Examples:',
    '  ETCD_ENDPOINTS=http://127.0.0.1:2379 NATS_SERVER=nats://127.0.0.1:4222 dynamo frontend',
    '  dynamo frontend --http-port 8080 --migration-limit 3',
    '',
    'Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, /health, /live,',
    '/metrics, /openapi.json.',
    '',
    'A model scaled to zero by `dynamo planner --min-replicas 0` stays listed (its standby card): its',
    'requests wait for a worker (--worker-wait-queue, --worker-wait-timeout) while the planner starts one,',
    'or get a 503 naming the model and the wait.',
  ].join('\n'),
  options: {
    ...HTTP_OPTIONS,
    namespace: {
      flag: 'namespace',
      env: 'DYN_NAMESPACE',
      schema: nameSchema.optional(),
      description: 'serve the models of this namespace only (default: every namespace)',
      placeholder: '<ns>',
    },
    ...RUNTIME_OPTIONS,
    ...FRONTEND_OPTIONS,
    ...ROUTER_OPTIONS,
    ...WORKER_WAIT_OPTIONS,
    gracefulShutdown: gracefulShutdownOption(30_000, 'on SIGTERM, how long in-flight responses may finish'),
  },
  async run(o, { log, signal }) {
    await serveFrontend(
      {
        frontend: { ...frontendConfig(o), workerWait: workerWaitSettings(o) },
        etcdEndpoints: o.etcd,
        natsServer: o.nats,
        security: connectionSecurity(o),
        gracefulShutdownMs: o.gracefulShutdown,
      },
      log,
      signal,
    );
    return 0;
  },
});
