import { readFile } from 'node:fs/promises';
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'version',
  summary: 'print the versions of dynamo-ts and Node.js',
  options: {},
  async run() {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    process.stdout.write(`${JSON.stringify({ dynamo: pkg.version, node: process.versions.node })}\n`);
    return 0;
  },
});
