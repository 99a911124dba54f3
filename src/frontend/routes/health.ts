// /health: 200 and the instances serving each model while at least one model has a worker, 503
// otherwise (a load balancer's readiness). Each instance says its role; a disaggregated model (one with
// decode workers) says how many prefill and decode workers it has and how often it prefilled on the
// decode worker instead, by reason: a local fallback is never silent. /live: the process answers.
// A parked model (scaled to zero, kept listed by a standby card) counts as served: its requests wait
// here for a worker, so a load balancer must keep sending them (it is what wakes the planner).
// `router` reports each router's KV index health (src/router/index-health.ts), one entry per instance
// set: a router quietly routing on load alone shows here, but never changes the status code.
import type { FastifyInstance } from 'fastify';

export async function healthRoute(app: FastifyInstance): Promise<void> {
  app.get('/health', async (_request, reply) => {
    const { registry, metrics } = app.services;
    const models = registry.list();
    const instances = models.flatMap((m) =>
      [...m.sets.values()].flatMap((set) =>
        [...set.instances.values()].map((i) => ({
          model: m.name,
          namespace: i.namespace,
          component: i.component,
          endpoint: i.endpoint,
          instance_id: i.instanceId,
          disaggregation_mode: set.mode,
        })),
      ),
    );
    const disaggregated = models
      .filter((m) => m.setsOf('decode').length > 0)
      .map((m) => ({
        model: m.name,
        prefill_workers: m.instanceCount('prefill'),
        decode_workers: m.instanceCount('decode'),
        local_prefills: metrics.localPrefillsOf(m.name),
      }));
    const router = models.flatMap((m) =>
      [...m.sets.values()].map((set) => {
        const health = set.router.indexHealth();
        return {
          model: m.name,
          component: set.endpoint.component,
          disaggregation_mode: set.mode,
          mode: set.router.settings.mode,
          state: health.state,
          ...(health.reason !== undefined ? { reason: health.reason } : {}),
          workers: health.workers.map((w) => ({
            instance_id: w.worker,
            state: w.state,
            event_age_s: round(w.eventAgeS),
            owed_s: round(w.owedS),
            active_requests: w.activeRequests,
            gaps: w.gaps,
            resyncs: w.resyncs,
            dump_failures: w.dumpFailures,
            anomalies: w.anomalies,
          })),
        };
      }),
    );
    const parked = models.filter((m) => m.parked).map((m) => m.name);
    const healthy = instances.length > 0 || parked.length > 0;
    return reply.code(healthy ? 200 : 503).send({
      status: healthy ? 'healthy' : 'unhealthy',
      models: models.map((m) => m.name),
      instances,
      ...(parked.length > 0 ? { parked } : {}),
      ...(disaggregated.length > 0 ? { disaggregation: disaggregated } : {}),
      router,
    });
  });
  app.get('/live', async () => ({ status: 'live' }));
}

const round = (seconds: number) => Math.round(seconds * 1000) / 1000;
