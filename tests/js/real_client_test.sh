#!/bin/sh
# ctest driver for the real-client checks (check_gguf.mjs).
#   real_client_test.sh CLI synth PRESET   - synthesize a model, then check it (with llama.cpp)
#   real_client_test.sh CLI file FILE      - check an existing GGUF (with llama.cpp)
# Exits 77 (ctest: skipped) with the reason when node >= 20 or the npm packages are missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cli=$1 mode=$2 arg=$3
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
  *) echo "unknown mode $mode"; exit 2 ;;
esac
