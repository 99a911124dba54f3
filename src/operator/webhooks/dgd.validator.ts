// Validation of DynamoGraphDeployments: zod's (types, quantities, enums, names) and then Dynamo's
// v1alpha1 rules for the fields we support. Every reason names its field path.
import {
  type ComponentSpec,
  DNS_LABEL,
  type DynamoGraphDeployment,
  dynamoGraphDeployment,
  IGNORED_COMPONENT_FIELDS,
  SUB_COMPONENT_TYPES,
  workerRole,
} from '../../api/k8s/index.js';
import { componentName } from '../naming.js';
import {
  AdmissionDenied,
  type AdmissionUser,
  isBeingDeleted,
  parseOrDeny,
  type Validator,
} from './admission.js';
import { unknownFields } from './unknown-fields.js';

function serviceRules(graph: string, name: string, s: ComponentSpec, options: DgdRuleOptions): string[] {
  const at = `spec.services.${name}`;
  const out: string[] = [];
  // Reconcile would refuse it ("no image"), and GitOps would only see that later in the status.
  if (options.imageRequired && !s.extraPodSpec?.mainContainer?.image)
    out.push(`${at}.extraPodSpec.mainContainer.image: required: the operator runs without --default-image`);
  const dcd = componentName(graph, name);
  if (!DNS_LABEL.test(dcd) || dcd.length > 63) {
    out.push(
      `${at}: the component name "${dcd}" (graph name, "-", service name lower-cased) must be a DNS label of at most 63 characters`,
    );
  }
  if (s.ingress?.enabled === true && !s.ingress.host)
    out.push(`${at}.ingress.host: required when ingress.enabled is true`);
  (s.volumeMounts ?? []).forEach((vm, i) => {
    if (!vm.mountPoint && vm.useAsCompilationCache !== true) {
      out.push(`${at}.volumeMounts[${i}].mountPoint: required unless useAsCompilationCache is true`);
    }
  });
  if (s.sharedMemory && s.sharedMemory.disabled !== true && s.sharedMemory.size === undefined) {
    out.push(`${at}.sharedMemory.size: required when shared memory is not disabled`);
  }
  // A prefill service marked decode (or the reverse): acting on either role would be a guess.
  const sub = s.subComponentType;
  if (
    (s.componentType === 'prefill' || s.componentType === 'decode') &&
    isSubComponentType(sub) &&
    sub !== s.componentType
  ) {
    out.push(`${at}.subComponentType: "${sub}" contradicts componentType "${s.componentType}"`);
  }
  return out;
}

const isSubComponentType = (v: string | undefined): v is (typeof SUB_COMPONENT_TYPES)[number] =>
  (SUB_COMPONENT_TYPES as readonly (string | undefined)[]).includes(v);

/** subComponentType is acted on for prefill/decode workers only; any other use is kept and warned about. */
function subComponentTypeWarning(name: string, s: ComponentSpec): string | undefined {
  const sub = s.subComponentType;
  // Go's omitempty: Dynamo writes "" for unset.
  if (sub === undefined || sub === '') return undefined;
  const at = `spec.services.${name}.subComponentType`;
  if (workerRole(s) === undefined) {
    return `${at}: "${sub}" is acted on for workers only; ignored`;
  }
  if (!isSubComponentType(sub)) {
    return `${at}: "${sub}" not supported by dynamo-ts (only ${SUB_COMPONENT_TYPES.join(', ')}); ignored`;
  }
  return undefined;
}

export interface DgdRuleOptions {
  /** The operator has no `--default-image`: a service without an image could never be deployed. */
  imageRequired?: boolean;
}

function createRules(dgd: DynamoGraphDeployment, options: DgdRuleOptions): string[] {
  const graph = dgd.metadata.name ?? '';
  const out: string[] = [];
  const services = Object.entries(dgd.spec.services);
  if (services.length === 0) out.push('spec.services: at least one service is required');
  for (const [name, s] of services) out.push(...serviceRules(graph, name, s, options));
  (dgd.spec.pvcs ?? []).forEach((p, i) => {
    if (p.create !== true) return;
    if (!p.storageClass) out.push(`spec.pvcs[${i}].storageClass: required when create is true`);
    if (p.size === undefined) out.push(`spec.pvcs[${i}].size: required when create is true`);
    if (!p.volumeAccessMode) out.push(`spec.pvcs[${i}].volumeAccessMode: required when create is true`);
  });
  return out;
}

/**
 * Warnings about one component (`at` is its path): Dynamo fields set that dynamo-ts keeps but does not act
 * on, and a type it admits but does not run. Go's zero values (false, "") count as unset, as Dynamo
 * writes them.
 */
export function componentWarnings(at: string, s: ComponentSpec): string[] {
  const out: string[] = [];
  for (const [field, why] of Object.entries(IGNORED_COMPONENT_FIELDS)) {
    const v = (s as Record<string, unknown>)[field];
    if (v !== undefined && v !== false && v !== '') out.push(`${at}.${field}: ${why}`);
  }
  return out;
}

/** Warnings for a parsed graph (`dgd`) and the object as sent (`obj`, with the fields zod does not know). */
function warnings(dgd: DynamoGraphDeployment, obj: unknown): string[] {
  const out: string[] = [];
  for (const [name, s] of Object.entries(dgd.spec.services)) {
    const w = subComponentTypeWarning(name, s);
    if (w) out.push(w);
    out.push(...componentWarnings(`spec.services.${name}`, s));
  }
  if (dgd.spec.restart) out.push('spec.restart: not supported by dynamo-ts; ignored');
  // A newer Dynamo's fields (or a typo): kept, as the CRD preserves them, and named.
  for (const path of unknownFields(dynamoGraphDeployment, obj)) {
    if (!path.startsWith('metadata.') && !path.startsWith('status.')) {
      out.push(`${path}: unknown field; kept but ignored`);
    }
  }
  return out;
}

export class DgdValidator implements Validator {
  constructor(private readonly options: DgdRuleOptions = {}) {}

  validateCreate(obj: unknown): string[] {
    const dgd = parseOrDeny(dynamoGraphDeployment, obj);
    const reasons = createRules(dgd, this.options);
    if (reasons.length > 0) throw new AdmissionDenied(reasons);
    return warnings(dgd, obj);
  }

  validateUpdate(oldObj: unknown, nextObj: unknown, user: AdmissionUser): string[] {
    // An object being deleted only loses its finalizers: never block that, whatever it holds.
    if (isBeingDeleted(nextObj)) return [];
    const next = parseOrDeny(dynamoGraphDeployment, nextObj);
    const reasons = createRules(next, this.options);
    const old = dynamoGraphDeployment.safeParse(oldObj);
    if (old.success) {
      const prev = old.data;
      if (prev.spec.backendFramework !== next.spec.backendFramework) {
        reasons.push(
          `spec.backendFramework: immutable (was ${JSON.stringify(prev.spec.backendFramework ?? null)}, now ${JSON.stringify(next.spec.backendFramework ?? null)})`,
        );
      }
      const before = Object.keys(prev.spec.services).sort();
      const after = Object.keys(next.spec.services).sort();
      const added = after.filter((s) => !before.includes(s));
      const removed = before.filter((s) => !after.includes(s));
      if (added.length > 0 || removed.length > 0) {
        const parts = [
          ...(added.length > 0 ? [`added ${added.join(', ')}`] : []),
          ...(removed.length > 0 ? [`removed ${removed.join(', ')}`] : []),
        ];
        reasons.push(`spec.services: the set of services is immutable (${parts.join('; ')})`);
      }
      if (!user.isOperator) {
        for (const [name, s] of Object.entries(next.spec.services)) {
          const p = prev.spec.services[name];
          if (p?.scalingAdapter?.enabled !== true || s.scalingAdapter?.enabled !== true) continue;
          if ((p.replicas ?? 1) !== (s.replicas ?? 1)) {
            reasons.push(
              `spec.services.${name}.replicas: owned by its DynamoGraphDeploymentScalingAdapter while scalingAdapter.enabled is true; scale the adapter instead`,
            );
          }
        }
      }
    }
    if (reasons.length > 0) throw new AdmissionDenied(reasons);
    // The user was warned when they wrote the fields; the operator's own writes would only echo that.
    return user.isOperator ? [] : warnings(next, nextObj);
  }
}
