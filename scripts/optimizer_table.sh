#!/usr/bin/env bash
# The closed-loop fit to budget at the size of each preset, judged by llama.cpp (docs/OPTIMIZER.md,
# "Closed loop"): for every preset, `plan --preset-size P --objective closed-loop` on the
# calibration text, the recipe and the preset quantized by quantize, and llama.cpp's true
# perplexity (tests/js/logprobs.mjs, node-llama-cpp) of both files on another text.
#   scripts/optimizer_table.sh CLI MODEL.gguf OUTDIR [IMATRIX|-] [PLAN_OPTIONS...]
# Environment: PRESETS (default "Q2_K Q3_K_M Q4_K_M IQ4_XS Q5_K_M Q6_K"), TEXT (default
# tests/data/models/eval-text.txt), HELDOUT (default tests/data/models/heldout-text.txt).
# Prints one markdown row per preset; the JSON of each run stays in OUTDIR. docs/OPTIMIZER.md's
# rows: PLAN_OPTIONS = --exact --threads 2 --holdout-text tests/data/imatrix/calibration.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
cli=$1 model=$2 out=$3 im=${4:--}
shift 4 || shift $#
mkdir -p "$out"
PRESETS=${PRESETS:-"Q2_K Q3_K_M Q4_K_M IQ4_XS Q5_K_M Q6_K"}
TEXT=${TEXT:-tests/data/models/eval-text.txt}
HELDOUT=${HELDOUT:-tests/data/models/heldout-text.txt}
imarg=()
[ "$im" != "-" ] && imarg=(--imatrix "$im")
files=()
for p in $PRESETS; do
  /usr/bin/time -f "%e %U" -o "$out/$p.time" "$cli" plan "$model" --preset-size "$p" "${imarg[@]}" \
    --objective closed-loop --text "$TEXT" --json -o "$out/$p.recipe.json" "$@" > "$out/$p.json"
  "$cli" quantize "$model" --recipe "$out/$p.recipe.json" "${imarg[@]}" -o "$out/$p-fit.gguf" >/dev/null
  "$cli" quantize "$model" --type "$p" "${imarg[@]}" -o "$out/$p-preset.gguf" >/dev/null
  files+=("$out/$p-fit.gguf" "$out/$p-preset.gguf")
done
node tests/js/logprobs.mjs "$HELDOUT" 512 "${files[@]}" | grep '^{' > "$out/ppl.jsonl"
python3 - "$out" "$im" $PRESETS <<'PY'
import json, sys
out, im, presets = sys.argv[1], sys.argv[2], sys.argv[3:]
ppl = {}
for line in open(f"{out}/ppl.jsonl"):
    j = json.loads(line)
    ppl[j["model"]] = j["ppl"]
for p in presets:
    j = json.load(open(f"{out}/{p}.json"))
    cl = j["closed_loop"]
    c = cl["candidates"]
    pre = c[cl["preset"]]
    ch = c[cl["chosen"]]
    kind = {k["kind"]: k for k in c}
    def kl(k):
        return f'{kind[k]["kl_calibration"]:.5f}' if k in kind else "-"
    chosen = "preset" if ch["kind"] == "preset" else f'{ch["kind"]} {ch["kl_calibration"]:.5f} / {ch["kl_held_out"]:.5f}'
    if ch["kind"] == "preset" and "guard" in cl["rule"]:
        chosen = "preset (guard)"
    wall, user = open(f"{out}/{p}.time").read().split()[:2]
    a, b = ppl[f"{out}/{p}-fit.gguf"], ppl[f"{out}/{p}-preset.gguf"]
    print(f'| {p} | {"yes" if im != "-" else "no"} | {j["target_bytes"]:,} | '
          f'{pre["kl_calibration"]:.5f} / {pre["kl_held_out"]:.5f} | {kl("nmse")} | {kl("kl")} | '
          f'{chosen} | {len(c)} | {cl["kl_probes"]} | {float(wall):.1f} / {float(user):.1f} | '
          f'{b:.4f} | {a:.4f} | {100 * (a / b - 1):+.2f} % |')
PY
