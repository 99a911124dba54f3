// A worker's system server (DESIGN §2, port 9090): `/live` (the process answers), `/health` (503
// `notready` until the worker's endpoints are served and again once shutdown starts, then 200), and
// `/metrics` (the runtime's prom-client registry, process metrics included).
import Fastify, { type FastifyInstance } from 'fastify';
import { collectDefaultMetrics, type Registry } from 'prom-client';
import type { Logger } from './logger.js';

export const DEFAULT_SYSTEM_PORT = 9090;

export interface SystemServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Whether the worker serves its endpoints (Runtime.ready). */
  ready: () => boolean;
  log: Logger;
  /** Adds prom-client's process metrics (CPU, memory, event loop lag) to the registry. */
  processMetrics?: boolean;
}

export interface SystemServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startSystemServer(options: SystemServerOptions): Promise<SystemServer> {
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: options.registry });
  const app: FastifyInstance = Fastify({ logger: false });
  app.get('/live', async () => ({ status: 'live' }));
  app.get('/health', async (_req, reply) => {
    if (options.ready()) return { status: 'ready' };
    return reply.code(503).send({ status: 'notready' });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', options.registry.contentType);
    return options.registry.metrics();
  });
  await app.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  options.log.info({ port }, 'system server listening');
  return { port, close: () => app.close() };
}
