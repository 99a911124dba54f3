// The indexer with engine block ids opaque to the router (random u64s, as vLLM, SGLang and TensorRT-LLM
// name blocks): nodes are keyed by the chain of local hashes, engine ids only link parents and name
// removals; bad input is counted and never corrupts the index.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { BlockHash, InstanceId, KvEvent, KvEventData } from '../../../src/api/index.js';
import { hashesFromHex, type RequestHashes } from '../../../src/router/block-hashes.js';
import { type IndexAnomaly, KvIndexer } from '../../../src/router/indexer.js';
import { DEFAULT_ROUTER_SETTINGS, Router } from '../../../src/router/router.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { chain } from './chain.js';

const W1 = '00000000000000b1' as InstanceId;
const W2 = '00000000000000b2' as InstanceId;
const W3 = '00000000000000b3' as InstanceId;

let seed = 7;
function rand32(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
/** A random u64 engine block id. */
const randomId = () =>
  (rand32().toString(16).padStart(8, '0') + rand32().toString(16).padStart(8, '0')) as BlockHash;

/** Local hash of block i of prompt family f. */
const local = (f: number, i: number) =>
  `${(f + 1).toString(16).padStart(8, '0')}${i.toString(16).padStart(8, '0')}` as BlockHash;

function request(locals: readonly string[]): RequestHashes {
  return { local: hashesFromHex(locals), sequence: hashesFromHex(chain(locals)) };
}
const family = (f: number, n: number) => Array.from({ length: n }, (_, i) => local(f, i));

/** A worker that names its blocks with random ids and remembers them by (family, index). */
class Engine {
  readonly ids = new Map<string, BlockHash>();
  private eventId = 0;
  constructor(readonly worker: InstanceId) {}
  id(f: number, i: number): BlockHash {
    let id = this.ids.get(`${f}:${i}`);
    if (id === undefined) {
      id = randomId();
      this.ids.set(`${f}:${i}`, id);
    }
    return id;
  }
  storedData(f: number, from: number, to: number, locals = family(f, to)): KvEventData {
    return {
      stored: {
        parentHash: from === 0 ? null : this.id(f, from - 1),
        blocks: Array.from({ length: to - from }, (_, k) => ({
          blockHash: this.id(f, from + k),
          tokensHash: locals[from + k] as BlockHash,
        })),
      },
    };
  }
  event(data: KvEventData): KvEvent {
    return { workerId: this.worker, eventId: this.eventId++, data };
  }
  stored(f: number, from: number, to: number): KvEvent {
    return this.event(this.storedData(f, from, to));
  }
  removed(...blocks: [number, number][]): KvEvent {
    return this.event({ removed: { blockHashes: blocks.map(([f, i]) => this.id(f, i)) } });
  }
}

function synced(...workers: InstanceId[]): {
  idx: KvIndexer;
  heard: [InstanceId, IndexAnomaly][];
} {
  const heard: [InstanceId, IndexAnomaly][] = [];
  const idx = new KvIndexer(16, (w, kind) => heard.push([w, kind]));
  for (const w of workers) idx.applyDump({ workerId: w, lastEventId: -1, events: [] });
  return { idx, heard };
}

describe('KvIndexer with opaque engine block ids', () => {
  it('links parents and applies removals by engine id, and shares nodes between workers naming them differently', () => {
    const { idx, heard } = synced(W1, W2);
    const e1 = new Engine(W1);
    const e2 = new Engine(W2);
    expect(idx.applyEvent(e1.stored(0, 0, 4))).toBe('applied');
    expect(idx.applyEvent(e1.stored(0, 4, 8))).toBe('applied');
    expect(idx.applyEvent(e2.stored(0, 0, 3))).toBe('applied');
    expect(e1.id(0, 0)).not.toBe(e2.id(0, 0));
    // One node per block of the shared chain, whatever the workers call them.
    expect(idx.stats()).toMatchObject({ nodes: 8, blocks: 11 });
    expect(idx.findMatches(request(family(0, 10))).toMap()).toEqual(
      new Map([
        [W1, 8],
        [W2, 3],
      ]),
    );
    // Leaf-first eviction, by engine id.
    expect(idx.applyEvent(e1.removed([0, 7], [0, 6]))).toBe('applied');
    expect(idx.findMatches(request(family(0, 10))).get(W1)).toBe(6);
    expect(idx.blockCount(W1)).toBe(6);
    // Another worker's id means nothing for this one.
    expect(idx.applyEvent(e1.event({ removed: { blockHashes: [e2.id(0, 0)] } }))).toBe('applied');
    expect(idx.findMatches(request(family(0, 10))).toMap()).toEqual(
      new Map([
        [W1, 6],
        [W2, 3],
      ]),
    );
    expect(heard).toEqual([[W1, 'unknown_removal']]);
  });

  it('follows forks under a parent named by engine id', () => {
    const { idx } = synced(W1);
    const e = new Engine(W1);
    idx.applyEvent(e.stored(0, 0, 4));
    // Block 2 of family 0 has a second child: a branch with other tokens from index 3 on.
    const branch = [...family(0, 3), local(9, 3), local(9, 4)];
    idx.applyEvent(
      e.event({
        stored: {
          parentHash: e.id(0, 2),
          blocks: [
            { blockHash: randomId(), tokensHash: local(9, 3) },
            { blockHash: randomId(), tokensHash: local(9, 4) },
          ],
        },
      }),
    );
    expect(idx.findMatches(request(family(0, 6))).get(W1)).toBe(4);
    expect(idx.findMatches(request([...branch, local(9, 5)])).get(W1)).toBe(5);
    // The same local hash under another parent is another node.
    expect(idx.findMatches(request([local(9, 3)])).size).toBe(0);
  });

  it('keeps content cached under two ids until both are removed', () => {
    const { idx } = synced(W1);
    const e = new Engine(W1);
    idx.applyEvent(e.stored(0, 0, 2));
    const twin = randomId();
    idx.applyEvent(
      e.event({ stored: { parentHash: e.id(0, 0), blocks: [{ blockHash: twin, tokensHash: local(0, 1) }] } }),
    );
    expect(idx.blockCount(W1)).toBe(2);
    idx.applyEvent(e.removed([0, 1]));
    expect(idx.findMatches(request(family(0, 2))).get(W1)).toBe(2);
    idx.applyEvent(e.event({ removed: { blockHashes: [twin] } }));
    expect(idx.findMatches(request(family(0, 2))).get(W1)).toBe(1);
    expect(idx.stats()).toMatchObject({ nodes: 1, blocks: 1 });
  });

  it('counts bad input and keeps the index consistent', () => {
    const { idx, heard } = synced(W1, W2);
    const e = new Engine(W1);
    idx.applyEvent(e.stored(0, 0, 3));
    // Duplicate store: nothing changes.
    expect(idx.applyEvent(e.stored(0, 1, 3))).toBe('applied');
    expect(idx.stats()).toMatchObject({ nodes: 3, blocks: 3 });
    // An id re-stored for other content (the chain forks inconsistently): the latest word wins, and
    // what hung under the old content is no longer reachable for this worker.
    const id1 = e.id(0, 1);
    idx.applyEvent(
      e.event({ stored: { parentHash: e.id(0, 0), blocks: [{ blockHash: id1, tokensHash: local(5, 1) }] } }),
    );
    expect(idx.findMatches(request(family(0, 3))).get(W1)).toBe(1);
    expect(idx.findMatches(request([local(0, 0), local(5, 1)])).get(W1)).toBe(2);
    // A chain naming one id twice (a block its own parent): handled, no loop.
    const loop = randomId();
    idx.applyEvent(
      e.event({
        stored: {
          parentHash: null,
          blocks: [
            { blockHash: loop, tokensHash: local(7, 0) },
            { blockHash: loop, tokensHash: local(7, 1) },
          ],
        },
      }),
    );
    expect(idx.findMatches(request(family(7, 2))).size).toBe(0);
    // Removal of an id the worker never stored.
    idx.applyEvent(e.event({ removed: { blockHashes: [randomId()] } }));
    // A parent it does not hold: the blocks cannot be placed; live, the worker is out of sync.
    expect(
      idx.applyEvent(
        e.event({
          stored: { parentHash: randomId(), blocks: [{ blockHash: randomId(), tokensHash: local(8, 1) }] },
        }),
      ),
    ).toBe('resync');
    expect(heard.map(([, kind]) => kind)).toEqual([
      'duplicate_store',
      'duplicate_store',
      'inconsistent_store',
      'inconsistent_store',
      'unknown_removal',
      'unknown_parent',
    ]);
    expect(idx.stats().anomalies).toEqual({
      unknown_parent: 1,
      unknown_removal: 1,
      duplicate_store: 2,
      inconsistent_store: 2,
    });
    // A dump with an orphan chain (its parent evicted): skipped and counted, the rest applied.
    const dump = {
      workerId: W1,
      lastEventId: 100,
      events: [
        e.storedData(0, 0, 2),
        { stored: { parentHash: randomId(), blocks: [{ blockHash: randomId(), tokensHash: local(3, 4) }] } },
      ] as KvEventData[],
    };
    expect(idx.applyDump(dump)).toBe('applied');
    expect(idx.findMatches(request(family(0, 3))).get(W1)).toBe(2);
    expect(idx.stats()).toMatchObject({ nodes: 2, blocks: 2 });
    expect(idx.stats().anomalies.unknown_parent).toBe(2);
    // W2 never took part.
    expect(heard.every(([w]) => w === W1)).toBe(true);
  });

  it('agrees with a naive model over many workers, leaf-first and arbitrary removals, and rebinding', () => {
    // Reference: per worker, engine id → block ("f:i"); overlap = leading run of blocks held.
    const workers = Array.from(
      { length: 37 },
      (_, i) => (0xc0 + i).toString(16).padStart(16, '0') as InstanceId,
    );
    const { idx } = synced(...workers);
    const engines = new Map(workers.map((w) => [w, new Engine(w)]));
    const model = new Map(workers.map((w) => [w, new Map<BlockHash, string>()]));
    const rand = (n: number) => rand32() % n;
    const holds = (w: InstanceId, block: string) => {
      for (const b of model.get(w)?.values() ?? []) if (b === block) return true;
      return false;
    };
    for (let step = 0; step < 2000; step++) {
      const w = workers[rand(workers.length)] as InstanceId;
      const e = engines.get(w) as Engine;
      const held = model.get(w) as Map<BlockHash, string>;
      const f = rand(3);
      const op = rand(10);
      if (op < 6) {
        // Store a chain continuing the worker's longest prefix of the family.
        let from = 0;
        while (holds(w, `${f}:${from}`)) from++;
        const to = Math.min(from + 1 + rand(4), 12);
        if (from < to) {
          expect(idx.applyEvent(e.stored(f, from, to))).toBe('applied');
          for (let i = from; i < to; i++) held.set(e.id(f, i), `${f}:${i}`);
        }
      } else if (op < 9) {
        // Evict: mostly the last block of a run, sometimes one in the middle.
        const ids = [...held].filter(([, b]) => b.startsWith(`${f}:`));
        if (ids.length === 0) continue;
        ids.sort((a, b) => Number(b[1].split(':')[1]) - Number(a[1].split(':')[1]));
        const [id] = (op === 8 ? ids[rand(ids.length)] : ids[0]) as [BlockHash, string];
        idx.applyEvent(e.event({ removed: { blockHashes: [id] } }));
        held.delete(id);
        // A fresh id for that block next time, as an engine that reallocates.
        const key = [...e.ids].find(([, v]) => v === id)?.[0];
        if (key !== undefined) e.ids.delete(key);
      } else {
        // The engine drops everything.
        idx.applyEvent(e.event('cleared'));
        held.clear();
        e.ids.clear();
      }
      const q = rand(3);
      const scores = idx.findMatches(request(family(q, 12)));
      for (const wk of workers) {
        let depth = 0;
        while (depth < 12 && holds(wk, `${q}:${depth}`)) depth++;
        expect(scores.get(wk) ?? 0, `step ${step}, worker ${wk}`).toBe(depth);
      }
    }
  });

  it('reaches index health and the router metrics', async () => {
    const registry = new Registry();
    const model = {
      name: 'm',
      endpoint: { namespace: 'ns', component: 'backend', endpoint: 'generate' },
      blockSize: 4,
      totalKvBlocks: 100,
      maxNumSeqs: 8,
    };
    const r = new Router(DEFAULT_ROUTER_SETTINGS, model, {
      log: createLogger({ level: 'silent' }),
      random: () => 0,
      registry,
    });
    r.addInstance(W3);
    r.applyDump({ workerId: W3, lastEventId: -1, events: [] });
    const e = new Engine(W3);
    r.onKvEvent(e.stored(0, 0, 2));
    r.onKvEvent(e.stored(0, 0, 2));
    r.onKvEvent(e.event({ removed: { blockHashes: [randomId()] } }));
    expect(r.indexHealth().workers[0]?.anomalies).toEqual({
      unknown_parent: 0,
      unknown_removal: 1,
      duplicate_store: 2,
      inconsistent_store: 0,
    });
    const values = (await registry.getSingleMetric('dynamo_router_kv_event_anomalies_total')?.get())?.values;
    expect(values?.map((v) => [v.labels.kind, v.value])).toEqual([
      ['duplicate_store', 2],
      ['unknown_removal', 1],
    ]);
  });
});
