#!/usr/bin/env bash
# Builds (release) and runs claude-memory. With no arguments it runs the engine
# (`claude-memory serve`: MCP, Claude Code hooks and the dashboard API on
# 127.0.0.1:23811) in the foreground until Ctrl-C. With arguments it runs that
# command, e.g.
#   ./scripts/run.sh setup ~/code/myproject
#   ./scripts/run.sh search "how do we deploy"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
cargo build --release --locked -p claude-memory >&2
# The dashboard the engine serves at / (`claude-memory status` prints its link).
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build) >&2
bin="$PWD/target/release/claude-memory"
cd "${CLAUDE_MEMORY_CWD:-$OLDPWD}"
if (($# == 0)); then
    exec "$bin" serve
fi
exec "$bin" "$@"
