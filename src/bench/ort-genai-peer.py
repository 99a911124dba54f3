"""onnxruntime-genai as the engine benchmark's peer (src/bench/ort-genai-peer.ts drives it).

Usage: python ort-genai-peer.py <dir with genai_config.json>
Reads one JSON request per stdin line, {"prompts": [[ids...], ...], "max_tokens": n}, generates greedily
for all prompts as one batch (they have the same length: no padding), and answers one JSON line:
{"first_ms", "end_ms", "decode_cpu_ms", "cpu_ms", "tokens"}: wall times from the start until every
sequence has its first token and until all are done, and the process CPU time (all threads) after the
first token and in all. The first line written is {"ready": true} once the model is loaded.
"""

import json
import os
import sys
import time


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: ort-genai-peer.py <model dir with genai_config.json>", file=sys.stderr)
        return 2
    model_dir = sys.argv[1]
    config_path = os.path.join(model_dir, "genai_config.json")
    if not os.path.isfile(config_path):
        print(
            f"{config_path}: missing (onnxruntime-genai reads the model's layout from it; "
            "src/bench/ort-genai-config.ts writes one for the tiny model)",
            file=sys.stderr,
        )
        return 2
    import numpy as np
    import onnxruntime_genai as og

    model = og.Model(og.Config(model_dir))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        prompts = request["prompts"]
        max_tokens = int(request["max_tokens"])
        length = len(prompts[0])
        params = og.GeneratorParams(model)
        # min_length keeps EOS out until max_tokens, as ignore_eos does for the engine.
        params.set_search_options(
            batch_size=len(prompts),
            max_length=length + max_tokens,
            min_length=length + max_tokens,
            do_sample=False,
        )
        started = time.perf_counter()
        start_cpu = time.process_time()
        generator = og.Generator(model, params)
        generator.append_tokens(np.array(prompts, dtype=np.int32))
        generator.generate_next_token()
        first_ms = (time.perf_counter() - started) * 1000
        first_cpu = time.process_time()
        while not generator.is_done():
            generator.generate_next_token()
        end_ms = (time.perf_counter() - started) * 1000
        end_cpu = time.process_time()
        tokens = [generator.get_sequence(i)[length:].tolist() for i in range(len(prompts))]
        del generator
        print(
            json.dumps(
                {
                    "first_ms": first_ms,
                    "end_ms": end_ms,
                    "decode_cpu_ms": (end_cpu - first_cpu) * 1000,
                    "cpu_ms": (end_cpu - start_cpu) * 1000,
                    "tokens": tokens,
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
