// KV cache events, exactly DESIGN §6: one per cache change, eventId rising by one per worker. A block
// is named by the engine's own id (blockHash, parentHash, removed blockHashes) and its local hash
// (tokensHash), all 16-hex-digit strings. The router keys its index by the chain of local hashes and
// treats engine ids as opaque (they link a block to its parent and name removals): our workers use the
// sequence hash as id, other engines (vLLM, SGLang, TensorRT-LLM) ids of their own.
import { z } from 'zod';
import { blockHashSchema, instanceIdSchema } from './ids.js';

export const storedBlockSchema = z.object({ blockHash: blockHashSchema, tokensHash: blockHashSchema });
export type StoredBlock = z.infer<typeof storedBlockSchema>;

export const kvEventDataSchema = z.union([
  z.object({
    stored: z.object({ parentHash: blockHashSchema.nullable(), blocks: z.array(storedBlockSchema).min(1) }),
  }),
  z.object({ removed: z.object({ blockHashes: z.array(blockHashSchema).min(1) }) }),
  z.literal('cleared'),
]);
export type KvEventData = z.infer<typeof kvEventDataSchema>;

export const kvEventSchema = z.object({
  workerId: instanceIdSchema,
  eventId: z.number().int().nonnegative(),
  data: kvEventDataSchema,
});
export type KvEvent = z.infer<typeof kvEventSchema>;

/**
 * A worker's whole cache state, answered by its kv_dump endpoint: `stored` events (parents before
 * children) that rebuild the state, and the eventId of the last event the state includes, so a
 * router can drop buffered events at or below it. A large cache comes as several frames with the same
 * workerId and lastEventId: concatenate their `events` in order (a frame holds at most 4096 blocks).
 */
export const kvDumpSchema = z.object({
  workerId: instanceIdSchema,
  lastEventId: z.number().int().min(-1),
  events: z.array(kvEventDataSchema),
});
export type KvDump = z.infer<typeof kvDumpSchema>;
