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
