// Defaulting webhooks: fill in what Dynamo's v1alpha1 defaults, so what is stored is explicit.
// Malformed input is returned unchanged: the validating webhook then denies it with field paths.
import { dynamoComponentDeployment, dynamoGraphDeployment, dynamoModel } from '../../api/k8s/index.js';
import type { Defaulter } from './admission.js';

export class DgdDefaulter implements Defaulter {
  default(obj: unknown): unknown {
    const parsed = dynamoGraphDeployment.safeParse(obj);
    if (!parsed.success) return obj;
    const dgd = structuredClone(parsed.data);
    for (const service of Object.values(dgd.spec.services)) {
      service.replicas ??= 1;
      for (const vm of service.volumeMounts ?? []) {
        if (vm.useAsCompilationCache === true) vm.mountPoint ??= '/root/.cache';
      }
    }
    for (const pvc of dgd.spec.pvcs ?? []) pvc.create ??= false;
    return dgd;
  }
}

export class DcdDefaulter implements Defaulter {
  default(obj: unknown): unknown {
    const parsed = dynamoComponentDeployment.safeParse(obj);
    if (!parsed.success) return obj;
    const dcd = structuredClone(parsed.data);
    dcd.spec.replicas ??= 1;
    return dcd;
  }
}

export class DynamoModelDefaulter implements Defaulter {
  default(obj: unknown): unknown {
    const parsed = dynamoModel.safeParse(obj);
    if (!parsed.success) return obj;
    const m = structuredClone(parsed.data);
    m.spec.modelType ??= 'base';
    return m;
  }
}
