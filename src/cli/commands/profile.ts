import { z } from 'zod';
import { type ProfileGrid, ProfileGridError, progressReporter, writeProfile } from '../../worker/profiler.js';
import { defineCommand } from '../command.js';
import { ENGINE_OPTIONS, engineConfig } from '../engine-options.js';
import { UsageError } from '../options.js';
import { MODEL_NAME_OPTION } from '../shared-options.js';

// The engine flags are `dynamo worker`'s (engine-options.ts), so both commands build the same engine
// from the same flags, env names and defaults. A profile measures simulated time: no --no-delay.
const {
  delay: _delay,
  kvTransferBandwidth: _bw,
  kvLayers: _l,
  kvHeads: _h,
  kvHeadDim: _d,
  ...PROFILE_ENGINE_OPTIONS
} = ENGINE_OPTIONS;

const countList = z
  .string()
  .transform((s) => s.split(',').map((x) => (x.trim() === '' ? Number.NaN : Number(x))))
  .pipe(z.array(z.number({ error: 'expected a number' }).int().positive()).min(1));

/** The grid key a ProfileGridError names → the flag that sets it. */
const GRID_FLAGS: Record<string, string> = {
  isls: '--isl',
  decodeContexts: '--decode-context',
  concurrencies: '--concurrency',
};

export const command = defineCommand({
  name: 'profile',
  summary: "measure an engine's capacity (prefill TTFT, decode ITL) and write the planner's profile",
  details: [
    'Examples:',
    '  dynamo profile --engine mocker --speedup-ratio 10 --out profile.json --svg profile.svg',
    '  dynamo profile --engine onnx --model-dir ./models/tiny --out tiny.json',
    '  dynamo profile --isl 256,1024,4096 --decode-context 1024,8192 --concurrency 1,8,64 --out p.json',
    '',
    'The engine is built as `dynamo worker` builds it (same flags) and driven in-process; no etcd or NATS.',
    'Prefill: for each ISL (--isl; default 128, 256, ... up to the context length), the TTFT of a lone',
    'random prompt (median of --prefill-repeats), then prompt tokens/s with the step budget kept full.',
    'Decode: for each context length (--decode-context; default 3 up to half the context length) and',
    'concurrency (--concurrency, or --concurrency-points geometric up to what KV and --max-num-seqs',
    'hold), the prompts are prefilled once to warm the prefix cache, then decoded together: mean ITL and',
    'output tokens/s over a window of --decode-window tokens after --decode-skip.',
    'Figures are wall-clock: a mocker profile holds for mockers run at the same --speedup-ratio.',
    'The planner reads the --out file; --svg draws the curves.',
  ].join('\n'),
  options: {
    out: {
      flag: 'out',
      short: 'o',
      schema: z.string({ error: 'required: the file the profile is written to' }).min(1),
      description: 'the profile (JSON) to write',
      placeholder: '<file>',
    },
    svg: {
      flag: 'svg',
      schema: z.string().min(1).optional(),
      description: 'also draw the curves as an SVG here',
      placeholder: '<file>',
    },
    modelName: MODEL_NAME_OPTION,
    ...PROFILE_ENGINE_OPTIONS,
    isl: {
      flag: 'isl',
      schema: countList.optional(),
      description: 'prompt lengths of the prefill grid, comma-separated (default: 128, 256, ... context)',
      placeholder: '<n,...>',
    },
    decodeContext: {
      flag: 'decode-context',
      schema: countList.optional(),
      description: 'context lengths of the decode grid, comma-separated (default: 3 up to context/2)',
      placeholder: '<n,...>',
    },
    concurrency: {
      flag: 'concurrency',
      schema: countList.optional(),
      description: 'concurrencies at each context, comma-separated (those that do not fit are skipped)',
      placeholder: '<n,...>',
    },
    concurrencyPoints: {
      flag: 'concurrency-points',
      schema: z.coerce.number().int().min(1).max(64).default(5),
      description: 'without --concurrency: how many, geometric from 1 to what fits',
      placeholder: '<n>',
    },
    prefillRepeats: {
      flag: 'prefill-repeats',
      schema: z.coerce.number().int().min(1).max(100).default(3),
      description: 'lone prompts per ISL (the median TTFT is kept)',
      placeholder: '<n>',
    },
    decodeSkip: {
      flag: 'decode-skip',
      schema: z.coerce.number().int().min(0).max(4096).default(4),
      description: 'tokens of each sequence before the decode window',
      placeholder: '<n>',
    },
    decodeWindow: {
      flag: 'decode-window',
      schema: z.coerce.number().int().min(2).max(4096).default(32),
      description: 'tokens of each sequence in the decode window',
      placeholder: '<n>',
    },
    seed: {
      flag: 'seed',
      schema: z.coerce.number().int().nonnegative().optional(),
      description: 'seed of the random prompts (default: a fresh one)',
      placeholder: '<n>',
    },
  },
  async run(o, { log, signal }) {
    const optional = <K extends string, V>(key: K, value: V | undefined) =>
      (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
    const engine = engineConfig(o);
    const grid: ProfileGrid = {
      ...optional('isls', o.isl),
      ...optional('decodeContexts', o.decodeContext),
      ...optional('concurrencies', o.concurrency),
      ...optional('seed', o.seed),
      concurrencyPoints: o.concurrencyPoints,
      prefillRepeats: o.prefillRepeats,
      decodeSkipTokens: o.decodeSkip,
      decodeWindowTokens: o.decodeWindow,
    };
    const progress = progressReporter(process.stderr);
    try {
      const profile = await writeProfile({
        worker: { engine, ...optional('modelName', o.modelName) },
        grid,
        log,
        signal,
        onProgress: (p) => progress.update(p),
        out: o.out,
        ...optional('svg', o.svg),
      });
      progress.end();
      process.stdout.write(
        `wrote ${o.out}${o.svg === undefined ? '' : ` and ${o.svg}`}: ${profile.prefill.length} prefill and ${profile.decode.length} decode points\n`,
      );
    } catch (err) {
      progress.end();
      if (err instanceof ProfileGridError) {
        throw new UsageError(`${GRID_FLAGS[err.field] ?? err.field}: ${err.message.replace(/^\w+: /, '')}`);
      }
      throw err;
    }
    return 0;
  },
});
