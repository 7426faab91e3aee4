#!/usr/bin/env bash
# Real-window check of the desktop wizard: runs the cgo binary under Xvfb, drives the first screens with
# xdotool (Start -> Open bundle -> verify -> Hosts -> Checks -> fixes applied), saves a screenshot per screen into an artifacts folder
# it prints, and fails if the window never maps or a screen is blank. Cleans up Xvfb and the app on any exit.
#   gui/xtest/realwindow.sh bin/ferry
set -euo pipefail
bin=$(readlink -f "${1:?usage: realwindow.sh path/to/ferry}")
art=${FERRY_GUI_ARTIFACTS:-$(pwd)/artifacts/gui-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$art"
echo "test-gui: artifacts in $art"

pids=()
cleanup() {
  # The app first, then Xvfb, newest first, so the app never sees its display vanish.
  local i
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; wait "${pids[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

# A free display, chosen by Xvfb itself: with -displayfd it binds the first free number and writes it
# back, so two runs at once cannot both pick the same display between a check and the start.
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$art/xvfb.display" >"$art/xvfb.log" 2>&1 &
pids+=($!)
disp=
for _ in $(seq 1 100); do
  [ "$(wc -l <"$art/xvfb.display")" -ge 1 ] && { disp=$(head -1 "$art/xvfb.display"); break; }
  sleep 0.1
done
[ -n "$disp" ] || { echo "test-gui: Xvfb did not start (see $art/xvfb.log)" >&2; exit 1; }
export DISPLAY=":$disp"
for _ in $(seq 1 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done 2>/dev/null || true

# The app runs on its demo engine with a private config dir, English, scale 1 (so clicks land).
home="$art/home"; mkdir -p "$home"
bundle="$art/shop-1.0.0.ferry"; head -c 4096 /dev/urandom >"$bundle"
HOME="$home" XDG_CONFIG_HOME="$home/.config" FERRY_SITES="$art/sites" LANG=en_US.UTF-8 LANGUAGE=en FYNE_SCALE=1 \
  "$bin" --demo >"$art/ferry.log" 2>&1 &
app=$!
pids+=($app)

fail() { echo "test-gui: FAIL: $*" >&2; echo "test-gui: see $art" >&2; exit 1; }

start=$(date +%s.%N)
wid=$(timeout 30 xdotool search --sync --onlyvisible --name '^Ferry$' | head -1) || fail "the window never mapped (log: $art/ferry.log)"
mapped=$(date +%s.%N)
echo "test-gui: window $wid mapped $(echo "$mapped - $start" | bc 2>/dev/null || echo '?')s after launch"
xdotool windowmove "$wid" 0 0
sleep 1.5

# shot NAME: screenshot of the window; fails if it is (nearly) one colour.
shot() {
  local f="$art/$1.png"
  import -window "$wid" "$f" 2>>"$art/import.log" || fail "screenshot $1"
  local colours
  colours=$(convert "$f" -format %k info:)
  echo "test-gui: $1.png: $colours distinct colours"
  [ "$colours" -gt 8 ] || fail "screen $1 looks blank ($colours colours)"
}

# click X Y: click at window-relative coordinates.
click() { xdotool mousemove --window "$wid" "$1" "$2" click 1; sleep "${3:-0.8}"; }

kill -0 "$app" || fail "the app exited"
# Coordinates are window-relative at FYNE_SCALE=1 with the demo banner shown; see docs/wizard.md.
shot 01-start
click 87 154                       # "Install a new site"
shot 02-bundle
click 300 154                      # the bundle path entry
xdotool type --delay 5 "$bundle"
sleep 0.3
click 950 154 3                    # "Verify" (the demo engine verifies for ~1 s)
shot 03-bundle-verified
click 960 678                      # "Next"
shot 04-hosts
typein() { click "$1" "$2" 0.3; xdotool type --delay 5 "$3"; }
typein 238 154 plant-7             # site name
typein 737 157 node1               # host name
typein 737 196 node1.plant7.example
typein 737 353 /root/.ssh/id_ed25519
click 573 589 2                    # "Test connection": the demo engine presents a first-contact key
shot 05-hosts-fingerprint
click 545 267                      # "The fingerprints match: trust this host"
shot 06-hosts-trusted
click 960 678 3                    # "Next": the Checks screen runs the demo engine's checks (the installer's)
shot 07-checks
click 300 154 3                    # "Apply the fixes Ferry can make" (the missing default route), checks rerun
shot 08-checks-fixed
kill -0 "$app" || fail "the app exited"
same() { cmp -s "$art/$1.png" "$art/$2.png"; }
same 01-start 02-bundle && fail "Install a new site did not change the screen"
same 02-bundle 03-bundle-verified && fail "verifying the bundle changed nothing on screen"
same 03-bundle-verified 04-hosts && fail "Next did not leave the bundle screen"
same 04-hosts 05-hosts-fingerprint && fail "Test connection changed nothing on screen"
same 05-hosts-fingerprint 06-hosts-trusted && fail "accepting the key changed nothing on screen"
same 06-hosts-trusted 07-checks && fail "Next did not leave the hosts screen"
same 07-checks 08-checks-fixed && fail "applying the fixes changed nothing on screen"

# Second run: the language follows the OS locale (zh_CN -> Simplified Chinese, drawn with a system CJK
# font through Fyne's font fallback; install-deps' gui group brings fonts-wqy-microhei).
kill "$app"; wait "$app" 2>/dev/null || true
HOME="$home" XDG_CONFIG_HOME="$home/.config" FERRY_SITES="$art/sites" LANG=zh_CN.UTF-8 LANGUAGE=zh_CN FYNE_SCALE=1 \
  "$bin" --demo >"$art/ferry-zh.log" 2>&1 &
app=$!
pids+=($app)
wid=$(timeout 30 xdotool search --sync --onlyvisible --name '^Ferry$' | head -1) || fail "the window never mapped in zh_CN"
xdotool windowmove "$wid" 0 0
sleep 1.5
shot 09-start-zh
same 01-start 09-start-zh && fail "the zh_CN start screen is identical to the English one"
echo "test-gui: PASS"
