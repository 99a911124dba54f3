// The fastify application: infrastructure plugins first (services, parsing and errors), then one
// encapsulated plugin per route file.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from '../runtime/index.js';
import { errorsPlugin } from './plugins/errors.plugin.js';
import { type FrontendServices, servicesPlugin } from './plugins/services.plugin.js';
import { chatCompletionsRoute } from './routes/chat-completions.js';
import { completionsRoute } from './routes/completions.js';
import { healthRoute } from './routes/health.js';
import { metricsRoute } from './routes/metrics.js';
import { modelsRoute } from './routes/models.js';
import { openapiRoute } from './routes/openapi.js';

export interface AppOptions {
  services: FrontendServices;
  log: Logger;
  bodyLimitBytes: number;
  timeouts: { requestTimeoutMs: number; connectionTimeoutMs: number; keepAliveTimeoutMs: number };
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance's type the default one.
    loggerInstance: options.log as FastifyBaseLogger,
    bodyLimit: options.bodyLimitBytes,
    // requestTimeout bounds receiving the request only (slowloris), never the streamed response;
    // connectionTimeout closes a socket silent both ways (keep-alive comments keep queued streams alive).
    requestTimeout: options.timeouts.requestTimeoutMs,
    connectionTimeout: options.timeouts.connectionTimeoutMs,
    keepAliveTimeout: options.timeouts.keepAliveTimeoutMs,
    // A log line per request would cost more than the request on the hot path.
    logController: new LogController({ disableRequestLogging: true }),
    // Request ids become worker request ids: unique, not client-controlled.
    genReqId: () => crypto.randomUUID(),
    // While closing, errors.plugin.ts answers in OpenAI's shape instead of fastify's own 503 body.
    return503OnClosing: false,
  });
  await app.register(servicesPlugin, { services: options.services });
  await app.register(errorsPlugin);
  await app.register(chatCompletionsRoute);
  await app.register(completionsRoute);
  await app.register(modelsRoute);
  await app.register(healthRoute);
  await app.register(metricsRoute);
  await app.register(openapiRoute);
  return app;
}
