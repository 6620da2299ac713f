#!/usr/bin/env bash
# Builds (release), installs and runs claude-memory.
#
# It installs the `claude-memory` command into ~/.local/bin (with the
# dashboard and ONNX Runtime beside it, see `claude-memory install`), which
# is what Claude Code's hooks and MCP server run. With no arguments, on a
# desktop (DISPLAY or WAYLAND_DISPLAY set) it then runs the tray app, which
# hosts the engine and opens the dashboard (the setup wizard on first run);
# without a display, or with CLAUDE_MEMORY_HEADLESS=1, it runs the engine in
# the foreground (`claude-memory serve`: MCP, Claude Code hooks and the
# dashboard on 127.0.0.1:23811) until Ctrl-C. With arguments it runs that
# command, e.g.
#   ./scripts/run.sh setup ~/code/myproject
#   ./scripts/run.sh search "how do we deploy"
# CLAUDE_MEMORY_PREFIX installs elsewhere than ~/.local; CLAUDE_MEMORY_PROFILE=debug
# builds without optimisations (what the end-to-end test does, to reuse its build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
desktop=0
if (($# == 0)) && [ -z "${CLAUDE_MEMORY_HEADLESS:-}" ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    desktop=1
fi
if ((desktop)); then bash scripts/install-deps.sh; else bash scripts/install-deps.sh --headless; fi
profile=${CLAUDE_MEMORY_PROFILE:-release}
case "$profile" in
    release) build=(--release) ;;
    debug) build=() ;;
    *) echo "error: CLAUDE_MEMORY_PROFILE is release or debug, not $profile" >&2; exit 1 ;;
esac
if ((desktop)); then
    # The app finds the CLI beside it (its "Install command-line tool…").
    cargo build "${build[@]}" --locked -p claude-memory -p claude-memory-app >&2
else
    cargo build "${build[@]}" --locked -p claude-memory >&2
fi
# The dashboard the engine serves at / (`serve` and `status` print its link).
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build) >&2
ort=$(bash scripts/fetch-onnxruntime.sh target/onnxruntime)
prefix=${CLAUDE_MEMORY_PREFIX:-$HOME/.local}
"target/$profile/claude-memory" install --prefix "$prefix" --onnxruntime "$ort" >&2
bin="$prefix/bin/claude-memory"
app="$PWD/target/$profile/claude-memory-app"
cd "${CLAUDE_MEMORY_CWD:-$OLDPWD}"
if ((desktop)); then
    exec "$app"
fi
if (($# == 0)); then
    exec "$bin" serve
fi
exec "$bin" "$@"
