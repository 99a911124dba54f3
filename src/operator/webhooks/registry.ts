// The webhooks the operator serves, one path each (kubebuilder's naming), and the pure function that
// answers one AdmissionReview. The HTTPS server (server.ts) only moves bytes to and from it.
import {
  ADAPTER_KIND,
  API_GROUP,
  API_VERSION,
  type CustomKind,
  DCD_KIND,
  DGD_KIND,
  MODEL_KIND,
} from '../../api/k8s/index.js';
import { jsonEqual } from '../desired/status.js';
import { AdmissionDenied, type AdmissionUser, type Defaulter, type Validator } from './admission.js';
import { DcdDefaulter, DgdDefaulter, DynamoModelDefaulter } from './defaulters.js';
import { DgdValidator } from './dgd.validator.js';
import { DcdValidator, DynamoModelValidator, ScalingAdapterValidator } from './other.validators.js';

interface WebhookBase {
  /** The webhook's name in its configuration, e.g. vdynamographdeployment.nvidia.com. */
  name: string;
  path: string;
  kind: CustomKind;
}
export type Webhook =
  | (WebhookBase & { type: 'validating'; validator: Validator })
  | (WebhookBase & { type: 'mutating'; defaulter: Defaulter });

const lower = (k: CustomKind) => k.kind.toLowerCase();
const group = API_GROUP.replace(/\./g, '-');
const validating = (kind: CustomKind, validator: Validator): Webhook => ({
  type: 'validating',
  name: `v${lower(kind)}.${API_GROUP}`,
  path: `/validate-${group}-${API_VERSION}-${lower(kind)}`,
  kind,
  validator,
});
const mutating = (kind: CustomKind, defaulter: Defaulter): Webhook => ({
  type: 'mutating',
  name: `m${lower(kind)}.${API_GROUP}`,
  path: `/mutate-${group}-${API_VERSION}-${lower(kind)}`,
  kind,
  defaulter,
});

export interface WebhookOptions {
  /** The operator's `--default-image`: without one, every service must name its image. */
  defaultImage?: string;
}

/** The webhooks, one per kind and type (their names, paths and kinds do not depend on the options). */
export const webhooks = (options: WebhookOptions = {}): readonly Webhook[] => [
  validating(DGD_KIND, new DgdValidator({ imageRequired: !options.defaultImage })),
  validating(DCD_KIND, new DcdValidator({ imageRequired: !options.defaultImage })),
  validating(MODEL_KIND, new DynamoModelValidator()),
  validating(ADAPTER_KIND, new ScalingAdapterValidator()),
  mutating(DGD_KIND, new DgdDefaulter()),
  mutating(DCD_KIND, new DcdDefaulter()),
  mutating(MODEL_KIND, new DynamoModelDefaulter()),
];

export interface AdmissionRequest {
  uid: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  userInfo?: { username?: string };
  object?: unknown;
  oldObject?: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
  patchType?: 'JSONPatch';
  patch?: string;
}

export type Verdict = 'allowed' | 'denied' | 'error';

/** Answers one admission request; `isOperator` tells whether the requester is this operator. */
export function review(
  webhook: Webhook,
  request: AdmissionRequest,
  isOperator: (username: string) => boolean,
): { response: AdmissionResponse; verdict: Verdict } {
  const uid = request.uid;
  const username = request.userInfo?.username ?? '';
  const user: AdmissionUser = { username, isOperator: isOperator(username) };
  try {
    if (webhook.type === 'mutating') {
      if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') {
        return { response: { uid, allowed: true }, verdict: 'allowed' };
      }
      const obj = request.object as { spec?: unknown } | undefined;
      const defaulted = webhook.defaulter.default(obj) as { spec?: unknown } | undefined;
      if (!obj || !defaulted || jsonEqual(obj.spec, defaulted.spec)) {
        return { response: { uid, allowed: true }, verdict: 'allowed' };
      }
      const patch = [{ op: 'replace', path: '/spec', value: defaulted.spec }];
      return {
        response: {
          uid,
          allowed: true,
          patchType: 'JSONPatch',
          patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
        },
        verdict: 'allowed',
      };
    }
    let warnings: string[] = [];
    if (request.operation === 'CREATE') warnings = webhook.validator.validateCreate(request.object);
    else if (request.operation === 'UPDATE') {
      warnings = webhook.validator.validateUpdate(request.oldObject, request.object, user);
    }
    return {
      response: { uid, allowed: true, ...(warnings.length > 0 ? { warnings } : {}) },
      verdict: 'allowed',
    };
  } catch (err) {
    if (err instanceof AdmissionDenied) {
      return {
        response: { uid, allowed: false, status: { code: 422, reason: 'Invalid', message: err.message } },
        verdict: 'denied',
      };
    }
    return {
      response: {
        uid,
        allowed: false,
        status: { code: 500, message: `webhook error: ${(err as Error).message}` },
      },
      verdict: 'error',
    };
  }
}
