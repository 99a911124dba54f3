// The types every other folder uses: ids, names, wire messages, the model card.
export * from './disagg.js';
export * from './generate.js';
export * from './ids.js';
export * from './kv-events.js';
export * from './load-metrics.js';
export * from './model-card.js';
export * from './names.js';
export * from './planner-profile.js';
export * from './request-plane.js';
export * from './router-sync.js';
