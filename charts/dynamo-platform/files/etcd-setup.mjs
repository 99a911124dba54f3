// The chart's etcd setup Job (templates/etcd.yaml), run by the dynamo image's node: makes the bundled
// etcd's users and turns its auth on, idempotently (every install and upgrade runs it again):
//
//   root    user with the root role, password from the chart's credentials Secret (kept in sync)
//   <user>  user with role <user>: readwrite on <prefix> only (the runtime's discovery keys)
//   auth    enabled (etcd ignores a second enable)
//
// Env: ETCD_ENDPOINTS; DYN_RUNTIME_SECRETS_DIR (the runtime Secret: etcd-ca.crt, etcd-tls.crt,
// etcd-tls.key when TLS is on; etcd-user, etcd-password); ETCD_ROOT_PASSWORD_FILE; ETCD_PREFIX;
// DYNAMO_APP (where etcd3 is installed: the image's /app). Passwords are read from files, never logged.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.DYNAMO_APP ?? '/app', 'package.json'));
const { Etcd3 } = require('etcd3');

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const dir = need('DYN_RUNTIME_SECRETS_DIR');
const secret = (file) => readFileSync(file, 'utf8').trim();
const hosts = need('ETCD_ENDPOINTS').split(',');
const prefix = need('ETCD_PREFIX');
const rootPassword = secret(need('ETCD_ROOT_PASSWORD_FILE'));
const user = secret(join(dir, 'etcd-user'));
const password = secret(join(dir, 'etcd-password'));
const tlsFile = (name) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name)) : undefined);
const ca = tlsFile('etcd-ca.crt');
const base = {
  hosts,
  dialTimeout: 5000,
  ...(ca
    ? {
        credentials: {
          rootCertificate: ca,
          privateKey: tlsFile('etcd-tls.key'),
          certChain: tlsFile('etcd-tls.crt'),
        },
      }
    : {}),
};

/** A root client once auth is on; before (first install), an anonymous one. */
async function connect() {
  const root = new Etcd3({ ...base, auth: { username: 'root', password: rootPassword } });
  try {
    await root.getRoles();
    return root;
  } catch (err) {
    root.close();
    if (!/not enabled/i.test(String(err))) throw err;
  }
  return new Etcd3(base);
}

async function ensureUser(client, name, pass) {
  const users = (await client.getUsers()).map((u) => u.name);
  if (users.includes(name)) await client.user(name).setPassword(pass);
  else await client.user(name).create(pass);
  return client.user(name);
}

async function setup() {
  const client = await connect();
  try {
    const root = await ensureUser(client, 'root', rootPassword);
    if (!(await root.roles()).some((r) => r.name === 'root')) await root.addRole('root');
    const roles = (await client.getRoles()).map((r) => r.name);
    if (!roles.includes(user)) await client.role(user).create();
    await client.role(user).grant({ permission: 'Readwrite', range: client.range({ prefix }) });
    const dynamo = await ensureUser(client, user, password);
    if (!(await dynamo.roles()).some((r) => r.name === user)) await dynamo.addRole(user);
    await client.auth.authEnable();
  } finally {
    client.close();
  }
}

// etcd may still be starting: retry for a while before failing the Job (which retries it again).
const deadline = Date.now() + Number(process.env.SETUP_TIMEOUT_MS ?? 120_000);
for (;;) {
  try {
    await setup();
    console.log(`etcd auth enabled; user ${user} may read and write ${prefix}`);
    break;
  } catch (err) {
    if (Date.now() > deadline) {
      console.error(`etcd setup at ${hosts.join(',')} failed: ${err instanceof Error ? err.message : err}`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
