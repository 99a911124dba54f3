import { z } from 'zod';
import { nameSchema } from '../../api/index.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../frontend/index.js';
import { serveFrontend } from '../../frontend/serve.js';
import { DEFAULT_ROUTER_SETTINGS, DIRECT_INSTANCE_HEADER, ROUTER_MODES } from '../../router/index.js';
import { defineCommand } from '../command.js';
import { HTTP_OPTIONS, RUNTIME_OPTIONS } from '../shared-options.js';

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
    ...HTTP_OPTIONS,
    namespace: {
      flag: 'namespace',
      env: 'DYN_NAMESPACE',
      schema: nameSchema.optional(),
      description: 'serve the models of this namespace only (default: every namespace)',
      placeholder: '<ns>',
    },
    ...RUNTIME_OPTIONS,
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
    routerMode: {
      flag: 'router-mode',
      env: 'DYN_ROUTER_MODE',
      schema: z.enum(ROUTER_MODES).default('kv'),
      description: `how a worker is picked: ${ROUTER_MODES.join(', ')} (direct: header ${DIRECT_INSTANCE_HEADER})`,
      placeholder: '<mode>',
    },
    kvOverlapScoreWeight: {
      flag: 'kv-overlap-score-weight',
      env: 'DYN_KV_OVERLAP_SCORE_WEIGHT',
      schema: z.coerce.number().min(0).default(DEFAULT_ROUTER_SETTINGS.overlapScoreWeight),
      description: 'kv mode: weight of the prefill cost against the decode load',
      placeholder: '<w>',
    },
    routerTemperature: {
      flag: 'router-temperature',
      env: 'DYN_ROUTER_TEMPERATURE',
      schema: z.coerce.number().min(0).default(DEFAULT_ROUTER_SETTINGS.temperature),
      description: 'kv mode: 0 picks the cheapest worker, more samples among the cheap ones',
      placeholder: '<t>',
    },
    kvEvents: {
      flag: 'kv-events',
      env: 'DYN_KV_EVENTS',
      kind: 'boolean',
      schema: z.boolean().default(DEFAULT_ROUTER_SETTINGS.useKvEvents),
      description: "kv mode: index the workers' KV events (--no-kv-events: approximate, from own decisions)",
    },
    busyThreshold: {
      flag: 'busy-threshold',
      env: 'DYN_BUSY_THRESHOLD',
      schema: z.coerce.number().gt(0).max(1).optional(),
      description:
        "fraction of a worker's KV blocks in use at which it takes no new requests (default: never busy)",
      placeholder: '<fraction>',
    },
    routerMaxQueued: {
      flag: 'router-max-queued',
      env: 'DYN_ROUTER_MAX_QUEUED',
      schema: z.coerce.number().int().min(0).default(DEFAULT_ROUTER_SETTINGS.maxQueued),
      description: 'requests that may wait while every worker is busy; more get --busy-status-code',
      placeholder: '<n>',
    },
    routerQueueTimeout: {
      flag: 'router-queue-timeout-ms',
      env: 'DYN_ROUTER_QUEUE_TIMEOUT_MS',
      schema: z.coerce.number().int().positive().default(DEFAULT_ROUTER_SETTINGS.queueTimeoutMs),
      description: 'a queued request gets --busy-status-code after this long',
      placeholder: '<ms>',
    },
    gracefulShutdown: {
      flag: 'graceful-shutdown-ms',
      env: 'DYN_GRACEFUL_SHUTDOWN_MS',
      schema: z.coerce.number().int().min(0).default(30_000),
      description: 'on SIGTERM, how long in-flight responses may finish',
      placeholder: '<ms>',
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
          router: {
            mode: o.routerMode,
            overlapScoreWeight: o.kvOverlapScoreWeight,
            temperature: o.routerTemperature,
            useKvEvents: o.kvEvents,
            busyThreshold: o.busyThreshold ?? null,
            maxQueued: o.routerMaxQueued,
            queueTimeoutMs: o.routerQueueTimeout,
          },
        },
        etcdEndpoints: o.etcd,
        natsServer: o.nats,
        gracefulShutdownMs: o.gracefulShutdown,
      },
      log,
      signal,
    );
    return 0;
  },
});
