// The endpoint picker's worker hint at the frontend (issue 22). A frontend run with --trust-worker-hint
// routes to the worker that x-dynamo-worker-instance-id names; with a shared secret
// (--worker-hint-secret-file, the same file the picker reads) only when the request also carries it in
// x-dynamo-worker-hint-token, so a pod that reaches the frontend's Service directly cannot pin workers.
// The token is compared in constant time and never logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { InstanceId } from '../api/index.js';
import { DIRECT_INSTANCE_HEADER } from '../router/index.js';

/** The header naming the worker an endpoint picker chose (the same one `direct` mode reads). */
export const WORKER_HINT_HEADER = DIRECT_INSTANCE_HEADER;
/** The shared secret the picker sends beside the hint. */
export const WORKER_HINT_TOKEN_HEADER = 'x-dynamo-worker-hint-token';

/** Printable ASCII without spaces: what an HTTP header carries unchanged. */
const TOKEN_PATTERN = /^[\x21-\x7e]{16,4096}$/;

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/**
 * What a request's hint headers amount to: none, a hint to honour, or a hint refused for a missing or
 * wrong token (routed as if it had none).
 */
export type HintCheck = { kind: 'none' } | { kind: 'hint'; worker: InstanceId } | { kind: 'refused' };

const first = (raw: string | string[] | undefined): string | undefined => (Array.isArray(raw) ? raw[0] : raw);
// Digests of equal length: timingSafeEqual then leaks neither the token's bytes nor its length.
const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export class WorkerHintGate {
  readonly #trust: boolean;
  readonly #secret: Buffer | undefined;

  /** `secret`: the token a hint must come with; undefined: any hint is honoured (when trusted). */
  constructor(trust: boolean, secret: string | undefined) {
    this.#trust = trust;
    this.#secret = secret === undefined ? undefined : digest(secret);
  }

  /** Whether hints need a token. */
  get guarded(): boolean {
    return this.#secret !== undefined;
  }

  check(headers: Headers): HintCheck {
    if (!this.#trust) return { kind: 'none' };
    const value = first(headers[WORKER_HINT_HEADER])?.trim().toLowerCase();
    if (value === undefined || value === '') return { kind: 'none' };
    if (this.#secret !== undefined) {
      const token = first(headers[WORKER_HINT_TOKEN_HEADER]);
      if (token === undefined || !timingSafeEqual(digest(token), this.#secret)) return { kind: 'refused' };
    }
    // Instance ids are lowercase hex; one naming no live worker is ignored by the selector.
    return { kind: 'hint', worker: value as InstanceId };
  }
}

/**
 * Reads the shared secret once at start (a trailing newline dropped, as `echo` writes one): a missing,
 * empty or unprintable file stops the process. Errors name the file, never its content.
 */
export async function readWorkerHintSecret(path: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).replace(/[\r\n]+$/, '');
  } catch (err) {
    throw new Error(
      `worker hint secret (--worker-hint-secret-file): cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  if (!TOKEN_PATTERN.test(text)) {
    throw new Error(
      `worker hint secret (--worker-hint-secret-file): ${path} must hold 16 to 4096 printable ASCII characters without spaces`,
    );
  }
  return text;
}

/**
 * The endpoint picker's header mutation for a request it sends to a frontend: the chosen worker and,
 * with a shared secret, the token. Whatever a client sent in either header is overwritten or removed,
 * so a client behind the Gateway pins nothing.
 */
export function workerHintHeaders(
  hint: string | undefined,
  token: string | undefined,
): { set: [string, string][]; remove: string[] } {
  if (hint === undefined) return { set: [], remove: [WORKER_HINT_HEADER, WORKER_HINT_TOKEN_HEADER] };
  if (token === undefined) return { set: [[WORKER_HINT_HEADER, hint]], remove: [WORKER_HINT_TOKEN_HEADER] };
  return {
    set: [
      [WORKER_HINT_HEADER, hint],
      [WORKER_HINT_TOKEN_HEADER, token],
    ],
    remove: [],
  };
}
