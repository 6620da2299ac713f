#!/usr/bin/env bash
# Builds (release) and runs claude-memory. With no arguments, on a desktop
# (DISPLAY or WAYLAND_DISPLAY set) it runs the tray app, which hosts the
# engine and opens the dashboard (the setup wizard on first run); without a
# display, or with CLAUDE_MEMORY_HEADLESS=1, it runs the engine in the
# foreground (`claude-memory serve`: MCP, Claude Code hooks and the dashboard
# on 127.0.0.1:23811) until Ctrl-C. With arguments it runs that command, e.g.
#   ./scripts/run.sh setup ~/code/myproject
#   ./scripts/run.sh search "how do we deploy"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
desktop=0
if (($# == 0)) && [ -z "${CLAUDE_MEMORY_HEADLESS:-}" ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    desktop=1
fi
if ((desktop)); then
    # The app finds the CLI beside it (its "Install command-line tool…").
    cargo build --release --locked -p claude-memory -p claude-memory-app >&2
else
    cargo build --release --locked -p claude-memory >&2
fi
# The dashboard the engine serves at / (`claude-memory status` prints its link).
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build) >&2
bin="$PWD/target/release/claude-memory"
app="$PWD/target/release/claude-memory-app"
cd "${CLAUDE_MEMORY_CWD:-$OLDPWD}"
if ((desktop)); then
    exec "$app"
fi
if (($# == 0)); then
    exec "$bin" serve
fi
exec "$bin" "$@"
