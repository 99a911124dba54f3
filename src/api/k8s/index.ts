// nvidia.com/v1alpha1 (and v1beta1 of DynamoGraphDeployment): the custom resources of dynamo-ts (DESIGN §9).
export * from './common.js';
export * from './conversion.js';
export * from './crd.js';
export * from './dynamo-component.js';
export * from './dynamo-component-deployment.js';
export * from './dynamo-graph-deployment.js';
export * from './dynamo-graph-deployment.v1beta1.js';
export * from './dynamo-model.js';
export * from './kinds.js';
export * from './scaling-adapter.js';
