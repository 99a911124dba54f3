import { describe, expect, it } from 'vitest';
import { chatCompletionRequestSchema, completionRequestSchema } from '../../../src/api/openai.js';
import { HttpError, toHttpError, validationError } from '../../../src/frontend/errors.js';

const fail = (schema: typeof chatCompletionRequestSchema | typeof completionRequestSchema, body: unknown) => {
  const r = schema.safeParse(body);
  if (r.success) throw new Error('expected a failure');
  return validationError(r.error).toBody().error;
};
const base = { model: 'm', messages: [{ role: 'user', content: 'x' }] };

describe('validationError', () => {
  it('names the deepest field of the union branch that got furthest', () => {
    const e = fail(chatCompletionRequestSchema, {
      ...base,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image_url' }] }],
    });
    expect(e.param).toBe('messages[0].content[1].type');
    expect(e.message).toBe('messages[0].content[1].type: only text content parts are supported');
    expect(e.code).toBe('invalid_request');
  });

  it('names an unknown field, also a nested one', () => {
    expect(fail(chatCompletionRequestSchema, { ...base, foo: 1 })).toMatchObject({
      param: 'foo',
      message: 'foo: unknown field "foo"',
    });
    expect(fail(chatCompletionRequestSchema, { ...base, stream_options: { x: 1 } }).param).toBe(
      'stream_options.x',
    );
  });

  it('marks what we do not support as unsupported_parameter', () => {
    expect(fail(completionRequestSchema, { model: 'm', prompt: 'x', best_of: 3 })).toMatchObject({
      param: 'best_of',
      code: 'unsupported_parameter',
    });
    expect(fail(completionRequestSchema, { model: 'm', prompt: ['a', 'b'] }).message).toBe(
      'prompt: only one prompt per request is supported',
    );
    expect(
      fail(chatCompletionRequestSchema, { ...base, messages: [{ role: 'robot', content: 'x' }] }).message,
    ).toMatch(/role must be one of/);
  });
});

describe('toHttpError', () => {
  it("renders fastify's own errors from the catalogue, and hides internal ones", () => {
    expect(toHttpError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }).status).toBe(413);
    expect(toHttpError({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }).status).toBe(415);
    const internal = toHttpError(new Error('secret detail'));
    expect(internal.status).toBe(500);
    expect(internal.message).not.toContain('secret');
    const busy = new HttpError('ALL_WORKERS_BUSY', 'busy', null, 503);
    expect(busy.status).toBe(503);
    expect(busy.toBody()).toEqual({
      error: { message: 'busy', type: 'service_unavailable', param: null, code: 'all_workers_busy' },
    });
  });
});
