// `kubectl explain` on our kinds, through the real API server: the descriptions written once in the zod
// schemas reach its OpenAPI v3 document and kubectl shows them (before, every field read <no description>).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CUSTOM_KINDS,
  dynamoComponentDeployment,
  dynamoGraphDeployment,
  dynamoGraphDeploymentV1beta1,
} from '../../../src/api/k8s/index.js';
import { installCrds } from '../../../src/operator/crds.js';
import { kubeTool } from '../../harness/kube-apiserver.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { eventually, kube } from './helpers.js';

const exec = promisify(execFile);

/** kubectl wraps long lines: compare on single spaces. */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

/** The description the schema gives `field` of a zod object's shape. */
const describedAs = (shape: Record<string, { description?: string }>, field: string): string => {
  const text = shape[field]?.description;
  if (!text) throw new Error(`${field}: no description in the schema`);
  return flat(text);
};

describe('kubectl explain', () => {
  let cacheDir: string;
  // kubectl explains the preferred version: v1beta1 for DynamoGraphDeployment, unless told otherwise.
  const explain = async (path: string, apiVersion = 'nvidia.com/v1alpha1'): Promise<string> =>
    flat(
      (
        await exec(
          kubeTool('kubectl'),
          ['explain', path, `--api-version=${apiVersion}`, `--cache-dir=${cacheDir}`],
          {
            env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
          },
        )
      ).stdout,
    );

  beforeAll(async () => {
    // A cache of our own: none left from another run, with other CRDs, can answer.
    cacheDir = await harnessTempDir('kubectl-cache');
    await installCrds(kube());
    // The API server publishes an established CRD's OpenAPI a moment later: wait for all four.
    for (const kind of CUSTOM_KINDS) {
      await eventually(`kubectl explain ${kind.plural}`, async () =>
        (await explain(kind.plural)).includes(`KIND: ${kind.kind}`),
      );
    }
  });

  it('shows the description of a kind, of a map of services and of their fields', async () => {
    expect(await explain('dynamographdeployments')).toContain(flat(dynamoGraphDeployment.description ?? '?'));
    const services = await explain('dynamographdeployments.spec.services');
    expect(services).not.toContain('<no description>');
    expect(services).toContain(describedAs(dynamoGraphDeployment.shape.spec.shape, 'services'));
    expect(services).toContain(
      describedAs(dynamoGraphDeployment.shape.spec.shape.services.valueType.shape, 'componentType'),
    );
  });

  it('shows an int-or-string field and a field of a component deployment', async () => {
    const cpu = await explain('dgd.spec.services.resources.requests.cpu');
    expect(cpu).not.toContain('<no description>');
    expect(cpu).toContain('CPU, as a Kubernetes quantity');
    const dcd = await explain('dcd.spec.serviceName');
    expect(dcd).toContain(describedAs(dynamoComponentDeployment.shape.spec.shape, 'serviceName'));
  });

  it('explains the v1beta1 form of a graph', async () => {
    const components = await explain('dgd.spec.components', 'nvidia.com/v1beta1');
    expect(components).toContain('VERSION: v1beta1');
    expect(components).toContain(describedAs(dynamoGraphDeploymentV1beta1.shape.spec.shape, 'components'));
    expect(components).not.toContain('<no description>');
  });
});
