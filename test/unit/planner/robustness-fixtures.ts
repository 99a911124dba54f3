// Shared by the robustness tests: a valid profile, a logger whose lines the test reads, a fake
// Prometheus query API whose answer the test sets.
import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import type { PlannerProfile } from '../../../src/api/index.js';
import { createLogger, type Logger } from '../../../src/runtime/logger.js';
import { testProfile } from '../../harness/planner-profile.js';

export const PROFILE: PlannerProfile = testProfile(
  {
    prefill: [
      { isl: 32, ttftMs: 20, tokensPerSecond: 40_000 },
      { isl: 256, ttftMs: 30, tokensPerSecond: 60_000 },
    ],
    decode: [
      { contextLength: 64, concurrency: 1, itlMs: 10, tokensPerSecond: 100 },
      { contextLength: 64, concurrency: 4, itlMs: 20, tokensPerSecond: 200 },
    ],
  },
  { blockSize: 16, maxNumSeqs: 8, totalKvBlocks: 64, contextLength: 2048 },
);

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger at info whose JSON lines are kept in `lines`. */
export function capturedLogger(): { log: Logger; lines: LogLine[]; count: (msg: string) => number } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const log = createLogger({ level: 'info', destination: sink });
  return { log, lines, count: (msg) => lines.filter((l) => l.msg.includes(msg)).length };
}

/**
 * Prometheus's instant query API answering every query with one sample of `value` (undefined: an empty
 * vector, as for a series never scraped).
 */
export async function fakePrometheus(): Promise<{
  url: string;
  value: string | undefined;
  queries: string[];
  close(): Promise<void>;
}> {
  const state = {
    url: '',
    value: undefined as string | undefined,
    queries: [] as string[],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '';
    state.queries.push(query);
    const result = state.value === undefined ? [] : [{ metric: {}, value: [Date.now() / 1000, state.value] }];
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  state.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return state;
}
