// The containers of the example manifests run `dynamo <command> <args>`: every such command line must
// parse against that command's real options, so the examples cannot drift from the CLI. The
// disaggregated example must also reconcile into workers of the right roles.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { dynamoComponentDeployment, dynamoGraphDeployment } from '../../src/api/k8s/index.js';
import { COMMON_OPTIONS } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { parseOptions } from '../../src/cli/options.js';
import { desiredDeployment } from '../../src/operator/desired/component.js';
import { desiredComponents } from '../../src/operator/desired/graph.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

interface Service {
  extraPodSpec?: { mainContainer?: { args?: string[] } };
}

const commandLines = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((file) =>
    (
      loadAll(readFileSync(join(EXAMPLES, file), 'utf8')) as {
        spec?: { services?: Record<string, Service> };
      }[]
    )
      .flatMap((doc) => Object.entries(doc?.spec?.services ?? {}))
      .flatMap(([name, service]) => {
        const args = service.extraPodSpec?.mainContainer?.args;
        return args ? [{ where: `${file} ${name}`, args }] : [];
      }),
  );

describe('example manifests', () => {
  it('have container command lines to check', () => {
    expect(commandLines.length).toBeGreaterThanOrEqual(4);
  });

  it.each(commandLines)('$where runs a valid dynamo command line', async ({ args }) => {
    const [name, ...rest] = args;
    const entry = COMMANDS.find((c) => c.name === name);
    expect(entry, `dynamo ${name}`).toBeDefined();
    const command = await (entry as NonNullable<typeof entry>).load();
    expect(() => parseOptions({ ...command.options, ...COMMON_OPTIONS }, rest, {})).not.toThrow();
  });
});

describe('examples/dgd-disagg.yaml', () => {
  type Env = { name: string; value?: string }[];
  const [doc] = loadAll(readFileSync(join(EXAMPLES, 'dgd-disagg.yaml'), 'utf8'));
  const dgd = dynamoGraphDeployment.parse(doc);
  const deployments = desiredComponents(dgd).map((o) =>
    desiredDeployment(dynamoComponentDeployment.parse(o), {}),
  );
  const modeOf = (name: string) => {
    const d = deployments.find((x) => x.metadata.name === name);
    const env = (d?.spec as { template: { spec: { containers: { env: Env }[] } } } | undefined)?.template.spec
      .containers[0]?.env;
    return env?.find((e) => e.name === 'DYN_DISAGGREGATION_MODE')?.value;
  };

  it('reconciles into prefill and decode workers beside a frontend', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      'disagg-frontend',
      'disagg-onnxdecodeworker',
      'disagg-onnxprefillworker',
    ]);
    expect(modeOf('disagg-onnxprefillworker')).toBe('prefill');
    expect(modeOf('disagg-onnxdecodeworker')).toBe('decode');
    expect(modeOf('disagg-frontend')).toBeUndefined();
  });
});

describe('examples/dgd-planner.yaml', () => {
  type Container = {
    args: string[];
    env: { name: string; value?: string; valueFrom?: unknown }[];
    volumeMounts?: { name: string; mountPath: string }[];
  };
  const [doc] = loadAll(readFileSync(join(EXAMPLES, 'dgd-planner.yaml'), 'utf8'));
  const dgd = dynamoGraphDeployment.parse({
    ...(doc as object),
    metadata: { name: 'planner', namespace: 'ns' },
  });
  const planner = desiredComponents(dgd)
    .map((o) =>
      desiredDeployment(dynamoComponentDeployment.parse(o), { prometheusEndpoint: 'http://prom:9090' }),
    )
    .find((d) => d.metadata.name === 'planner-planner');
  if (!planner) throw new Error('no Deployment planner-planner');
  const pod = (planner.spec as { template: { spec: { containers: Container[]; volumes: unknown[] } } })
    .template.spec;
  const main = pod.containers[0] as Container;

  it("runs the operator's planner command line, tuned by env, with the profile mounted", async () => {
    const [name, ...rest] = main.args;
    expect(name).toBe('planner');
    expect(rest).toEqual(['--mode', 'agg', '--agg-service', 'MockerWorker']);
    const env = Object.fromEntries(
      main.env.flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])),
    );
    const entry = COMMANDS.find((c) => c.name === 'planner');
    const command = await (entry as NonNullable<typeof entry>).load();
    const { values } = parseOptions({ ...command.options, ...COMMON_OPTIONS }, rest, env);
    expect(values).toMatchObject({
      graph: 'planner',
      prometheusEndpoint: 'http://prom:9090',
      profile: '/data/profiling_results/profile.json',
      minReplicas: 1,
      maxReplicas: 3,
      itl: 25,
    });
    // The writable /tmp every graph pod gets (its root filesystem is read-only), then the example's own.
    expect(main.volumeMounts).toEqual([
      { name: 'tmp', mountPath: '/tmp' },
      expect.objectContaining({ name: 'planner-profile', mountPath: '/data/profiling_results' }),
    ]);
    expect(pod.volumes).toEqual([
      { name: 'tmp', emptyDir: {} },
      { name: 'planner-profile', configMap: { name: 'planner-profile', optional: true } },
    ]);
  });
});
