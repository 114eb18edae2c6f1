#!/usr/bin/env bash
# The .deb, end to end, without root: build it with CPack from this build tree, unpack it with
# `dpkg -x` into a scratch root, and check that what a user would install works there.
#   package_test.sh CPACK BUILD_DIR VERSION APP_ID WITH_VULKAN(0|1) BUILD_TREE_CLI
# Skips (exit 77) only when dpkg-deb is missing. The other tools are in scripts/dev.sh PACKAGES.
set -euo pipefail
cpack=$1 build=$2 version=$3 app_id=$4 with_vulkan=$5 tree_cli=$6

if ! command -v dpkg-deb >/dev/null 2>&1; then
    echo "SKIP: dpkg-deb not found (not a Debian system); the .deb cannot be built or read"
    exit 77
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in dpkg dpkg-shlibdeps desktop-file-validate appstreamcli xmllint update-mime-database \
            help2man groff file; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (scripts/dev.sh installs it)"
done

start=$(date +%s%N)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/config XDG_CACHE_HOME=$work/cache

echo "== cpack"
# -B: the package and CPack's staging tree go to the scratch dir, not the build tree.
"$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log"; fail "cpack failed (build the default target first)"; }
echo "   cpack: $(( ($(date +%s%N) - start) / 1000000 )) ms"
arch=$(dpkg --print-architecture)
deb=$work/out/quantscope_${version}_${arch}.deb
[ -f "$deb" ] || { ls -l "$work/out"; fail "no $deb"; }
echo "   $(basename "$deb"): $(stat -c %s "$deb") bytes"

echo "== control fields"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = quantscope ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version), want $version"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
echo "   Depends: $depends"
echo "   Recommends: $(field Recommends)"
# The runtime libraries, by Debian package (dpkg-shlibdeps found them from the binaries).
want=(libc6 libstdc++6 libqt6core6 libqt6gui6 libqt6widgets6 libqcustomplot2.1-qt6 libtbb12)
[ "$with_vulkan" = 1 ] && want+=(libvulkan1)
# One package name a line, versions and alternatives dropped.
names() { tr ',|' '\n\n' <<<"$1" | sed 's/(.*)//; s/^ *//; s/ *$//' | grep -v '^$'; }
names "$depends" >"$work/depends"
for p in "${want[@]}"; do grep -qxF "$p" "$work/depends" || fail "Depends lacks $p"; done
# Never a development package, nor the Qt 5 build of anything (QCustomPlot has both).
if grep -E -- '-dev$|^libqt5|^libqcustomplot2\.1$' "$work/depends"; then
    fail "Depends names a -dev or Qt 5 package: $depends"
fi
names "$(field Recommends)" | grep -qxF mesa-vulkan-drivers ||
    fail "Recommends lacks mesa-vulkan-drivers"

echo "== contents"
dpkg-deb -c "$deb" >"$work/contents"
if awk '$2 != "root/root"' "$work/contents" | grep -q .; then
    fail "files not owned by root: $(awk '$2 != "root/root"' "$work/contents" | head -3)"
fi
awk '{print $6}' "$work/contents" | sed 's#^\./#/#' >"$work/paths"
expected=(/usr/bin/quantscope /usr/bin/quantscope-cli
          "/usr/share/applications/$app_id.desktop" "/usr/share/metainfo/$app_id.metainfo.xml"
          "/usr/share/mime/packages/$app_id.xml"
          "/usr/share/icons/hicolor/scalable/apps/$app_id.svg"
          /usr/share/man/man1/quantscope.1.gz /usr/share/man/man1/quantscope-cli.1.gz
          /usr/share/doc/quantscope/changelog.gz /usr/share/doc/quantscope/copyright)
sizes=(16 22 24 32 48 64 128 256)
for s in "${sizes[@]}"; do expected+=("/usr/share/icons/hicolor/${s}x$s/apps/$app_id.png"); done
for p in "${expected[@]}"; do grep -qxF "$p" "$work/paths" || fail "package lacks $p"; done
# Nothing else: no headers, static libraries, test programs or build leftovers.
printf '%s\n' "${expected[@]}" >"$work/expected"
extra=$(grep -v '/$' "$work/paths" | grep -vxF -f "$work/expected" || true)
[ -z "$extra" ] || fail "unexpected files: $extra"
echo "   ${#expected[@]} files"

echo "== unpack (dpkg -x) and run"
root=$work/root
dpkg -x "$deb" "$root"
bin=$root/usr/bin
for b in quantscope quantscope-cli; do
    file -b "$bin/$b" | grep -q "stripped" && ! file -b "$bin/$b" | grep -q "not stripped" ||
        fail "$b is not stripped"
    if ldd "$bin/$b" | grep -q "not found"; then fail "$b: $(ldd "$bin/$b" | grep "not found")"; fi
done
backends="cpu/oneTBB"
[ "$with_vulkan" = 1 ] && cli_backends="$backends, vulkan" || cli_backends=$backends
got=$("$bin/quantscope-cli" --version)
[ "$got" = "quantscope-cli $version (backends: $cli_backends)" ] || fail "cli --version: $got"
got=$(env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM "$bin/quantscope" --version)
[ "$got" = "quantscope $version (backends: $cli_backends)" ] || fail "gui --version: $got"
echo "   $("$bin/quantscope-cli" --version) / $got"

# The packaged (stripped) CLI writes the same bytes and reads them the same way as the build's.
"$bin/quantscope-cli" synth -o "$work/tiny.gguf" >/dev/null 2>&1
"$tree_cli" synth -o "$work/tree.gguf" >/dev/null 2>&1
cmp -s "$work/tiny.gguf" "$work/tree.gguf" || fail "packaged synth differs from the build tree's"
"$bin/quantscope-cli" inspect --json "$work/tiny.gguf" >"$work/inspect.json"
"$tree_cli" inspect --json "$work/tiny.gguf" >"$work/inspect-tree.json"
cmp -s "$work/inspect.json" "$work/inspect-tree.json" || fail "packaged inspect differs"
grep -q '"schema": *"quantscope.inspect/1"' "$work/inspect.json" || fail "inspect --json schema"
# To files, not `| grep -q`: grep's early exit would kill the writer with SIGPIPE (pipefail).
"$bin/quantscope-cli" inspect "$work/tiny.gguf" >"$work/inspect.txt"
grep -q "blk.0.attn_q.weight" "$work/inspect.txt" || fail "inspect does not list blk.0.attn_q.weight"
"$bin/quantscope-cli" quantize "$work/tiny.gguf" -o "$work/q8.gguf" --type Q8_0 -q >/dev/null 2>&1
"$bin/quantscope-cli" inspect --json "$work/q8.gguf" >"$work/q8.json"
grep -q '"Q8_0"' "$work/q8.json" || fail "no Q8_0 tensors"

# The GUI opens the file as a file manager passes it; --screenshot quits once it has loaded.
QT_QPA_PLATFORM=offscreen timeout 60 "$bin/quantscope" "$work/q8.gguf" \
    --screenshot "$work/window.png" >"$work/gui.log" 2>&1 ||
    { cat "$work/gui.log"; fail "GUI run"; }
file -b "$work/window.png" | grep -q "PNG image data" || fail "GUI wrote no screenshot"
echo "   GUI: $(file -b "$work/window.png")"

echo "   runs: $(( ($(date +%s%N) - start) / 1000000 )) ms since the start"

echo "== desktop integration"
share=$root/usr/share
desktop=$share/applications/$app_id.desktop
out=$(desktop-file-validate "$desktop" 2>&1) || fail "desktop-file-validate: $out"
[ -z "$out" ] || fail "desktop-file-validate: $out"
grep -qx "Exec=quantscope %f" "$desktop" || fail "Exec line"
grep -qx "Icon=$app_id" "$desktop" || fail "Icon line"
grep -qx "MimeType=application/x-gguf;application/x-safetensors;" "$desktop" || fail "MimeType"
appstreamcli validate --no-net "$share/metainfo/$app_id.metainfo.xml" >"$work/as.log" 2>&1 ||
    { cat "$work/as.log"; fail "appstreamcli validate"; }
grep -q "<project_license>MIT</project_license>" "$share/metainfo/$app_id.metainfo.xml" ||
    fail "metainfo has no project_license"
grep -qx "License: MIT" "$share/doc/quantscope/copyright" || fail "copyright file names no MIT licence"
grep -qx "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" \
    "$share/doc/quantscope/copyright" || fail "copyright file is not machine-readable (DEP-5)"
grep -q "<release version=\"$version\"" "$share/metainfo/$app_id.metainfo.xml" ||
    fail "metainfo release is not $version"
# The whole tree as a software center reads it: metainfo, .desktop and icon together.
appstreamcli validate-tree --no-net "$root" >"$work/astree.log" 2>&1 ||
    { cat "$work/astree.log"; fail "appstreamcli validate-tree"; }
mime=$share/mime/packages/$app_id.xml
xmllint --noout "$mime" || fail "MIME XML is not well formed"
mkdir -p "$work/mime/packages"
cp "$mime" "$work/mime/packages/"
# XDG_DATA_HOME: else it warns that the scratch dir is not in the search path.
XDG_DATA_HOME=$work update-mime-database "$work/mime" >"$work/mime.log" 2>&1 ||
    { cat "$work/mime.log"; fail "update-mime-database"; }
[ ! -s "$work/mime.log" ] || { cat "$work/mime.log"; fail "update-mime-database complained"; }
grep -qx "50:application/x-gguf:\*.gguf" "$work/mime/globs2" || fail "no *.gguf glob"
grep -qx "50:application/x-safetensors:\*.safetensors" "$work/mime/globs2" ||
    fail "no *.safetensors glob"
[ -f "$work/mime/application/x-gguf.xml" ] || fail "application/x-gguf not registered"
for s in "${sizes[@]}"; do
    png=$share/icons/hicolor/${s}x$s/apps/$app_id.png
    file -b "$png" | grep -q "PNG image data, $s x $s, 8-bit/color RGBA" ||
        fail "$png: $(file -b "$png")"
done
xmllint --noout "$share/icons/hicolor/scalable/apps/$app_id.svg" || fail "SVG icon"

# The changelog's newest entry is this version (dpkg-parsechangelog reads it as Debian would).
zcat "$share/doc/quantscope/changelog.gz" >"$work/changelog"
[ "$(dpkg-parsechangelog -l "$work/changelog" -S Version)" = "$version" ] ||
    fail "changelog.gz: newest entry is not $version"

echo "== man pages"
for page in quantscope quantscope-cli; do
    gz=$share/man/man1/$page.1.gz
    warnings=$(zcat "$gz" | groff -man -Tutf8 -ww -z 2>&1)
    [ -z "$warnings" ] || fail "$page.1: $warnings"
    zcat "$gz" >"$work/$page.1"
    grep -q "^\.TH \"\?${page^^}\"\? \"1\"" "$work/$page.1" || fail "$page.1: no .TH header"
    grep -qF -- '\-\-version' "$work/$page.1" || fail "$page.1 lacks --version"
done
grep -q '^\.SS "quantscope-cli quantize"' "$work/quantscope-cli.1" ||
    fail "quantscope-cli.1 lacks the quantize command"

echo "== ok in $(( ($(date +%s%N) - start) / 1000000 )) ms"
