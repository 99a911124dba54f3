// Finds the fields of a manifest that our schema does not know: Dynamo's v1alpha1 has more than we
// support, and such a field is accepted and kept (DESIGN §9) but reported to the user as a warning.
// Walks the zod schema beside the value; parts marked x-kubernetes-preserve-unknown-fields (Kubernetes'
// own types such as a PodSpec fragment) are free-form and not reported.
import { z } from 'zod';
import { fieldPath } from '../../api/k8s/index.js';

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function preserves(schema: z.ZodType): boolean {
  return z.globalRegistry.get(schema)?.['x-kubernetes-preserve-unknown-fields'] === true;
}

export function unknownFields(schema: z.ZodType, value: unknown, path: PropertyKey[] = []): string[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'nullable':
    case 'prefault':
      return def.innerType ? unknownFields(def.innerType, value, path) : [];
    case 'object': {
      if (!isObj(value) || !def.shape || preserves(schema)) return [];
      const out: string[] = [];
      for (const [k, v] of Object.entries(value)) {
        const field = def.shape[k];
        if (field) out.push(...unknownFields(field, v, [...path, k]));
        else out.push(fieldPath([...path, k]));
      }
      return out;
    }
    case 'record':
      if (!isObj(value) || !def.valueType) return [];
      return Object.entries(value).flatMap(([k, v]) =>
        unknownFields(def.valueType as z.ZodType, v, [...path, k]),
      );
    case 'array':
      if (!Array.isArray(value) || !def.element) return [];
      return value.flatMap((v, i) => unknownFields(def.element as z.ZodType, v, [...path, i]));
    default:
      return [];
  }
}
