// The router's flags (DESIGN §7), shared by `dynamo frontend`, `dynamo run` and `dynamo bench` so their
// names, env variables and checks agree. `routerSettings` turns the parsed values into RouterSettings.
import { z } from 'zod';
import { DEFAULT_ROUTER_SETTINGS, ROUTER_MODES, type RouterSettings } from '../router/index.js';
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
    description: 'kv: weight of the prefill cost against the decode load',
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
} as const;

export function routerSettings(o: OptionValues<typeof ROUTER_OPTIONS>): RouterSettings {
  return {
    ...DEFAULT_ROUTER_SETTINGS,
    mode: o.routerMode,
    overlapScoreWeight: o.kvOverlapScoreWeight,
    temperature: o.routerTemperature,
    useKvEvents: o.kvEvents,
    busyThreshold: o.busyThreshold === 'off' ? null : o.busyThreshold,
    maxQueued: o.routerMaxQueued === 'auto' ? null : o.routerMaxQueued,
    queueTimeoutMs: o.routerQueueTimeoutMs,
    staleAfterMs: o.kvIndexStaleAfterMs,
    routeDebug: o.routerDebug,
  };
}
