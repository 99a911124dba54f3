// The frontend's one error catalogue: every failure a client can see has a stable code and HTTP
// status here, and renders in OpenAI's shape `{"error":{"message","type","param","code"}}`.
import type { z } from 'zod';
import type { ErrorBody } from '../api/openai.js';

export const ERRORS = {
  INVALID_REQUEST: { status: 400, type: 'invalid_request_error' },
  UNSUPPORTED_PARAMETER: { status: 400, type: 'invalid_request_error' },
  INVALID_JSON: { status: 400, type: 'invalid_request_error' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, type: 'invalid_request_error' },
  MODEL_NOT_FOUND: { status: 404, type: 'invalid_request_error' },
  MODEL_TYPE_NOT_SUPPORTED: { status: 400, type: 'invalid_request_error' },
  NOT_FOUND: { status: 404, type: 'invalid_request_error' },
  METHOD_NOT_ALLOWED: { status: 405, type: 'invalid_request_error' },
  BODY_TOO_LARGE: { status: 413, type: 'invalid_request_error' },
  /** OpenAI's code for a prompt at or past the context length (the SDKs branch on it). */
  CONTEXT_LENGTH_EXCEEDED: { status: 400, type: 'invalid_request_error' },
  NO_WORKER_FOR_MODEL: { status: 503, type: 'service_unavailable' },
  /** A parked model (scaled to zero) got no worker within --worker-wait-timeout. */
  WORKER_WAIT_TIMEOUT: { status: 503, type: 'service_unavailable' },
  /** A disaggregated model with no prefill worker to take the request, under --disagg-strict. */
  DISAGG_UNAVAILABLE: { status: 503, type: 'service_unavailable' },
  /** All workers busy; the status is configurable (--busy-status-code), 529 by default as Dynamo. */
  ALL_WORKERS_BUSY: { status: 529, type: 'service_unavailable' },
  /** The frontend is stopping (graceful shutdown): a request on a kept-alive connection gets this. */
  SHUTTING_DOWN: { status: 503, type: 'service_unavailable' },
  WORKER_FAILED: { status: 502, type: 'server_error' },
  INTERNAL: { status: 500, type: 'server_error' },
} as const satisfies Record<string, { status: number; type: string }>;
export type ErrorCode = keyof typeof ERRORS;

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
    /** Overrides the catalogue's status (the configurable busy status). */
    readonly statusOverride?: number,
    /** Seconds for a `Retry-After` header (overload answers). */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }

  get status(): number {
    return this.statusOverride ?? ERRORS[this.code].status;
  }

  toBody(): ErrorBody {
    return {
      error: {
        message: this.message,
        type: ERRORS[this.code].type,
        param: this.param,
        code: this.code.toLowerCase(),
      },
    };
  }
}

type Issue = z.core.$ZodIssue;

/** Of the branches of a failed union, the one that got furthest names the real mistake. */
function deepestIssue(issue: Issue, path: PropertyKey[]): { issue: Issue; path: PropertyKey[] } {
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    let best: Issue | undefined;
    for (const branch of issue.errors) {
      const first = branch[0];
      if (first && first.path.length > (best?.path.length ?? 0)) best = first;
    }
    if (best) return deepestIssue(best, [...path, ...best.path]);
  }
  return { issue, path };
}

/** `messages[0].content` from ['messages', 0, 'content']. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** A zod failure on a request body → a 400 naming the first bad field. */
export function validationError(error: z.ZodError): HttpError {
  const first = error.issues[0];
  if (!first) return new HttpError('INVALID_REQUEST', 'invalid request body');
  const { issue, path } = deepestIssue(first, [...first.path]);
  let param = formatPath(path);
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    param = param === '' ? key : `${param}.${key}`;
    message = `unknown field ${JSON.stringify(key)}`;
  }
  const code = message.endsWith('is not supported') ? 'UNSUPPORTED_PARAMETER' : 'INVALID_REQUEST';
  return new HttpError(code, param === '' ? message : `${param}: ${message}`, param === '' ? null : param);
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/** Renders any error (ours, fastify's own, or a bug) as a status and an OpenAI error body. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as FastifyLikeError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError('BODY_TOO_LARGE', 'request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError('UNSUPPORTED_MEDIA_TYPE', 'content-type must be application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError('INVALID_JSON', 'request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError('INVALID_JSON', `request body is not valid JSON: ${e.message ?? ''}`);
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new HttpError('INVALID_REQUEST', e.message ?? 'bad request', null, e.statusCode);
  }
  return new HttpError('INTERNAL', 'internal error');
}
