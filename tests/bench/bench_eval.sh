#!/usr/bin/env bash
# Forward-pass speed, ours beside llama.cpp's in the same run: BOS + 511 tokens of eval-text.txt
# as one context on THREADS threads (default 2), logits for every position, best of 3 runs each.
# Models: stories260K (F32) and the `small` synth model (F16, ~100M parameters; written to a temp
# dir unless SMALL=path is given), then one tiny model per architecture of `synth --arch`
# (ARCHS="llama3 qwen3 ..." to choose, ARCHS= for none). Prints one JSON line per model and side.
#   tests/bench/bench_eval.sh build/app/cli/quantscope-cli [THREADS]
set -euo pipefail
CLI=$1
THREADS=${2:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TEXT=$ROOT/tests/data/models/eval-text.txt
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
SMALL=${SMALL:-$TMP/small.gguf}
[ -f "$SMALL" ] || "$CLI" synth -o "$SMALL" --preset small --seed 1 > /dev/null
MODELS=("$ROOT/tests/data/models/stories260K.gguf" "$SMALL")
for arch in ${ARCHS-llama3 qwen3 qwen3moe mixtral gemma2 gemma3 phi3}; do
    "$CLI" synth --arch "$arch" -o "$TMP/tiny-$arch.gguf" > /dev/null
    MODELS+=("$TMP/tiny-$arch.gguf")
done
for model in "${MODELS[@]}"; do
    best=0
    for _ in 1 2 3; do
        tps=$("$CLI" eval "$model" --text "$TEXT" --threads "$THREADS" --json |
              python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_second"])')
        best=$(python3 -c "print(max($best, $tps))")
    done
    echo "{\"side\": \"quantscope\", \"model\": \"$(basename "$model")\", \"threads\": $THREADS, \"tokens\": 512, \"tokens_per_second\": $best}"
    if command -v node > /dev/null && [ -d "$ROOT/tests/js/node_modules/node-llama-cpp" ]; then
        node "$ROOT/tests/js/eval_speed.mjs" "$model" "$TEXT" 512 "$THREADS" 3 |
            python3 -c 'import json,sys,os; j=json.load(sys.stdin); print(json.dumps({"side": "llama.cpp", "model": os.path.basename(j["model"]), "threads": j["threads"], "tokens": j["tokens"], "tokens_per_second": j["tokens_per_second"]}))'
    fi
done
