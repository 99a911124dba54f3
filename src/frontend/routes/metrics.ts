// /metrics: the frontend's registry (dynamo_frontend_*, the runtime's, process metrics) for Prometheus.
import type { FastifyInstance } from 'fastify';

export async function metricsRoute(app: FastifyInstance): Promise<void> {
  app.get('/metrics', async (_request, reply) => {
    const registry = app.services.metrics.registry;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
