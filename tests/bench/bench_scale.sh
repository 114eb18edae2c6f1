#!/usr/bin/env bash
# Issue 19 benchmarks on the sparse fixtures (synth --preset llama-405b / qwen3moe-30b-a3b):
# open time, `stats --all --preset Q4_K_M` time and peak RSS, one layer's per-expert errors, a
# Q4_K_M dry run and the budget fit (`plan --target-bpw 4.5 --no-cache`: the sensitivity table
# of every tensor in 13 types, measured cold, large tensors sampled, then the optimizer), each with its wall time, CPU time (user + sys), peak RSS and the load average
# around it (the machine may be shared: CPU time is what the load cannot inflate). The files are
# sparse (a few MB on disk); they are deleted on exit.
#
#   tests/bench/bench_scale.sh [CLI] [WORK_DIR]    (defaults: build/app/cli/quantscope-cli /tmp/qs-scale)
set -euo pipefail
cli="${1:-build/app/cli/quantscope-cli}"
work="${2:-/tmp/qs-scale}"
mkdir -p "$work"
trap 'rm -f "$work"/l405b.gguf "$work"/moe.gguf "$work"/time.txt' EXIT

measure() {  # measure LABEL CMD...: wall, CPU (user + sys), peak RSS and load of one command
    local label="$1"
    shift
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -v "$@" >"$work/out.txt" 2>"$work/time.txt"
    local wall rss user sys
    wall=$(grep "Elapsed (wall clock)" "$work/time.txt" | awk '{print $NF}')
    rss=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
    user=$(grep "User time" "$work/time.txt" | awk '{print $NF}')
    sys=$(grep "System time" "$work/time.txt" | awk '{print $NF}')
    printf '| %s | %s | %s + %s s | %s KB | %s -> %s |\n' "$label" "$wall" "$user" "$sys" "$rss" \
        "$load" "$(cut -d' ' -f1 /proc/loadavg)"
}

"$cli" synth --preset llama-405b -o "$work/l405b.gguf"
"$cli" synth --preset qwen3moe-30b-a3b -o "$work/moe.gguf"
du -h --apparent-size "$work/l405b.gguf" "$work/moe.gguf"
du -h "$work/l405b.gguf" "$work/moe.gguf"

echo "| step | wall | CPU user + sys | peak RSS | load average (1 min) before -> after |"
echo "| --- | ---: | ---: | ---: | --- |"
for m in l405b moe; do
    measure "$m: inspect (open + header)" "$cli" inspect "$work/$m.gguf"
    measure "$m: stats --all --preset Q4_K_M" "$cli" stats "$work/$m.gguf" --all --preset Q4_K_M --json
    python3 - "$work/out.txt" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
t = j["totals"]
print(f"|   ({len(j['tensors'])} tensors, {t['sampled_tensors']} sampled, max rel. std error "
      f"{100 * t['max_relative_std_error']:.2f} %, {j['seconds']:.1f} s inside) | | | | |")
EOF
    measure "$m: quantize --type Q4_K_M --dry-run" "$cli" quantize "$work/$m.gguf" -o "$work/x.gguf" --type Q4_K_M --dry-run
    # The budget fit; QS_SCALE_PLAN_TIMEOUT (seconds, default 1800) bounds it. Tensors above
    # 4,194,304 values are measured by the stats --all sampler (256 rows each, only those read),
    # the others on every row for their PPS draw; `plan --exact` would read every row of all.
    measure "$m: plan --target-bpw 4.5 --no-cache (budget fit)" \
        timeout "${QS_SCALE_PLAN_TIMEOUT:-1800}" "$cli" plan "$work/$m.gguf" --target-bpw 4.5 --no-cache --json || true
    if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/out.txt" 2>/dev/null; then
        python3 - "$work/out.txt" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
s = j["sensitivity"]
print(f"|   ({len(j['tensors'])} tensors, {s['sampled']} sampled, max rel. std error "
      f"{100 * s['max_relative_std_error']:.2f} %, table {s['seconds']:.1f} s inside, "
      f"{j['bits_per_weight']:.2f} bpw) | | | | |")
EOF
    else
        echo "|   (plan failed or stopped after ${QS_SCALE_PLAN_TIMEOUT:-1800} s) | | | | |"
    fi
done
measure "moe: one layer's experts (stats --all --per-expert --tensors 'blk\\.7\\.')" \
    "$cli" stats "$work/moe.gguf" --all --preset Q4_K_M --per-expert --tensors '^blk\.7\.'
