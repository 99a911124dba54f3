// Decentralized NATS auth for tests (what `nsc` sets up): an operator signs an account, the account
// signs users, each a JWT signed with an NKey; a user's .creds file holds its JWT and seed. The server
// trusts the operator and learns the account from a preloaded memory resolver.
import { nkeys } from 'nats';

type NkeyPair = ReturnType<typeof nkeys.createUser>;

const HEADER = { typ: 'JWT', alg: 'ed25519-nkey' };
const b64url = (data: Uint8Array | string) => Buffer.from(data).toString('base64url');

function sign(claims: Record<string, unknown>, signer: NkeyPair): string {
  const body = `${b64url(JSON.stringify(HEADER))}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(signer.sign(new TextEncoder().encode(body)))}`;
}

function claims(issuer: NkeyPair, subject: string, name: string, nats: Record<string, unknown>) {
  const iat = Math.floor(Date.now() / 1000);
  return {
    jti: b64url(`${subject}-${iat}-${Math.random()}`),
    iat,
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats,
  };
}

export interface NatsOperator {
  operatorJwt: string;
  account: { publicKey: string; jwt: string };
  /** JetStream needs a system account in operator mode. */
  systemAccount: { publicKey: string; jwt: string };
  /** A user's .creds file content; `expiresAt` (seconds since the epoch) dates its JWT. */
  userCreds(name: string, expiresAt?: number): string;
}

export function natsOperator(): NatsOperator {
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const unlimited = {
    subs: -1,
    conn: -1,
    leaf: -1,
    imports: -1,
    exports: -1,
    data: -1,
    payload: -1,
    wildcards: true,
  };
  const operatorJwt = sign(
    claims(operator, operator.getPublicKey(), 'test-operator', { type: 'operator', version: 2 }),
    operator,
  );
  const accountJwt = (kp: NkeyPair, name: string) =>
    sign(
      claims(operator, kp.getPublicKey(), name, { type: 'account', version: 2, limits: unlimited }),
      operator,
    );
  const system = nkeys.createAccount();
  return {
    operatorJwt,
    account: { publicKey: account.getPublicKey(), jwt: accountJwt(account, 'test-account') },
    systemAccount: { publicKey: system.getPublicKey(), jwt: accountJwt(system, 'SYS') },
    userCreds(name, expiresAt) {
      const user = nkeys.createUser();
      const userClaims = {
        ...claims(account, user.getPublicKey(), name, {
          type: 'user',
          version: 2,
          subs: -1,
          data: -1,
          payload: -1,
        }),
        ...(expiresAt === undefined ? {} : { exp: expiresAt }),
      };
      const jwt = sign(userClaims, account);
      const seed = new TextDecoder().decode(user.getSeed());
      return [
        '-----BEGIN NATS USER JWT-----',
        jwt,
        '------END NATS USER JWT------',
        '',
        '-----BEGIN USER NKEY SEED-----',
        seed,
        '------END USER NKEY SEED------',
        '',
      ].join('\n');
    },
  };
}
