// One ext_proc stream = one HTTP request through the proxy (Envoy ext_proc v3, the Gateway API Inference
// Extension's endpoint-picker protocol). Every message the proxy sends gets exactly one answer, in order
// (a chain per stream): headers and body chunks are answered CONTINUE until the body is whole; the answer
// to the last one carries the pick, as the `x-gateway-destination-endpoint` header and, with the same
// value, dynamic metadata `envoy.lb` / `x-gateway-destination-endpoint` — or an ImmediateResponse.
//
//   request_headers ─(eos)──────────────────────────────▶ pick ─▶ HeadersResponse + endpoint
//        └─▶ CONTINUE ─▶ request_body* ─(eos)─▶ pick ─▶ BodyResponse + endpoint | ImmediateResponse
//   response_headers ─▶ router.firstToken ; response_body(eos) / stream end ─▶ release (router, endpoint count)
import { randomUUID } from 'node:crypto';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { workerHintHeaders } from '../frontend/worker-hint.js';
import type { Logger } from '../runtime/logger.js';
import {
  type CommonResponse,
  type HeaderMutation,
  type HttpHeaders,
  OVERWRITE_IF_EXISTS_OR_ADD,
  type PbStruct,
  type ProcessingRequest,
  type ProcessingResponse,
  stringStruct,
} from './ext-proc-schema.js';
import type { EppMetrics } from './metrics.js';
import type { EndpointPicker, PickOutcome } from './picker.js';

/** The protocol's names (docs/proposals/004-endpoint-picker-protocol; pkg/epp/metadata of the extension). */
export const DESTINATION_ENDPOINT_KEY = 'x-gateway-destination-endpoint';
export const DESTINATION_ENDPOINT_NAMESPACE = 'envoy.lb';
export const SUBSET_HINT_NAMESPACE = 'envoy.lb.subset_hint';
export const SUBSET_HINT_KEY = 'x-gateway-destination-endpoint-subset';

export type ExtProcCall = ServerDuplexStream<ProcessingRequest, ProcessingResponse>;

export interface StreamContext {
  picker: EndpointPicker;
  metrics: EppMetrics;
  log: Logger;
  maxBodyBytes: number;
  /** The secret sent beside the hint (x-dynamo-worker-hint-token); undefined: none. */
  workerHintToken?: string | undefined;
}

const utf8 = new TextEncoder();

export function handleExtProcStream(call: ExtProcCall, ctx: StreamContext): void {
  const requestId = randomUUID();
  const headers: Record<string, string> = {};
  let subset: string[] | undefined;
  const chunks: Buffer[] = [];
  let bodyBytes = 0;
  /** The request phase is answered (picked, or an immediate response sent). */
  let decided = false;
  let outcome: PickOutcome | undefined;
  let done = false;
  let chain = Promise.resolve();
  ctx.metrics.streams.inc();

  /** The request ended: frees what its pick holds (router state, the endpoint's in-flight count). */
  const release = () => {
    if (outcome !== undefined && outcome.kind !== 'error') outcome.release();
  };

  const finish = (broken: boolean) => {
    if (done) return;
    done = true;
    ctx.metrics.streams.dec();
    release();
    if (broken && !decided) {
      ctx.metrics.brokenStreams.inc();
      ctx.log.info({ requestId }, 'ext_proc stream ended before the request was complete');
    }
  };

  /** The message being handled came in observability mode: the proxy ignores answers, none is sent. */
  let observing = false;
  const send = (response: ProcessingResponse) => {
    if (!done && !observing && !call.writableEnded) call.write(response);
  };

  const decide = async (phase: 'request_headers' | 'request_body') => {
    decided = true;
    const started = performance.now();
    const body = phase === 'request_body' ? Buffer.concat(chunks, bodyBytes) : undefined;
    chunks.length = 0;
    outcome = await ctx.picker.pick({ requestId, body, headers, subset });
    if (done) {
      // The proxy went away while we decided: nothing to answer, release what the router tracks.
      if (outcome.kind !== 'error') outcome.release();
      return;
    }
    const result = outcome.kind === 'error' ? 'error' : outcome.kind;
    ctx.metrics.pickDuration.labels(result).observe((performance.now() - started) / 1000);
    ctx.metrics.picks.labels(result, outcome.kind === 'error' ? outcome.error.code : '').inc();
    if (outcome.kind === 'error') {
      send(immediate(outcome.error));
      return;
    }
    // The chosen worker as the hint a frontend routes to (or, for a worker pod, ignores); a fallback
    // strips any hint the client sent, so a client behind the Gateway never pins a worker.
    const hint = outcome.kind === 'routed' ? outcome.instance : undefined;
    send({
      [phase]: {
        response: destination(outcome.endpoint.address, hint, ctx.workerHintToken),
      },
      dynamic_metadata: stringStruct({
        [DESTINATION_ENDPOINT_NAMESPACE]: stringStruct({
          [DESTINATION_ENDPOINT_KEY]: outcome.endpoint.address,
        }),
      }),
    });
  };

  const handle = async (msg: ProcessingRequest) => {
    observing = msg.observability_mode === true;
    if (msg.request_headers !== undefined) {
      readHeaders(msg.request_headers, headers);
      subset = subsetHint(msg.metadata_context?.filter_metadata?.[SUBSET_HINT_NAMESPACE]);
      if (msg.request_headers.end_of_stream === true) await decide('request_headers');
      else send({ request_headers: { response: {} } });
    } else if (msg.request_body !== undefined) {
      if (decided) {
        // Past the decision (an immediate response was sent, or a chunk after end_of_stream).
        send({ request_body: { response: {} } });
        return;
      }
      const body = msg.request_body.body;
      if (body !== undefined && body.length > 0) {
        bodyBytes += body.length;
        if (bodyBytes > ctx.maxBodyBytes) {
          decided = true;
          chunks.length = 0;
          ctx.metrics.picks.labels('error', 'body_too_large').inc();
          send(
            immediate({
              status: 413,
              code: 'body_too_large',
              message: `the body exceeds ${ctx.maxBodyBytes} bytes, the endpoint picker's limit`,
            }),
          );
          return;
        }
        chunks.push(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      }
      if (msg.request_body.end_of_stream === true) await decide('request_body');
      else send({ request_body: { response: {} } });
    } else if (msg.request_trailers !== undefined) {
      // Trailers end a body that did not say end_of_stream.
      if (!decided) await decide(bodyBytes > 0 ? 'request_body' : 'request_headers');
      send({ request_trailers: {} });
    } else if (msg.response_headers !== undefined) {
      if (outcome?.kind === 'routed') outcome.firstToken();
      send({ response_headers: { response: {} } });
      if (msg.response_headers.end_of_stream === true) release();
    } else if (msg.response_body !== undefined) {
      send({ response_body: { response: {} } });
      if (msg.response_body.end_of_stream === true) release();
    } else if (msg.response_trailers !== undefined) {
      send({ response_trailers: {} });
      release();
    }
  };

  call.on('data', (msg: ProcessingRequest) => {
    chain = chain
      .then(() => handle(msg))
      .catch((err: unknown) => {
        // A bug, not an input error: answer 500 for this request, keep serving the others.
        ctx.log.error({ err, requestId }, 'ext_proc message failed');
        if (!decided) {
          decided = true;
          send(immediate({ status: 500, code: 'internal', message: 'the endpoint picker failed' }));
        }
      });
  });
  call.on('end', () => {
    void chain.then(() => {
      finish(true);
      call.end();
    });
  });
  call.on('cancelled', () => finish(true));
  call.on('error', (err) => {
    ctx.log.debug({ err, requestId }, 'ext_proc stream error');
    finish(true);
  });
}

/** Request headers: lowercase names; the value is in raw_value (Envoy) or value (older proxies). */
function readHeaders(h: HttpHeaders, into: Record<string, string>): void {
  for (const hv of h.headers?.headers ?? []) {
    const value =
      hv.raw_value !== undefined && hv.raw_value.length > 0 ? Buffer.from(hv.raw_value).toString() : hv.value;
    into[hv.key.toLowerCase()] = value ?? '';
  }
}

/** The subset hint's `ip:port` list; undefined when the proxy sent none. */
export function subsetHint(ns: PbStruct | undefined): string[] | undefined {
  const list = ns?.fields?.[SUBSET_HINT_KEY]?.list_value;
  if (list === undefined) return undefined;
  return (list.values ?? []).flatMap((v) => (v.string_value === undefined ? [] : [v.string_value]));
}

function setHeader(key: string, value: string): NonNullable<HeaderMutation['set_headers']>[number] {
  return { header: { key, raw_value: utf8.encode(value) }, append_action: OVERWRITE_IF_EXISTS_OR_ADD };
}

function destination(address: string, hint: string | undefined, token: string | undefined): CommonResponse {
  const hints = workerHintHeaders(hint, token);
  return {
    header_mutation: {
      set_headers: [
        setHeader(DESTINATION_ENDPOINT_KEY, address),
        ...hints.set.map(([k, v]) => setHeader(k, v)),
      ],
      ...(hints.remove.length > 0 ? { remove_headers: hints.remove } : {}),
    },
    // The destination header selects the route's endpoint: routes must be recomputed.
    clear_route_cache: true,
  };
}

/** An ImmediateResponse with an OpenAI-shaped JSON error body. */
function immediate(error: { status: number; code: string; message: string }): ProcessingResponse {
  const type = error.status >= 500 ? 'server_error' : 'invalid_request_error';
  const body = JSON.stringify({ error: { message: error.message, type, code: error.code } });
  return {
    immediate_response: {
      status: { code: error.status },
      headers: { set_headers: [setHeader('content-type', 'application/json')] },
      body: utf8.encode(body),
      details: `dynamo_epp_${error.code}`,
    },
  };
}
