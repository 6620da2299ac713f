#!/usr/bin/env bash
# The dashboard's browser tests: Debian's Chromium (install.sh), the npm
# packages of ui/ and of these tests (npm ci, from the committed lock files),
# the dashboard build, the claude-memory binary, then node:test (dashboard
# pages on seeded data; a first run: wizard, LLM settings, model activation,
# clusters map).
# Screenshots land in tests/browser/screenshots/ (git-ignored).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

bash "$here/install.sh"
(cd "$repo/ui" && npm ci --no-audit --no-fund && npm run build)
(cd "$here" && npm ci --no-audit --no-fund)
if [ -z "${CLAUDE_MEMORY_BIN:-}" ]; then
  (cd "$repo" && cargo build -p claude-memory)
  export CLAUDE_MEMORY_BIN="$repo/target/debug/claude-memory"
fi
export CLAUDE_MEMORY_UI_DIR="$repo/ui/dist"
# The test model and ONNX Runtime (scripts/setup-test-deps.sh) for the model
# activation and clusters map tests; test.sh has already sourced them.
deps="${CLAUDE_MEMORY_TEST_DEPS:-$HOME/.cache/claude-memory-test-deps}"
if [ -z "${ORT_DYLIB_PATH:-}" ] && [ -f "$deps/env.sh" ]; then
  # shellcheck source=/dev/null
  source "$deps/env.sh"
fi
cd "$here"
# A private D-Bus session with a throwaway keychain (with-keyring.sh).
dbus-run-session -- bash "$here/with-keyring.sh" node --test --test-concurrency=1 dashboard.test.mjs firstrun.test.mjs
