// The containers of the example manifests run `dynamo <command> <args>`: every such command line must
// parse against that command's real options, so the examples cannot drift from the CLI.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { COMMON_OPTIONS } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { parseOptions } from '../../src/cli/options.js';

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
