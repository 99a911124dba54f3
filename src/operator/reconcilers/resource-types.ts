// ResourceTypes of our own kinds, from the one table in src/api.
import {
  ADAPTER_KIND,
  API_GROUP,
  API_VERSION,
  type CustomKind,
  DCD_KIND,
  DGD_KIND,
  MODEL_KIND,
} from '../../api/k8s/index.js';
import type { ResourceType } from '../kube/types.js';

const rt = (k: CustomKind): ResourceType => ({
  group: API_GROUP,
  version: API_VERSION,
  plural: k.plural,
  kind: k.kind,
  namespaced: true,
});

export const DGD_RT = rt(DGD_KIND);
export const DCD_RT = rt(DCD_KIND);
export const MODEL_RT = rt(MODEL_KIND);
export const ADAPTER_RT = rt(ADAPTER_KIND);

/** The Gateway API Inference Extension's pool (its CRD is installed by the chart, or by hand). */
export const INFERENCE_POOL_RT: ResourceType = {
  group: 'inference.networking.k8s.io',
  version: 'v1',
  plural: 'inferencepools',
  kind: 'InferencePool',
  namespaced: true,
};
