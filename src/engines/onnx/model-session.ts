// One onnxruntime session over a model directory's decoder graph. Everything the engine needs to know
// about the graph (layers, KV heads, head size, KV dtype, whether it takes position_ids) is read from the
// session and checked against config.json; a graph that does not fit is refused with an error naming
// what is missing or unexpected.
import * as ort from 'onnxruntime-node';
import type { ModelDir } from '../../llm/model-dir.js';
import { LogitsArena } from '../../wasm/index.js';

export type Device = 'cpu' | 'cuda';
export type KvDtype = 'float32' | 'float16';
export type KvArray = Float32Array | Uint16Array;

const KEEP_LAST = BigInt64Array.of(1n);

export class ModelGraphError extends Error {
  override name = 'ModelGraphError';
}

export interface SessionOptions {
  device: Device;
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. */
  threads: number;
}

/** A batch laid out for one session.run (see batch-layout.ts for how rows are padded). */
export interface BatchFeeds {
  rows: number;
  /** New tokens per row (the longest row's count; shorter rows are left-padded). */
  seqLen: number;
  /** Past tokens per row (the longest row's count; shorter rows are left-padded). */
  pastLen: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  positionIds: BigInt64Array;
  /** Per layer: key then value, each [rows, kvHeads, pastLen, headDim]. */
  past: KvArray[];
}

export interface BatchOutputs {
  /** [rows, logitsLen, vocab] as float32; the last position of each row is its last new token. */
  logits: Float32Array;
  /** 1 when the graph honours num_logits_to_keep, else seqLen. */
  logitsLen: number;
  /** Per layer: key then value, each [rows, kvHeads, pastLen + seqLen, headDim]. */
  present: KvArray[];
}

interface Shaped {
  name: string;
  type: string;
  shape: readonly (number | string)[];
}

function metadataOf(list: readonly ort.InferenceSession.ValueMetadata[]): Map<string, Shaped | undefined> {
  const out = new Map<string, Shaped | undefined>();
  for (const m of list) {
    out.set(m.name, m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : undefined);
  }
  return out;
}

export class ModelSession {
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly kvDtype: KvDtype;
  readonly hasPositionIds: boolean;
  /** The graph takes num_logits_to_keep: we ask for the last position's logits only. */
  readonly hasNumLogitsToKeep: boolean;
  readonly #session: ort.InferenceSession;
  readonly #pastNames: string[];
  readonly #presentNames: string[];
  /** Where runs write their logits, and the sampling kernels that read them there. */
  readonly logitsArena = new LogitsArena();
  readonly #logitsType: string;

  private constructor(session: ort.InferenceSession, model: ModelDir) {
    this.#session = session;
    const inputs = metadataOf(session.inputMetadata);
    const outputs = metadataOf(session.outputMetadata);
    const where = `${model.modelPath}`;
    const need = (map: Map<string, Shaped | undefined>, name: string, kind: 'input' | 'output'): Shaped => {
      const m = map.get(name);
      if (m === undefined) {
        throw new ModelGraphError(
          `${where}: the graph has no ${kind} "${name}" (config.json: num_hidden_layers ${model.numLayers}; ` +
            `the graph's ${kind}s: ${[...map.keys()].join(', ')})`,
        );
      }
      return m;
    };
    need(inputs, 'input_ids', 'input');
    need(inputs, 'attention_mask', 'input');
    this.hasPositionIds = inputs.has('position_ids');
    this.hasNumLogitsToKeep = inputs.has('num_logits_to_keep');
    const logits = need(outputs, 'logits', 'output');

    this.numLayers = model.numLayers;
    this.#pastNames = [];
    this.#presentNames = [];
    let kvType: string | undefined;
    for (let i = 0; i < this.numLayers; i++) {
      for (const kind of ['key', 'value']) {
        const past = need(inputs, `past_key_values.${i}.${kind}`, 'input');
        const present = need(outputs, `present.${i}.${kind}`, 'output');
        for (const m of [past, present]) {
          if (m.type !== 'float32' && m.type !== 'float16') {
            throw new ModelGraphError(`${where}: ${m.name} is ${m.type}; KV must be float32 or float16`);
          }
          kvType ??= m.type;
          if (m.type !== kvType)
            throw new ModelGraphError(`${where}: ${m.name} is ${m.type}, other KV tensors ${kvType}`);
          const [, heads, , dim] = m.shape;
          if (m.shape.length !== 4)
            throw new ModelGraphError(
              `${where}: ${m.name} has rank ${m.shape.length}, expected 4 [batch, kv_heads, seq, head_dim]`,
            );
          if (typeof heads === 'number' && heads !== model.numKvHeads) {
            throw new ModelGraphError(
              `${where}: ${m.name} has ${heads} KV heads; config.json says num_key_value_heads ${model.numKvHeads}`,
            );
          }
          if (typeof dim === 'number' && dim !== model.headDim) {
            throw new ModelGraphError(
              `${where}: ${m.name} has head size ${dim}; config.json says ${model.headDim}`,
            );
          }
        }
        this.#pastNames.push(past.name);
        this.#presentNames.push(present.name);
      }
    }
    const known = new Set([
      'input_ids',
      'attention_mask',
      'position_ids',
      'num_logits_to_keep',
      ...this.#pastNames,
    ]);
    const unexpected = [...inputs.keys()].filter((n) => !known.has(n));
    if (unexpected.length > 0) {
      throw new ModelGraphError(
        `${where}: unexpected graph inputs ${unexpected.join(', ')} (num_hidden_layers ${this.numLayers} in config.json)`,
      );
    }
    this.kvDtype = kvType === 'float16' ? 'float16' : 'float32';
    this.numKvHeads = model.numKvHeads;
    this.headDim = model.headDim;
    const vocab = logits.shape[2];
    this.vocabSize = typeof vocab === 'number' ? vocab : model.config.vocab_size;
    this.#logitsType = logits.type;
    if (logits.type !== 'float32' && logits.type !== 'float16') {
      throw new ModelGraphError(`${where}: logits are ${logits.type}; expected float32 or float16`);
    }
  }

  static async create(model: ModelDir, options: SessionOptions): Promise<ModelSession> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [options.device],
      graphOptimizationLevel: 'all',
      ...(options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
    };
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model.modelPath, sessionOptions);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (options.device === 'cuda') {
        // onnxruntime-node downloads its CUDA provider libraries at install time; without them (or
        // without a CUDA driver) the provider cannot load. We never fall back to the CPU silently.
        throw new ModelGraphError(
          `--device cuda: onnxruntime's CUDA execution provider is not usable here (${message}). ` +
            'It needs an NVIDIA driver, CUDA 12 libraries and onnxruntime-node installed with its CUDA ' +
            'provider (not skipped with ONNXRUNTIME_NODE_INSTALL=skip); use --device cpu otherwise.',
        );
      }
      throw new ModelGraphError(`${model.modelPath}: onnxruntime cannot load the graph: ${message}`);
    }
    try {
      return new ModelSession(session, model);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /**
   * `presentInto`: arrays of [rows, kvHeads, pastLen + seqLen, headDim] (per layer K then V) that
   * onnxruntime writes the present tensors into, instead of allocating them.
   */
  async run(batch: BatchFeeds, presentInto?: KvArray[]): Promise<BatchOutputs> {
    const { rows, seqLen, pastLen } = batch;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', batch.inputIds, [rows, seqLen]),
      attention_mask: new ort.Tensor('int64', batch.attentionMask, [rows, pastLen + seqLen]),
    };
    if (this.hasPositionIds) feeds.position_ids = new ort.Tensor('int64', batch.positionIds, [rows, seqLen]);
    if (this.hasNumLogitsToKeep) feeds.num_logits_to_keep = new ort.Tensor('int64', KEEP_LAST, []);
    const kvDims = [rows, this.numKvHeads, pastLen, this.headDim];
    for (let i = 0; i < this.#pastNames.length; i++) {
      const name = this.#pastNames[i] as string;
      const data = batch.past[i] as KvArray;
      feeds[name] =
        this.kvDtype === 'float16'
          ? float16Tensor(data as Uint16Array, kvDims)
          : new ort.Tensor('float32', data as Float32Array, kvDims);
    }
    const logitsInto = this.#logitsView(rows);
    const fetches: Record<string, ort.Tensor | null> = { logits: logitsInto?.tensor ?? null };
    const presentDims = [rows, this.numKvHeads, pastLen + seqLen, this.headDim];
    for (let i = 0; i < this.#presentNames.length; i++) {
      const into = presentInto?.[i];
      fetches[this.#presentNames[i] as string] =
        into === undefined
          ? null
          : this.kvDtype === 'float16'
            ? float16Tensor(into as Uint16Array, presentDims)
            : new ort.Tensor('float32', into as Float32Array, presentDims);
    }
    const out = await this.#session.run(feeds, fetches);
    const logitsTensor = out.logits;
    if (logitsTensor === undefined) throw new ModelGraphError('session.run returned no logits');
    if (logitsInto !== undefined) dropCopy(logitsTensor, logitsInto.view);
    const present = this.#presentNames.map((name, i) => {
      const t = out[name];
      const into = presentInto?.[i];
      if (into !== undefined) {
        dropCopy(t, into);
        return into;
      }
      if (t === undefined) throw new ModelGraphError(`session.run returned no ${name}`);
      return kvBits(t);
    });
    const logits = logitsInto?.view ?? this.#float32Logits(logitsTensor);
    return { logits, logitsLen: logitsTensor.dims[1] ?? seqLen, present };
  }

  /**
   * With num_logits_to_keep the logits are [rows, 1, vocab]: onnxruntime writes them into the logits
   * arena (WebAssembly memory, reused) instead of a fresh 600 KB per row per step, and the sampler's
   * kernels read them in place (valid until the next run).
   */
  #logitsView(rows: number): { view: Float32Array; tensor: ort.Tensor } | undefined {
    if (!this.hasNumLogitsToKeep || this.#logitsType !== 'float32') return undefined;
    const view = this.logitsArena.view(rows * this.vocabSize);
    return { view, tensor: new ort.Tensor('float32', view, [rows, 1, this.vocabSize]) };
  }

  /**
   * Logits onnxruntime did not write into the arena, as float32. float16 logits of the last positions
   * (num_logits_to_keep) are converted into the arena, where the kernels read them, and the binding's
   * copy is freed: no per-run allocation of their size, as for float32.
   */
  #float32Logits(t: ort.Tensor): Float32Array {
    if (t.type === 'float32') return t.data as Float32Array;
    // float16: a Float16Array (Node 24) over their bits converts them.
    const d = t.data as Float16Array | Uint16Array;
    const half = d instanceof Float16Array ? d : new Float16Array(d.buffer, d.byteOffset, d.length);
    if (!this.hasNumLogitsToKeep) return Float32Array.from(half);
    const view = this.logitsArena.view(half.length);
    view.set(half);
    dropCopy(t, view);
    return view;
  }

  release(): Promise<void> {
    return this.#session.release();
  }
}

/**
 * A float16 tensor over raw bits. onnxruntime-common turns Uint16Array data of a 'float16' tensor into a
 * Float16Array view where the runtime has Float16Array (Node 24), but onnxruntime-node 1.30's binding
 * sizes a Float16Array as 0 bytes (N-API's typed-array info has no float16 kind), so every non-empty
 * float16 input fails with "not enough space: expected N, got 0". The binding accepts a Uint16Array for
 * float16: the tensor is handed back the array it was given.
 */
export function float16Tensor(bits: Uint16Array, dims: readonly number[]): ort.Tensor {
  const t = new ort.Tensor('float16', bits, dims);
  (t as unknown as { cpuData: Uint16Array }).cpuData = bits;
  return t;
}

/**
 * A KV output as the store keeps it: float32 values, or float16 bits. onnxruntime-common wraps float16
 * outputs in a Float16Array (Node 24); copying that into the store's Uint16Array would convert values
 * to integers, so it is viewed as its bits.
 */
function kvBits(t: ort.Tensor): KvArray {
  const d = t.data;
  if (d instanceof Float32Array || d instanceof Uint16Array) return d;
  if (d instanceof Float16Array) return new Uint16Array(d.buffer, d.byteOffset, d.length);
  throw new ModelGraphError(`session.run returned ${t.type} KV; expected float32 or float16`);
}

/**
 * onnxruntime-node 1.30's binding returns every output as a fresh copy in a new ArrayBuffer, also one
 * it wrote into a tensor we gave it. That copy of an output we own is garbage at once; left to the GC,
 * each one counts as external memory until V8 runs a full mark-compact (about every 13 batch-8 runs:
 * 4.9 MB of logits each), and the malloc heap hands out fresh pages for the next. Detaching it frees
 * it now, so the next run's copy reuses the same memory. Never our own buffer (a binding that hands
 * back the tensor it was given).
 */
function dropCopy(t: ort.Tensor | undefined, ours: ArrayBufferView): void {
  const copy = (t?.data as ArrayBufferView | undefined)?.buffer;
  if (copy instanceof ArrayBuffer && copy !== ours.buffer && !copy.detached) copy.transfer(0);
}
