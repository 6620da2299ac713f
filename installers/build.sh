#!/usr/bin/env bash
# Builds every package this machine can build into target/installers/:
#   Linux    .deb and .rpm    (AppImage: see installers/README.md)
#   macOS    .app and .dmg
#   Windows  .msi and NSIS -setup.exe
# with Tauri's bundler (npm's @tauri-apps/cli, pinned below). Each holds the
# tray app, the `claude-memory` CLI, the dashboard and ONNX Runtime; the
# README beside this file says where each lands.
#
#   installers/build.sh                 release build, every package of this OS
#   installers/build.sh --debug         reuses target/debug (what CI packages: no release build)
#   installers/build.sh --bundles deb   only these (comma-separated)
#
# CM_PACKAGE_VERSION overrides the version (default: the workspace's), e.g. to
# test an upgrade. Signing is the bundler's: on macOS APPLE_CERTIFICATE and
# APPLE_SIGNING_IDENTITY (and APPLE_ID/APPLE_PASSWORD/APPLE_TEAM_ID to
# notarise), on Windows CM_WINDOWS_CERT_THUMBPRINT (a code-signing
# certificate in the user's store); without them packages are unsigned.
# PYTHON names the Python 3 to use (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TAURI_CLI=@tauri-apps/cli@2.12.6
profile=release
bundles=()
while (($#)); do
    case "$1" in
        --debug) profile=debug ;;
        --bundles)
            [ -n "${2:-}" ] || { echo "error: --bundles needs a list, e.g. --bundles deb,rpm" >&2; exit 2; }
            bundles=(--bundles "$2")
            shift
            ;;
        *) echo "error: unknown argument $1 (installers/build.sh [--debug] [--bundles LIST])" >&2; exit 2 ;;
    esac
    shift
done

case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=macos ;;
    MINGW* | MSYS* | CYGWIN*) os=windows ;;
    *) echo "error: no packages for $(uname -s)" >&2; exit 1 ;;
esac
if ((${#bundles[@]} == 0)); then
    case "$os" in
        linux) bundles=(--bundles "deb,rpm") ;;
        macos) bundles=(--bundles "app,dmg") ;;
        windows) bundles=(--bundles "msi,nsis") ;;
    esac
fi

step() { printf '\n==> %s\n' "$*" >&2; }
# A path as the native (non-MSYS) tools on Windows read it.
native() { if [ "$os" = windows ]; then cygpath -m "$1"; else printf '%s\n' "$1"; fi; }
PYTHON=${PYTHON:-python3}
export PYTHON

[ "$os" = linux ] && bash scripts/install-deps.sh

# One build of the whole workspace, as every other script does, so the
# packages hold exactly what the tests ran. A release build also enables
# Tauri's `custom-protocol` (what `tauri build` would add); a debug one
# keeps the test build's features, so packaging it rebuilds nothing.
step "cargo build ($profile)"
if [ "$profile" = release ]; then
    cargo build --workspace --locked --release --features claude-memory-app/custom-protocol
else
    cargo build --workspace --locked
fi

step "dashboard"
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build) >&2

step "ONNX Runtime"
ort=$(bash scripts/fetch-onnxruntime.sh target/onnxruntime)

# Tauri takes extra binaries named after the target triple, from src-tauri/.
triple="$(rustc -vV | sed -n 's/^host: //p')"
exe=""
[ "$os" = windows ] && exe=.exe
mkdir -p src-tauri/binaries
cp "target/$profile/claude-memory$exe" "src-tauri/binaries/claude-memory-$triple$exe"

# The platform's part of the configuration: where ONNX Runtime goes, and the
# version. Paths in it are relative to src-tauri/, like tauri.conf.json's.
out=target/installers
mkdir -p "$out"
generated="$PWD/$out/tauri.generated.json"
"$PYTHON" - "$os" "$(native "$PWD/$ort")" "${CM_PACKAGE_VERSION:-}" "${CM_WINDOWS_CERT_THUMBPRINT:-}" >"$generated" <<'PY'
import json, os, sys

system, ort, version, thumbprint = sys.argv[1:5]
name = os.path.basename(ort)
config = {"bundle": {}}
if system == "linux":
    # Where the CLI and the app look: <prefix>/bin/../lib/claude-memory.
    # (The dashboard is in tauri.bundle.json: /usr/share/claude-memory/ui.)
    files = {f"/usr/lib/claude-memory/{name}": ort}
    config["bundle"]["linux"] = {"deb": {"files": files}, "rpm": {"files": files}}
elif system == "macos":
    # Contents/MacOS/, beside both executables, where both look first; the
    # dashboard is the app's resource ui/ (Contents/Resources/ui).
    config["bundle"]["macOS"] = {"files": {f"MacOS/{name}": ort}}
    config["bundle"]["resources"] = {"../ui/dist/": "ui/"}
else:
    # Resources sit beside the executables on Windows, where both look first.
    config["bundle"]["resources"] = {"../ui/dist/": "ui/", ort: name}
    if thumbprint:
        config["bundle"]["windows"] = {
            "certificateThumbprint": thumbprint,
            "digestAlgorithm": "sha256",
            "timestampUrl": "http://timestamp.digicert.com",
        }
if version:
    config["version"] = version
json.dump(config, sys.stdout, indent=2)
PY

step "bundle ${bundles[*]}"
debug=()
[ "$profile" = debug ] && debug=(--debug)
# --no-binary-patching: the bundler would otherwise rewrite the executable
# in target/ in place (a marker only Tauri's updater reads; ours finds the
# package kind at run time, cm_update::install::detect).
(cd src-tauri && npx --yes "$TAURI_CLI" bundle "${debug[@]}" "${bundles[@]}" --ci --no-binary-patching \
    --config ../installers/tauri.bundle.json --config "$(native "$generated")")

step "packages in $out"
bundle_dir="target/$profile/bundle"
find "$bundle_dir" -maxdepth 2 -type f \( -name '*.deb' -o -name '*.rpm' -o -name '*.AppImage' -o -name '*.dmg' \
    -o -name '*.msi' -o -name '*-setup.exe' \) -newer "$generated" -exec cp {} "$out/" \;
if [ "$os" = macos ]; then
    # An .app is a directory: ship it zipped.
    for app in "$bundle_dir"/macos/*.app; do
        [ -d "$app" ] && ditto -c -k --keepParent "$app" "$out/$(basename "$app").zip"
    done
fi
for f in "$out"/*; do
    case "$f" in *.json) ;; *) [ -f "$f" ] && ls -l "$f" >&2 ;; esac
done
