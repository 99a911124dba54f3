import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defineCommand } from '../command.js';

export const command = defineCommand({
  name: 'crds',
  summary: 'print the CustomResourceDefinitions generated from the schemas (or write them to a directory)',
  options: {
    outDir: {
      flag: 'out-dir',
      schema: z.string().min(1).optional(),
      description: 'write one file per CRD here instead of printing them',
      placeholder: '<dir>',
    },
  },
  async run({ outDir }) {
    const { crdFiles } = await import('../../operator/crds.js');
    const files = crdFiles();
    if (outDir) {
      await mkdir(outDir, { recursive: true });
      for (const f of files) await writeFile(join(outDir, f.file), f.yaml);
    } else {
      process.stdout.write(files.map((f) => f.yaml).join('---\n'));
    }
    return 0;
  },
});
