// The router's flags (DESIGN §7), shared by `dynamo frontend`, `dynamo run` and `dynamo bench` so their
// names, env variables and checks agree. `routerSettings` turns the parsed values into RouterSettings.
import { z } from 'zod';
import { DEFAULT_ROUTER_SETTINGS, ROUTER_COSTS, ROUTER_MODES, type RouterSettings } from '../router/index.js';
import type { OptionValues } from './options.js';

export const ROUTER_OPTIONS = {
  routerMode: {
    flag: 'router-mode',
    env: 'DYN_ROUTER_MODE',
    schema: z.enum(ROUTER_MODES).default(DEFAULT_ROUTER_SETTINGS.mode),
    description: `how a worker is picked: ${ROUTER_MODES.join(', ')} (direct: header x-dynamo-worker-instance-id)`,
    placeholder: '<mode>',
  },
  kvOverlapScoreWeight: {
    flag: 'kv-overlap-score-weight',
    env: 'DYN_KV_OVERLAP_SCORE_WEIGHT',
    schema: z.coerce.number().min(0).max(1000).default(DEFAULT_ROUTER_SETTINGS.overlapScoreWeight),
    description: "kv: weight of the prefill cost against the decode load (Dynamo's prefill load scale)",
    placeholder: '<w>',
  },
  routerPrefillLoadScale: {
    flag: 'router-prefill-load-scale',
    env: 'DYN_ROUTER_PREFILL_LOAD_SCALE',
    schema: z.coerce.number().min(0).max(1000).optional(),
    description: "kv: Dynamo's name for --kv-overlap-score-weight (wins when both are given)",
    placeholder: '<s>',
  },
  routerCost: {
    flag: 'router-cost',
    env: 'DYN_ROUTER_COST',
    schema: z.enum(ROUTER_COSTS).default(DEFAULT_ROUTER_SETTINGS.cost),
    description:
      "kv: cost function: time (predicted wait: the router's model of each worker's prefill queue, the request's uncached tokens, a step's cost on a busy worker), design (DESIGN §7, with a cost per request still prefilling) or dynamo (Dynamo's current one: overlap credit, prefill load scale, active-request weight)",
    placeholder: '<cost>',
  },
  routerPendingPrefillBlocks: {
    flag: 'router-pending-prefill-blocks',
    env: 'DYN_ROUTER_PENDING_PREFILL_BLOCKS',
    schema: z.coerce.number().min(0).max(100_000).default(DEFAULT_ROUTER_SETTINGS.pendingPrefillBlocks),
    description:
      "kv, time cost: a prefill step's fixed cost, in blocks; design cost: blocks each request still waiting for its first token adds to its worker's cost (0: DESIGN §7 as first written)",
    placeholder: '<n>',
  },
  routerKvOverlapScoreCredit: {
    flag: 'router-kv-overlap-score-credit',
    env: 'DYN_ROUTER_KV_OVERLAP_SCORE_CREDIT',
    schema: z.coerce.number().min(0).max(1).default(DEFAULT_ROUTER_SETTINGS.overlapScoreCredit),
    description: 'kv, dynamo cost: prefill blocks credited per cached block of the prompt (0..1)',
    placeholder: '<c>',
  },
  routerKvOverlapScoreCreditDecay: {
    flag: 'router-kv-overlap-score-credit-decay',
    env: 'DYN_ROUTER_KV_OVERLAP_SCORE_CREDIT_DECAY',
    schema: z.coerce.number().min(0).max(1000).default(DEFAULT_ROUTER_SETTINGS.overlapScoreCreditDecay),
    description:
      "kv, dynamo cost: fades the credit as a worker's prefill backlog exceeds the least loaded one's (1: halved at one request's worth; 0: off)",
    placeholder: '<d>',
  },
  routerDecodeActiveRequestWeight: {
    flag: 'router-decode-active-request-weight',
    env: 'DYN_ROUTER_DECODE_ACTIVE_REQUEST_WEIGHT',
    schema: z.coerce.number().min(0).max(100_000).default(DEFAULT_ROUTER_SETTINGS.decodeActiveRequestWeight),
    description: "kv, dynamo cost: blocks each active request adds to its worker's cost",
    placeholder: '<w>',
  },
  routerTemperature: {
    flag: 'router-temperature',
    env: 'DYN_ROUTER_TEMPERATURE',
    schema: z.coerce.number().min(0).max(100).default(DEFAULT_ROUTER_SETTINGS.temperature),
    description: 'kv: 0 picks the cheapest worker; > 0 samples (softmax over normalized costs)',
    placeholder: '<t>',
  },
  kvEvents: {
    flag: 'kv-events',
    env: 'DYN_KV_EVENTS',
    kind: 'boolean',
    schema: z.boolean().default(DEFAULT_ROUTER_SETTINGS.useKvEvents),
    description:
      "kv: follow the workers' KV events (--no-kv-events: approximate mode, the router indexes its own decisions)",
  },
  busyThreshold: {
    flag: 'busy-threshold',
    env: 'DYN_BUSY_THRESHOLD',
    schema: z
      .union([z.literal('off'), z.coerce.number().gt(0).max(1)])
      .default(DEFAULT_ROUTER_SETTINGS.busyThreshold ?? 'off'),
    description:
      "fraction of a worker's KV blocks or of its max sequences in use at which it takes no new request (off: never busy)",
    placeholder: '<f>',
  },
  routerMaxQueued: {
    flag: 'router-max-queued',
    env: 'DYN_ROUTER_MAX_QUEUED',
    schema: z.union([z.literal('auto'), z.coerce.number().int().min(0)]).default('auto'),
    description:
      'requests that may wait while every worker is busy, more get the busy status at once (auto: max sequences × live workers)',
    placeholder: '<n>',
  },
  routerQueueTimeoutMs: {
    flag: 'router-queue-timeout-ms',
    env: 'DYN_ROUTER_QUEUE_TIMEOUT_MS',
    schema: z.coerce.number().int().positive().default(DEFAULT_ROUTER_SETTINGS.queueTimeoutMs),
    description: 'a queued request gets the busy status (with Retry-After) after this long',
    placeholder: '<ms>',
  },
  kvIndexStaleAfterMs: {
    flag: 'kv-index-stale-after-ms',
    env: 'DYN_KV_INDEX_STALE_AFTER_MS',
    schema: z.coerce.number().int().positive().default(DEFAULT_ROUTER_SETTINGS.staleAfterMs),
    description:
      'kv: a worker sent a request needing new blocks that publishes no KV event for this long after its first token is stale (index health, /health and dynamo_router_index_state)',
    placeholder: '<ms>',
  },
  routerDebug: {
    flag: 'router-debug',
    env: 'DYN_ROUTER_DEBUG',
    kind: 'boolean',
    schema: z.boolean().default(DEFAULT_ROUTER_SETTINGS.routeDebug),
    description:
      'answer a request with header x-dynamo-route-debug: 1 with its routing decision explained (response header x-dynamo-route, and a debug log line)',
  },
  routerReplicaSync: {
    flag: 'router-replica-sync',
    env: 'DYN_ROUTER_REPLICA_SYNC',
    kind: 'boolean',
    schema: z.boolean().default(DEFAULT_ROUTER_SETTINGS.replicaSync),
    description:
      "share active requests with the other frontends' routers of the component over the event plane, so each scores workers with the cluster's whole load (idle but for a heartbeat while no other frontend is heard; --no-router-replica-sync: off)",
  },
  routerReplicaSyncLeaseMs: {
    flag: 'router-replica-sync-lease-ms',
    env: 'DYN_ROUTER_REPLICA_SYNC_LEASE_MS',
    schema: z.coerce.number().int().min(100).default(DEFAULT_ROUTER_SETTINGS.replicaSyncLeaseMs),
    description:
      'replica sync: a frontend not heard from for this long has its requests freed by the others (heartbeats every lease/4)',
    placeholder: '<ms>',
  },
} as const;

export function routerSettings(o: OptionValues<typeof ROUTER_OPTIONS>): RouterSettings {
  return {
    ...DEFAULT_ROUTER_SETTINGS,
    mode: o.routerMode,
    overlapScoreWeight: o.routerPrefillLoadScale ?? o.kvOverlapScoreWeight,
    cost: o.routerCost,
    pendingPrefillBlocks: o.routerPendingPrefillBlocks,
    overlapScoreCredit: o.routerKvOverlapScoreCredit,
    overlapScoreCreditDecay: o.routerKvOverlapScoreCreditDecay,
    decodeActiveRequestWeight: o.routerDecodeActiveRequestWeight,
    temperature: o.routerTemperature,
    useKvEvents: o.kvEvents,
    busyThreshold: o.busyThreshold === 'off' ? null : o.busyThreshold,
    maxQueued: o.routerMaxQueued === 'auto' ? null : o.routerMaxQueued,
    queueTimeoutMs: o.routerQueueTimeoutMs,
    staleAfterMs: o.kvIndexStaleAfterMs,
    routeDebug: o.routerDebug,
    replicaSync: o.routerReplicaSync,
    replicaSyncLeaseMs: o.routerReplicaSyncLeaseMs,
  };
}
