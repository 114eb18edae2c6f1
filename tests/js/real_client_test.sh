#!/bin/sh
# ctest driver for the real-client checks (check_gguf.mjs).
#   real_client_test.sh CLI synth PRESET   - synthesize a model, then check it (with llama.cpp)
#   real_client_test.sh CLI file FILE      - check an existing GGUF (with llama.cpp)
#   real_client_test.sh CLI quant MODEL TEXT PPL TOL QUANTIZE_ARGS...
#       quantize MODEL with quantscope-cli, check the file with both clients, and require
#       llama.cpp's perplexity on TEXT to be within TOL (relative) of PPL (PPL "-": no check)
#   real_client_test.sh CLI synthquant PRESET - - - QUANTIZE_ARGS...  - the same on a synth model
#       (an argument @synth-imatrix stands for the synthetic imatrix written beside it)
#   real_client_test.sh CLI split MODEL|synth:PRESET TEXT CTX SPLIT_ARG QUANTIZE_ARGS...
#       quantize MODEL twice, as one file and split by SPLIT_ARG (e.g. --split-max-tensors=20),
#       then check_split.mjs: @huggingface/gguf reads every shard, llama.cpp loads the first
#       shard with the unsplit file's perplexity on TEXT (CTX tokens)
#   real_client_test.sh CLI llamaquant LLAMA_QUANTIZE_ARGS...
#       quantscope-cli quantize in llama-quantize's form (@out stands for the output file), then
#       check the file with both clients (llama.cpp loads and evaluates it)
# Exits 77 (ctest: skipped) with the reason when node >= 20 or the npm packages are missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cli=$1 mode=$2 arg=${3:-}
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed (real-client tests need Node.js >= 20)"; exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "SKIP: node $major is too old for node-llama-cpp (needs >= 20)"; exit 77
fi
if [ ! -d "$here/node_modules/node-llama-cpp" ] || [ ! -d "$here/node_modules/@huggingface/gguf" ]; then
  echo "SKIP: tests/js/node_modules is missing: run scripts/dev.sh test (it runs npm install in tests/js)"; exit 77
fi
case $mode in
  synth)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$cli" synth -o "$tmp/synth-$arg.gguf" --preset "$arg" --seed 5
    node "$here/check_gguf.mjs" "$cli" "$tmp/synth-$arg.gguf" --llama
    ;;
  file)
    node "$here/check_gguf.mjs" "$cli" "$arg" --llama
    ;;
  quant|synthquant)
    model=$3 text=$4 want=$5 tol=$6
    shift 6
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    if [ "$mode" = synthquant ]; then
      "$cli" synth -o "$tmp/synth.gguf" --preset "$model" --seed 5 --imatrix "$tmp/synth-imatrix.gguf"
      model="$tmp/synth.gguf"
      # The argument @synth-imatrix stands for the synthetic model's imatrix.
      for a in "$@"; do
        shift
        if [ "$a" = "@synth-imatrix" ]; then set -- "$@" "$tmp/synth-imatrix.gguf"; else set -- "$@" "$a"; fi
      done
    fi
    "$cli" quantize "$model" -o "$tmp/out.gguf" -q "$@"
    node "$here/check_gguf.mjs" "$cli" "$tmp/out.gguf" --llama
    [ "$want" = "-" ] && exit 0   # synthetic weights: loading is the check, perplexity is noise
    # True perplexity from every position's full logits (logprobs.mjs; perplexity.mjs's metric is
    # not perplexity, see the comment at the top of logprobs.mjs).
    got=$(node "$here/logprobs.mjs" "$text" 512 "$tmp/out.gguf")
    ppl=$(node -e 'console.log(JSON.parse(process.argv[1]).ppl)' "$got")
    echo "llama.cpp perplexity of quantscope's file ($*): $ppl; reference: $want"
    node -e '
      const got = JSON.parse(process.argv[1]).ppl, want = Number(process.argv[2]), tol = Number(process.argv[3]);
      const rel = Math.abs(got - want) / want;
      console.log(`relative difference ${(100 * rel).toFixed(3)}% (limit ${(100 * tol).toFixed(1)}%)`);
      process.exit(rel <= tol ? 0 : 1);' "$got" "$want" "$tol"
    ;;
  split)
    model=$3 text=$4 ctx=$5 splitarg=$6
    shift 6
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    case $model in synth:*)
      "$cli" synth -o "$tmp/synth.gguf" --preset "${model#synth:}" --seed 5
      model="$tmp/synth.gguf" ;;
    esac
    "$cli" quantize "$model" -o "$tmp/one.gguf" -q "$@"
    "$cli" quantize "$model" -o "$tmp/split.gguf" -q "$splitarg" "$@"
    first=$(ls "$tmp"/split-00001-of-*.gguf)
    node "$here/check_split.mjs" "$cli" "$text" "$ctx" "$tmp/one.gguf" "$first"
    ;;
  llamaquant)
    shift 2
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for a in "$@"; do
      shift
      if [ "$a" = "@out" ]; then set -- "$@" "$tmp/out.gguf"; else set -- "$@" "$a"; fi
    done
    "$cli" quantize "$@" 2>"$tmp/log.txt" || { cat "$tmp/log.txt"; exit 1; }
    grep -E "pruned|quant size" "$tmp/log.txt" || true
    node "$here/check_gguf.mjs" "$cli" "$tmp/out.gguf" --llama
    "$cli" inspect "$tmp/out.gguf" | grep -E "block_count|general.name|context_length|test\." || true
    ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac
