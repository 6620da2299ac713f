#!/usr/bin/env bash
# Packages the tray app with Tauri's bundler (npm's @tauri-apps/cli 2), with
# the `claude-memory` CLI beside the app (hooks and the MCP bridge run it) and
# the dashboard's files as the resource `ui/`. Extra arguments go to
# `tauri build`, e.g. `--bundles deb` or `--debug` (reuses the dev build).
# Packages land in target/<profile>/bundle/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
profile=release
for arg in "$@"; do [ "$arg" = --debug ] && profile=debug; done
if [ "$profile" = release ]; then
    cargo build --release --locked -p claude-memory
else
    cargo build --locked -p claude-memory
fi
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build)
# Tauri looks for external binaries under their target triple's name.
triple="$(rustc -vV | sed -n 's/^host: //p')"
mkdir -p src-tauri/binaries
ln -f "target/$profile/claude-memory" "src-tauri/binaries/claude-memory-$triple" 2>/dev/null ||
    cp "target/$profile/claude-memory" "src-tauri/binaries/claude-memory-$triple"
cd src-tauri
# The overlay adds the CLI and the dashboard; plain `cargo build` needs neither.
npx --yes @tauri-apps/cli@2 build --config tauri.bundle.json "$@"
