import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { inject } from 'vitest';

/** A fresh directory inside the harness directory (kept with the logs when a test fails). */
export function harnessTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(inject('harnessDir'), `${prefix}-`));
}
