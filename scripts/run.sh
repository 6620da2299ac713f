#!/usr/bin/env bash
# Builds (release) and runs claude-memory with the given arguments, e.g.
#   ./scripts/run.sh save "we deploy from the release branch" --type decision
#   ./scripts/run.sh search "how do we deploy"
# With no arguments it shows the project's memory statistics and the help.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
cargo build --release --locked -p claude-memory >&2
bin="$PWD/target/release/claude-memory"
cd "${CLAUDE_MEMORY_CWD:-$OLDPWD}"
if (($# == 0)); then
    "$bin" stats || true
    exec "$bin" --help
fi
exec "$bin" "$@"
