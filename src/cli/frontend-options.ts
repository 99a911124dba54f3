// The frontend's serving options, shared by `dynamo frontend` and `dynamo run` (apart from the
// runtime and HTTP options, which workers share too: shared-options.ts).
import { z } from 'zod';
import {
  DEFAULT_ADMISSION,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_DISAGG_OPTIONS,
  DEFAULT_HTTP_OPTIONS,
  type FrontendConfig,
} from '../frontend/index.js';
import { REASONING_PARSER_NAMES } from '../llm/reasoning.js';
import { TOOL_CALL_PARSER_NAMES } from '../llm/tool-calls/registry.js';
import type { OptionValues } from './options.js';
import { type ROUTER_OPTIONS, routerSettings } from './router-options.js';
import type { HTTP_OPTIONS } from './shared-options.js';

/** What `dynamo frontend` and `dynamo run` both serve with. */
export const FRONTEND_OPTIONS = {
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
    description: 'HTTP status when every worker is busy (Dynamo: 529; 503 for clients that know only it)',
    placeholder: '<status>',
  },
  retryAfter: {
    flag: 'retry-after-s',
    env: 'DYN_RETRY_AFTER_S',
    schema: z.coerce.number().int().min(0).max(3600).default(DEFAULT_ADMISSION.retryAfterS),
    description: 'Retry-After (seconds) on the busy status',
    placeholder: '<s>',
  },
  sseKeepAlive: {
    flag: 'sse-keep-alive-ms',
    env: 'DYN_SSE_KEEP_ALIVE_MS',
    schema: z.coerce.number().int().min(0).default(DEFAULT_ADMISSION.sseKeepAliveMs),
    description: 'a stream waiting for its first token gets an SSE comment this often (0: never)',
    placeholder: '<ms>',
  },
  httpRequestTimeout: {
    flag: 'http-request-timeout-ms',
    env: 'DYN_HTTP_REQUEST_TIMEOUT_MS',
    schema: z.coerce.number().int().min(1000).default(DEFAULT_ADMISSION.requestTimeoutMs),
    description: 'receiving a whole request may take this long (not the response: streams are not cut)',
    placeholder: '<ms>',
  },
  httpConnectionTimeout: {
    flag: 'http-connection-timeout-ms',
    env: 'DYN_HTTP_CONNECTION_TIMEOUT_MS',
    schema: z.coerce.number().int().min(0).default(DEFAULT_ADMISSION.connectionTimeoutMs),
    description: 'a connection silent both ways this long is closed (0: never)',
    placeholder: '<ms>',
  },
  httpKeepAliveTimeout: {
    flag: 'http-keep-alive-timeout-ms',
    env: 'DYN_HTTP_KEEP_ALIVE_TIMEOUT_MS',
    schema: z.coerce.number().int().min(1).default(DEFAULT_ADMISSION.keepAliveTimeoutMs),
    description: 'an idle keep-alive connection is closed after this long',
    placeholder: '<ms>',
  },
  bodyLimit: {
    flag: 'body-limit-bytes',
    env: 'DYN_HTTP_BODY_LIMIT_BYTES',
    schema: z.coerce.number().int().min(1024).default(DEFAULT_BODY_LIMIT_BYTES),
    description: 'largest request body (413 past it)',
    placeholder: '<bytes>',
  },
  maxLocalPrefillLength: {
    flag: 'max-local-prefill-length',
    env: 'DYN_MAX_LOCAL_PREFILL_LENGTH',
    schema: z.coerce.number().int().min(0).default(DEFAULT_DISAGG_OPTIONS.maxLocalPrefillLength),
    description:
      'disaggregated models: prompts with at most this many tokens uncached on the decode worker prefill there',
    placeholder: '<tokens>',
  },
  corsOrigin: {
    flag: 'cors-origin',
    env: 'DYN_CORS_ORIGINS',
    kind: 'multiple',
    schema: z.array(z.url().or(z.literal('*'))).default([]),
    description: 'an origin browsers may call the API from (repeat for more; * for any); none: CORS off',
    placeholder: '<origin>',
  },
  accessLog: {
    flag: 'access-log',
    env: 'DYN_ACCESS_LOG',
    kind: 'boolean',
    schema: z.boolean().default(DEFAULT_HTTP_OPTIONS.accessLog),
    description:
      'an info line per request: method, path, status, model, tokens, duration (--no-access-log: none)',
  },
  strictRequestFields: {
    flag: 'strict-request-fields',
    env: 'DYN_STRICT_REQUEST_FIELDS',
    kind: 'boolean',
    schema: z.boolean().default(DEFAULT_HTTP_OPTIONS.strictRequestFields),
    description:
      'answer 400 to a request field the API does not know (default: ignore it, name it in x-dynamo-ignored-fields)',
  },
  trustWorkerHint: {
    flag: 'trust-worker-hint',
    env: 'DYN_TRUST_WORKER_HINT',
    kind: 'boolean',
    schema: z.boolean().default(false),
    description:
      "route to the worker named in x-dynamo-worker-instance-id (an endpoint picker's choice) in every router mode, when it is live and not busy; only for a frontend that clients reach through a Gateway with the EPP (with --worker-hint-secret-file: only hints that carry the secret)",
  },
  workerHintSecretFile: {
    flag: 'worker-hint-secret-file',
    env: 'DYN_WORKER_HINT_SECRET_FILE',
    schema: z.string().min(1, 'expected a file path').optional(),
    description:
      'with --trust-worker-hint: a file holding the secret `dynamo epp --worker-hint-secret-file` shares; a hint counts only with x-dynamo-worker-hint-token equal to it (others are routed as usual, counted as refused)',
    placeholder: '<path>',
  },
  disaggStrict: {
    flag: 'disagg-strict',
    env: 'DYN_DISAGG_STRICT',
    kind: 'boolean',
    schema: z.boolean().default(DEFAULT_DISAGG_OPTIONS.strict),
    description:
      'disaggregated models: 503 when no prefill worker can take a prompt (default: prefill locally)',
  },
  toolCallParser: {
    flag: 'tool-call-parser',
    env: 'DYN_TOOL_CALL_PARSER',
    schema: z.enum([...TOOL_CALL_PARSER_NAMES, 'none']).optional(),
    description: `how tool calls are read out of chat output: ${TOOL_CALL_PARSER_NAMES.join(', ')}, none (default: detected from the chat template)`,
    placeholder: '<name>',
  },
  reasoningParser: {
    flag: 'reasoning-parser',
    env: 'DYN_REASONING_PARSER',
    schema: z.enum([...REASONING_PARSER_NAMES, 'none']).optional(),
    description: `how reasoning_content is split from chat output: ${REASONING_PARSER_NAMES.join(', ')}, none (default: detected from the chat template)`,
    placeholder: '<name>',
  },
} as const;

type FrontendValues = OptionValues<typeof HTTP_OPTIONS & typeof FRONTEND_OPTIONS & typeof ROUTER_OPTIONS> & {
  namespace?: string | undefined;
};

/** The FrontendConfig that `dynamo frontend` and `dynamo run` build from their parsed options. */
export function frontendConfig(o: FrontendValues): FrontendConfig {
  return {
    host: o.httpHost,
    port: o.httpPort,
    namespace: o.namespace,
    migrationLimit: o.migrationLimit,
    busyStatusCode: o.busyStatusCode,
    bodyLimitBytes: o.bodyLimit,
    router: routerSettings(o),
    disagg: { maxLocalPrefillLength: o.maxLocalPrefillLength, strict: o.disaggStrict },
    http: { corsOrigins: o.corsOrigin, accessLog: o.accessLog, strictRequestFields: o.strictRequestFields },
    outputParsers: { toolCallParser: o.toolCallParser, reasoningParser: o.reasoningParser },
    trustWorkerHint: o.trustWorkerHint,
    workerHintSecretFile: o.workerHintSecretFile,
    admission: {
      retryAfterS: o.retryAfter,
      sseKeepAliveMs: o.sseKeepAlive,
      requestTimeoutMs: o.httpRequestTimeout,
      connectionTimeoutMs: o.httpConnectionTimeout,
      keepAliveTimeoutMs: o.httpKeepAliveTimeout,
    },
  };
}
