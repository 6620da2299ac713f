#!/usr/bin/env bash
# Runs the end-to-end tests: installs the real Claude Code CLI and the MCP SDK (install.sh), then
# `node --test` over tests/e2e/ against the claude-memory binary $CLAUDE_MEMORY_BIN (default:
# target/debug/claude-memory; build it first with `cargo build`).
# Extra arguments go to node --test (e.g. --test-name-pattern=mcp).
# E2E_KEEP=1 keeps each test's sandbox; E2E_UPDATE_FIXTURES=1 rewrites fixtures/hook-payloads/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

bash "$here/install.sh"

bin=${CLAUDE_MEMORY_BIN:-$root/target/debug/claude-memory}
[[ $bin = /* ]] || bin=$PWD/$bin
export CLAUDE_MEMORY_BIN=$bin
echo "==> end-to-end tests: $("$here/node_modules/.bin/claude" --version), fake Anthropic API on 127.0.0.1"
if [[ -x $bin ]]; then
  echo "==> claude-memory under test: $bin ($("$bin" --version 2>/dev/null || echo '?'))"
else
  echo "==> claude-memory binary not found at $bin: build it (cargo build) or set CLAUDE_MEMORY_BIN;"
  echo "    the tests that need it will fail, the Claude Code contract tests still run."
fi

cd "$root"
exec node --test --test-concurrency=1 "$@" tests/e2e/
