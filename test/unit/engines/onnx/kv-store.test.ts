// The KV store follows the BlockManager: under any mix of new sequences (with prefix-cache hits),
// growth, frees, evictions, clears and imports (blocks filled from outside, then committed), its free
// slots equal the manager's free blocks and every live sequence reads back exactly the K/V it (or the
// sequence it shares a prefix with, or the import) wrote.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { type BlockHashes, BlockManager } from '../../../../src/engines/block-manager.js';
import { KvStore, type SlotTable } from '../../../../src/engines/onnx/kv-store.js';

const B = 4;
const TOTAL = 12;

// Injective names for prefixes: the manager and the store only compare hashes.
const names = new Map<string, number>();
const nameOf = (key: string): number => {
  let n = names.get(key);
  if (n === undefined) {
    n = names.size + 1;
    names.set(key, n);
  }
  return n;
};
function hashesOf(tokens: readonly number[]): BlockHashes {
  const local: string[] = [];
  const sequence: string[] = [];
  for (let i = 0; i + B <= tokens.length; i += B) {
    local.push(`l${nameOf(tokens.slice(i, i + B).join(','))}`);
    sequence.push(`s${nameOf(tokens.slice(0, i + B).join(','))}`);
  }
  return { local, sequence };
}
/** The K/V "value" of position p: a function of the prefix up to p, as real K/V is. */
const valueAt = (tokens: readonly number[], p: number): number => nameOf(tokens.slice(0, p + 1).join(','));

interface Live {
  key: string;
  tokens: number[];
  computed: number;
  table: SlotTable;
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant('start' as const),
    prompt: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 14 }),
  }),
  fc.record({
    kind: fc.constant('grow' as const),
    which: fc.nat(),
    tokens: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant('free' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('clear' as const) }),
  fc.record({
    kind: fc.constant('importStart' as const),
    prompt: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 14 }),
  }),
  fc.record({ kind: fc.constant('importEnd' as const), which: fc.nat(), ok: fc.boolean() }),
);

test('slots stay in step with the block manager and hold the right K/V', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const kv = new KvStore({
        numSlots: TOTAL,
        numLayers: 1,
        numKvHeads: 1,
        blockSize: B,
        headDim: 1,
        dtype: 'float32',
      });
      const bm = new BlockManager({ totalBlocks: TOTAL, blockSize: B, onEvent: (e) => kv.onEvent(e) });
      const live: Live[] = [];
      const importing: { seq: Live; pending: number[] }[] = [];
      let next = 0;

      const compute = (seq: Live, upTo: number): boolean => {
        const hashes = hashesOf(seq.tokens.slice(0, upTo));
        if (!bm.allocate(seq.key, upTo, hashes)) return false;
        kv.extend(seq.table, upTo, hashes.sequence);
        const present = Float32Array.from({ length: upTo - seq.computed }, (_, i) =>
          valueAt(seq.tokens, seq.computed + i),
        );
        kv.scatter(
          seq.table,
          seq.computed,
          upTo - seq.computed,
          [present, present],
          0,
          upTo - seq.computed,
          0,
        );
        seq.computed = upTo;
        return true;
      };

      for (const o of ops) {
        if (o.kind === 'start') {
          const seq: Live = {
            key: `q${next++}`,
            tokens: [...o.prompt],
            computed: 0,
            table: { slots: [], full: 0 },
          };
          const reuse = Math.min(
            bm.matchPrefix(hashesOf(seq.tokens).sequence),
            Math.floor((seq.tokens.length - 1) / B),
          );
          bm.allocate(seq.key, reuse * B, hashesOf(seq.tokens));
          kv.extend(seq.table, reuse * B, hashesOf(seq.tokens).sequence);
          seq.computed = reuse * B;
          if (compute(seq, seq.tokens.length)) live.push(seq);
          else {
            bm.free(seq.key);
            kv.release(seq.table);
          }
        } else if (o.kind === 'grow' && live.length > 0) {
          const seq = live[o.which % live.length] as Live;
          seq.tokens.push(...o.tokens);
          if (!compute(seq, seq.tokens.length)) seq.tokens.length = seq.computed;
        } else if (o.kind === 'free' && live.length > 0) {
          const [seq] = live.splice(o.which % live.length, 1);
          if (seq) {
            bm.free(seq.key);
            kv.release(seq.table);
          }
        } else if (o.kind === 'clear') {
          bm.clear();
        } else if (o.kind === 'importStart') {
          const seq: Live = {
            key: `q${next++}`,
            tokens: [...o.prompt],
            computed: 0,
            table: { slots: [], full: 0 },
          };
          const hashes = hashesOf(seq.tokens);
          const pending = bm.allocateForImport(seq.key, seq.tokens.length, hashes);
          if (pending !== undefined) {
            kv.extend(seq.table, seq.tokens.length, hashes.sequence, pending);
            importing.push({ seq, pending });
          }
        } else if (o.kind === 'importEnd' && importing.length > 0) {
          const [started] = importing.splice(o.which % importing.length, 1);
          if (started !== undefined && !o.ok) {
            bm.free(started.seq.key);
            kv.release(started.seq.table);
          } else if (started !== undefined) {
            const { seq, pending } = started;
            // The bytes arrive for the pending blocks and the partial tail; shared ones hold KV already.
            const hashes = hashesOf(seq.tokens);
            const full = Math.floor(seq.tokens.length / B);
            const filled = seq.tokens.length % B > 0 ? [...pending, full] : pending;
            for (const b of filled) {
              for (const view of kv.blockViews(seq.table, b)) {
                for (let p = b * B; p < Math.min((b + 1) * B, seq.tokens.length); p++) {
                  view[p - b * B] = valueAt(seq.tokens, p);
                }
              }
            }
            kv.commit(seq.table, bm.commit(seq.key), hashes.sequence);
            seq.computed = seq.tokens.length;
            live.push(seq);
          }
        }
        expect(kv.freeSlots).toBe(bm.freeBlocks);
        for (const seq of live) {
          const out = new Float32Array(seq.computed);
          kv.gather(seq.table, 0, seq.computed, [out, out], 0, seq.computed, 0);
          expect(Array.from(out)).toEqual(
            seq.tokens.slice(0, seq.computed).map((_, p) => valueAt(seq.tokens, p)),
          );
        }
      }
    }),
    { numRuns: 1000 },
  );
});
