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
