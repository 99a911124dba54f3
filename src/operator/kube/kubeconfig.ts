// Where the API server is and how to authenticate to it: a kubeconfig (the --kubeconfig file, else
// the files of $KUBECONFIG merged as kubectl does — the first to set a name wins —, else
// ~/.kube/config) or, in a pod, the service account. Read here rather than by
// @kubernetes/client-node's KubeConfig, whose import alone costs the operator ~84 MiB of RSS (it loads
// the whole generated API): certificates, bearer tokens, token files and basic auth are a few lines.
// Users that authenticate otherwise (exec plugins, auth providers, impersonation) load client-node
// on their first request and get its behaviour, unchanged.
import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { load } from 'js-yaml';
import { z } from 'zod';
import { describeZodError } from '../../api/k8s/common.js';

/** The server and the per-request TLS and auth options; files are reread on every call (rotating tokens). */
export interface Credentials {
  server: URL;
  requestOptions(): Promise<RequestOptions>;
}

const cluster = z.looseObject({
  server: z.url(),
  'certificate-authority': z.string().optional(),
  'certificate-authority-data': z.string().optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
  'tls-server-name': z.string().optional(),
});

const user = z.looseObject({
  'client-certificate': z.string().optional(),
  'client-certificate-data': z.string().optional(),
  'client-key': z.string().optional(),
  'client-key-data': z.string().optional(),
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  /** client-node's spelling of tokenFile. */
  'token-file': z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
});

const name = z.string().min(1);
const kubeconfigFile = z.looseObject({
  clusters: z.array(z.looseObject({ name, cluster })).default([]),
  users: z.array(z.looseObject({ name, user: user.nullish() })).default([]),
  contexts: z
    .array(
      z.looseObject({ name, context: z.looseObject({ cluster: z.string(), user: z.string().optional() }) }),
    )
    .default([]),
  'current-context': z.string().optional(),
});

type Cluster = z.infer<typeof cluster>;
type User = z.infer<typeof user>;

/** Fields of a user that only client-node implements. */
const DELEGATED = ['exec', 'auth-provider', 'as', 'as-groups', 'as-user-extra'] as const;

/** The service account's files in a pod (KUBERNETES_SERVICE_HOST/PORT name the API server). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function parseFile(file: string) {
  let raw: unknown;
  try {
    raw = load(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`kubeconfig ${file}: ${(err as Error).message}`);
  }
  const parsed = kubeconfigFile.safeParse(raw ?? {});
  if (!parsed.success) throw new Error(`kubeconfig ${file}: ${describeZodError(parsed.error).join('; ')}`);
  const dir = dirname(file);
  // Relative paths in a kubeconfig are relative to the file (kubectl's rule).
  const abs = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : join(dir, p));
  return {
    current: parsed.data['current-context'],
    clusters: parsed.data.clusters.map((c) => ({
      ...c,
      cluster: { ...c.cluster, 'certificate-authority': abs(c.cluster['certificate-authority']) },
    })),
    users: parsed.data.users.map((u) => ({
      ...u,
      user: {
        ...(u.user ?? {}),
        'client-certificate': abs(u.user?.['client-certificate']),
        'client-key': abs(u.user?.['client-key']),
        tokenFile: abs(u.user?.tokenFile ?? u.user?.['token-file']),
      } as User,
    })),
    contexts: parsed.data.contexts,
  };
}

/**
 * Credentials from `file` (a list separated as $KUBECONFIG is, since the CLI flag takes that
 * variable), else $KUBECONFIG, ~/.kube/config, the pod's service account; throws naming the file
 * and field when one is invalid, or when there is none at all.
 */
export function loadCredentials(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  serviceAccountDir = SERVICE_ACCOUNT_DIR,
): Credentials {
  const home = env.HOME ?? homedir();
  const files = (file || env.KUBECONFIG || '').split(delimiter).filter((f) => f !== '');
  if (files.length === 0 && home && existsSync(join(home, '.kube', 'config')))
    files.push(join(home, '.kube', 'config'));
  if (files.length === 0) return inCluster(env, serviceAccountDir);

  const loaded = files.map(parseFile);
  const first = <T extends { name: string }>(pick: (f: (typeof loaded)[number]) => T[], name: string) =>
    loaded.flatMap(pick).find((x) => x.name === name);
  const current = loaded.find((f) => f.current)?.current;
  if (!current) throw new Error(`kubeconfig ${files.join(delimiter)}: no current-context`);
  const context = first((f) => f.contexts, current)?.context;
  if (!context) throw new Error(`kubeconfig: current-context ${current} is not among the contexts`);
  const c = first((f) => f.clusters, context.cluster)?.cluster;
  if (!c)
    throw new Error(`kubeconfig: context ${current} names cluster ${context.cluster}, which is missing`);
  const u = context.user === undefined ? {} : first((f) => f.users, context.user)?.user;
  if (!u) throw new Error(`kubeconfig: context ${current} names user ${context.user}, which is missing`);
  if (DELEGATED.some((k) => k in u)) return delegated(c, u, context.user ?? 'user');
  return fromEntries(c, u);
}

const fileOrData = (path: string | undefined, data: string | undefined): Buffer | undefined =>
  path ? readFileSync(path) : data ? Buffer.from(data, 'base64') : undefined;

function fromEntries(c: Cluster, u: User): Credentials {
  return {
    server: new URL(c.server),
    async requestOptions() {
      const opts: RequestOptions = {
        ca: fileOrData(c['certificate-authority'], c['certificate-authority-data']),
        cert: fileOrData(u['client-certificate'], u['client-certificate-data']),
        key: fileOrData(u['client-key'], u['client-key-data']),
        servername: c['tls-server-name'],
      };
      if (c['insecure-skip-tls-verify']) opts.rejectUnauthorized = false;
      const token = u.token ?? (u.tokenFile ? readFileSync(u.tokenFile, 'utf8').trim() : undefined);
      if (token) opts.headers = { authorization: `Bearer ${token}` };
      if (u.username !== undefined) opts.auth = `${u.username}:${u.password ?? ''}`;
      return opts;
    },
  };
}

/** In a pod: the API server from the environment, the service account's CA and (rotating) token. */
function inCluster(env: NodeJS.ProcessEnv, dir: string): Credentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port || !existsSync(join(dir, 'token'))) {
    throw new Error(
      'no kubeconfig: give --kubeconfig, set KUBECONFIG, write ~/.kube/config, or run in a pod with a service account',
    );
  }
  return fromEntries(
    {
      server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
      'certificate-authority': join(dir, 'ca.crt'),
    },
    { tokenFile: join(dir, 'token') },
  );
}

/** exec plugins, auth providers, impersonation: client-node's KubeConfig, loaded on first use. */
function delegated(c: Cluster, u: User, userName: string): Credentials {
  let config: Promise<{ applyToHTTPSOptions(o: RequestOptions): Promise<void> }> | undefined;
  return {
    server: new URL(c.server),
    async requestOptions() {
      config ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
        const kc = new KubeConfig();
        // One context of the entries chosen above, paths already absolute (JSON is YAML).
        kc.loadFromString(
          JSON.stringify({
            clusters: [{ name: 'cluster', cluster: c }],
            users: [{ name: userName, user: u }],
            contexts: [{ name: 'context', context: { cluster: 'cluster', user: userName } }],
            'current-context': 'context',
          }),
        );
        return kc;
      });
      const opts: RequestOptions = {};
      await (await config).applyToHTTPSOptions(opts);
      return opts;
    },
  };
}
