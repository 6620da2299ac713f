#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (idempotent). Playwright
# never downloads a browser here: the tests drive /usr/bin/chromium through
# playwright-core.
set -euo pipefail
# Chromium, and a real Secret Service (gnome-keyring, in a private D-Bus
# session) for the LLM key: the test keychain backend.
if [ -x /usr/bin/chromium ] && command -v gnome-keyring-daemon >/dev/null && command -v dbus-run-session >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core gnome-keyring dbus
