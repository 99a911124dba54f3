// Generates the CustomResourceDefinitions from the zod schemas (the single source of truth, DESIGN §9).
// zod's JSON Schema (draft 2020-12) is rewritten into a Kubernetes *structural* OpenAPI v3 schema:
//   - every node has a type, except int-or-string and preserve-unknown-fields nodes;
//   - no $schema/$ref/const/propertyNames/default; union of int and string → x-kubernetes-int-or-string;
//   - loose objects (what we pass through) → x-kubernetes-preserve-unknown-fields;
//   - metadata is left to the API server (type: object only).
// Defaults are dropped on purpose: the defaulting webhook is the one place that fills them in.
// Descriptions (each field's `.describe()`, its one reference text) are kept on every path, wrappers and
// int-or-string nodes included: they are what `kubectl explain` shows.
import { z } from 'zod';
import { API_GROUP, API_VERSION } from './common.js';
import { API_VERSION_V1BETA1 } from './dynamo-graph-deployment.v1beta1.js';
import { type CustomKind, crdName } from './kinds.js';

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

// JSON Schema keywords a structural schema may keep as they are.
const KEEP = new Set([
  'description',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'enum',
  'format',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
]);

// JavaScript's safe-integer bounds that zod adds to every int: meaningless to the API server.
const SAFE = Number.MAX_SAFE_INTEGER;

/** Rewrites one zod JSON Schema node into a structural OpenAPI v3 node. */
export function toStructural(node: Json): Json {
  if (node['x-kubernetes-int-or-string'] === true) {
    const out: Json = {
      'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer' }, { type: 'string' }],
    };
    const stringBranch = (node.anyOf as Json[] | undefined)?.find((b) => b.type === 'string');
    if (stringBranch && typeof stringBranch.pattern === 'string') out.pattern = stringBranch.pattern;
    if (typeof node.description === 'string') out.description = node.description;
    return out;
  }
  if (Array.isArray(node.anyOf)) {
    throw new Error(`unions other than int-or-string are not structural: ${JSON.stringify(node)}`);
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (KEEP.has(k)) out[k] = v;
  }
  if (out.minimum === -SAFE) delete out.minimum;
  if (out.maximum === SAFE) delete out.maximum;
  if (typeof node.const === 'string') out.enum = [node.const];
  const type = node.type;
  if (typeof type === 'string') out.type = type;
  else if (out['x-kubernetes-preserve-unknown-fields'] !== true) {
    // z.unknown(): anything at all.
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  if (type === 'object') {
    if (isObj(node.properties)) {
      const props: Json = {};
      for (const [k, v] of Object.entries(node.properties)) {
        if (isObj(v)) props[k] = toStructural(v);
      }
      out.properties = props;
      if (Array.isArray(node.required) && node.required.length > 0) out.required = node.required;
      // A loose object: unknown fields are kept (the webhook warns about them), not pruned.
      if (isObj(node.additionalProperties) && Object.keys(node.additionalProperties).length === 0) {
        out['x-kubernetes-preserve-unknown-fields'] = true;
      }
    } else if (isObj(node.additionalProperties) && out['x-kubernetes-preserve-unknown-fields'] !== true) {
      if (Object.keys(node.additionalProperties).length === 0)
        out['x-kubernetes-preserve-unknown-fields'] = true;
      else out.additionalProperties = toStructural(node.additionalProperties);
    }
  }
  if (type === 'array' && isObj(node.items)) out.items = toStructural(node.items);
  return out;
}

function rootSchema(kind: CustomKind, schema: z.ZodType, version: string): Json {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'throw',
    reused: 'inline',
  }) as Json;
  const structural = toStructural(json);
  const props = structural.properties as Json;
  // apiVersion/kind are literals in zod (for parsing), plain strings in a CRD; metadata is the API server's.
  props.apiVersion = {
    type: 'string',
    description: `Versioned schema of this object: ${API_GROUP}/${version}.`,
  };
  props.kind = { type: 'string', description: `Kind of this object: ${kind.kind}.` };
  props.metadata = { type: 'object' };
  const description = structural.description;
  return {
    ...(typeof description === 'string' ? { description } : {}),
    type: 'object',
    properties: props,
    required: ['spec'],
  };
}

/**
 * Where the API server sends ConversionReviews, as the static CRD files say (they cannot be templated
 * with the release's Service): a placeholder that the operator rewrites, with the caBundle, when it
 * registers its webhooks (its `--webhook-service` Service, or with `--local-webhooks` a URL).
 */
export const CONVERSION_PATH = '/convert';
export const DEFAULT_CONVERSION_SERVICE = {
  namespace: 'dynamo-system',
  name: 'dynamo-operator-webhook',
  path: CONVERSION_PATH,
  port: 443,
};

export function generateCrd(kind: CustomKind): Json {
  const subresources: Json = { status: {} };
  if (kind.scale) subresources.scale = { ...kind.scale };
  const version = (
    name: string,
    schema: z.ZodType,
    storage: boolean,
    printerColumns = kind.printerColumns,
  ): Json => ({
    name,
    served: true,
    storage,
    subresources,
    additionalPrinterColumns: printerColumns,
    schema: { openAPIV3Schema: rootSchema(kind, schema, name) },
  });
  // v1alpha1 stays the storage version: every object stored before v1beta1 existed reads back as it
  // was, with no migration, and an operator without its webhook still serves v1alpha1 clients.
  const versions = [version(API_VERSION, kind.schema, true)];
  if (kind.v1beta1) {
    versions.push(version(API_VERSION_V1BETA1, kind.v1beta1.schema, false, kind.v1beta1.printerColumns));
  }
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName(kind), labels: { 'app.kubernetes.io/part-of': 'dynamo-ts' } },
    spec: {
      group: API_GROUP,
      names: {
        kind: kind.kind,
        listKind: kind.listKind,
        plural: kind.plural,
        singular: kind.singular,
        shortNames: kind.shortNames,
        categories: ['dynamo'],
      },
      scope: 'Namespaced',
      versions,
      ...(kind.v1beta1
        ? {
            conversion: {
              strategy: 'Webhook',
              webhook: {
                conversionReviewVersions: ['v1'],
                clientConfig: { service: DEFAULT_CONVERSION_SERVICE },
              },
            },
          }
        : {}),
    },
  };
}
