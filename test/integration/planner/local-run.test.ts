// `dynamo run --planner` as a user runs it (the built CLI, a child process): mocker workers, the planner
// over them with the local connector, --min-replicas 0. It serves, exports dynamo_planner_* on the
// frontend's /metrics, keeps the model listed, and stops cleanly on SIGTERM. A bad profile is a clear
// usage error.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PlannerProfile } from '../../../src/api/index.js';
import { startDynamo, waitAlive } from '../../harness/dynamo-process.js';
import { testProfile } from '../../harness/planner-profile.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const PROFILE: PlannerProfile = testProfile({
  prefill: [
    { isl: 128, ttftMs: 1.9, tokensPerSecond: 480_000 },
    { isl: 1024, ttftMs: 3.3, tokensPerSecond: 482_000 },
  ],
  decode: [
    { contextLength: 512, concurrency: 1, itlMs: 0.6, tokensPerSecond: 1700 },
    { contextLength: 512, concurrency: 8, itlMs: 0.7, tokensPerSecond: 11_000 },
  ],
});

describe('dynamo run --planner', () => {
  it('serves with the planner over its workers and stops cleanly', async () => {
    const dir = await harnessTempDir('run-planner');
    const profile = join(dir, 'profile.json');
    await writeFile(profile, JSON.stringify(PROFILE));
    const run = await startDynamo(
      [
        'run',
        ...['--engine', 'mocker', '--speedup-ratio', '10', '--workers', '1', '--http-port', '0'],
        ...['--planner', '--profile', profile, '--adjustment-interval', '1', '--load-interval', '1'],
        ...['--min-replicas', '0', '--max-replicas', '2', '--ttft', '200', '--itl', '20'],
      ],
      {},
      'run-planner',
    );
    try {
      let url = '';
      await waitAlive(
        [run],
        async () => {
          const m =
            /serving model '[^']+' on (http:\/\/[^\s]+) with 1 mocker worker\(s\) \(planner: 0–2/.exec(
              await readFile(run.logFile, 'utf8'),
            );
          url = m?.[1] ?? '';
          return url !== '';
        },
        'dynamo run to print its URL',
      );
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(models.data.map((m) => m.id)).toEqual(['mocker']);
      const response = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mocker', prompt: 'hello', max_tokens: 4 }),
      });
      expect(response.status).toBe(200);
      // The throughput loop ran (after one interval) and exported its state next to the frontend's.
      await waitAlive(
        [run],
        async () =>
          (await (await fetch(`${url}/metrics`)).text()).includes(
            'dynamo_planner_decisions_total{loop="throughput"',
          ),
        'a throughput decision',
      );
      // Listed whatever the planner decided meanwhile (0 workers included).
      const again = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(again.data.map((m) => m.id)).toEqual(['mocker']);
      expect(await run.stop()).toBe(0);
    } finally {
      await run.kill();
    }
  });

  it('refuses a missing profile, naming the flag and the file', async () => {
    const run = await startDynamo(
      [
        'run',
        '--engine',
        'mocker',
        '--planner',
        '--profile',
        '/nonexistent/profile.json',
        '--http-port',
        '0',
      ],
      {},
      'run-planner-bad',
    );
    const code = await run.exited;
    expect(code).not.toBe(0);
    const log = await readFile(run.logFile, 'utf8');
    expect(log).toContain('--profile');
    expect(log).toContain('/nonexistent/profile.json');
  });
});
