// The router (DESIGN §7) as the frontend uses it: one Router per model, fed by its transport.
//
//   const router = await createRouter(settings, { name, endpoint, blockSize, totalKvBlocks }, runtime, { log, registry });
//   const outcome = await router.route({ requestId, tokenIds, exclude, headers, signal });
//   ... router.firstToken(requestId) ... router.complete(requestId);

export type { RequestHashes } from './block-hashes.js';
export { createRouter } from './create-router.js';
export {
  INDEX_STATES,
  type IndexHealthReport,
  type IndexState,
  WORKER_INDEX_STATES,
  type WorkerIndexHealth,
  type WorkerIndexState,
} from './index-health.js';
export { type ApplyResult, KvIndexer, type OverlapScores } from './indexer.js';
export {
  type CandidateCost,
  DEFAULT_ROUTER_SETTINGS,
  DIRECT_INSTANCE_HEADER,
  type RejectCode,
  ROUTE_DEBUG_HEADER,
  ROUTE_EXPLANATION_HEADER,
  ROUTER_MODES,
  type RouteExplanation,
  type RouteOutcome,
  type RouteRequest,
  Router,
  type RouterDeps,
  type RouterMode,
  type RouterModel,
  type RouterSettings,
} from './router.js';
export { KvScheduler, ROUTER_COSTS, type RouterCost } from './scheduler.js';
export type { RouterRuntime } from './transport.js';
