// How sequences of different lengths share one session.run. Row r has `past` tokens in the KV store and
// feeds `count` new ones. Both segments are left-padded, to the longest past P and the longest count S:
//
//   attention_mask row:  0…0 (P − past) | 1…1 (past) | 0…0 (S − count) | 1…1 (count)
//
// so every row's last new token sits at the last position, which is the only one whose logits we need
// (num_logits_to_keep = 1 where the graph takes it). position_ids are the row's own positions, and
// padded slots are masked, so any export that masks by attention_mask gives each row what it would
// give alone. Padded queries produce rows nobody reads.
import type { KvStore, SlotTable } from './kv-store.js';
import type { BatchFeeds, KvArray, KvDtype } from './model-session.js';

export interface BatchRow {
  tokens: readonly number[];
  /** Tokens already in the store (the row's past). */
  past: number;
  /** New tokens fed this run: tokens[past, past + count). */
  count: number;
  table: SlotTable;
}

export interface LayoutDims {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  kvDtype: KvDtype;
}

/**
 * Where a run's past K/V comes from:
 * - `kept`: `arrays` ([rows, kvHeads, width, headDim]) already hold the rows' past as this function
 *   lays it out with pastLen = `width` (the previous decode run's present, its finished rows dropped);
 *   only the rows in `gather` (sequences that joined) are copied from the store, into their row.
 * - `into`: gather every row into arrays of the size asked for (any contents).
 * Without one, every row is gathered into fresh arrays.
 */
export type PastSource =
  | { kind: 'kept'; arrays: KvArray[]; width: number; gather: ReadonlySet<number> }
  | { kind: 'into'; arrays: (size: number) => KvArray[] };

export function layoutBatch(
  rows: readonly BatchRow[],
  kv: KvStore,
  dims: LayoutDims,
  source?: PastSource,
): BatchFeeds {
  const n = rows.length;
  let pastLen = source?.kind === 'kept' ? source.width : 0;
  let seqLen = 0;
  for (const r of rows) {
    pastLen = Math.max(pastLen, r.past);
    seqLen = Math.max(seqLen, r.count);
  }
  const total = pastLen + seqLen;
  const inputIds = new BigInt64Array(n * seqLen);
  const positionIds = new BigInt64Array(n * seqLen);
  const attentionMask = new BigInt64Array(n * total);
  const kvSize = n * dims.numKvHeads * pastLen * dims.headDim;
  const kept = source?.kind === 'kept' && source.width === pastLen ? source : undefined;
  if (kept !== undefined && kept.arrays[0]?.length !== kvSize) {
    throw new RangeError(
      `layoutBatch: kept past holds ${kept.arrays[0]?.length} values, the batch ${kvSize}`,
    );
  }
  const past: KvArray[] =
    kept?.arrays ??
    (source?.kind === 'into'
      ? source.arrays(kvSize)
      : Array.from({ length: 2 * dims.numLayers }, () =>
          dims.kvDtype === 'float16' ? new Uint16Array(kvSize) : new Float32Array(kvSize),
        ));
  for (let r = 0; r < n; r++) {
    const row = rows[r] as BatchRow;
    const pad = seqLen - row.count;
    for (let i = 0; i < seqLen; i++) {
      // Padded slots repeat the first new token and its position: valid ids, masked out.
      const k = Math.max(i - pad, 0);
      inputIds[r * seqLen + i] = BigInt(row.tokens[row.past + k] as number);
      positionIds[r * seqLen + i] = BigInt(row.past + k);
    }
    attentionMask.fill(1n, r * total + pastLen - row.past, r * total + pastLen);
    attentionMask.fill(1n, r * total + pastLen + pad, (r + 1) * total);
    if (kept === undefined || kept.gather.has(r)) {
      // Left padding is masked, but reused memory could hold anything there: zeros, as fresh arrays.
      if (source !== undefined && row.past < pastLen) zeroPadding(past, dims, r, pastLen, pastLen - row.past);
      kv.gather(row.table, 0, row.past, past, r, pastLen, pastLen - row.past);
    }
  }
  return { rows: n, seqLen, pastLen, inputIds, attentionMask, positionIds, past };
}

/** Zeroes columns [0, pad) of row `r` in every [rows, kvHeads, width, headDim] array. */
function zeroPadding(arrays: KvArray[], dims: LayoutDims, r: number, width: number, pad: number): void {
  const D = dims.headDim;
  for (const a of arrays) {
    for (let h = 0; h < dims.numKvHeads; h++) {
      const start = (r * dims.numKvHeads + h) * width * D;
      a.fill(0, start, start + pad * D);
    }
  }
}

/** Copies each row's new K/V from the present tensors into its blocks. */
export function storeNewKv(
  rows: readonly BatchRow[],
  kv: KvStore,
  present: KvArray[],
  feeds: BatchFeeds,
): void {
  const total = feeds.pastLen + feeds.seqLen;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as BatchRow;
    kv.scatter(row.table, row.past, row.count, present, r, total, total - row.count);
  }
}

/**
 * Splits rows into runs of at most `budget` padded tokens (rows × the longest row's count), longest
 * first so that rows of similar length share a run; a row longer than the budget runs alone.
 */
export function splitRuns<T extends { readonly tokens: number }>(rows: readonly T[], budget: number): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let width = 0;
  for (const row of [...rows].sort((a, b) => b.tokens - a.tokens)) {
    if (run.length > 0 && (run.length + 1) * width > budget) {
      runs.push(run);
      run = [];
    }
    if (run.length === 0) width = row.tokens;
    run.push(row);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
