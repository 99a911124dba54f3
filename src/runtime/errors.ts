// The one error type a request-plane call ends with: a stable code the caller switches on
// (migrate on `disconnected`, pick another instance on `no_responders` / `unavailable`, ...).
import type { RequestErrorCode } from '../api/request-plane.js';

export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly code: RequestErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isRequestError(err: unknown, code?: RequestErrorCode): err is RequestError {
  return err instanceof RequestError && (code === undefined || err.code === code);
}

/** A backing service (etcd, NATS) could not be reached at startup: the CLI names the option to fix. */
export class ServiceUnreachableError extends Error {
  override readonly name = 'ServiceUnreachableError';
  constructor(
    readonly service: 'etcd' | 'nats',
    readonly endpoint: string,
    cause: unknown,
  ) {
    // gRPC buries the socket error in a long status text; the socket error is what a person can act on.
    const text = causeText(cause);
    const socket = /connect E[A-Z]+ \S+?(?=[.,;]?(\s|$))/.exec(text)?.[0];
    super(`${service} at ${endpoint} is not reachable (${socket ?? text})`, { cause });
  }
}

/** The first line of an error's message, for one-line reports. */
export function causeText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]?.trim() || String(err);
}
