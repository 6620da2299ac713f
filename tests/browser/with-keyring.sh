#!/usr/bin/env bash
# Runs a command with a throwaway OS keychain: inside the private D-Bus
# session of `dbus-run-session`, starts gnome-keyring's Secret Service on a
# keyring in a temporary directory, unlocked with a throwaway password, so
# the engine stores the LLM key in a real keychain and never touches yours.
# Sets CLAUDE_MEMORY_TEST_KEYCHAIN=1 when the keychain is up.
set -euo pipefail
keyrings="$(mktemp -d)"
trap 'rm -rf "$keyrings"' EXIT
if started="$(printf 'throwaway' | XDG_DATA_HOME="$keyrings" gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"; then
  eval "$started"
  export CLAUDE_MEMORY_TEST_KEYCHAIN=1
else
  echo "note: gnome-keyring did not start; the LLM key falls back to the owner-only file" >&2
fi
"$@"
