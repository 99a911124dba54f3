// The frontend's serving options, shared by `dynamo frontend` and `dynamo run` (apart from the
// runtime and HTTP options, which workers share too: shared-options.ts).
import { z } from 'zod';
import {
  DEFAULT_ADMISSION,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_DISAGG_OPTIONS,
  type FrontendConfig,
} from '../frontend/index.js';
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
  disaggStrict: {
    flag: 'disagg-strict',
    env: 'DYN_DISAGG_STRICT',
    kind: 'boolean',
    schema: z.boolean().default(DEFAULT_DISAGG_OPTIONS.strict),
    description:
      'disaggregated models: 503 when no prefill worker can take a prompt (default: prefill locally)',
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
    admission: {
      retryAfterS: o.retryAfter,
      sseKeepAliveMs: o.sseKeepAlive,
      requestTimeoutMs: o.httpRequestTimeout,
      connectionTimeoutMs: o.httpConnectionTimeout,
      keepAliveTimeoutMs: o.httpKeepAliveTimeout,
    },
  };
}
