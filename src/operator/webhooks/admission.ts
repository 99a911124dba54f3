// The contract between the admission server and the per-kind webhooks (STYLE: validator and
// defaulter classes per kind, each on its own path). A validator returns warnings or throws
// AdmissionDenied whose reasons each name the field they are about.
import type { z } from 'zod';
import { describeZodError } from '../../api/k8s/index.js';

export class AdmissionDenied extends Error {
  override name = 'AdmissionDenied';
  constructor(readonly reasons: string[]) {
    super(reasons.join('; '));
  }
}

/** Who sent the request, as the API server tells the webhook. */
export interface AdmissionUser {
  username: string;
  /** True when it is this operator (its own writes are allowed where users' are not). */
  isOperator: boolean;
}

export interface Validator {
  validateCreate(obj: unknown): string[];
  validateUpdate(old: unknown, next: unknown, user: AdmissionUser): string[];
}

export interface Defaulter {
  /** The object with defaults filled in (a new object; the input is not changed). */
  default(obj: unknown): unknown;
}

/**
 * Whether the object is being deleted. Read from the raw object, before any parsing: an update that
 * only removes finalizers must pass even when the stored object no longer satisfies the schema.
 */
export function isBeingDeleted(obj: unknown): boolean {
  const metadata = (obj as { metadata?: { deletionTimestamp?: unknown } } | null)?.metadata;
  return metadata?.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null;
}

/** Parses with a schema; every issue becomes one `path: message` reason of a denial. */
export function parseOrDeny<S extends z.ZodType>(schema: S, obj: unknown): z.output<S> {
  const result = schema.safeParse(obj);
  if (!result.success) throw new AdmissionDenied(describeZodError(result.error));
  return result.data;
}
