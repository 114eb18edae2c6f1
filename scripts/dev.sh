#!/usr/bin/env bash
# Quantscope developer entry point: installs what is missing (Debian 12), builds, and then
#   demo  - opens the GUI on the bundled demo model
#   test  - runs the whole test suite through ctest (what .ci/run calls)
#   build - only builds
#   package - builds and makes the .deb with CPack (docs/PACKAGING.md), printing its path
# Environment: BUILD_DIR (default build), JOBS (default: number of cores),
#              QS_FUZZ_SECONDS (per fuzzer in `test`, default 60; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  qt6-base-dev libqcustomplot-dev
  libvulkan-dev glslc mesa-vulkan-drivers vulkan-tools vulkan-validationlayers
  libtbb-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev
  clang libclang-rt-14-dev clang-format
  xvfb xauth xfonts-base fonts-dejavu-core imagemagick
  python3-markdown chromium
  dpkg-dev file help2man groff-base desktop-file-utils appstream libxml2-utils shared-mime-info
)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "== all ${#PACKAGES[@]} Debian packages present"
    return
  fi
  echo "== installing: ${missing[*]}"
  local SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The real-client tests (llama.cpp through node-llama-cpp, @huggingface/gguf) need Node.js >= 20
# and their npm packages; without them those tests are skipped with the reason printed.
install_real_clients() {
  if ! command -v npm >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
    echo "== Node.js >= 20 with npm not found: the real-client tests will be skipped"
    return
  fi
  if [ ! -d tests/js/node_modules/node-llama-cpp ] || [ tests/js/package.json -nt tests/js/node_modules ]; then
    echo "== npm install (tests/js: node-llama-cpp, @huggingface/gguf; exact versions in package.json)"
    (cd tests/js && npm install --no-audit --no-fund --omit=optional --no-package-lock --loglevel=error)
    touch tests/js/node_modules
  fi
}

configure_and_build() {
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQS_WERROR=ON "$@"
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

# The core and CLI tests again under AddressSanitizer + UndefinedBehaviorSanitizer (no GUI, no
# Vulkan: the readers, codecs and writers are what bad input reaches).
# The ctest -E pattern of the tests tests/sanitizer_skip.txt leaves out of one sanitizer pass.
sanitizer_skip() {
  local names
  names=$(awk -v s="$1" '!/^#/ && NF > 1 { for (i = 2; i <= NF; i++) if ($i == s) print $1 }' \
          "$ROOT/tests/sanitizer_skip.txt" | sed 's/\./\\./g' | paste -sd'|')
  echo "^(${names:-none-left-out})\$"
}

run_sanitized_tests() {
  [ "${QS_SKIP_SANITIZERS:-0}" = 1 ] && return 0
  echo "== ASan+UBSan build and tests (core, cli)"
  cmake -S "$ROOT" -B "$BUILD_DIR-asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQS_SANITIZE="address;undefined" -DQS_WITH_GUI=OFF -DQS_WITH_VULKAN=OFF -DQS_BUILD_BENCH=OFF \
    -DQS_WERROR=ON >/dev/null
  cmake --build "$BUILD_DIR-asan" -j "$JOBS"
  local log="$BUILD_DIR-asan/ctest.log"
  if ! (cd "$BUILD_DIR-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
          ctest -L 'core|cli' -E "$(sanitizer_skip asan)" --output-on-failure -j "$JOBS" --timeout 900) >"$log" 2>&1; then
    cat "$log"
    echo "== sanitized tests FAILED"
    exit 1
  fi
  grep -E "tests passed|tests failed" "$log" | sed 's/^/   asan: /'
}

# The core tests under ThreadSanitizer (parallel loops run on plain threads in this build: see
# core/parallel/parallel.cpp; tests/tsan.supp covers TBB's uninstrumented internals).
run_tsan_tests() {
  [ "${QS_SKIP_SANITIZERS:-0}" = 1 ] && return 0
  echo "== TSan build and tests (core)"
  cmake -S "$ROOT" -B "$BUILD_DIR-tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQS_SANITIZE=thread -DQS_WITH_GUI=OFF -DQS_WITH_VULKAN=OFF -DQS_BUILD_BENCH=OFF \
    -DQS_WERROR=ON >/dev/null
  cmake --build "$BUILD_DIR-tsan" -j "$JOBS" --target qs_core_tests
  local log="$BUILD_DIR-tsan/ctest.log"
  if ! (cd "$BUILD_DIR-tsan" && TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp halt_on_error=1" \
          ctest -L core -E "$(sanitizer_skip tsan)" --output-on-failure -j "$JOBS" --timeout 900) >"$log" 2>&1; then
    cat "$log"
    echo "== TSan tests FAILED"
    exit 1
  fi
  grep -E "tests passed|tests failed" "$log" | sed 's/^/   tsan: /'
}

run_fuzzers() {
  local seconds=${QS_FUZZ_SECONDS:-60}
  [ "$seconds" -gt 0 ] || return 0
  echo "== fuzzing each reader for ${seconds}s (clang, libFuzzer, ASan+UBSan)"
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD_DIR-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQS_BUILD_FUZZ=ON -DQS_WITH_GUI=OFF -DQS_WITH_VULKAN=OFF -DQS_BUILD_BENCH=OFF -DQS_WERROR=ON >/dev/null
  cmake --build "$BUILD_DIR-fuzz" -j "$JOBS" --target qs_fuzz_all
  for f in "$BUILD_DIR-fuzz"/tests/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    local name corpus work
    name=$(basename "$f"); corpus="$ROOT/tests/fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d); cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    echo "-- $name"
    "$f" "$work" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
      | grep -E "DONE|number_of_executed|average_exec|ERROR|SUMMARY|Test unit written"
    rm -rf "$work"
  done
}

cmd=${1:-}
case "$cmd" in
  demo)
    install_packages
    configure_and_build
    exec "$BUILD_DIR/app/gui/quantscope" --demo
    ;;
  test)
    install_packages
    install_real_clients
    configure_and_build
    run_sanitized_tests
    run_tsan_tests
    run_fuzzers
    echo "== ctest"
    cd "$BUILD_DIR"
    ctest --output-on-failure -j "$JOBS" --timeout 900
    ;;
  build)
    install_packages
    configure_and_build
    ;;
  package)
    install_packages
    configure_and_build
    log=$(cd "$BUILD_DIR" && cpack -G DEB) || { echo "$log"; exit 1; }
    deb=$(sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p' <<<"$log")
    [ -f "$deb" ] || { echo "$log"; echo "== no .deb was generated" >&2; exit 1; }
    echo "== package: $deb"
    echo "   install: sudo apt install $deb"
    ;;
  *)
    echo "usage: scripts/dev.sh demo|test|build|package" >&2
    exit 2
    ;;
esac
