// An engine's measured capacity (DESIGN §13): what `dynamo profile` writes and the planner reads to turn
// demand into replicas. After Dynamo's pre-deployment profiling: prefill is ISL → TTFT of a lone prompt
// (and throughput with the prefill budget kept full); decode is (context length × concurrency) → ITL
// and throughput. Figures are those of ONE replica (one engine; "per GPU" in Dynamo's words), in the
// wall-clock time the engine really took — a mocker profile is only valid for mockers run at the same
// speedup ratio. The math over these points (interpolation, capacity at a target) is src/planner/
// profile-math.ts.
//
// Compatibility: `version` changes only when a field changes meaning or is removed; fields added later
// are optional, and a reader ignores fields it does not know.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export const PLANNER_PROFILE_VERSION = 1;

const positive = z.number().finite().positive();
const count = z.number().int().positive();

/** The engine's settings while measured: a profile holds for engines run with the same. */
export const profileEngineSettingsSchema = z.object({
  /** Tokens per KV block (the card's kvCacheBlockSize). */
  blockSize: count,
  /** Sequences running at once (the scheduler's limit). */
  maxNumSeqs: count,
  /** Token budget of one engine step: prefill chunks and decodes together. */
  maxNumBatchedTokens: count,
  /** KV cache capacity in blocks; × blockSize = the tokens all running sequences can hold. */
  totalKvBlocks: count,
  /** Longest sequence, prompt and output. */
  contextLength: count,
  /** Mocker only: every simulated duration was divided by this. */
  speedupRatio: positive.optional(),
});
export type ProfileEngineSettings = z.infer<typeof profileEngineSettingsSchema>;

/** One ISL of the prefill grid. */
export const prefillPointSchema = z.object({
  /** Prompt tokens, none of them in the prefix cache. */
  isl: count,
  /** Time to first token of one prompt alone on an idle engine (the median of a few), ms. */
  ttftMs: positive,
  /**
   * Prompt tokens per second the engine computes when prompts of this ISL keep its step budget full
   * (many at once): the prefill capacity of one replica at this ISL.
   */
  tokensPerSecond: positive,
});
export type PrefillPoint = z.infer<typeof prefillPointSchema>;

/** One (context length, concurrency) point of the decode grid. */
export const decodePointSchema = z.object({
  /** Tokens per sequence (prompt and output so far), averaged over the measured window. */
  contextLength: count,
  /** Sequences decoding together, every one of them in every step (no prefill in the window). */
  concurrency: count,
  /** Mean time between two tokens of one sequence, ms. */
  itlMs: positive,
  /** Output tokens per second of all the sequences together. */
  tokensPerSecond: positive,
  /** Active KV blocks / total blocks during the window (Dynamo's "KV usage"), 0..1. */
  kvUsage: z.number().min(0).max(1).optional(),
});
export type DecodePoint = z.infer<typeof decodePointSchema>;

/** How the figures were taken, for a reader who wants to judge or repeat them. */
export const profileMeasurementSchema = z.object({
  /** Lone prompts per ISL whose median TTFT is recorded. */
  prefillRepeats: count,
  /** Tokens of each sequence skipped before the decode window (steady state). */
  decodeSkipTokens: z.number().int().nonnegative(),
  /** Tokens of each sequence inside the decode window (about). */
  decodeWindowTokens: count,
  /** How long the whole profile took, ms. */
  durationMs: z.number().nonnegative(),
});

export const plannerProfileSchema = z
  .object({
    version: z.literal(PLANNER_PROFILE_VERSION),
    /** The engine measured. */
    engine: z.enum(['mocker', 'onnx']),
    /** The served model name (the card's `name`). */
    model: z.string().min(1).max(256),
    /** When it was measured (ISO 8601). */
    createdAt: z.iso.datetime(),
    settings: profileEngineSettingsSchema,
    /** By ISL, strictly increasing. */
    prefill: z.array(prefillPointSchema).min(1),
    /** By context length, then concurrency; each pair once. */
    decode: z.array(decodePointSchema).min(1),
    measurement: profileMeasurementSchema.optional(),
  })
  .superRefine((p, ctx) => {
    p.prefill.forEach((point, i) => {
      const before = p.prefill[i - 1];
      if (before !== undefined && point.isl <= before.isl) {
        ctx.addIssue({
          code: 'custom',
          path: ['prefill', i, 'isl'],
          message: `must be greater than the ISL before it (${before.isl})`,
        });
      }
    });
    p.decode.forEach((point, i) => {
      const before = p.decode[i - 1];
      if (
        before !== undefined &&
        (point.contextLength < before.contextLength ||
          (point.contextLength === before.contextLength && point.concurrency <= before.concurrency))
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['decode', i],
          message: `must come after (contextLength ${before.contextLength}, concurrency ${before.concurrency}): sorted by context length, then concurrency, each pair once`,
        });
      }
    });
  });
export type PlannerProfile = z.infer<typeof plannerProfileSchema>;

/** A profile file that cannot be used: the message names the file and the field. */
export class ProfileError extends Error {
  override name = 'ProfileError';
}

/** Validates a profile's text; `source` (a path) names it in errors. */
export function parseProfile(text: string, source: string): PlannerProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(`profile ${source}: not JSON (${(err as Error).message})`);
  }
  const version = (raw as { version?: unknown } | null)?.version;
  if (typeof raw === 'object' && raw !== null && version !== PLANNER_PROFILE_VERSION) {
    throw new ProfileError(
      `profile ${source}: version: expected ${PLANNER_PROFILE_VERSION}, got ${JSON.stringify(version) ?? 'none'} (measure it again with this release's \`dynamo profile\`)`,
    );
  }
  const parsed = plannerProfileSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    const more = parsed.error.issues.length > 3 ? ` (and ${parsed.error.issues.length - 3} more)` : '';
    throw new ProfileError(`profile ${source}: ${issues.join('; ')}${more}`);
  }
  return parsed.data;
}

/** Reads and validates a profile file; a missing, unreadable or malformed one is a ProfileError. */
export async function readProfile(path: string): Promise<PlannerProfile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ProfileError(`profile ${path}: ${why} (write one with \`dynamo profile --out ${path}\`)`);
  }
  return parseProfile(text, path);
}
