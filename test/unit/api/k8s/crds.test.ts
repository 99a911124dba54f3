// The checked-in crds/*.yaml must be what the schemas generate (run `make crds` after changing them),
// and the generated schemas must be structural (what the API server demands of a v1 CRD).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CUSTOM_KINDS, DGD_KIND, generateCrd, toStructural } from '../../../../src/api/k8s/index.js';
import { crdFiles } from '../../../../src/operator/crds.js';

const CRD_DIR = join(import.meta.dirname, '../../../../crds');

type Node = Record<string, unknown>;

/** Every node has a type, or is int-or-string / preserve-unknown-fields; no $ref, no forbidden keywords. */
function structuralProblems(node: Node, path: string): string[] {
  const out: string[] = [];
  const exempt =
    node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true;
  if (typeof node.type !== 'string' && !exempt) out.push(`${path}: no type`);
  for (const bad of ['$ref', '$schema', 'const', 'propertyNames', 'oneOf', 'additionalItems']) {
    if (bad in node) out.push(`${path}: ${bad}`);
  }
  if ('anyOf' in node && node['x-kubernetes-int-or-string'] !== true) out.push(`${path}: anyOf`);
  for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
    out.push(...structuralProblems(v, `${path}.${k}`));
  }
  if (node.items) out.push(...structuralProblems(node.items as Node, `${path}[]`));
  if (typeof node.additionalProperties === 'object') {
    out.push(...structuralProblems(node.additionalProperties as Node, `${path}.*`));
  }
  return out;
}

/**
 * Paths of the properties without a description, under `node` (map values and list items walked too).
 * A preserve-unknown-fields subtree we do not model has no properties, so it yields nothing.
 */
function undescribed(node: Node, path: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
    const at = `${path}.${k}`;
    if (typeof v.description !== 'string' || v.description.trim() === '') out.push(at);
    out.push(...undescribed(v, at));
  }
  if (node.items) out.push(...undescribed(node.items as Node, `${path}[]`));
  if (typeof node.additionalProperties === 'object') {
    out.push(...undescribed(node.additionalProperties as Node, `${path}.*`));
  }
  return out;
}

/** The schema of each version the file's CRD serves. */
const rootsOf = (file: string): Node[] => {
  const crd = load(readFileSync(join(CRD_DIR, file), 'utf8')) as {
    spec: { versions: { schema: { openAPIV3Schema: Node } }[] };
  };
  return crd.spec.versions.map((v) => v.schema.openAPIV3Schema);
};

describe('CRDs', () => {
  it('are checked in as generated (run `make crds` when this fails)', () => {
    const files = crdFiles();
    expect(
      readdirSync(CRD_DIR)
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
    ).toEqual(files.map((f) => f.file).sort());
    for (const f of files) expect(readFileSync(join(CRD_DIR, f.file), 'utf8'), f.file).toBe(f.yaml);
  });

  it.each(CUSTOM_KINDS.map((k) => [k.kind, k] as const))('%s has a structural schema', (_name, kind) => {
    const crd = generateCrd(kind) as {
      spec: { versions: { name: string; schema: { openAPIV3Schema: Node } }[] };
    };
    for (const v of crd.spec.versions)
      expect(structuralProblems(v.schema.openAPIV3Schema, v.name)).toEqual([]);
  });

  it('marks quantities int-or-string and pass-through parts preserve-unknown-fields', () => {
    const crd = generateCrd(DGD_KIND) as { spec: { versions: { schema: { openAPIV3Schema: Node } }[] } };
    const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
    if (!root) throw new Error('no schema');
    const spec = (root.properties as Record<string, Node>).spec as Node;
    const service = ((spec.properties as Record<string, Node>).services as Node).additionalProperties as Node;
    const props = service.properties as Record<string, Node>;
    const cpu = (((props.resources as Node).properties as Record<string, Node>).requests as Node)
      .properties as Record<string, Node>;
    expect(cpu.cpu).toMatchObject({
      'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer' }, { type: 'string' }],
    });
    expect(props.extraPodSpec).toMatchObject({
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
    expect(props.componentType).toMatchObject({
      type: 'string',
      enum: ['frontend', 'worker', 'prefill', 'decode', 'planner', 'epp', 'default'],
    });
  });

  it('has the scale subresource on the adapter only, and short names', () => {
    const byKind = Object.fromEntries(CUSTOM_KINDS.map((k) => [k.kind, generateCrd(k)])) as Record<
      string,
      { spec: { names: { shortNames: string[] }; versions: { subresources: Record<string, unknown> }[] } }
    >;
    expect(byKind.DynamoGraphDeploymentScalingAdapter?.spec.versions[0]?.subresources.scale).toEqual({
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    });
    expect(byKind.DynamoGraphDeployment?.spec.versions[0]?.subresources).toEqual({ status: {} });
    expect(byKind.DynamoGraphDeployment?.spec.names.shortNames).toEqual(['dgd']);
    expect(byKind.DynamoComponentDeployment?.spec.names.shortNames).toEqual(['dcd']);
  });

  // What `kubectl explain` shows: every field we model has its text, the root and spec/status included.
  it.each(crdFiles().map((f) => [f.file]))('%s describes every field', (file) => {
    for (const root of rootsOf(file)) {
      expect(root.description, 'root').toEqual(expect.stringMatching(/\S/));
      const props = root.properties as Record<string, Node>;
      const missing = [
        ...['apiVersion', 'kind', 'spec', 'status'].filter((k) => !props[k]?.description).map((k) => `.${k}`),
        ...undescribed(props.spec as Node, '.spec'),
        ...undescribed(props.status as Node, '.status'),
      ];
      expect(missing).toEqual([]);
    }
  });

  it('finds an undescribed field, through optional and int-or-string wrappers', () => {
    const schema = z.object({
      a: z.string().optional().describe('A'),
      b: z.object({ c: z.int().optional() }).describe('B'),
      d: z.union([z.int(), z.string()]).meta({ 'x-kubernetes-int-or-string': true }).optional(),
    });
    const node = toStructural(z.toJSONSchema(schema, { io: 'input' }) as Node);
    expect(undescribed(node, '')).toEqual(['.b.c', '.d']);
  });

  it('rejects unions that a structural schema cannot express', () => {
    expect(() => toStructural({ anyOf: [{ type: 'string' }, { type: 'boolean' }] })).toThrow(
      /not structural/,
    );
  });
});
