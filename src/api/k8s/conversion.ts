// DynamoGraphDeployment and DynamoComponentDeployment v1alpha1 ⇄ v1beta1: pure functions on the objects
// as JSON (what a ConversionReview carries). Lossless both ways: each direction converts every field that has a home in
// the other version, then converts the result back and compares; whatever did not come back the same
// (a field with no home, or one whose mapping is not one-to-one) travels in the annotation
// `nvidia.com/conversion-data`, which the opposite conversion consumes. A stashed field is restored only
// while the component it came from is unchanged (its hash is kept), so an edit made in the other version
// wins; fields that have no home at all are restored regardless. Unknown fields keep their name.
import { createHash } from 'node:crypto';
import { API_GROUP, GROUP_VERSION } from './common.js';
import { GROUP_VERSION_V1BETA1, MAIN_CONTAINER } from './dynamo-graph-deployment.v1beta1.js';

export const CONVERSION_ANNOTATION = `${API_GROUP}/conversion-data`;

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Json => (isObj(v) ? v : {});
const clone = <T>(v: T): T => structuredClone(v);

/** JSON with sorted keys: the API server re-orders map keys, so hashes and comparisons must not see order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);
const hash = (v: unknown) => createHash('sha256').update(canonical(v)).digest('hex').slice(0, 16);

/** Sets an own property, whatever its name (`__proto__` included): names come from users' objects. */
function setOwn(o: Json, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** An own property only: `constructor` is a valid component name, not Object's. */
const own = <T>(o: Record<string, T> | undefined, key: string): T | undefined =>
  o && Object.hasOwn(o, key) ? o[key] : undefined;

/** Drops undefined values, so that an absent field stays absent. */
function compact(o: Json): Json {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

// ---- one component ------------------------------------------------------------------------------

/** v1alpha1 component fields mapped to v1beta1 (the rest, unknown, keep their name). */
const ALPHA_MAPPED = new Set([
  'componentType',
  'subComponentType',
  'replicas',
  'resources',
  'envs',
  'envFromSecret',
  'extraPodSpec',
  'extraPodMetadata',
  'livenessProbe',
  'readinessProbe',
  'scalingAdapter',
  'sharedMemory',
  'modelRef',
  'globalDynamoNamespace',
  'multinode',
  'checkpoint',
  'eppConfig',
]);
/** v1alpha1 fields with no v1beta1 home: they travel in the annotation, whatever else changes. */
export const ALPHA_ONLY_FIELDS = [
  'ingress',
  'volumeMounts',
  'annotations',
  'labels',
  'dynamoNamespace',
  'autoscaling',
] as const;
const BETA_MAPPED = new Set([
  'name',
  'type',
  'replicas',
  'podTemplate',
  'sharedMemorySize',
  'modelRef',
  'scalingAdapter',
  'globalDynamoNamespace',
  'multinode',
  'eppConfig',
  'experimental',
]);
const ALPHA_ONLY = new Set<string>(ALPHA_ONLY_FIELDS);
const ALPHA_ONLY_SPEC = new Set(['pvcs']);
const NONE = new Set<string>();

const GPU = 'nvidia.com/gpu';

/** v1alpha1 resources (cpu, memory, gpu + gpuType, custom) → a corev1 ResourceList. */
function resourceListOf(item: unknown): Json | undefined {
  if (!isObj(item)) return undefined;
  const out: Json = {};
  if (item.cpu !== undefined) out.cpu = item.cpu;
  if (item.memory !== undefined) out.memory = item.memory;
  if (item.gpu !== undefined) out[typeof item.gpuType === 'string' ? item.gpuType : GPU] = item.gpu;
  Object.assign(out, obj(item.custom));
  return out;
}

function resourceItemOf(list: unknown): Json | undefined {
  if (!isObj(list)) return undefined;
  const out: Json = {};
  const custom: Json = {};
  for (const [k, v] of Object.entries(list)) {
    if (k === 'cpu' || k === 'memory') out[k] = v;
    else if (k === GPU) out.gpu = v;
    else custom[k] = v;
  }
  if (Object.keys(custom).length > 0) out.custom = custom;
  return out;
}

function typeOf(c: Json): string | undefined {
  const t = c.componentType;
  if (t === 'worker' && (c.subComponentType === 'prefill' || c.subComponentType === 'decode')) {
    return c.subComponentType;
  }
  return typeof t === 'string' && t !== 'default' ? t : undefined;
}

function componentToBeta(name: string, c: Json): Json {
  const extra = clone(obj(c.extraPodSpec));
  const main: Json = { name: MAIN_CONTAINER, ...clone(obj(extra.mainContainer)) };
  delete extra.mainContainer;
  const env = [...((c.envs as unknown[]) ?? []), ...((main.env as unknown[]) ?? [])];
  if (env.length > 0) main.env = env;
  if (typeof c.envFromSecret === 'string') {
    main.envFrom = [{ secretRef: { name: c.envFromSecret } }, ...((main.envFrom as unknown[]) ?? [])];
  }
  if (isObj(c.resources)) {
    const r = c.resources;
    main.resources = compact({
      requests: resourceListOf(r.requests),
      limits: resourceListOf(r.limits),
      claims: r.claims,
    });
  }
  if (c.livenessProbe !== undefined) main.livenessProbe = c.livenessProbe;
  if (c.readinessProbe !== undefined) main.readinessProbe = c.readinessProbe;
  const others = Array.isArray(extra.containers) ? extra.containers : [];
  const meta = obj(c.extraPodMetadata);
  // No podTemplate for a component that sets nothing of its pod (the operator's defaults apply).
  const hasPod =
    Object.keys(main).length > 1 || Object.keys(extra).length > 0 || Object.keys(meta).length > 0;
  const podTemplate = hasPod
    ? compact({
        metadata: Object.keys(meta).length > 0 ? meta : undefined,
        spec: { ...extra, containers: [main, ...others] },
      })
    : undefined;
  const shm = obj(c.sharedMemory);
  const out: Json = compact({
    name,
    type: typeOf(c),
    replicas: c.replicas,
    podTemplate: clone(podTemplate),
    sharedMemorySize: shm.disabled === true ? '0' : shm.size,
    modelRef: clone(c.modelRef),
    scalingAdapter: obj(c.scalingAdapter).enabled === true ? {} : undefined,
    globalDynamoNamespace: c.globalDynamoNamespace,
    multinode: clone(c.multinode),
    eppConfig: clone(c.eppConfig),
    experimental: c.checkpoint !== undefined ? { checkpoint: clone(c.checkpoint) } : undefined,
  });
  for (const [k, v] of Object.entries(c)) {
    if (!ALPHA_MAPPED.has(k) && !ALPHA_ONLY.has(k)) out[k] = clone(v);
  }
  return out;
}

function componentToAlpha(b: Json): { name: string; spec: Json } {
  const template = obj(b.podTemplate);
  const podSpec = clone(obj(template.spec));
  const containers = Array.isArray(podSpec.containers) ? (podSpec.containers as unknown[]) : [];
  const main = clone(obj(containers.find((x) => obj(x).name === MAIN_CONTAINER)));
  const others = containers.filter((x) => obj(x).name !== MAIN_CONTAINER);
  delete podSpec.containers;
  if (others.length > 0) podSpec.containers = others;
  delete main.name;
  const out: Json = {};
  const type = b.type;
  if (type === 'prefill' || type === 'decode') {
    out.componentType = 'worker';
    out.subComponentType = type;
  } else if (typeof type === 'string') out.componentType = type;
  if (b.replicas !== undefined) out.replicas = b.replicas;
  if (isObj(main.resources)) {
    const r = main.resources;
    out.resources = compact({
      requests: resourceItemOf(r.requests),
      limits: resourceItemOf(r.limits),
      claims: r.claims,
    });
    delete main.resources;
  }
  if (Array.isArray(main.env)) {
    out.envs = main.env;
    delete main.env;
  }
  const envFrom = Array.isArray(main.envFrom) ? (main.envFrom as unknown[]) : [];
  const secret = obj(obj(envFrom[0]).secretRef).name;
  if (typeof secret === 'string' && Object.keys(obj(envFrom[0])).length === 1) {
    out.envFromSecret = secret;
    if (envFrom.length > 1) main.envFrom = envFrom.slice(1);
    else delete main.envFrom;
  }
  for (const probe of ['livenessProbe', 'readinessProbe'] as const) {
    if (main[probe] !== undefined) {
      out[probe] = main[probe];
      delete main[probe];
    }
  }
  if (Object.keys(main).length > 0) podSpec.mainContainer = main;
  if (Object.keys(podSpec).length > 0) out.extraPodSpec = podSpec;
  if (isObj(template.metadata)) out.extraPodMetadata = clone(template.metadata);
  if (b.scalingAdapter !== undefined) out.scalingAdapter = { enabled: true };
  const shm = b.sharedMemorySize;
  if (shm === '0' || shm === 0) out.sharedMemory = { disabled: true };
  else if (shm !== undefined) out.sharedMemory = { size: shm };
  for (const k of ['modelRef', 'globalDynamoNamespace', 'multinode', 'eppConfig'] as const) {
    if (b[k] !== undefined) out[k] = clone(b[k]);
  }
  const checkpoint = obj(b.experimental).checkpoint;
  if (checkpoint !== undefined) out.checkpoint = clone(checkpoint);
  for (const [k, v] of Object.entries(b)) if (!BETA_MAPPED.has(k)) out[k] = clone(v);
  return { name: String(b.name), spec: out };
}

// ---- the stash ----------------------------------------------------------------------------------

/** What one conversion could not express in the target version, for the way back. */
interface Stash {
  /** The version the stashed fields belong to. */
  from: string;
  /** Spec-level fields (null: absent), and the hash of the converted spec they belong to. */
  spec?: { fields: Json; of: string };
  /** Per component name: its fields that did not come back the same, and the converted component's hash. */
  components?: Record<string, { fields: Json; of: string }>;
  /** The order of spec.components (the API server stores services as a map, in key order). */
  order?: string[];
}

/** Fields of `orig` that `back` does not reproduce (null for a field `orig` lacks). */
function diff(orig: Json, back: Json): Json {
  const out: Json = {};
  for (const k of new Set([...Object.keys(orig), ...Object.keys(back)])) {
    if (!same(orig[k], back[k])) out[k] = orig[k] === undefined ? null : orig[k];
  }
  return out;
}

/**
 * Applies stashed fields onto `target` while `source` (what is being converted) is still what the stash
 * was made from; once it was edited, only the `always` fields (those without a home) come back.
 */
function restore(
  target: Json,
  entry: { fields: Json; of: string } | undefined,
  source: unknown,
  always: ReadonlySet<string>,
): void {
  if (!entry) return;
  const unchanged = hash(source) === entry.of;
  for (const [k, v] of Object.entries(entry.fields)) {
    if (!unchanged && !always.has(k)) continue;
    if (v === null) delete target[k];
    else setOwn(target, k, clone(v));
  }
}

function takeStash(metadata: Json, from: string): Stash | undefined {
  const annotations = obj(metadata.annotations);
  const raw = annotations[CONVERSION_ANNOTATION];
  if (typeof raw !== 'string') return undefined;
  delete annotations[CONVERSION_ANNOTATION];
  if (Object.keys(annotations).length === 0) delete metadata.annotations;
  try {
    const stash = JSON.parse(raw) as Stash;
    return stash.from === from ? stash : undefined;
  } catch {
    return undefined; // a hand-edited annotation: converted without it
  }
}

function putStash(metadata: Json, stash: Stash): void {
  if (!stash.spec && !stash.components && !stash.order) return;
  metadata.annotations = { ...obj(metadata.annotations), [CONVERSION_ANNOTATION]: JSON.stringify(stash) };
}

// ---- whole objects ------------------------------------------------------------------------------

function specToBeta(spec: Json): Json {
  const services = obj(spec.services);
  const out: Json = {};
  // By name: the order the API server gives a stored map in, so that a graph reads the same each time.
  out.components = Object.keys(services)
    .sort()
    .map((name) => componentToBeta(name, obj(services[name])));
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'services' || k === 'pvcs') continue;
    out[k === 'envs' ? 'env' : k] = clone(v);
  }
  return out;
}

function specToAlpha(spec: Json): Json {
  const out: Json = { services: {} };
  const services = out.services as Json;
  const components = Array.isArray(spec.components) ? spec.components : [];
  components.forEach((c, i) => {
    if (!isObj(c) || typeof c.name !== 'string') {
      throw new ConversionError(`spec.components[${i}].name: required`);
    }
    const { name, spec: s } = componentToAlpha(c);
    if (Object.hasOwn(services, name)) {
      throw new ConversionError(`spec.components[${i}].name: duplicate name "${name}"`);
    }
    setOwn(services, name, s);
  });
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'components') continue;
    out[k === 'env' ? 'envs' : k] = clone(v);
  }
  return out;
}

const specWithout = (spec: Json, key: string): Json => {
  const { [key]: _, ...rest } = spec;
  return rest;
};

function statusToOther(status: unknown, from: string, to: string): unknown {
  if (!isObj(status)) return status;
  const out = clone(status);
  if (out[from] !== undefined) {
    out[to] = out[from];
    delete out[from];
  }
  return out;
}

export class ConversionError extends Error {
  override name = 'ConversionError';
}

/** A v1alpha1 DynamoGraphDeployment as v1beta1 (the input is not changed). */
export function dgdToV1beta1(alpha: Json): Json {
  const metadata = clone(obj(alpha.metadata));
  const incoming = takeStash(metadata, GROUP_VERSION_V1BETA1);
  const spec = obj(alpha.spec);
  const beta = specToBeta(spec);
  const components = beta.components as Json[];
  const services = obj(spec.services);
  // Fields the v1beta1 side stashed on its way here come back while the component is as it left.
  for (const c of components) {
    const name = String(c.name);
    restore(c, own(incoming?.components, name), own(services, name), NONE);
  }
  restore(beta, incoming?.spec, specWithout(spec, 'services'), NONE);
  const order = incoming?.order;
  if (order && same([...order].sort(), components.map((c) => c.name).sort())) {
    components.sort((a, b) => order.indexOf(String(a.name)) - order.indexOf(String(b.name)));
  }
  // What v1beta1 cannot say, for the way back.
  const back = specToAlpha(beta);
  const stash: Stash = { from: GROUP_VERSION };
  for (const c of components) {
    const name = String(c.name);
    const fields = diff(obj(own(services, name)), obj(own(obj(back.services), name)));
    if (Object.keys(fields).length > 0)
      stash.components = { ...stash.components, [name]: { fields, of: hash(c) } };
  }
  const specFields = diff(specWithout(spec, 'services'), specWithout(back, 'services'));
  if (Object.keys(specFields).length > 0) {
    stash.spec = { fields: specFields, of: hash(specWithout(beta, 'components')) };
  }
  putStash(metadata, stash);
  return compact({
    ...clone(alpha),
    apiVersion: GROUP_VERSION_V1BETA1,
    metadata,
    spec: beta,
    status: statusToOther(alpha.status, 'services', 'components'),
  });
}

/** A v1beta1 DynamoGraphDeployment as v1alpha1 (the input is not changed). */
export function dgdToV1alpha1(beta: Json): Json {
  const metadata = clone(obj(beta.metadata));
  const incoming = takeStash(metadata, GROUP_VERSION);
  const spec = obj(beta.spec);
  const alpha = specToAlpha(spec);
  const services = alpha.services as Json;
  const byName = new Map(
    (Array.isArray(spec.components) ? spec.components : []).map((c) => [String(obj(c).name), c]),
  );
  for (const [name, s] of Object.entries(services)) {
    restore(obj(s), own(incoming?.components, name), byName.get(name), ALPHA_ONLY);
  }
  restore(alpha, incoming?.spec, specWithout(spec, 'components'), ALPHA_ONLY_SPEC);
  const back = specToBeta(alpha);
  const stash: Stash = { from: GROUP_VERSION_V1BETA1 };
  const components = (Array.isArray(spec.components) ? spec.components : []).map(obj);
  const backByName = new Map((back.components as Json[]).map((c) => [String(c.name), c]));
  for (const c of components) {
    const name = String(c.name);
    const fields = diff(c, obj(backByName.get(name)));
    if (Object.keys(fields).length > 0) {
      stash.components = { ...stash.components, [name]: { fields, of: hash(own(services, name)) } };
    }
  }
  const specFields = diff(specWithout(spec, 'components'), specWithout(back, 'components'));
  if (Object.keys(specFields).length > 0) {
    stash.spec = { fields: specFields, of: hash(specWithout(alpha, 'services')) };
  }
  const names = components.map((c) => String(c.name));
  if (!same(names, [...names].sort())) stash.order = names;
  putStash(metadata, stash);
  return compact({
    ...clone(beta),
    apiVersion: GROUP_VERSION,
    metadata,
    spec: alpha,
    status: statusToOther(beta.status, 'components', 'services'),
  });
}

// A DynamoComponentDeployment converts as a graph of one service (its serviceName, or UNNAMED when it
// has none), so that it shares the mapping and the stash; backendFramework stays at spec level.
const UNNAMED = '\u0000';

/** A v1alpha1 DynamoComponentDeployment as v1beta1 (the input is not changed). */
export function dcdToV1beta1(alpha: Json): Json {
  const { serviceName, backendFramework, ...component } = obj(alpha.spec);
  const key = typeof serviceName === 'string' ? serviceName : UNNAMED;
  const graph = dgdToV1beta1({
    ...alpha,
    spec: compact({ services: { [key]: component }, backendFramework }),
    status: undefined,
  });
  const spec = obj(graph.spec);
  const { name, ...rest } = obj((spec.components as Json[])[0]);
  return compact({
    ...graph,
    spec: compact({
      ...(name === UNNAMED ? {} : { name }),
      ...rest,
      backendFramework: spec.backendFramework,
    }),
    status: statusToOther(alpha.status, 'service', 'component'),
  });
}

/** A v1beta1 DynamoComponentDeployment as v1alpha1 (the input is not changed). */
export function dcdToV1alpha1(beta: Json): Json {
  const { name, backendFramework, ...component } = obj(beta.spec);
  const graph = dgdToV1alpha1({
    ...beta,
    spec: compact({
      components: [{ ...component, name: typeof name === 'string' ? name : UNNAMED }],
      backendFramework,
    }),
    status: undefined,
  });
  const spec = obj(graph.spec);
  const [[key, rest] = [UNNAMED, {}]] = Object.entries(obj(spec.services));
  return compact({
    ...graph,
    spec: compact({
      ...obj(rest),
      ...(key === UNNAMED ? {} : { serviceName: key }),
      backendFramework: spec.backendFramework,
    }),
    status: statusToOther(beta.status, 'component', 'service'),
  });
}

const CONVERTERS: Record<string, { toV1beta1: (o: Json) => Json; toV1alpha1: (o: Json) => Json }> = {
  DynamoGraphDeployment: { toV1beta1: dgdToV1beta1, toV1alpha1: dgdToV1alpha1 },
  DynamoComponentDeployment: { toV1beta1: dcdToV1beta1, toV1alpha1: dcdToV1alpha1 },
};

/** Converts a DynamoGraphDeployment or DynamoComponentDeployment to `desiredAPIVersion`. */
export function convertObject(object: Json, desiredAPIVersion: string): Json {
  const converter = CONVERTERS[String(object.kind)];
  if (!converter) throw new ConversionError(`kind ${String(object.kind)} has a single version`);
  if (object.apiVersion === desiredAPIVersion) return clone(object);
  if (object.apiVersion === GROUP_VERSION && desiredAPIVersion === GROUP_VERSION_V1BETA1) {
    return converter.toV1beta1(object);
  }
  if (object.apiVersion === GROUP_VERSION_V1BETA1 && desiredAPIVersion === GROUP_VERSION) {
    return converter.toV1alpha1(object);
  }
  throw new ConversionError(
    `cannot convert ${String(object.kind)} from ${String(object.apiVersion)} to ${desiredAPIVersion}`,
  );
}
