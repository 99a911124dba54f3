// Request parsing and error rendering for the whole app: bodies must be JSON (415 otherwise, and for a
// Content-Encoding we do not decode), valid UTF-8 and valid JSON; route bodies are validated by their
// zod schemas; every error — ours, a validation failure, fastify's own (body too large), an unknown
// route, a wrong method on a known one (405 with Allow) — renders in OpenAI's shape.
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { HttpError, toHttpError, validationError } from '../errors.js';
import type { ApiEndpoint } from '../metrics.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Route schemas are zod schemas: validation is the schema's own parse, errors name the field. */
export const zodValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema }) => {
  if (!(schema instanceof z.ZodType)) throw new Error('route schemas must be zod schemas');
  return (data: unknown) => {
    const result = schema.safeParse(data);
    return result.success ? { value: result.data } : { error: validationError(result.error) };
  };
};

const API_ENDPOINTS: Record<string, ApiEndpoint> = {
  '/v1/chat/completions': 'chat_completions',
  '/v1/completions': 'completions',
  '/v1/responses': 'responses',
};

/** A route's path as a pattern (`/v1/models/:model` matches any one segment there). */
function pathPattern(url: string): RegExp {
  const escaped = url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+');
  return new RegExp(`^${escaped}/?$`);
}

/** Counts an API request that failed before a worker saw it (once: the responder counts the rest). */
function countRefusal(app: FastifyInstance, request: FastifyRequest): void {
  const endpoint = API_ENDPOINTS[request.routeOptions.url ?? ''];
  const { metrics, registry } = app.services;
  if (endpoint === undefined || metrics.observed.has(request)) return;
  const body = request.body as { model?: unknown; stream?: unknown } | undefined;
  const name = typeof body?.model === 'string' && registry.get(body.model) ? body.model : 'unknown';
  metrics.refused(name, endpoint, body?.stream === true ? 'stream' : 'unary');
}

export const errorsPlugin = fp(
  async (app: FastifyInstance) => {
    app.setValidatorCompiler(zodValidatorCompiler);
    // Only JSON: fastify's text/plain parser would hand a route a string (a 400 that hides the cause).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
      let text: string;
      try {
        text = utf8.decode(body as Buffer);
      } catch {
        done(new HttpError('INVALID_JSON', 'request body is not valid UTF-8'), undefined);
        return;
      }
      if (text.trim() === '') {
        done(new HttpError('INVALID_JSON', 'request body is empty'), undefined);
        return;
      }
      try {
        done(null, JSON.parse(text));
      } catch (err) {
        // SyntaxError, or RangeError for nesting deeper than the parser's stack.
        const detail = err instanceof Error ? err.message : String(err);
        done(new HttpError('INVALID_JSON', `request body is not valid JSON: ${detail}`), undefined);
      }
    });
    // A graceful stop lets the streams in flight finish; a new request that still arrives on a
    // kept-alive connection meanwhile gets the catalogue's 503, and the connection closes.
    let closing = false;
    app.addHook('preClose', async () => {
      closing = true;
    });
    // The methods of each path, for 405 on a known path (the not-found handler sees the rest).
    const routes: { pattern: RegExp; methods: Set<string> }[] = [];
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      let entry = routes.find((r) => r.pattern.source === pathPattern(route.url).source);
      if (entry === undefined) {
        entry = { pattern: pathPattern(route.url), methods: new Set() };
        routes.push(entry);
      }
      for (const m of methods) entry.methods.add(m);
    });
    // Nothing decompresses bodies: a compressed one would fail as "not valid JSON", hiding the cause.
    app.addHook('onRequest', async (request) => {
      const encoding = request.headers['content-encoding']?.trim().toLowerCase();
      if (encoding === undefined || encoding === '' || encoding === 'identity') return;
      throw new HttpError(
        'UNSUPPORTED_MEDIA_TYPE',
        `content-encoding ${JSON.stringify(encoding.slice(0, 64))} is not supported: send the body uncompressed`,
      );
    });
    app.addHook('onRequest', async (_request, reply) => {
      if (!closing) return;
      reply.header('connection', 'close');
      throw new HttpError(
        'SHUTTING_DOWN',
        'the frontend is shutting down: retry on another replica',
        null,
        undefined,
        1,
      );
    });
    app.setErrorHandler((err, request, reply) => {
      const httpError = toHttpError(err);
      countRefusal(app, request);
      // Overload answers are expected under load: a log line each would add to it.
      if (httpError.status >= 500 && httpError.retryAfterS === undefined)
        request.log.error({ err }, 'request failed');
      else request.log.debug({ err: httpError.message }, 'request refused');
      if (httpError.retryAfterS !== undefined) reply.header('retry-after', String(httpError.retryAfterS));
      return reply.code(httpError.status).type('application/json').send(httpError.toBody());
    });
    app.setNotFoundHandler((request, reply) => {
      const path = (request.url.split('?')[0] ?? '').slice(0, 200);
      const allowed = routes.find((r) => r.pattern.test(path))?.methods;
      if (allowed !== undefined) {
        const allow = [...allowed].join(', ');
        const e = new HttpError(
          'METHOD_NOT_ALLOWED',
          `${request.method} is not allowed on ${path}: use ${allow}`,
        );
        return reply.code(e.status).header('allow', allow).send(e.toBody());
      }
      const e = new HttpError('NOT_FOUND', `no route ${request.method} ${path}`);
      return reply.code(e.status).send(e.toBody());
    });
  },
  { name: 'errors', fastify: '5.x', dependencies: ['services'] },
);
