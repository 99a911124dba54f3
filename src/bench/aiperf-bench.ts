// KV routing against round-robin as a Dynamo user measures it (`npm run bench:aiperf`): NVIDIA's aiperf
// (PyPI, pinned in test/python/aiperf.txt, its venv from scripts/python-env.sh) against
// `dynamo run --engine mocker`, a fresh server per run, on aiperf's own prefix-sharing synthesis:
//
//   prefix-pool      4 prefixes of 1024 tokens, each request one of them + 256 tokens of its own
//   system-context   one 1024-token system prompt + 32 user contexts of 512 tokens + 128-token prompts
//   multi-turn       conversations of 4 turns (history resent) over a 512-token system prompt, as many
//                    as --requests needs (aiperf stops when its conversations run out)
//
// Every cell (workers × concurrency × workload) runs kv and round-robin; every cell is reported, none
// picked. Prints a line per run on stderr, then one JSON object as the last line of stdout:
// `ratios` holds kv/round-robin of mean and p50 TTFT per cell and the worst of each (goal ≤ 1), and
// `.serverTtftMean`: the frontend's own mean TTFT, which leaves out aiperf's side of the socket.
// Arguments after `--` go to every `dynamo run` (e.g. -- --router-cost dynamo).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { z } from 'zod';
import { defaultTokenizerDir } from '../worker/index.js';
import { type ArrivalBunching, aiperfRecordSchema, arrivalBunching, BUNCH_MS } from './arrival-bunching.js';
import { freePort } from './free-port.js';

const MULTI_TURN_TURNS = 4;

const WORKLOADS = {
  'prefix-pool': ['--num-prefix-prompts', '4', '--prefix-prompt-length', '1024', '--isl', '256'],
  'system-context': [
    '--shared-system-prompt-length',
    '1024',
    '--user-context-prompt-length',
    '512',
    '--num-dataset-entries',
    '32',
    '--isl',
    '128',
  ],
  'multi-turn': [
    '--conversation-turn-mean',
    String(MULTI_TURN_TURNS),
    '--shared-system-prompt-length',
    '512',
    '--user-context-prompt-length',
    '256',
    '--num-dataset-entries',
    '32',
    '--isl',
    '128',
  ],
} as const;
type WorkloadName = keyof typeof WORKLOADS;
const MODES = ['kv', 'round-robin'] as const;
type Mode = (typeof MODES)[number];

const commaList = z.string().transform((s) => s.split(',').map((p) => p.trim()));
const counts = (max: number) =>
  commaList.pipe(z.array(z.string().transform(Number).pipe(z.number().int().min(1).max(max))).min(1));
const argsSchema = z.object({
  workloads: commaList.pipe(
    z.array(z.enum(Object.keys(WORKLOADS) as [WorkloadName, ...WorkloadName[]])).min(1),
  ),
  concurrency: counts(1024),
  workers: counts(64),
  requests: z.coerce.number().int().min(1),
  warmup: z.coerce.number().int().min(0),
  osl: z.coerce.number().int().min(1),
  repeat: z.coerce.number().int().min(1).max(10),
  out: z.string().min(1).optional(),
});

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    workloads: { type: 'string', default: Object.keys(WORKLOADS).join(',') },
    concurrency: { type: 'string', default: '8' },
    workers: { type: 'string', default: '2,4' },
    requests: { type: 'string', default: '160' },
    warmup: { type: 'string', default: '8' },
    osl: { type: 'string', default: '64' },
    repeat: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const parsed = argsSchema.safeParse(values);
if (!parsed.success) {
  const issue = parsed.error.issues[0];
  process.stderr.write(`bench:aiperf: --${issue?.path.join('.')}: ${issue?.message}\n`);
  process.exit(2);
}
const args = parsed.data;
const serverExtra = positionals;

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// The CLI: bin/dynamo.js when built (it refuses a Node.js other than the pinned one, which the servers
// would otherwise inherit from a bench started with the machine's node), src/cli/main.ts from source.
const MAIN = import.meta.url.endsWith('.ts')
  ? fileURLToPath(new URL('../cli/main.ts', import.meta.url))
  : join(ROOT, 'bin/dynamo.js');

interface RunResult {
  ttftMeanMs: number;
  ttftP50Ms: number;
  ttftP90Ms: number;
  requests: number;
  errors: number;
  cacheReadPct: number | null;
  /**
   * The frontend's own mean TTFT (its dynamo_frontend_time_to_first_token_seconds: tokenized prompt
   * to first token, aiperf's warm-up included): without aiperf's side of the socket, whose delays on
   * a loaded host can outweigh placement (docs/architecture.md "4 × 8 prefix-pool under aiperf").
   */
  serverTtftMeanMs: number | null;
  /**
   * CPU time (user + system) of `dynamo run` (frontend, router and mockers in one process) while
   * aiperf ran, per request it answered, in ms; null where /proc is not there. The policies' CPU cost
   * on a host that aiperf shares with the server.
   */
  serverCpuMsPerRequest: number | null;
  /** How bunched aiperf's measured requests were sent (arrival-bunching.ts); null: no records. */
  bunching: ArrivalBunching | null;
}

const stat = z.object({ avg: z.number() }).passthrough();
const exportSchema = z.object({
  time_to_first_token: z.object({ avg: z.number(), p50: z.number(), p90: z.number(), count: z.number() }),
  error_summary: z.array(z.object({ count: z.number() }).passthrough()).optional(),
  overall_usage_prompt_cache_read_pct: stat.optional(),
});

async function startServer(workers: number, mode: Mode): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [
      ...process.execArgv,
      MAIN,
      'run',
      '--engine',
      'mocker',
      '--workers',
      String(workers),
      '--http-host',
      '127.0.0.1',
      '--http-port',
      String(port),
      '--router-mode',
      mode,
      '--log-level',
      'warn',
      ...serverExtra,
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 240; i++) {
    if (proc.exitCode !== null) throw new Error(`dynamo run exited with ${proc.exitCode}`);
    const ok = await fetch(`${url}/v1/models`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, proc };
    await new Promise((r) => setTimeout(r, 250));
  }
  proc.kill('SIGKILL');
  throw new Error('dynamo run did not answer /v1/models within 60 s');
}

const TTFT_METRIC = 'dynamo_frontend_time_to_first_token_seconds';

/** Mean of the frontend's TTFT histogram (sum / count, every model), in ms; null without requests. */
async function serverTtftMeanMs(url: string): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const total = (suffix: string) => {
    let sum = 0;
    for (const m of text.matchAll(new RegExp(`^${TTFT_METRIC}_${suffix}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) {
      sum += Number(m[1]);
    }
    return sum;
  };
  const count = total('count');
  return count > 0 ? round((total('sum') / count) * 1000) : null;
}

/** CPU time (user + system) of a process so far in ms, from /proc (Linux); null elsewhere. */
async function cpuMs(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // Fields after the command's closing parenthesis: state is the 3rd, utime the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // In clock ticks of USER_HZ, 100 on every Linux architecture Node.js runs on.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function stopServer(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function aiperf(
  bin: string,
  url: string,
  workload: WorkloadName,
  concurrency: number,
): Promise<Omit<RunResult, 'serverTtftMeanMs' | 'serverCpuMsPerRequest'>> {
  const dir = await mkdtemp(join(tmpdir(), 'aiperf-'));
  try {
    await exec(
      join(bin, 'aiperf'),
      [
        'profile',
        '--model',
        'mocker',
        '--url',
        url,
        '--endpoint-type',
        'chat',
        '--streaming',
        '--tokenizer',
        defaultTokenizerDir(),
        '--concurrency',
        String(concurrency),
        '--request-count',
        String(args.requests),
        // aiperf refuses a count of 0; without the flag it runs no warm-up phase.
        ...(args.warmup > 0 ? ['--warmup-request-count', String(args.warmup)] : []),
        ...WORKLOADS[workload],
        ...(workload === 'multi-turn'
          ? ['--conversation-num', String(Math.ceil(args.requests / MULTI_TURN_TURNS))]
          : []),
        '--osl',
        String(args.osl),
        '--extra-inputs',
        'ignore_eos:true',
        '--random-seed',
        '1',
        '--ui-type',
        'none',
        '--artifact-dir',
        dir,
      ],
      { maxBuffer: 64 * 1024 * 1024, timeout: 600_000 },
    );
    const report = exportSchema.parse(
      JSON.parse(await readFile(join(dir, 'profile_export_aiperf.json'), 'utf8')),
    );
    const t = report.time_to_first_token;
    const lines = (await readFile(join(dir, 'profile_export.jsonl'), 'utf8')).split('\n');
    const records = lines
      .filter((line) => line.trim() !== '')
      .map((line, i) => {
        const r = aiperfRecordSchema.safeParse(JSON.parse(line));
        if (!r.success) {
          const issue = r.error.issues[0];
          throw new Error(`profile_export.jsonl line ${i + 1}: ${issue?.path.join('.')}: ${issue?.message}`);
        }
        return r.data;
      });
    return {
      bunching: arrivalBunching(records),
      ttftMeanMs: round(t.avg),
      ttftP50Ms: round(t.p50),
      ttftP90Ms: round(t.p90),
      requests: t.count,
      errors: (report.error_summary ?? []).reduce((s, e) => s + e.count, 0),
      cacheReadPct: report.overall_usage_prompt_cache_read_pct
        ? round(report.overall_usage_prompt_cache_read_pct.avg)
        : null,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;
const ratioOrNull = (a: number | null, b: number | null) => (a === null || b === null ? null : round(a / b));

interface Cell {
  workers: number;
  concurrency: number;
  workload: WorkloadName;
  /** Every run (--repeat), in the order they ran; the ratios are of the runs' averages. */
  kv: RunResult[];
  roundRobin: RunResult[];
  ttftMeanKvOverRoundRobin: number;
  ttftP50KvOverRoundRobin: number;
  /** The frontends' own mean TTFT, kv over round-robin (null if a run had none). */
  serverTtftMeanKvOverRoundRobin: number | null;
}

const { stdout } = await exec(join(ROOT, 'scripts/python-env.sh'), [join(ROOT, 'test/python/aiperf.txt')], {
  timeout: 900_000,
});
const bin = stdout.trim();
const cells: Cell[] = [];
for (const workers of args.workers) {
  for (const concurrency of args.concurrency) {
    for (const workload of args.workloads) {
      const got: Record<Mode, RunResult[]> = { kv: [], 'round-robin': [] };
      // Repeats alternate which policy goes first: the shared machine's load drifts within a cell.
      for (let i = 0; i < args.repeat; i++) {
        for (const mode of i % 2 === 0 ? MODES : [...MODES].reverse()) {
          const { url, proc } = await startServer(workers, mode);
          let r: RunResult;
          try {
            const cpuBefore = await cpuMs(proc.pid);
            const result = await aiperf(bin, url, workload, concurrency);
            const cpuAfter = await cpuMs(proc.pid);
            r = {
              ...result,
              serverTtftMeanMs: await serverTtftMeanMs(url),
              serverCpuMsPerRequest:
                cpuBefore === null || cpuAfter === null
                  ? null
                  : round((cpuAfter - cpuBefore) / (result.requests + args.warmup)),
            };
          } finally {
            await stopServer(proc);
          }
          got[mode].push(r);
          process.stderr.write(
            `workers ${workers} concurrency ${concurrency} ${workload} ${mode}: TTFT mean ${r.ttftMeanMs} ms, p50 ${r.ttftP50Ms} ms, frontend's mean ${r.serverTtftMeanMs} ms, cache read ${r.cacheReadPct}%, server CPU ${r.serverCpuMsPerRequest} ms/request, ${r.bunching?.bunchedPct}% sent within ${BUNCH_MS} ms of the one before (TTFT ${r.bunching?.bunchedTtftMeanMs} ms, others ${r.bunching?.spreadTtftMeanMs} ms)\n`,
          );
        }
      }
      const avg = (runs: RunResult[], key: 'ttftMeanMs' | 'ttftP50Ms') =>
        runs.reduce((sum, r) => sum + r[key], 0) / runs.length;
      const serverAvg = (runs: RunResult[]) =>
        runs.some((r) => r.serverTtftMeanMs === null)
          ? null
          : runs.reduce((sum, r) => sum + (r.serverTtftMeanMs ?? 0), 0) / runs.length;
      const kv = got.kv;
      const rr = got['round-robin'];
      cells.push({
        workers,
        concurrency,
        workload,
        kv,
        roundRobin: rr,
        ttftMeanKvOverRoundRobin: round(avg(kv, 'ttftMeanMs') / avg(rr, 'ttftMeanMs')),
        ttftP50KvOverRoundRobin: round(avg(kv, 'ttftP50Ms') / avg(rr, 'ttftP50Ms')),
        serverTtftMeanKvOverRoundRobin: ratioOrNull(serverAvg(kv), serverAvg(rr)),
      });
    }
  }
}
const ratios: Record<string, number> = {};
for (const c of cells) {
  const key = `w${c.workers}c${c.concurrency}.${c.workload}`;
  ratios[`${key}.ttftMean`] = c.ttftMeanKvOverRoundRobin;
  ratios[`${key}.ttftP50`] = c.ttftP50KvOverRoundRobin;
  if (c.serverTtftMeanKvOverRoundRobin !== null)
    ratios[`${key}.serverTtftMean`] = c.serverTtftMeanKvOverRoundRobin;
}
ratios.worstTtftMeanKvOverRoundRobin = Math.max(...cells.map((c) => c.ttftMeanKvOverRoundRobin));
ratios.worstTtftP50KvOverRoundRobin = Math.max(...cells.map((c) => c.ttftP50KvOverRoundRobin));
const report = {
  bench: 'aiperf',
  aiperf: (await readFile(join(ROOT, 'test/python/aiperf.txt'), 'utf8')).match(/^aiperf==(\S+)/m)?.[1],
  grid: { ...args, out: undefined, serverArgs: serverExtra },
  cells,
  ratios,
};
if (args.out) await writeFile(args.out, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(report)}\n`);
