// Router replica sync (src/router/replica-sync.ts): the frontends' routers of one component share their
// active requests on the event plane, on dynamo.{ns}.{component}.router_sync. Every message names its
// router (a random 64-bit id per router, hex), the model it routes, and a sequence number rising by one
// per message of that router: a receiver that sees a gap asks for a snapshot.
//
//   ops              added (worker, the prompt's block sequence hashes, ISL, overlap) / prefilled / freed
//   heartbeat        the sender's active-request count and digest: a receiver whose view differs asks
//   snapshot         every active request of the sender, in parts; part 0 replaces the receiver's view
//   snapshot_request a router (re)starting or out of step asks one peer (or all: to null) for theirs
//   bye              the sender stops: free everything it held
//
// Every bound below is what "oversized" means: a message past one is dropped whole.
import { z } from 'zod';
import { blockHashSchema, instanceIdSchema } from './ids.js';

export const ROUTER_SYNC_LIMITS = {
  /** Ops per ops message, requests per snapshot part. */
  maxEntries: 1024,
  /** Blocks of one request (a 1M-token prompt at 64 tokens per block). */
  maxBlocks: 16_384,
  maxRequestIdLength: 256,
  maxModelNameLength: 256,
  /** Prompt tokens of one request. */
  maxIsl: 1 << 24,
} as const;

export function routerSyncSubject(namespace: string, component: string): string {
  return `dynamo.${namespace}.${component}.router_sync`;
}

const L = ROUTER_SYNC_LIMITS;
const requestId = z.string().min(1).max(L.maxRequestIdLength);
const count = (max: number) => z.number().int().nonnegative().max(max);

/** A request routed by the sender: what KvScheduler.add needs to count its load on the worker. */
export const syncedRequestSchema = z
  .object({
    id: requestId,
    worker: instanceIdSchema,
    isl: count(L.maxIsl),
    /** Sequence hashes of the prompt's full blocks, in order. */
    blocks: z.array(blockHashSchema).max(L.maxBlocks),
    /** Leading blocks the worker had cached at routing. */
    overlap: count(L.maxBlocks),
    /** Snapshots: its first token is out (its prefill no longer loads the worker). */
    prefilled: z.boolean().optional(),
  })
  .refine((r) => r.overlap <= r.blocks.length, {
    message: 'overlap: more blocks than the request has',
    path: ['overlap'],
  });
export type SyncedRequest = z.infer<typeof syncedRequestSchema>;

export const syncOpSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('added'), request: syncedRequestSchema }),
  z.object({ op: z.literal('prefilled'), id: requestId }),
  z.object({ op: z.literal('freed'), id: requestId }),
]);
export type SyncOp = z.infer<typeof syncOpSchema>;

const header = {
  router: instanceIdSchema,
  model: z.string().min(1).max(L.maxModelNameLength),
  seq: z.number().int().nonnegative(),
};

export const routerSyncMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ops'), ...header, ops: z.array(syncOpSchema).min(1).max(L.maxEntries) }),
  z.object({
    kind: z.literal('heartbeat'),
    ...header,
    active: count(Number.MAX_SAFE_INTEGER),
    /** XOR of a 32-bit hash of every active request id, 8 hex digits. */
    digest: z.string().regex(/^[0-9a-f]{8}$/, 'must be 8 lowercase hex digits'),
  }),
  z.object({
    kind: z.literal('snapshot'),
    ...header,
    part: z.number().int().nonnegative(),
    last: z.boolean(),
    requests: z.array(syncedRequestSchema).max(L.maxEntries),
  }),
  z.object({ kind: z.literal('snapshot_request'), ...header, to: instanceIdSchema.nullable() }),
  z.object({ kind: z.literal('bye'), ...header }),
]);
export type RouterSyncMessage = z.infer<typeof routerSyncMessageSchema>;
