// Options several commands share, declared once so that their flags, env names and checks agree.
import { z } from 'zod';
import { DEFAULT_NAMESPACE, nameSchema } from '../api/index.js';

export const RUNTIME_OPTIONS = {
  etcd: {
    flag: 'etcd',
    env: 'ETCD_ENDPOINTS',
    schema: z
      .string()
      .min(1)
      .transform((s) =>
        s
          .split(',')
          .map((e) => e.trim())
          .filter((e) => e.length > 0),
      )
      .pipe(z.array(z.url({ protocol: /^https?$/, error: 'expected http(s)://host:port' })).min(1))
      .optional(),
    description: 'etcd endpoints, comma-separated (discovery)',
    placeholder: '<urls>',
  },
  nats: {
    flag: 'nats',
    env: 'NATS_SERVER',
    schema: z.url({ protocol: /^(nats|tls)$/, error: 'expected nats://host:port' }).optional(),
    description: 'NATS server (request and event planes)',
    placeholder: '<url>',
  },
} as const;

export const HTTP_OPTIONS = {
  httpHost: {
    flag: 'http-host',
    env: 'DYN_HTTP_HOST',
    schema: z.string().min(1).default('0.0.0.0'),
    description: 'address to listen on',
    placeholder: '<host>',
  },
  httpPort: {
    flag: 'http-port',
    env: 'DYN_HTTP_PORT',
    schema: z.coerce.number().int().min(0).max(65535).default(8000),
    description: 'HTTP port (0: any free port)',
    placeholder: '<port>',
  },
} as const;

export const NAMESPACE_OPTION = {
  flag: 'namespace',
  env: 'DYN_NAMESPACE',
  schema: nameSchema.default(DEFAULT_NAMESPACE),
  description: 'namespace the components register in',
  placeholder: '<ns>',
} as const;

/** The served model name, for commands that start workers (`worker`, `run`). */
export const MODEL_NAME_OPTION = {
  flag: 'model-name',
  env: 'DYN_MODEL_NAME',
  schema: z.string().min(1).max(256).optional(),
  description: "served model name (mocker: 'mocker'; onnx: the model directory's name)",
  placeholder: '<name>',
} as const;

/** The mocker's time scale, for commands that start mocker workers (`worker`, `run`). */
export const SPEEDUP_RATIO_OPTION = {
  flag: 'speedup-ratio',
  env: 'DYN_SPEEDUP_RATIO',
  schema: z.coerce.number().positive().default(1),
  description: 'mocker: divides every simulated duration',
  placeholder: '<x>',
} as const;
