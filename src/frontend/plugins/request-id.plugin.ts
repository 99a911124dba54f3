// `x-request-id`: a client's own id is echoed and bound to the request's log lines (`clientRequestId`); a
// request without one gets its internal id back. The internal id (request.id) stays ours: it names the
// request on the workers and in the router, where a client-chosen one could collide with another's.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Printable ASCII, bounded: anything else is not echoed into a header or a log line. */
const VALID = /^[\x21-\x7e]{1,128}$/;

export const requestIdPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook('onRequest', async (request, reply) => {
      const sent = request.headers[REQUEST_ID_HEADER];
      if (typeof sent === 'string' && VALID.test(sent)) {
        request.log = request.log.child({ clientRequestId: sent });
        reply.header(REQUEST_ID_HEADER, sent);
      } else reply.header(REQUEST_ID_HEADER, request.id);
    });
  },
  { name: 'request-id', fastify: '5.x' },
);
