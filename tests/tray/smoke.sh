#!/usr/bin/env bash
# The tray app driven as a user would, under Xvfb with a D-Bus session and a
# system tray (trayer): builds it, launches it with a temporary HOME and
# CLAUDE_MEMORY_HOME on a free port, then through the real tray menu
# (xdotool clicks the icon, the menu's mnemonics pick items):
#   engine ready (/healthz) → a second launch hands over and exits →
#   updates: the first check finds no server and is quiet, a tampered manifest
#   is refused, a signed newer release is found (a key pair made here), its
#   tampered package is refused, its signed package downloaded and verified
#   (installing it as a .deb then fails here, without pkexec) →
#   Pause / Resume (checked over /api/status) → Install command-line tool
#   (the ~/.local/bin link) → Launch at login (on, off) → Open dashboard (a window process of its
#   own, the token never on a command line; opened again, the same window) → close the window (its
#   process and WebKit's end) → open it again (timed) → Quit with the window open: the window
#   closes, exit status 0, engine.json removed → launched again and sent SIGTERM
#   the moment its engine has started: it still quits cleanly.
# Prints launch-to-ready time and resident memory (the app plus its WebKit
# processes) before the window exists, with it open, and once it is closed.
# Screenshots land in tests/tray/screenshots/ (git-ignored). CM_TRAY_PROFILE=release
# runs the release build instead of the debug one (for the memory figures).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ -z "${CM_TRAY_SESSION:-}" ]; then
  profile_flag=()
  [ "${CM_TRAY_PROFILE:-debug}" = release ] && profile_flag=(--release)
  (cd "$repo" && cargo build --locked "${profile_flag[@]}" -p claude-memory -p claude-memory-app)
  tmp="$(mktemp -d)"
  n=90
  while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
  Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
  xvfb=$!
  trap 'kill "$xvfb" 2>/dev/null || true; wait "$xvfb" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
  DISPLAY=":$n" CM_TRAY_SESSION=1 CM_TRAY_TMP="$tmp" dbus-run-session -- bash "${BASH_SOURCE[0]}"
  exit
fi

# ---- inside the X and D-Bus session ----
tmp="$CM_TRAY_TMP"
bin_dir="$repo/target/${CM_TRAY_PROFILE:-debug}"
app_bin="$bin_dir/claude-memory-app"
shots="$here/screenshots"
mkdir -p "$shots" "$tmp/home" "$tmp/state"
export HOME="$tmp/home" CLAUDE_MEMORY_HOME="$tmp/state"
unset XDG_CONFIG_HOME XDG_DATA_HOME CLAUDE_MEMORY_UI_DIR
CLAUDE_MEMORY_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export CLAUDE_MEMORY_PORT
export CLAUDE_MEMORY_LOG="${CLAUDE_MEMORY_LOG:-info}"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fail() {
  echo "tray smoke test FAILED: $*" >&2
  python3 "$here/x11.py" screenshot "$shots/failure.png" 2>/dev/null || true
  echo "--- app log ---" >&2
  grep -v 'Gdk-CRITICAL' "$tmp/app.log" | tail -40 >&2 || true
  exit 1
}
now_ms() { date +%s%3N; }
# Waits up to $1 tenths of a second for the command that follows to succeed.
wait_for() {
  local tries=$1
  shift
  for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.1; done
  return 1
}
# GET $1 on the engine; prints the status line's code, then the body.
http_get() {
  local auth=""
  [ -f "$CLAUDE_MEMORY_HOME/token" ] && auth="Authorization: Bearer $(cat "$CLAUDE_MEMORY_HOME/token")"
  exec 3<>"/dev/tcp/127.0.0.1/$CLAUDE_MEMORY_PORT" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s\r\n\r\n' "$1" "$auth" >&3
  local reply
  reply="$(cat <&3)"
  exec 3>&-
  printf '%s\n' "$reply" | head -1 | cut -d' ' -f2
  printf '%s\n' "${reply#*$'\r\n\r\n'}"
}
healthy() { [ -f "$CLAUDE_MEMORY_HOME/engine.json" ] && [ "$(http_get /healthz 2>/dev/null | head -1)" = 200 ]; }
paused() { http_get /api/status | tail -n +2 | grep -q "\"paused\":$1"; }
# Resident memory in KiB of $1 and all its descendants (WebKit's processes).
rss_kib() {
  local total=0 p
  for p in $(descendants "$1"); do
    total=$((total + $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
descendants() {
  echo "$1"
  local child
  for child in $(ps -o pid= --ppid "$1"); do descendants "$child"; done
}
mib() { echo "$(($1 / 1024)) MiB"; }
# The app process's own resident memory, private (heap) and file-backed (code).
rss_split() {
  awk '/^RssAnon/ { a = $2 } /^RssFile/ { f = $2 } END { printf "app private %d MiB, files %d MiB", a / 1024, f / 1024 }' \
    "/proc/$1/status"
}
# Each process of rss_kib's sum: "name N MiB, …".
rss_parts() {
  local p parts=""
  for p in $(descendants "$1"); do
    parts="$parts, $(cat "/proc/$p/comm" 2>/dev/null) $(mib "$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)")"
  done
  echo "${parts#, }"
}
visible_window() { xdotool search --onlyvisible --name '^claude-memory$' 2>/dev/null | head -1; }
window_shown() { [ -n "$(visible_window)" ]; }
window_hidden() { [ -z "$(visible_window)" ]; }
# The dashboard's window processes under the app (the same executable, its
# comm cut to 15 characters), and whether any WebKit process is left.
window_processes() {
  local p
  for p in $(descendants "$1"); do
    [ "$p" != "$1" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = claude-memory-a ] && echo "$p"
  done
  return 0
}
no_window_process() { [ -z "$(window_processes "$app")" ]; }
no_web_process() {
  local p
  for p in $(descendants "$app"); do
    case "$(cat "/proc/$p/comm" 2>/dev/null)" in WebKit*) return 1 ;; esac
  done
}
# Opens the tray menu (a click on the icon) and picks an item by its mnemonic.
menu() {
  xdotool mousemove --window "$icon" 8 8 click 1
  sleep 1
  [ -n "${2:-}" ] && python3 "$here/x11.py" screenshot "$shots/$2"
  xdotool key "$1"
  sleep 0.5
}

trayer --edge top --align right --widthtype request --height 24 --SetDockType true --transparent false \
  >"$tmp/trayer.log" 2>&1 &
pids+=($!)
wait_for 50 xdotool search --name '^panel$' >/dev/null || fail "trayer did not start"

# One project with one memory, so the status line and Projects menu have something to show.
mkdir -p "$tmp/project"
"$bin_dir/claude-memory" save --project "$tmp/project" "Deploys go through staging first" >/dev/null

# The update server: nothing listens there yet. The release key is made here
# (the debug build takes it from CLAUDE_MEMORY_UPDATE_PUBKEY, and installs
# updates as a .deb would be, CLAUDE_MEMORY_UPDATE_INSTALLER).
update_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$tmp/release-key" "$tmp/release"
CLAUDE_MEMORY_UPDATE_PUBKEY="$(python3 "$here/release.py" keygen "$tmp/release-key")"
export CLAUDE_MEMORY_UPDATE_URL="http://127.0.0.1:$update_port/latest.json" CLAUDE_MEMORY_UPDATE_PUBKEY
export CLAUDE_MEMORY_UPDATE_INSTALLER=deb
# Publishes version $1: a signed package and the signed manifest naming it.
release() {
  head -c 300000 /dev/urandom >"$tmp/release/claude-memory_$1_amd64.deb"
  python3 "$here/release.py" sign "$tmp/release-key" "$tmp/release/claude-memory_$1_amd64.deb"
  cat >"$tmp/release/latest.json" <<JSON
{"version": "$1", "notes": "## What's new\n- Signed updates", "platforms": {"linux-$(uname -m)-deb":
  {"url": "http://127.0.0.1:$update_port/claude-memory_$1_amd64.deb",
   "signature": "$(cat "$tmp/release/claude-memory_$1_amd64.deb.sig")"}}}
JSON
  python3 "$here/release.py" sign "$tmp/release-key" "$tmp/release/latest.json"
}
# Clicks Update to … available ▸ Install and restart.
install_update() {
  xdotool mousemove --window "$icon" 8 8 click 1
  sleep 1
  xdotool key u
  sleep 1
  xdotool key i
  sleep 0.5
}
logged() { grep -q "$1" "$tmp/app.log"; }

# Launch, hidden (as at login): the engine must answer /healthz.
start=$(now_ms)
"$app_bin" --hidden >"$tmp/app.log" 2>&1 &
app=$!
pids+=("$app")
wait_for 300 healthy || fail "the in-process engine did not answer /healthz within 30 s"
ready_ms=$(($(now_ms) - start))
icon=""
find_icon() { icon="$(xdotool search --class 'tray-icon tray app' 2>/dev/null | head -1)"; [ -n "$icon" ]; }
wait_for 100 find_icon || fail "no tray icon appeared"
echo "tray: engine ready ${ready_ms} ms after launch; tray icon is window $icon"

# A second launch hands over to the first (single instance) and exits 0.
timeout 20 "$app_bin" --hidden >"$tmp/second.log" 2>&1 || fail "a second launch did not exit cleanly"
kill -0 "$app" 2>/dev/null || fail "the first instance died when a second one started"
healthy || fail "the engine stopped answering after a second launch"

sleep 3
rss_closed=$(rss_kib "$app")
split_closed=$(rss_split "$app")

# Updates (the debug build only: a release build takes its key from the app
# config, not from CLAUDE_MEMORY_UPDATE_PUBKEY, and has none here).
if [ "${CM_TRAY_PROFILE:-debug}" = debug ]; then
  # Updates. The first check (5 s after launch) cannot reach the server: one
  # log line, no window.
  wait_for 150 logged "update check: offline" || fail "the first update check logged no quiet offline line"
  window_hidden || fail "an offline update check opened a window"
  python3 -m http.server --bind 127.0.0.1 --directory "$tmp/release" "$update_port" >"$tmp/http.log" 2>&1 &
  pids+=($!)
  wait_for 50 bash -c "exec 3<>/dev/tcp/127.0.0.1/$update_port" 2>/dev/null || fail "the update server did not start"
  # A manifest changed after it was signed is refused (a line in the log and the menu).
  release 9.9.9
  sed -i 's/9\.9\.9/9.9.10/' "$tmp/release/latest.json"
  menu u
  wait_for 100 logged "the update manifest is not signed by the release key (the signature does not match)" ||
    fail "Check for updates did not refuse a tampered manifest"
  logged "an update is available" && fail "a tampered manifest was taken for an update"
  # A signed newer release is found; the menu offers it with its notes.
  release 9.9.9
  menu u
  wait_for 100 logged 'an update is available version=9.9.9' || fail "Check for updates did not find the signed release"
  menu Escape update-menu.png
  # Its submenu shows what changed (a screenshot), then both menus close.
  xdotool mousemove --window "$icon" 8 8 click 1
  sleep 1
  xdotool key u
  sleep 1
  python3 "$here/x11.py" screenshot "$shots/update-notes.png"
  xdotool key Escape
  sleep 0.3
  xdotool key Escape
  sleep 0.5
  # Install: a package changed after it was signed is refused and not kept.
  # (Every bit of one byte is flipped: the package is random bytes, so writing a
  # fixed byte would leave it unchanged once in 256 runs.)
  python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(1000); b = f.read(1)[0]; f.seek(1000); f.write(bytes([b ^ 0xFF]))' \
    "$tmp/release/claude-memory_9.9.9_amd64.deb"
  install_update
  wait_for 100 logged "the update package is not signed by the release key (the signature does not match)" ||
    fail "Install did not refuse a tampered package"
  [ -z "$(ls -A "$CLAUDE_MEMORY_HOME/updates")" ] || fail "a refused package was kept in $CLAUDE_MEMORY_HOME/updates"
  # The signed one is downloaded and verified; installing a .deb runs
  # `pkexec dpkg -i`, which fails here (no pkexec, or no one to authorise it).
  release 9.9.9
  menu u
  wait_for 100 test "$(grep -c 'an update is available version=9.9.9' "$tmp/app.log")" = 2 ||
    fail "Check for updates did not find the release again"
  install_update
  wait_for 100 logged "update downloaded and verified" || fail "Install did not download and verify the package"
  wait_for 100 logged "the update was not installed" || fail "the failed pkexec went unreported"
  [ -z "$(ls -A "$CLAUDE_MEMORY_HOME/updates")" ] || fail "the package stayed in $CLAUDE_MEMORY_HOME/updates after the install"
  kill -0 "$app" 2>/dev/null || fail "a failed install ended the app"
  menu Escape update-failed.png
fi

# Pause and resume through the menu; the engine's status says so.
menu p menu.png
wait_for 30 paused true || fail "Pause memory did not pause the engine"
menu r
wait_for 30 paused false || fail "Resume memory did not resume the engine"

# Install command-line tool… links the CLI built beside the app.
menu i
link="$HOME/.local/bin/claude-memory"
[ "$(readlink "$link")" = "$bin_dir/claude-memory" ] || fail "no link $link to the CLI"

# Launch at login writes an autostart entry that starts the app hidden; again removes it.
entry="$HOME/.config/autostart/claude-memory.desktop"
menu l
wait_for 30 test -f "$entry" || fail "Launch at login wrote no $entry"
grep -q -- "--hidden" "$entry" || fail "the autostart entry does not start the app hidden"
menu l
wait_for 30 test ! -e "$entry" || fail "unticking Launch at login left $entry"

# Open dashboard: one window, showing the engine's own page, in a process of
# its own that got the token through a pipe, never on a command line.
menu o
wait_for 150 window_shown || fail "Open dashboard showed no window"
window="$(visible_window)"
shown_by="$(window_processes "$app")"
[ "$(echo "$shown_by" | wc -w)" = 1 ] || fail "not one window process but: ${shown_by:-none}"
for p in $(descendants "$app"); do
  if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$(cat "$CLAUDE_MEMORY_HOME/token")"; then
    fail "the token is on the command line of $(cat "/proc/$p/comm")"
  fi
done
sleep 5
rss_open=$(rss_kib "$app")
python3 "$here/x11.py" screenshot "$shots/dashboard.png"
# Opened again while open: the same window, no second one.
menu o
sleep 1
[ "$(window_processes "$app")" = "$shown_by" ] || fail "Open dashboard with the window open started another one"
[ "$(xdotool search --onlyvisible --name '^claude-memory$' | wc -l)" = 1 ] || fail "a second dashboard window appeared"

# Closing the window ends its process and WebKit's: their memory goes back;
# the app stays in the tray.
python3 "$here/x11.py" close "$window"
wait_for 50 window_hidden || fail "closing the window did not close it"
kill -0 "$app" 2>/dev/null || fail "closing the window ended the app"
wait_for 50 logged "dashboard window closed; its process ended" || fail "the closed window's process did not end"
wait_for 100 no_window_process || fail "the window process outlived the closed window"
wait_for 100 no_web_process || fail "a WebKit process outlived the closed window"
sleep 2
rss_hidden=$(rss_kib "$app")
rss_hidden_parts=$(rss_parts "$app")
split_hidden=$(rss_split "$app")
# Opened again, it is a new window with the dashboard (timed from the menu
# item to the window on screen).
xdotool mousemove --window "$icon" 8 8 click 1
sleep 1
start=$(now_ms)
xdotool key o
wait_for 150 window_shown || fail "Open dashboard after a close showed no window"
reopen_ms=$(($(now_ms) - start))
sleep 3
python3 "$here/x11.py" screenshot "$shots/dashboard-reopened.png"
reopened_by="$(window_processes "$app")"
[ -n "$reopened_by" ] || fail "no window process after reopening"

# Quit with the window open: the window process sees its input end and
# closes; the engine stops cleanly and the app exits 0.
menu q
for _ in $(seq 100); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
kill -0 "$app" 2>/dev/null && fail "Quit did not end the app within 10 s"
status=0
wait "$app" || status=$?
[ "$status" = 0 ] || fail "the app exited with status $status"
[ ! -e "$CLAUDE_MEMORY_HOME/engine.json" ] || fail "engine.json was left behind"
for _ in $(seq 100); do kill -0 "$reopened_by" 2>/dev/null || break; sleep 0.1; done
kill -0 "$reopened_by" 2>/dev/null && fail "the dashboard window outlived the app that quit"
window_hidden || fail "a dashboard window is still on screen after Quit"

# SIGTERM the moment the engine has started (the app is still setting up its
# tray): the signal waits for the app, which quits as from the menu.
"$app_bin" --hidden >"$tmp/app-term.log" 2>&1 &
app=$!
pids+=("$app")
for _ in $(seq 3000); do [ -e "$CLAUDE_MEMORY_HOME/engine.json" ] && break; sleep 0.01; done
[ -e "$CLAUDE_MEMORY_HOME/engine.json" ] || fail "the relaunched engine wrote no engine.json"
kill -TERM "$app"
for _ in $(seq 100); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
kill -0 "$app" 2>/dev/null && fail "SIGTERM right after start did not end the app within 10 s"
status=0
wait "$app" || status=$?
[ "$status" = 0 ] || fail "SIGTERM right after start: the app exited with status $status, not 0"
[ ! -e "$CLAUDE_MEMORY_HOME/engine.json" ] || fail "SIGTERM right after start left engine.json behind"

echo "tray: launch to engine ready: ${ready_ms} ms"
echo "tray: resident memory (app + window and WebKit processes): before any window $(mib "$rss_closed") ($split_closed), window open $(mib "$rss_open"), window closed $(mib "$rss_hidden") ($rss_hidden_parts; $split_hidden); reopened in ${reopen_ms} ms"
echo "tray: screenshots in $shots (menu.png, update-menu.png, update-notes.png, update-failed.png, dashboard.png)"
echo "tray smoke test passed"
