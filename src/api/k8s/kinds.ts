// The four custom resources: names, scope, printer columns and subresources of their CRDs. One table,
// read by the CRD generator and by the operator (paths, plurals), so the two cannot disagree.
import type { z } from 'zod';
import { API_GROUP } from './common.js';
import { dynamoComponentDeployment } from './dynamo-component-deployment.js';
import { dynamoGraphDeployment } from './dynamo-graph-deployment.js';
import {
  dynamoComponentDeploymentV1beta1,
  dynamoGraphDeploymentV1beta1,
} from './dynamo-graph-deployment.v1beta1.js';
import { dynamoModel } from './dynamo-model.js';
import { scalingAdapter } from './scaling-adapter.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'boolean' | 'number';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CustomKind {
  kind: string;
  plural: string;
  singular: string;
  listKind: string;
  shortNames: string[];
  schema: z.ZodType;
  /**
   * Its nvidia.com/v1beta1 schema (and printer columns, where its paths differ), when that version is
   * served too: converted by the operator's webhook.
   */
  v1beta1?: { schema: z.ZodType; printerColumns?: PrinterColumn[] };
  printerColumns: PrinterColumn[];
  /** The scale subresource's paths, for HPA / KEDA. */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const READY: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};

export const DGD_KIND: CustomKind = {
  kind: 'DynamoGraphDeployment',
  plural: 'dynamographdeployments',
  singular: 'dynamographdeployment',
  listKind: 'DynamoGraphDeploymentList',
  shortNames: ['dgd'],
  schema: dynamoGraphDeployment,
  v1beta1: { schema: dynamoGraphDeploymentV1beta1 },
  printerColumns: [
    { name: 'State', type: 'string', jsonPath: '.status.state' },
    READY,
    { name: 'Backend', type: 'string', jsonPath: '.spec.backendFramework' },
    AGE,
  ],
};

export const DCD_KIND: CustomKind = {
  kind: 'DynamoComponentDeployment',
  plural: 'dynamocomponentdeployments',
  singular: 'dynamocomponentdeployment',
  listKind: 'DynamoComponentDeploymentList',
  shortNames: ['dcd'],
  schema: dynamoComponentDeployment,
  v1beta1: {
    schema: dynamoComponentDeploymentV1beta1,
    printerColumns: [
      { name: 'Component', type: 'string', jsonPath: '.spec.type' },
      { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
      { name: 'Available', type: 'integer', jsonPath: '.status.component.availableReplicas' },
      READY,
      AGE,
    ],
  },
  printerColumns: [
    { name: 'Component', type: 'string', jsonPath: '.spec.componentType' },
    { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Available', type: 'integer', jsonPath: '.status.service.availableReplicas' },
    READY,
    AGE,
  ],
};

export const MODEL_KIND: CustomKind = {
  kind: 'DynamoModel',
  plural: 'dynamomodels',
  singular: 'dynamomodel',
  listKind: 'DynamoModelList',
  shortNames: ['dm'],
  schema: dynamoModel,
  printerColumns: [
    { name: 'Model', type: 'string', jsonPath: '.spec.modelName' },
    { name: 'Base', type: 'string', jsonPath: '.spec.baseModelName' },
    { name: 'Type', type: 'string', jsonPath: '.spec.modelType' },
    { name: 'Endpoints', type: 'integer', jsonPath: '.status.readyEndpoints' },
    AGE,
  ],
};

export const ADAPTER_KIND: CustomKind = {
  kind: 'DynamoGraphDeploymentScalingAdapter',
  plural: 'dynamographdeploymentscalingadapters',
  singular: 'dynamographdeploymentscalingadapter',
  listKind: 'DynamoGraphDeploymentScalingAdapterList',
  shortNames: ['dgdsa'],
  schema: scalingAdapter,
  printerColumns: [
    { name: 'Graph', type: 'string', jsonPath: '.spec.dgdRef.name' },
    { name: 'Service', type: 'string', jsonPath: '.spec.dgdRef.serviceName' },
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Current', type: 'integer', jsonPath: '.status.replicas' },
    AGE,
  ],
  scale: {
    specReplicasPath: '.spec.replicas',
    statusReplicasPath: '.status.replicas',
    labelSelectorPath: '.status.selector',
  },
};

export const CUSTOM_KINDS: readonly CustomKind[] = [DGD_KIND, DCD_KIND, MODEL_KIND, ADAPTER_KIND];

export const crdName = (k: CustomKind): string => `${k.plural}.${API_GROUP}`;
