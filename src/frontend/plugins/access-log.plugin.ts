// One info line per request when its response is over: method, path, status, model, tokens, duration.
// Streamed replies are hijacked (fastify's onResponse never fires for them), so the line is written on
// the raw response's 'close', which comes for every request: finished, failed or cut by the client.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

interface Generation {
  model: string;
  /** Completion tokens so far (read when the line is written). */
  tokens: () => number;
}

const LOGGED = new Set(['trace', 'debug', 'info']);

const generations = new WeakMap<FastifyRequest, Generation>();

/** What the responder tells the access log about a request that reached a worker. */
export function noteGeneration(request: FastifyRequest, model: string, tokens: () => number): void {
  generations.set(request, { model, tokens });
}

export const accessLogPlugin = fp(
  async (app: FastifyInstance) => {
    // A logger above info would drop the lines: then not even a listener per request.
    if (!LOGGED.has(app.log.level)) return;
    app.addHook('onRequest', async (request, reply) => {
      const started = performance.now();
      reply.raw.once('close', () => {
        const generation = generations.get(request);
        request.log.info(
          {
            method: request.method,
            path: (request.url.split('?')[0] ?? '').slice(0, 200),
            status: reply.raw.statusCode,
            ...(generation ? { model: generation.model, completionTokens: generation.tokens() } : {}),
            durationMs: Math.round((performance.now() - started) * 10) / 10,
            ...(reply.raw.writableFinished ? {} : { aborted: true }),
          },
          'request completed',
        );
      });
    });
  },
  { name: 'access-log', fastify: '5.x' },
);
