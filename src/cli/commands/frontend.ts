import { z } from 'zod';
import { nameSchema } from '../../api/index.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../frontend/index.js';
import { serveFrontend } from '../../frontend/serve.js';
import { defineCommand } from '../command.js';

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
  ].join('\n'),
  options: {
    httpHost: {
      flag: 'http-host',
      env: 'DYN_HTTP_HOST',
      schema: z.string().min(1).default('0.0.0.0'),
      description: 'address to listen on',
      placeholder: '<host>',
    },
    httpPort: {
      flag: 'http-port',
      env: 'DYN_HTTP_PORT',
      schema: z.coerce.number().int().min(0).max(65535).default(8000),
      description: 'HTTP port (0: any free port)',
      placeholder: '<port>',
    },
    namespace: {
      flag: 'namespace',
      env: 'DYN_NAMESPACE',
      schema: nameSchema.optional(),
      description: 'serve the models of this namespace only (default: every namespace)',
      placeholder: '<ns>',
    },
    etcd: {
      flag: 'etcd',
      env: 'ETCD_ENDPOINTS',
      schema: z
        .string()
        .min(1)
        .transform((s) =>
          s
            .split(',')
            .map((e) => e.trim())
            .filter((e) => e.length > 0),
        )
        .optional(),
      description: 'etcd endpoints, comma-separated (discovery)',
      placeholder: '<urls>',
    },
    nats: {
      flag: 'nats',
      env: 'NATS_SERVER',
      schema: z.string().min(1).optional(),
      description: 'NATS server (request and event planes)',
      placeholder: '<url>',
    },
    migrationLimit: {
      flag: 'migration-limit',
      env: 'DYN_MIGRATION_LIMIT',
      schema: z.coerce.number().int().min(0).max(100).default(0),
      description: 'times a request whose worker dies mid-stream moves to another worker',
      placeholder: '<n>',
    },
    busyStatusCode: {
      flag: 'busy-status-code',
      env: 'DYN_BUSY_STATUS_CODE',
      schema: z.coerce.number().int().min(400).max(599).default(529),
      description: 'HTTP status when every worker is busy',
      placeholder: '<status>',
    },
    bodyLimit: {
      flag: 'body-limit-bytes',
      env: 'DYN_HTTP_BODY_LIMIT_BYTES',
      schema: z.coerce.number().int().min(1024).default(DEFAULT_BODY_LIMIT_BYTES),
      description: 'largest request body (413 past it)',
      placeholder: '<bytes>',
    },
  },
  async run(o, { log, signal }) {
    await serveFrontend(
      {
        frontend: {
          host: o.httpHost,
          port: o.httpPort,
          namespace: o.namespace,
          migrationLimit: o.migrationLimit,
          busyStatusCode: o.busyStatusCode,
          bodyLimitBytes: o.bodyLimit,
        },
        etcdEndpoints: o.etcd,
        natsServer: o.nats,
      },
      log,
      signal,
    );
    return 0;
  },
});
