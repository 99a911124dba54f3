// Runs in every integration test worker: a failing test leaves a marker in the harness directory so
// that the global teardown keeps the servers' logs for reading.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, inject } from 'vitest';

beforeEach(({ onTestFailed, task }) => {
  onTestFailed(() => {
    writeFileSync(join(inject('harnessDir'), 'FAILED'), `${task.name}\n`, { flag: 'a' });
  });
});
