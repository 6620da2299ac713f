#!/usr/bin/env bash
# Installs what the end-to-end tests need into tests/e2e/node_modules (idempotent, quiet):
# the real Claude Code CLI and the official MCP TypeScript SDK, at the versions pinned in
# package-lock.json, from the npm registry only.
#
# Claude Code's npm package ships bin/claude.exe as a placeholder; its postinstall (install.cjs)
# replaces it with the native executable of the platform package (@anthropic-ai/claude-code-linux-x64,
# an optional dependency that npm itself downloads from the registry, so nothing is fetched from
# anywhere else). When install scripts did not run (--ignore-scripts, or an npm that holds back
# unapproved scripts) the placeholder stays, and this script runs install.cjs itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

stamp=node_modules/.e2e-installed-lock
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json "$stamp"
fi

claude=node_modules/.bin/claude
want=$(node -p 'require("./package-lock.json").packages["node_modules/@anthropic-ai/claude-code"].version')
if ! "$claude" --version 2>/dev/null | grep -q "^$want "; then
  (cd node_modules/@anthropic-ai/claude-code && node install.cjs >/dev/null)
fi
got=$("$claude" --version 2>&1) || { echo "install.sh: Claude Code does not run: $got" >&2; exit 1; }
case $got in
  "$want "*) ;;
  *) echo "install.sh: expected Claude Code $want, got: $got" >&2; exit 1 ;;
esac
