// Identifiers shared by every process. Every 64-bit value (instance ids, block hashes) travels as 16
// lowercase hex digits: JSON numbers lose precision past 2^53 (DESIGN §5).
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

export const HEX64 = /^[0-9a-f]{16}$/;

export type InstanceId = string & { readonly brand: 'InstanceId' };
/** A block's hash (local or sequence), DESIGN §6. */
export type BlockHash = string & { readonly brand: 'BlockHash' };

export const instanceIdSchema = z
  .string()
  .regex(HEX64, 'must be 16 lowercase hex digits')
  .transform((s) => s as InstanceId);
export const blockHashSchema = z
  .string()
  .regex(HEX64, 'must be 16 lowercase hex digits')
  .transform((s) => s as BlockHash);

/** Token ids travel as u32. */
export const MAX_TOKEN_ID = 0xffffffff;

/**
 * An array of token ids (integers 0..2^32−1), at least `min` long, checked in one loop. zod's
 * per-element schema took 0.14–0.3 ms for a 1.6k-token prompt on every request, this under 10 µs
 * (profiled under aiperf, issue 20). An error names the first bad element's index.
 */
export function tokenIdsSchema(min = 0) {
  return z
    .custom<number[]>((v) => Array.isArray(v), { error: 'expected an array of token ids' })
    .superRefine((ids, ctx) => {
      if (ids.length < min) {
        ctx.addIssue({ code: 'custom', message: `expected at least ${min} token id${min === 1 ? '' : 's'}` });
        return;
      }
      for (let i = 0; i < ids.length; i++) {
        const id: unknown = ids[i];
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_TOKEN_ID) {
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `expected a token id (an integer 0..${MAX_TOKEN_ID}), got ${JSON.stringify(id) ?? typeof id}`,
          });
          return;
        }
      }
    });
}

/** namespace / component / endpoint names. */
export const NAME = /^[a-z0-9_-]+$/;
export const nameSchema = z.string().regex(NAME, 'must match ^[a-z0-9_-]+$');

export function newInstanceId(): InstanceId {
  return randomBytes(8).toString('hex') as InstanceId;
}

/** u64 → 16-hex-digit wire form. */
export function hex64(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}
