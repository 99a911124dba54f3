// A Router wired to its transport (and, with replica sync on, to the other frontends' routers): the one
// call the frontend (through RouterSelector) and tests make.
import { ReplicaSync } from './replica-sync.js';
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
  const sync = settings.replicaSync
    ? new ReplicaSync(
        router,
        runtime.eventPlane,
        { leaseMs: settings.replicaSyncLeaseMs },
        deps.log.child({ component: 'replica-sync', model: model.name }),
        deps.registry,
      )
    : undefined;
  router.lifecycle = sync;
  router.onClose = async () => {
    await sync?.close();
    await transport.close();
  };
  try {
    await transport.start();
    await sync?.start();
  } catch (err) {
    await router.close();
    throw err;
  }
  return router;
}
