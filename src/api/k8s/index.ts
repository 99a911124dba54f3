// nvidia.com/v1alpha1: the custom resources of dynamo-ts (DESIGN §9).
export * from './common.js';
export * from './crd.js';
export * from './dynamo-component.js';
export * from './dynamo-component-deployment.js';
export * from './dynamo-graph-deployment.js';
export * from './dynamo-model.js';
export * from './kinds.js';
export * from './scaling-adapter.js';
