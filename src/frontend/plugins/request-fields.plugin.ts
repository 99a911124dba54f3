// Fields a client sends that the API does not know. Benchmark and serving clients add their own
// (vLLM's and SGLang's extensions, tracing ids, …): a top-level field we do not know is dropped before
// validation, named in the `x-dynamo-ignored-fields` header and logged at debug, so one such field does
// not fail every request. `nvext` members we accept but do not act on are named the same way.
// --strict-request-fields keeps them, and the strict schemas answer 400 naming the first.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { NVEXT_ACTED_ON } from '../../api/openai.js';

export const IGNORED_FIELDS_HEADER = 'x-dynamo-ignored-fields';

/** Bounds what a hostile body can put in a header. */
const MAX_NAMES = 32;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Removes the body's top-level fields that `schema` does not declare; returns their names, nvext's too. */
export function dropUnknownFields(body: Record<string, unknown>, schema: z.ZodObject): string[] {
  const known = schema.shape;
  const ignored: string[] = [];
  for (const key of Object.keys(body)) {
    if (Object.hasOwn(known, key)) continue;
    ignored.push(key);
    delete body[key];
  }
  const nvext = body.nvext;
  if (isRecord(nvext)) {
    for (const key of Object.keys(nvext)) if (!NVEXT_ACTED_ON.has(key)) ignored.push(`nvext.${key}`);
  }
  return ignored;
}

export const requestFieldsPlugin = fp(
  async (app: FastifyInstance, opts: { strict: boolean }) => {
    app.addHook('preValidation', async (request: FastifyRequest, reply) => {
      const schema = request.routeOptions.schema?.body;
      const body = request.body;
      if (opts.strict || !(schema instanceof z.ZodObject) || !isRecord(body)) return;
      const ignored = dropUnknownFields(body, schema);
      if (ignored.length === 0) return;
      request.log.debug({ ignoredFields: ignored.slice(0, MAX_NAMES) }, 'request fields ignored');
      reply.header(
        IGNORED_FIELDS_HEADER,
        ignored
          .slice(0, MAX_NAMES)
          .map((name) => encodeURIComponent(name.slice(0, 64)))
          .join(', '),
      );
    });
  },
  { name: 'request-fields', fastify: '5.x' },
);
