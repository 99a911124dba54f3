// /health: 200 and the instances serving each model while at least one model has a worker, 503
// otherwise (a load balancer's readiness). /live: the process answers (liveness).
import type { FastifyInstance } from 'fastify';

export async function healthRoute(app: FastifyInstance): Promise<void> {
  app.get('/health', async (_request, reply) => {
    const models = app.services.registry.list();
    const instances = models.flatMap((m) =>
      [...m.instances.values()].map((i) => ({
        model: m.card.name,
        namespace: i.namespace,
        component: i.component,
        endpoint: i.endpoint,
        instance_id: i.instanceId,
      })),
    );
    const healthy = instances.length > 0;
    return reply.code(healthy ? 200 : 503).send({
      status: healthy ? 'healthy' : 'unhealthy',
      models: models.map((m) => m.card.name),
      instances,
    });
  });
  app.get('/live', async () => ({ status: 'live' }));
}
