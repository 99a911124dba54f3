// Validation of the other kinds: DynamoModel (Dynamo's rules), DCD and scaling adapters (schema and
// immutable references).
import {
  type DynamoModel,
  dynamoComponentDeployment,
  dynamoModel,
  scalingAdapter,
} from '../../api/k8s/index.js';
import { AdmissionDenied, isBeingDeleted, parseOrDeny, type Validator } from './admission.js';
import { componentWarnings } from './dgd.validator.js';
import { unknownFields } from './unknown-fields.js';

function modelRules(m: DynamoModel): string[] {
  if (m.spec.modelType !== 'lora') return [];
  const uri = m.spec.source?.uri;
  if (!uri || !(uri.startsWith('s3://') || uri.startsWith('hf://'))) {
    return ['spec.source.uri: a LoRA model needs a source URI starting with s3:// or hf://'];
  }
  return [];
}

export class DynamoModelValidator implements Validator {
  validateCreate(obj: unknown): string[] {
    const reasons = modelRules(parseOrDeny(dynamoModel, obj));
    if (reasons.length > 0) throw new AdmissionDenied(reasons);
    return [];
  }

  validateUpdate(oldObj: unknown, nextObj: unknown): string[] {
    if (isBeingDeleted(nextObj)) return [];
    const next = parseOrDeny(dynamoModel, nextObj);
    const reasons = modelRules(next);
    const old = dynamoModel.safeParse(oldObj);
    if (old.success) {
      if ((old.data.spec.modelType ?? 'base') !== (next.spec.modelType ?? 'base')) {
        reasons.push('spec.modelType: immutable');
      }
      if (old.data.spec.baseModelName !== next.spec.baseModelName)
        reasons.push('spec.baseModelName: immutable');
    }
    if (reasons.length > 0) throw new AdmissionDenied(reasons);
    return [];
  }
}

export class DcdValidator implements Validator {
  /** imageRequired: the operator has no `--default-image`, so a component without one cannot run. */
  constructor(private readonly options: { imageRequired?: boolean } = {}) {}

  validateCreate(obj: unknown): string[] {
    const dcd = parseOrDeny(dynamoComponentDeployment, obj);
    if (this.options.imageRequired && !dcd.spec.extraPodSpec?.mainContainer?.image)
      throw new AdmissionDenied([
        'spec.extraPodSpec.mainContainer.image: required: the operator runs without --default-image',
      ]);
    // A graph's DCDs (owned) copy its services, whose author was warned on the graph: only one made by
    // hand gets the warnings.
    if ((dcd.metadata.ownerReferences ?? []).length > 0) return [];
    return [
      ...componentWarnings('spec', dcd.spec),
      ...unknownFields(dynamoComponentDeployment, obj)
        .filter((path) => path.startsWith('spec.'))
        .map((path) => `${path}: unknown field; kept but ignored`),
    ];
  }

  validateUpdate(_old: unknown, next: unknown): string[] {
    if (isBeingDeleted(next)) return [];
    return this.validateCreate(next);
  }
}

export class ScalingAdapterValidator implements Validator {
  validateCreate(obj: unknown): string[] {
    parseOrDeny(scalingAdapter, obj);
    return [];
  }

  validateUpdate(oldObj: unknown, nextObj: unknown): string[] {
    if (isBeingDeleted(nextObj)) return [];
    const next = parseOrDeny(scalingAdapter, nextObj);
    const old = scalingAdapter.safeParse(oldObj);
    if (
      old.success &&
      (old.data.spec.dgdRef.name !== next.spec.dgdRef.name ||
        old.data.spec.dgdRef.serviceName !== next.spec.dgdRef.serviceName)
    ) {
      throw new AdmissionDenied(['spec.dgdRef: immutable']);
    }
    return [];
  }
}
