#!/usr/bin/env bash
# System packages the build and tests need, installed only when missing.
# Debian/Ubuntu (apt) is what CI uses; elsewhere this only checks.
set -euo pipefail

need=()
command -v cc >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v cargo >/dev/null || { echo "error: Rust is not installed: see https://rustup.rs" >&2; exit 1; }
# The tray app (src-tauri): GTK, WebKitGTK and the tray libraries it links,
# and what its smoke test drives it with (Xvfb, a D-Bus session, a system
# tray host, xdotool); shellcheck, which actionlint runs on the workflows'
# scripts; rpm, to list the .rpm the package test builds. Debian/Ubuntu
# package names; checked with dpkg.
# `--headless` (a machine that only runs the engine) skips them.
headless=0
[ "${1:-}" = "--headless" ] && headless=1
if ((!headless)) && command -v dpkg >/dev/null; then
    for pkg in libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev libxdo-dev \
        xvfb trayer xdotool dbus dbus-x11 shellcheck rpm; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
fi

if ((${#need[@]})); then
    if command -v apt-get >/dev/null; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
    else
        echo "error: please install: ${need[*]}" >&2
        exit 1
    fi
fi
