// The fastify application: infrastructure plugins first (services, request ids, access log, CORS,
// parsing and errors, unknown fields), then one encapsulated plugin per route file.
import cors from '@fastify/cors';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from '../runtime/index.js';
import type { HttpOptions } from './index.js';
import { accessLogPlugin } from './plugins/access-log.plugin.js';
import { errorsPlugin } from './plugins/errors.plugin.js';
import { requestFieldsPlugin } from './plugins/request-fields.plugin.js';
import { requestIdPlugin } from './plugins/request-id.plugin.js';
import { type FrontendServices, servicesPlugin } from './plugins/services.plugin.js';
import { chatCompletionsRoute } from './routes/chat-completions.js';
import { completionsRoute } from './routes/completions.js';
import { healthRoute } from './routes/health.js';
import { metricsRoute } from './routes/metrics.js';
import { modelsRoute } from './routes/models.js';
import { openapiRoute } from './routes/openapi.js';
import { responsesRoute } from './routes/responses.js';

export interface AppOptions {
  services: FrontendServices;
  log: Logger;
  bodyLimitBytes: number;
  timeouts: { requestTimeoutMs: number; connectionTimeoutMs: number; keepAliveTimeoutMs: number };
  http: HttpOptions;
}

/** Response headers a browser page may read (CORS hides all but a few by default). */
const EXPOSED_HEADERS = ['x-request-id', 'x-dynamo-ignored-fields', 'retry-after'];

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
    // fastify's two lines per request are off; access-log.plugin.ts writes one (--no-access-log: none).
    logController: new LogController({ disableRequestLogging: true }),
    // Request ids become worker request ids: unique, not client-controlled.
    genReqId: () => crypto.randomUUID(),
    // While closing, errors.plugin.ts answers in OpenAI's shape instead of fastify's own 503 body.
    return503OnClosing: false,
  });
  await app.register(servicesPlugin, { services: options.services });
  await app.register(requestIdPlugin);
  if (options.http.accessLog) await app.register(accessLogPlugin);
  // Off by default: a browser page from another origin may not call the API unless named here.
  if (options.http.corsOrigins.length > 0) {
    await app.register(cors, { origin: options.http.corsOrigins, exposedHeaders: EXPOSED_HEADERS });
  }
  await app.register(errorsPlugin);
  await app.register(requestFieldsPlugin, { strict: options.http.strictRequestFields });
  await app.register(chatCompletionsRoute);
  await app.register(completionsRoute);
  await app.register(responsesRoute);
  await app.register(modelsRoute);
  await app.register(healthRoute);
  await app.register(metricsRoute);
  await app.register(openapiRoute);
  return app;
}
