// The router (DESIGN §7) as the frontend uses it: one Router per model, fed by its transport.
//
//   const router = await createRouter(settings, { name, endpoint, blockSize, totalKvBlocks }, runtime, { log, registry });
//   const outcome = await router.route({ requestId, tokenIds, exclude, headers, signal });
//   ... router.firstToken(requestId) ... router.complete(requestId);
import { Router, type RouterDeps, type RouterModel, type RouterSettings } from './router.js';
import { type RouterRuntime, RouterTransport } from './transport.js';

export type { RequestHashes } from './block-hashes.js';
export { type ApplyResult, KvIndexer, type OverlapScores } from './indexer.js';
export {
  DEFAULT_ROUTER_SETTINGS,
  DIRECT_INSTANCE_HEADER,
  type RejectCode,
  ROUTER_MODES,
  type RouteOutcome,
  type RouteRequest,
  Router,
  type RouterDeps,
  type RouterMode,
  type RouterModel,
  type RouterSettings,
} from './router.js';
export { KvScheduler } from './scheduler.js';
export type { RouterRuntime } from './transport.js';

/** A Router for one model, connected to discovery and the event plane; `close()` disconnects it. */
export async function createRouter(
  settings: RouterSettings,
  model: RouterModel,
  runtime: RouterRuntime,
  deps: RouterDeps,
): Promise<Router> {
  const router = new Router(settings, model, deps);
  const transport = new RouterTransport(
    router,
    runtime,
    deps.log.child({ component: 'router', model: model.name }),
  );
  router.onClose = () => transport.close();
  try {
    await transport.start();
  } catch (err) {
    await router.close();
    throw err;
  }
  return router;
}
