// Names of things on the wire: request-plane subjects, event-plane subjects, discovery keys
// (DESIGN §5). Every process builds them here, so both ends of a contract cannot drift.
import { z } from 'zod';
import { type InstanceId, instanceIdSchema, nameSchema } from './ids.js';

export const DEFAULT_NAMESPACE = 'dynamo';
/** Component name workers register under unless told otherwise (as Dynamo's backends). */
export const DEFAULT_WORKER_COMPONENT = 'backend';

/** The endpoints a worker serves. */
export const ENDPOINTS = {
  /** GenerateRequest → stream of GenerateResponse frames. */
  generate: 'generate',
  /** → KvDump: the whole cache state, for a router's resync. */
  kvDump: 'kv_dump',
  /** ModelFileRequest → ModelFile: tokenizer.json etc., fetched once by frontends. */
  modelFiles: 'model_files',
  /** KvReleaseRequest → nothing: drop a prefill pin that no decode worker will pull (DESIGN §12). */
  kvRelease: 'kv_release',
} as const;

export const endpointIdSchema = z.object({
  namespace: nameSchema,
  component: nameSchema,
  endpoint: nameSchema,
});
export type EndpointId = z.infer<typeof endpointIdSchema>;

/** What discovery stores under v1/instances/...: where an instance of an endpoint can be called. */
export const instanceSchema = endpointIdSchema.extend({
  instanceId: instanceIdSchema,
  /** Request-plane address: a NATS subject, or a name in the in-memory plane. */
  transport: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('nats'), subject: z.string().min(1) }),
    z.object({ kind: z.literal('memory'), address: z.string().min(1) }),
  ]),
});
export type Instance = z.infer<typeof instanceSchema>;

export function requestSubject(ep: EndpointId, instance: InstanceId): string {
  return `dynamo.${ep.namespace}.${ep.component}.${ep.endpoint}.${instance}`;
}

export function kvEventsSubject(namespace: string, component: string): string {
  return `dynamo.${namespace}.${component}.kv_events`;
}

export function loadMetricsSubject(namespace: string, component: string): string {
  return `dynamo.${namespace}.${component}.load_metrics`;
}

export const DISCOVERY_PREFIX = {
  instances: 'v1/instances/',
  modelCards: 'v1/mdc/',
} as const;

export function instanceKey(ep: EndpointId, instance: InstanceId): string {
  return `${DISCOVERY_PREFIX.instances}${ep.namespace}/${ep.component}/${ep.endpoint}/${instance}`;
}

export function modelCardKey(ep: EndpointId, instance: InstanceId): string {
  return `${DISCOVERY_PREFIX.modelCards}${ep.namespace}/${ep.component}/${ep.endpoint}/${instance}`;
}
