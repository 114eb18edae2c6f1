#!/usr/bin/env bash
# Formats the C++ sources with .clang-format (clang-format 14, Debian 12's), or checks them.
#   scripts/format.sh          rewrite every source file in place
#   scripts/format.sh --check  list the files that differ (or exceed 800 lines) and exit 1
#                              (ctest's `format.check`, so CI)
# Generated files (scripts/gen_*.py writes them) and npm's packages are left as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

FORMAT=""
for c in clang-format-14 clang-format; do
  if command -v "$c" >/dev/null 2>&1; then FORMAT=$c; break; fi
done
if [ -z "$FORMAT" ]; then
  echo "format: clang-format not found (Debian package clang-format); skipped" >&2
  exit 77
fi
major=$("$FORMAT" --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
if [ "$major" != "14" ]; then
  # Other versions place a few tokens differently; the tree is kept in 14's layout.
  echo "format: $FORMAT is version $major, the tree is formatted with 14; skipped" >&2
  exit 77
fi

GENERATED='^core/eval/unicode_data\.cpp$'
if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.cpp' '*.h' '*.c' '*.hpp' | grep -v '^tests/js/' | grep -Ev "$GENERATED")
else
  mapfile -t files < <(find app core gpu tests packaging \( -name node_modules -prune \) -o \
                        \( -name '*.cpp' -o -name '*.h' -o -name '*.c' \) -print | sort | grep -Ev "$GENERATED")
fi

if [ "${1:-}" = "--check" ]; then
  bad=()
  for f in "${files[@]}"; do
    "$FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if [ ${#bad[@]} -ne 0 ]; then
    echo "format: ${#bad[@]} of ${#files[@]} files differ from .clang-format (run scripts/format.sh):"
    printf '  %s\n' "${bad[@]}"
    exit 1
  fi
  echo "format: all ${#files[@]} files follow .clang-format ($FORMAT)"
  # No source file over 800 lines (docs/STYLE.md); format tables (the IQ grids) aside.
  long=()
  for f in "${files[@]}"; do
    case "$f" in core/formats/iq_grids.cpp) continue ;; esac
    [ "$(wc -l < "$f")" -le 800 ] || long+=("$f ($(wc -l < "$f") lines)")
  done
  if [ ${#long[@]} -ne 0 ]; then
    echo "format: ${#long[@]} files over 800 lines (split them by concern):"
    printf '  %s\n' "${long[@]}"
    exit 1
  fi
  echo "format: no source file over 800 lines"
else
  "$FORMAT" -i "${files[@]}"
  echo "format: ${#files[@]} files formatted"
fi
