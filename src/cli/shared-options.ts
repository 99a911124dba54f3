// Options several commands share, declared once so that their flags, env names and checks agree.
import { z } from 'zod';
import { DEFAULT_NAMESPACE, nameSchema } from '../api/index.js';
import { type ConnectionSecuritySettings, RUNTIME_SECRET_FILES } from '../runtime/index.js';
import type { OptionValues } from './options.js';

const filePath = z.string().min(1).optional();
const file = (flag: string, description: string) =>
  ({
    flag,
    env: `DYN_${flag.toUpperCase().replaceAll('-', '_')}`,
    schema: filePath,
    description,
    placeholder: '<file>',
  }) as const;

/** TLS and credentials for etcd and NATS (DESIGN §14): file paths and names only, never a secret. */
export const CONNECTION_SECURITY_OPTIONS = {
  runtimeSecretsDir: {
    flag: 'runtime-secrets-dir',
    env: 'DYN_RUNTIME_SECRETS_DIR',
    schema: filePath,
    description: `directory (a mounted Secret) whose files supply the items below not set (${RUNTIME_SECRET_FILES.length} fixed names: nats-ca.crt, nats-password, etcd-user, ...; docs/architecture.md)`,
    placeholder: '<dir>',
  },
  natsTlsCa: file('nats-tls-ca', 'NATS: CA certificate (PEM) to verify the server'),
  natsTlsCert: file('nats-tls-cert', 'NATS: client certificate (PEM)'),
  natsTlsKey: file('nats-tls-key', 'NATS: client key (PEM)'),
  natsCreds: file('nats-creds', 'NATS: .creds file (user JWT and NKey seed)'),
  natsNkey: file('nats-nkey', 'NATS: NKey seed file'),
  natsUser: {
    flag: 'nats-user',
    env: 'DYN_NATS_USER',
    schema: z.string().min(1).optional(),
    description: 'NATS: user name (password from --nats-password-file or env DYN_NATS_PASSWORD)',
    placeholder: '<name>',
  },
  natsPasswordFile: file('nats-password-file', 'NATS: file holding the password'),
  natsTokenFile: file('nats-token-file', 'NATS: file holding the token (or env DYN_NATS_TOKEN)'),
  etcdTlsCa: file('etcd-tls-ca', 'etcd: CA certificate (PEM); endpoints must be https://'),
  etcdTlsCert: file('etcd-tls-cert', 'etcd: client certificate (PEM)'),
  etcdTlsKey: file('etcd-tls-key', 'etcd: client key (PEM)'),
  etcdUser: {
    flag: 'etcd-user',
    env: 'DYN_ETCD_USER',
    schema: z.string().min(1).optional(),
    description: 'etcd: user name (password from --etcd-password-file or env DYN_ETCD_PASSWORD)',
    placeholder: '<name>',
  },
  etcdPasswordFile: file('etcd-password-file', 'etcd: file holding the password'),
} as const;

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
  ...CONNECTION_SECURITY_OPTIONS,
} as const;

/**
 * Values of RUNTIME_OPTIONS plus the secrets env alone may carry (a flag would show them in `ps`), as
 * the runtime's security settings; it reads and checks the files at start.
 */
export function connectionSecurity(
  o: OptionValues<typeof CONNECTION_SECURITY_OPTIONS>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ConnectionSecuritySettings {
  const fromEnv = (name: string) => (env[name] ? env[name] : undefined);
  // Picked one by one: commands pass all their values, and the settings schema is strict.
  return {
    secretsDir: o.runtimeSecretsDir,
    natsTlsCa: o.natsTlsCa,
    natsTlsCert: o.natsTlsCert,
    natsTlsKey: o.natsTlsKey,
    natsCreds: o.natsCreds,
    natsNkey: o.natsNkey,
    natsUser: o.natsUser,
    natsPasswordFile: o.natsPasswordFile,
    natsTokenFile: o.natsTokenFile,
    etcdTlsCa: o.etcdTlsCa,
    etcdTlsCert: o.etcdTlsCert,
    etcdTlsKey: o.etcdTlsKey,
    etcdUser: o.etcdUser,
    etcdPasswordFile: o.etcdPasswordFile,
    natsPassword: fromEnv('DYN_NATS_PASSWORD'),
    natsToken: fromEnv('DYN_NATS_TOKEN'),
    etcdPassword: fromEnv('DYN_ETCD_PASSWORD'),
  };
}

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

/** The API server's credentials, for the commands that talk to it (operator, planner). */
export const KUBECONFIG_OPTION = {
  flag: 'kubeconfig',
  env: 'KUBECONFIG',
  schema: z.string().optional(),
  description: "kubeconfig file (default: ~/.kube/config, then the pod's service account)",
  placeholder: '<file>',
} as const;

export const NAMESPACE_OPTION = {
  flag: 'namespace',
  env: 'DYN_NAMESPACE',
  schema: nameSchema.default(DEFAULT_NAMESPACE),
  description: 'namespace the components register in',
  placeholder: '<ns>',
} as const;

/** `--graceful-shutdown-ms` of the serving commands: what the stop waits for is each one's own. */
export function gracefulShutdownOption(defaultMs: number, description: string) {
  return {
    flag: 'graceful-shutdown-ms',
    env: 'DYN_GRACEFUL_SHUTDOWN_MS',
    schema: z.coerce.number().int().min(0).default(defaultMs),
    description,
    placeholder: '<ms>',
  } as const;
}

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
