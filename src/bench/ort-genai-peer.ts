// onnxruntime-genai (Microsoft's C++ generation loop over onnxruntime, PyPI `onnxruntime-genai`) as a
// peer of the engine benchmark: the same model.onnx, the same onnxruntime version and thread count,
// greedy, batched. It reads the model's layout from genai_config.json (schema: microsoft/onnxruntime-genai,
// e.g. its test models' genai_config.json), which a model directory made for us does not have:
// genaiConfig() writes one from config.json and the graph's names, into a directory of its own beside
// a link to model.onnx, so the model directory stays as it is.
//
// The Python side (ort-genai-peer.py) runs in the venv of test/python/ort-genai.txt
// (scripts/python-env.sh) and answers one JSON line per batch on stdin/stdout.
import { execFile, spawn } from 'node:child_process';
import { access, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ModelDir } from '../llm/model-dir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'src/bench/ort-genai-peer.py');
const REQUIREMENTS = join(ROOT, 'test/python/ort-genai.txt');

/** genai_config.json for a model directory in our layout (DESIGN §8) and its graph's names. */
export function genaiConfig(model: ModelDir, graph: { positionIds: boolean }, threads: number): object {
  const c = model.config;
  const eos = model.eosTokenIds;
  const tokenId = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);
  return {
    model: {
      bos_token_id: tokenId(c.bos_token_id, eos[0] ?? 0),
      context_length: model.contextLength,
      decoder: {
        session_options: {
          log_id: 'onnxruntime-genai',
          provider_options: [],
          ...(threads > 0 ? { intra_op_num_threads: threads } : {}),
        },
        filename: 'model.onnx',
        head_size: model.headDim,
        hidden_size: c.hidden_size,
        inputs: {
          input_ids: 'input_ids',
          attention_mask: 'attention_mask',
          ...(graph.positionIds ? { position_ids: 'position_ids' } : {}),
          past_key_names: 'past_key_values.%d.key',
          past_value_names: 'past_key_values.%d.value',
        },
        outputs: {
          logits: 'logits',
          present_key_names: 'present.%d.key',
          present_value_names: 'present.%d.value',
        },
        num_attention_heads: c.num_attention_heads,
        num_hidden_layers: model.numLayers,
        num_key_value_heads: model.numKvHeads,
      },
      eos_token_id: eos,
      pad_token_id: tokenId(c.pad_token_id, eos[0] ?? 0),
      type: c.model_type,
      vocab_size: c.vocab_size,
    },
    search: {
      do_sample: false,
      max_length: model.contextLength,
      min_length: 0,
      num_beams: 1,
      num_return_sequences: 1,
      // Our graphs concatenate past and new KV (present is one token longer than past): no shared buffer.
      past_present_share_buffer: false,
      top_k: 1,
      top_p: 1,
      temperature: 1,
    },
  };
}

/** A directory onnxruntime-genai can load: genai_config.json and a link to the model's graph. */
export async function writeGenaiDir(model: ModelDir, config: object, outDir: string): Promise<string> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'genai_config.json'), `${JSON.stringify(config, null, 2)}\n`);
  // Absolute targets: a link resolves from its own directory, not from where --model was given.
  const modelPath = resolve(model.modelPath);
  await symlink(modelPath, join(outDir, 'model.onnx'));
  const data = `${modelPath}_data`;
  if (
    await access(data).then(
      () => true,
      () => false,
    )
  )
    await symlink(data, join(outDir, 'model.onnx_data'));
  return outDir;
}

/** The venv's bin directory (created on first use; needs PyPI then). */
export async function genaiPython(): Promise<string> {
  const { stdout } = await promisify(execFile)(join(ROOT, 'scripts/python-env.sh'), [REQUIREMENTS], {
    cwd: ROOT,
  });
  return join(stdout.trim(), 'python');
}

export interface GenaiBatch {
  firstMs: number;
  endMs: number;
  decodeCpuMs: number;
  cpuMs: number;
  tokens: number[][];
}

export interface GenaiPeer {
  generate(prompts: number[][], maxTokens: number): Promise<GenaiBatch>;
  close(): Promise<void>;
}

/** Starts the peer on `dir` (holding genai_config.json); rejects with its stderr when it cannot load. */
export async function startGenaiPeer(python: string, dir: string): Promise<GenaiPeer> {
  const child = spawn(python, [SCRIPT, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) => reject(new Error(`ort-genai peer exited (${code}): ${stderr.trim()}`)));
  });
  exited.catch(() => {});
  const next = async (): Promise<string> => {
    const line = await Promise.race([lines.next(), exited]);
    if (line.done) return exited;
    return line.value;
  };
  const ready = JSON.parse(await next()) as { ready?: boolean };
  if (ready.ready !== true) throw new Error(`ort-genai peer: unexpected first line ${JSON.stringify(ready)}`);
  return {
    async generate(prompts, maxTokens) {
      child.stdin.write(`${JSON.stringify({ prompts, max_tokens: maxTokens })}\n`);
      const r = JSON.parse(await next()) as {
        first_ms: number;
        end_ms: number;
        decode_cpu_ms: number;
        cpu_ms: number;
        tokens: number[][];
      };
      return {
        firstMs: r.first_ms,
        endMs: r.end_ms,
        decodeCpuMs: r.decode_cpu_ms,
        cpuMs: r.cpu_ms,
        tokens: r.tokens,
      };
    },
    async close() {
      child.stdin.end();
      await new Promise((resolve) => {
        if (child.exitCode !== null) resolve(undefined);
        else child.once('exit', resolve);
      });
    },
  };
}
