#!/usr/bin/env bash
# Conversion benchmarks (docs/BENCHMARKS.md, "Hugging Face conversion"):
#   1. peak RSS of `quantize HF_DIR --type Q4_K_M` on a sparse Llama-3.1-8B-shaped sharded
#      safetensors model (headers + holes: nothing is written in the data areas);
#   2. convert throughput (BF16 shards -> F16 GGUF) beside a raw copy of the same bytes.
# Usage: tests/bench/bench_convert.sh build/app/cli/quantscope-cli [WORKDIR]
set -euo pipefail
cli=$(realpath "$1")
work=${2:-$(mktemp -d)}
mkdir -p "$work"
trap 'rm -rf "$work"/l8b "$work"/*.gguf "$work"/raw.bin "$work"/real' EXIT

echo "== sparse 8B -> Q4_K_M (peak RSS)"
"$cli" synth-hf LlamaForCausalLM --sparse-8b -o "$work/l8b"
du -sh --apparent-size "$work/l8b"; du -sh "$work/l8b"
/usr/bin/time -v "$cli" quantize "$work/l8b" -o "$work/l8b-Q4_K_M.gguf" --type Q4_K_M -q 2> "$work/time.txt"
grep -E "Maximum resident|Elapsed" "$work/time.txt"
ls -l "$work/l8b-Q4_K_M.gguf"
rm -f "$work/l8b-Q4_K_M.gguf"

echo "== convert throughput (real BF16 data, F16 out) vs raw copy"
"$cli" synth-hf LlamaForCausalLM -o "$work/real" --hidden 2048 --ffn 5632 --layers 8 --vocab 32000 --shards 2
bytes=$(cat "$work"/real/*.safetensors | wc -c)
cat "$work"/real/*.safetensors > /dev/null  # warm the page cache for both runs
t0=$(date +%s.%N); cat "$work"/real/*.safetensors > "$work/raw.bin"; sync "$work/raw.bin"; t1=$(date +%s.%N)
echo "raw copy: $bytes bytes in $(echo "$t1 - $t0" | bc) s = $(echo "$bytes / ($t1 - $t0) / 1000000" | bc) MB/s"
rm -f "$work/raw.bin"
for out in f16 bf16; do
  t0=$(date +%s.%N); "$cli" convert "$work/real" -o "$work/real-$out.gguf" --outtype $out 2>/dev/null; t1=$(date +%s.%N)
  echo "convert --outtype $out: $bytes bytes in $(echo "$t1 - $t0" | bc) s = $(echo "$bytes / ($t1 - $t0) / 1000000" | bc) MB/s"
  rm -f "$work/real-$out.gguf"
done
