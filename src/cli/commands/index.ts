// The subcommands of `dynamo`, loaded lazily so `dynamo --help` starts fast and a command does not
// pay for the dependencies of another (onnxruntime, the Kubernetes client, ...).
import type { Command } from '../command.js';

export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

// Each module's `command` export is a Command over its own option table; the registry erases that type.
const entry = (name: string, summary: string, load: () => Promise<{ command: unknown }>): CommandEntry => ({
  name,
  summary,
  load: async () => (await load()).command as Command,
});

export const COMMANDS: readonly CommandEntry[] = [
  entry('hash', 'print the KV block hashes of token ids read on stdin', () => import('./hash.js')),
  entry(
    'model',
    'model utilities: `dynamo model tiny` writes a random-weight test model',
    () => import('./model.js'),
  ),
  entry(
    'tokenize',
    'encode text on stdin to token ids, or --decode ids to text',
    () => import('./tokenize.js'),
  ),
  entry('version', 'print the versions of dynamo-ts and Node.js', () => import('./version.js')),
  entry(
    'operator',
    'run the Kubernetes operator: reconcilers, admission webhooks, leader election',
    () => import('./operator.js'),
  ),
  entry(
    'worker',
    'serve an engine (onnx or mocker) on the runtime: generate, kv_dump, model_files',
    () => import('./worker.js'),
  ),
  entry(
    'frontend',
    'serve the OpenAI-compatible HTTP API for the models that workers register',
    () => import('./frontend.js'),
  ),
  entry(
    'epp',
    'endpoint picker of a Gateway API Inference Extension InferencePool, routing with the KV router',
    () => import('./epp.js'),
  ),
  entry(
    'run',
    'serve a model on this machine: a frontend and N workers in one process',
    () => import('./run.js'),
  ),
  entry(
    'profile',
    "measure an engine's capacity (prefill TTFT, decode ITL) and write the planner's profile",
    () => import('./profile.js'),
  ),
  entry(
    'planner',
    'scale prefill/decode (or aggregated) workers to meet TTFT and ITL targets (SLA planner)',
    () => import('./planner.js'),
  ),
  entry('crds', 'print the CustomResourceDefinitions generated from the schemas', () => import('./crds.js')),
  entry(
    'bench',
    'load an OpenAI endpoint, or compare router policies on mocker workers',
    () => import('./bench.js'),
  ),
];
