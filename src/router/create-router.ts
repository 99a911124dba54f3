// A Router wired to its transport: the one call the frontend (through RouterSelector) and tests make.
import { Router, type RouterDeps, type RouterModel, type RouterSettings } from './router.js';
import { type RouterRuntime, RouterTransport } from './transport.js';

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
