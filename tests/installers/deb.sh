#!/usr/bin/env bash
# The .deb as a user meets it, on this machine (CI's): packages the debug
# build (installers/build.sh --debug: nothing is recompiled), installs it with
# dpkg, and as a test user in a temporary HOME runs `claude-memory --version`,
# `setup`, `save` and `doctor` from /usr/bin (ONNX Runtime found in
# /usr/lib/claude-memory), the engine serving the packaged dashboard, and the
# tray app under Xvfb until /healthz answers; then upgrades to a
# newer-versioned package, removes it, and checks that no packaged file is
# left and the user's memories and settings are intact. Also lists the .rpm
# (rpm -qlp).
# Prints package sizes, the installed size and install-to-first-answer time.
#
# It changes the system (/usr, dpkg's database): it refuses to run where a
# claude-memory package is already installed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
fail() { echo "package test FAILED: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
wait_for() { # tenths of a second, then a command
    local tries=$1
    shift
    for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.1; done
    return 1
}

if dpkg-query -W -f='${Status}' claude-memory 2>/dev/null | grep -q 'install ok installed'; then
    fail "a claude-memory package is installed here; this test would replace it (remove it first)"
fi

tmp="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if dpkg-query -W -f='${Status}' claude-memory 2>/dev/null | grep -q 'install ok installed'; then
        $SUDO dpkg -r claude-memory >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Two packages: this version, and the same build as a newer one to upgrade to.
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
build() { # VERSION BUNDLES
    CM_PACKAGE_VERSION="$1" bash installers/build.sh --debug --bundles "$2" >"$tmp/build-$1.log" 2>&1 ||
        { tail -30 "$tmp/build-$1.log" >&2; fail "installers/build.sh failed"; }
}
build "$version" deb,rpm
deb="target/installers/claude-memory_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || fail "no $deb"
cp "$deb" "$tmp/old.deb"
rpm_file="$(find target/installers -maxdepth 1 -name "claude-memory-$version-1.*.rpm" | head -1)"
build "$version+upgrade" deb
cp "target/installers/claude-memory_${version}+upgrade_$(dpkg --print-architecture).deb" "$tmp/new.deb"

echo "deb: $(($(stat -c %s "$tmp/old.deb") / 1048576)) MiB, installed $(($(dpkg-deb -f "$tmp/old.deb" Installed-Size) / 1024)) MiB (debug build)"
[ -n "$rpm_file" ] || fail "installers/build.sh made no .rpm"
command -v rpm >/dev/null || fail "rpm is not installed (scripts/install-deps.sh installs it)"
listing="$(rpm -qlp "$rpm_file" 2>/dev/null)"
for f in /usr/bin/claude-memory /usr/bin/claude-memory-app /usr/share/claude-memory/ui/index.html \
    "/usr/lib/claude-memory/libonnxruntime.so" /usr/share/applications/claude-memory.desktop; do
    grep -q "^$f" <<<"$listing" || fail "the .rpm has no $f"
done
echo "rpm: $(($(stat -c %s "$rpm_file") / 1048576)) MiB, $(wc -l <<<"$listing") files"

# A test user; nothing of the developer's environment leaks in.
home="$tmp/home"
project="$home/code/app"
mkdir -p "$project/.git"
user_env=(env -i HOME="$home" PATH=/usr/bin:/bin CLAUDE_MEMORY_HOME="$home/.local/share/claude-memory"
    CLAUDE_MEMORY_TEST_DEPS="$tmp/none")
as_user() { (cd "$project" && exec "${user_env[@]}" "$@"); }
# In the background, $! is then the program itself (the subshell execs it).
spawn_as_user() { # LOG COMMAND...
    local log=$1
    shift
    (cd "$project" && exec "${user_env[@]}" "$@" >"$log" 2>&1) &
    pids+=($!)
}
# Gone, or a zombie nobody reaps (PID 1 in some containers does not).
gone() { ! kill -0 "$1" 2>/dev/null || [[ "$(ps -o stat= -p "$1")" == Z* ]]; }

start=$(now_ms)
$SUDO dpkg -i "$tmp/old.deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i"; }
install_ms=$(($(now_ms) - start))
dpkg -L claude-memory >"$tmp/files"

[ "$(as_user claude-memory --version)" = "claude-memory $version" ] || fail "--version: $(as_user claude-memory --version)"
as_user claude-memory setup >/dev/null || fail "setup"
grep -q '"command": "claude-memory hook' "$project/.claude/settings.local.json" ||
    fail "setup did not write the bare command (is /usr/bin/claude-memory found on the PATH?)"
as_user claude-memory save "Releases are cut from the main branch on Tuesdays" >/dev/null || fail "save"
doctor="$(as_user claude-memory doctor 2>&1 || true)"
grep -q '^ok *path' <<<"$doctor" || fail "doctor: path: $doctor"
grep -q '^ok *onnxruntime *\S*/lib/claude-memory/libonnxruntime' <<<"$doctor" || fail "doctor: onnxruntime: $doctor"

# The engine from the package, serving the packaged dashboard; a hook answers.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
http() { curl -fsS --max-time 5 "http://127.0.0.1:$port$1"; }
healthy() { http /healthz >/dev/null 2>&1; }
spawn_as_user "$tmp/serve.log" env CLAUDE_MEMORY_PORT="$port" claude-memory serve --no-watch
wait_for 300 healthy || { cat "$tmp/serve.log" >&2; fail "the packaged engine did not answer /healthz"; }
ready_ms=$(($(now_ms) - start))
http / | cmp -s - /usr/share/claude-memory/ui/index.html || fail "/ is not the packaged dashboard"
hook="$(printf '{"session_id":"s1","hook_event_name":"UserPromptSubmit","cwd":"%s","prompt":"when are releases cut from main?"}' "$project" |
    as_user claude-memory hook UserPromptSubmit)"
grep -q "Tuesdays" <<<"$hook" || fail "the first hook brought no memory: $hook"
first_hook_ms=$(($(now_ms) - start))
kill "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true
wait_for 100 eval '! healthy' || fail "the engine did not stop"

# The tray app from the package, under Xvfb, hosts the engine.
if command -v xvfb-run >/dev/null && command -v dbus-run-session >/dev/null; then
    spawn_as_user "$tmp/app.log" env CLAUDE_MEMORY_PORT="$port" xvfb-run -a dbus-run-session -- \
        claude-memory-app --hidden
    wait_for 600 healthy || { tail -30 "$tmp/app.log" >&2; fail "the packaged tray app's engine did not answer /healthz"; }
    # The app is the engine's process (engine.json names it); xvfb-run and
    # the D-Bus session end with it.
    app_pid="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pid"])' \
        "$home/.local/share/claude-memory/engine.json")"
    [ "$(ps -o comm= -p "$app_pid")" = claude-memory-a ] || fail "the engine on :$port is not the tray app's"
    # A SIGTERM that lands before the app has installed its handler is
    # lost (tokio already catches the signal for the engine): ask again.
    kill "$app_pid"
    wait_for 100 gone "$app_pid" || { kill "$app_pid"; wait_for 100 gone "$app_pid"; } ||
        fail "the tray app did not quit on SIGTERM"
    wait "${pids[-1]}" 2>/dev/null || true
fi

# Upgrade: the newer package replaces the files; the user's data stays.
settings_before="$(cat "$project/.claude/settings.local.json")"
$SUDO dpkg -i "$tmp/new.deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "upgrade"; }
[ "$(dpkg-query -W -f='${Version}' claude-memory)" = "$version+upgrade" ] || fail "not upgraded"
as_user claude-memory search "release day" | grep -q Tuesdays || fail "memories lost in the upgrade"

# Removal: no packaged file is left, memories and settings are.
$SUDO dpkg -r claude-memory >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -r"; }
while read -r f; do
    [ -d "$f" ] && continue
    [ -e "$f" ] && fail "$f is left after removal"
done <"$tmp/files"
[ -f "$project/.claude-memory/memory.db" ] || fail "the memories went with the package"
[ "$(cat "$project/.claude/settings.local.json")" = "$settings_before" ] || fail "settings changed"
[ -f "$home/.local/share/claude-memory/config.toml" ] || [ -d "$home/.local/share/claude-memory" ] ||
    fail "the per-user settings went with the package"
CLAUDE_MEMORY_HOME="$home/.local/share/claude-memory" target/debug/claude-memory search --project "$project" "release day" |
    grep -q Tuesdays || fail "the memories cannot be read after removal"

echo "deb: dpkg -i ${install_ms} ms; engine ready ${ready_ms} ms and first hook answered ${first_hook_ms} ms after dpkg -i started"
echo "package test passed: install, --version, setup, save, doctor, dashboard, hook, tray app, upgrade, removal"
