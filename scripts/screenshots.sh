#!/usr/bin/env bash
# Regenerate the screenshots in docs/screenshots/ from an existing build (this builds nothing).
#
#   scripts/screenshots.sh [BUILD_DIR]        (default: build)
#
# Runs the real application under a virtual X server (xvfb-run, from the xvfb and xauth
# packages) on the demo model, and lets the application grab its own window (QWidget::grab),
# so no window manager or screen-capture tool is involved. The demo model is written to a
# throw-away cache directory, so the user's cache and settings are not touched.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
app="$build/app/gui/quantscope"
out="$here/docs/screenshots"

if [[ ! -x "$app" ]]; then
    echo "screenshots.sh: no $app; build the 'quantscope' target first" >&2
    exit 2
fi
if ! command -v xvfb-run >/dev/null; then
    echo "screenshots.sh: xvfb-run not found (apt install xvfb xauth)" >&2
    exit 2
fi

mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A private home for settings and cache; a fixed style and font size for reproducible pictures.
export XDG_CACHE_HOME="$tmp/cache" XDG_CONFIG_HOME="$tmp/config" XDG_RUNTIME_DIR="$tmp/run"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export QT_QPA_PLATFORM=xcb QT_STYLE_OVERRIDE=Fusion

xvfb-run -a -s "-screen 0 1440x900x24" \
    "$app" --demo --preset Q4_K_M --compare Q2_K --screenshot "$out/main.png" --quit-after 30000

xvfb-run -a -s "-screen 0 1440x900x24" \
    "$app" --demo --preset Q4_K_M --tab budget --screenshot "$out/budget.png" --quit-after 60000

# The Quality tab on the real stories260K model (tests/data), Q4_0 against the original.
xvfb-run -a -s "-screen 0 1440x900x24" \
    "$app" "$here/tests/data/models/stories260K.gguf" --preset Q4_0 --tab quality --evaluate \
    --screenshot "$out/quality.png" --quit-after 60000

# The start page of the empty window (recent models listed from a throw-away settings file),
# and the whole window at the smallest size it supports, 1024x700.
mkdir -p "$XDG_CONFIG_HOME/Quantscope"
printf '[General]\nrecentFiles=%s, %s\n' "$here/tests/data/models/stories260K.gguf" \
    "$here/tests/data/models/stories260K-hf" >"$XDG_CONFIG_HOME/Quantscope/Quantscope.conf"
xvfb-run -a -s "-screen 0 1440x900x24" \
    "$app" --size 1100x640 --screenshot "$out/start.png" --quit-after 30000
xvfb-run -a -s "-screen 0 1440x900x24" \
    "$app" --demo --size 1024x700 --preset Q4_K_M --screenshot "$out/small-window.png" --quit-after 30000

# Scale (issue 19): the sparse Llama-3.1-405B-shaped and Qwen3-30B-A3B-shaped fixtures (header
# + holes, a few MB on disk), planned Q4_K_M; the MoE view with one expert tensor expanded into
# its 128 experts. The atlas samples every large tensor (several minutes on a loaded machine).
cli="$build/app/cli/quantscope-cli"
if [[ -x "$cli" ]]; then
    "$cli" synth --preset llama-405b -o "$tmp/l405b.gguf"
    "$cli" synth --preset qwen3moe-30b-a3b -o "$tmp/moe.gguf"
    xvfb-run -a -s "-screen 0 1440x900x24" \
        "$app" "$tmp/moe.gguf" --preset Q4_K_M --size 1440x900 \
        --expand blk.1.ffn_down_exps.weight --screenshot "$out/scale-moe.png" --quit-after 600000
    xvfb-run -a -s "-screen 0 1440x900x24" \
        "$app" "$tmp/l405b.gguf" --preset Q4_K_M --size 1440x900 \
        --screenshot "$out/scale-405b.png" --quit-after 900000
    rm -f "$tmp/l405b.gguf" "$tmp/moe.gguf"
fi

# Shrink the PNG losslessly when ImageMagick is around (the picture is mostly flat colour).
for shot in main budget quality start small-window scale-moe scale-405b; do
    if command -v convert >/dev/null; then
        convert "$out/$shot.png" -strip -define png:compression-level=9 "$tmp/$shot.png"
        if [[ $(stat -c %s "$tmp/$shot.png") -lt $(stat -c %s "$out/$shot.png") ]]; then
            cp "$tmp/$shot.png" "$out/$shot.png"
        fi
    fi
    echo "wrote $out/$shot.png ($(stat -c %s "$out/$shot.png") bytes)"
done
